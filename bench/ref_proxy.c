/* ref_proxy: the C reference for the proxy columns of `make bench`. Accepts
 * on a unix stream socket and relays each connection to another one, both
 * ways, with splice(2) through a pipe per direction (the kernel moves the
 * pages, as luds.copy does), on one thread with edge-triggered epoll: an
 * event on either socket of a pair pumps both directions until EAGAIN.
 *
 *   ref_proxy LISTEN_PATH TARGET_PATH     (SIGTERM/SIGINT end it)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CHUNK (1 << 20)

typedef struct direction {
    int from, to, pipe[2];
    size_t piped; /* bytes in the pipe */
    int ended;    /* from reached EOF and the end was passed on */
} direction;

typedef struct pair {
    direction up, down; /* client -> upstream, upstream -> client */
} pair;

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

/* Moves what it can; 0 while the direction lives, -1 on an error. */
static int pump(direction *d)
{
    while (!d->ended) {
        if (d->piped == 0) {
            ssize_t n = splice(d->from, NULL, d->pipe[1], NULL, CHUNK,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n == 0) {
                shutdown(d->to, SHUT_WR);
                d->ended = 1;
                break;
            }
            if (n < 0)
                return errno == EAGAIN ? 0 : -1;
            d->piped = (size_t)n;
        }
        ssize_t m = splice(d->pipe[0], NULL, d->to, NULL, d->piped,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (m < 0)
            return errno == EAGAIN ? 0 : -1;
        d->piped -= (size_t)m;
    }
    return 0;
}

static void close_pair(pair *p)
{
    close(p->up.from);
    close(p->up.to);
    close(p->up.pipe[0]);
    close(p->up.pipe[1]);
    close(p->down.pipe[0]);
    close(p->down.pipe[1]);
    free(p);
}

static void open_direction(direction *d, int from, int to)
{
    *d = (direction){.from = from, .to = to};
    if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        die("pipe2");
    fcntl(d->pipe[1], F_SETPIPE_SZ, CHUNK);
}

static int dial(const struct sockaddr_un *target)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)target, sizeof *target) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void watch(int ep, int fd, void *data)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.ptr = data};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl");
}

/* Accepts every pending client and pairs it with a new upstream conn. */
static void accept_all(int ep, int ln, const struct sockaddr_un *target)
{
    for (;;) {
        int c = accept4(ln, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EAGAIN)
                return;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept");
        }
        int u = dial(target);
        if (u < 0) {
            perror("ref_proxy: dial");
            close(c);
            continue;
        }
        pair *p = malloc(sizeof *p);
        if (!p)
            die("malloc");
        open_direction(&p->up, c, u);
        open_direction(&p->down, u, c);
        watch(ep, c, p);
        watch(ep, u, p);
    }
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
    int ln = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ln < 0 || bind(ln, (struct sockaddr *)&at, sizeof at) < 0 || listen(ln, 4096) < 0)
        die("listen");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ln, &lev) < 0)
        die("epoll");
    struct epoll_event evs[256];
    static pair gone; /* stands for a pair freed earlier in the same batch */
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            pair *p = evs[i].data.ptr;
            if (!p) {
                accept_all(ep, ln, &target);
                continue;
            }
            if (p == &gone)
                continue;
            if (pump(&p->up) < 0 || pump(&p->down) < 0 || (p->up.ended && p->down.ended)) {
                for (int j = i + 1; j < n; j++) /* its other fd may be in this batch */
                    if (evs[j].data.ptr == p)
                        evs[j].data.ptr = &gone;
                close_pair(p);
            }
        }
    }
}
