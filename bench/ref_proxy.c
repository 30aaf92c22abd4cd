/* ref_proxy: the C reference for the proxy columns of `make bench`. Accepts
 * on a unix stream socket and relays each connection to another one, both
 * ways, with splice(2) through a pipe per direction: the kernel moves the
 * pages, as luds.copy does. Blocking sockets and two threads per connection,
 * the simplest fast design there is.
 *
 *   ref_proxy LISTEN_PATH TARGET_PATH     (SIGTERM/SIGINT end it)
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct conn_pair {
    int client, upstream;
    atomic_int alive; /* directions still running */
} conn_pair;

typedef struct direction {
    conn_pair *l;
    int from, to;
} direction;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void set_path(struct sockaddr_un *sun, const char *path)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun->sun_path) {
        fprintf(stderr, "ref_proxy: path too long: %s\n", path);
        exit(2);
    }
    strcpy(sun->sun_path, path);
}

/* Moves everything from d->from to d->to until EOF or an error, then passes
 * the end on; the last direction to finish closes both sockets. */
static void *relay(void *arg)
{
    direction *d = arg;
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
        fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
        for (;;) {
            ssize_t n = splice(d->from, NULL, p[1], NULL, 1 << 20, SPLICE_F_MOVE);
            if (n <= 0)
                break;
            while (n > 0) {
                ssize_t m = splice(p[0], NULL, d->to, NULL, (size_t)n, SPLICE_F_MOVE);
                if (m <= 0)
                    goto out;
                n -= m;
            }
        }
    out:
        close(p[0]);
        close(p[1]);
    }
    shutdown(d->to, SHUT_WR);
    conn_pair *l = d->l;
    free(d);
    if (atomic_fetch_sub(&l->alive, 1) == 1) {
        close(l->client);
        close(l->upstream);
        free(l);
    }
    return NULL;
}

static void start(conn_pair *l, int from, int to)
{
    direction *d = malloc(sizeof *d);
    pthread_t t;
    if (!d)
        die("malloc");
    *d = (direction){l, from, to};
    if (pthread_create(&t, NULL, relay, d) != 0)
        die("pthread_create");
    pthread_detach(t);
}

static int dial(const struct sockaddr_un *target)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)target, sizeof *target) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    struct sockaddr_un at, target;
    if (argc != 3) {
        fprintf(stderr, "usage: ref_proxy LISTEN_PATH TARGET_PATH\n");
        return 2;
    }
    set_path(&at, argv[1]);
    set_path(&target, argv[2]);
    signal(SIGPIPE, SIG_IGN);
    int ln = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ln < 0 || bind(ln, (struct sockaddr *)&at, sizeof at) < 0 || listen(ln, 4096) < 0)
        die("listen");
    for (;;) {
        int c = accept4(ln, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept");
        }
        int u = dial(&target);
        if (u < 0) {
            perror("ref_proxy: dial");
            close(c);
            continue;
        }
        conn_pair *l = malloc(sizeof *l);
        if (!l)
            die("malloc");
        l->client = c;
        l->upstream = u;
        atomic_init(&l->alive, 2);
        start(l, c, u);
        start(l, u, c);
    }
}
