/* ref_server: the reference echo server that luds is benchmarked against.
 * Owns one listening socket of one kind (unix, unixgram, unixpacket), the
 * epoll loop and per-connection backpressure state. Single-threaded and
 * level-triggered: the practical limit for one core, kept deliberately lean. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define BUF_SIZE (256 * 1024)
#define STREAM_READ (64 * 1024)
#define ACCEPT_BATCH 64
#define DGRAM_BATCH 64

struct conn {
    int fd;
    size_t off, len, cap;
    char *pend;
};

static char buf[BUF_SIZE];
static int ep = -1, lfd = -1, spare_fd = -1, sig_fd = -1, sock_type;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int parse_kind(const char *k)
{
    if (strcmp(k, "unix") == 0)
        return SOCK_STREAM;
    if (strcmp(k, "unixgram") == 0)
        return SOCK_DGRAM;
    if (strcmp(k, "unixpacket") == 0)
        return SOCK_SEQPACKET;
    return -1;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* SIGINT/SIGTERM arrive through a signalfd in the epoll set, so a stop
 * request is seen even while the loop never goes idle. */
static void setup_signals(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0)
        die("signalfd");
}

static void open_listener(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "ref_server: path too long: %s\n", path);
        exit(2);
    }
    strcpy(sa.sun_path, path);
    lfd = socket(AF_UNIX, sock_type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    if (unlink(path) < 0 && errno != ENOENT)
        die("unlink");
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("bind");
    if (sock_type != SOCK_DGRAM && listen(lfd, 65535) < 0)
        die("listen");
}

static void ep_set(int op, int fd, unsigned events, void *ptr)
{
    struct epoll_event ev = { .events = events, .data.ptr = ptr };
    if (epoll_ctl(ep, op, fd, &ev) < 0)
        die("epoll_ctl");
}

static unsigned read_events(void)
{
    return sock_type == SOCK_SEQPACKET ? EPOLLIN | EPOLLRDHUP : EPOLLIN;
}

/* Out of fds: drop the spare, accept and close one pending connection so
 * the level-triggered listener does not spin, then take the spare back. */
static void shed_one(void)
{
    if (spare_fd < 0)
        return;
    close(spare_fd);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void accept_some(void)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                shed_one();
            else if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            return;
        }
        c->fd = fd;
        ep_set(EPOLL_CTL_ADD, fd, read_events(), c);
    }
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    free(c->pend);
    free(c);
}

/* Keep the unsent tail and stop reading until it has drained. */
static int conn_stash(struct conn *c, const char *data, size_t n)
{
    if (c->cap < n) {
        char *p = realloc(c->pend, n);
        if (!p)
            return -1;
        c->pend = p;
        c->cap = n;
    }
    memcpy(c->pend, data, n);
    c->off = 0;
    c->len = n;
    ep_set(EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
    return 0;
}

static int conn_flush(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->pend + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->off += (size_t)n;
    }
    c->off = c->len = 0;
    ep_set(EPOLL_CTL_MOD, c->fd, read_events(), c);
    return 0;
}

/* A zero-length read is EOF for streams; for seqpacket it is an empty
 * message unless the peer has hung up. */
static int conn_read(struct conn *c, unsigned events)
{
    size_t want = sock_type == SOCK_STREAM ? STREAM_READ : BUF_SIZE;
    ssize_t n = recv(c->fd, buf, want, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0 && (sock_type == SOCK_STREAM || (events & (EPOLLRDHUP | EPOLLHUP))))
        return -1;
    ssize_t w = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);
    if (w == n)
        return 0;
    if (w < 0 && errno != EAGAIN && errno != EINTR)
        return -1;
    if (w < 0)
        w = 0;
    return conn_stash(c, buf + w, (size_t)(n - w));
}

static void conn_event(struct conn *c, unsigned events)
{
    int rc = c->len ? conn_flush(c) : conn_read(c, events);
    if (rc < 0)
        conn_close(c);
}

/* Datagrams go back to whoever sent them; a full peer queue drops the echo. */
static void dgram_some(void)
{
    for (int i = 0; i < DGRAM_BATCH; i++) {
        struct sockaddr_un from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(lfd, buf, BUF_SIZE, 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return;
        if (fl <= offsetof(struct sockaddr_un, sun_path))
            continue;
        sendto(lfd, buf, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&from, fl);
    }
}

static void run(void)
{
    static struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            void *ptr = evs[i].data.ptr;
            if (ptr == &sig_fd)
                return;
            if (ptr == NULL)
                sock_type == SOCK_DGRAM ? dgram_some() : accept_some();
            else
                conn_event(ptr, evs[i].events);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 || (sock_type = parse_kind(argv[1])) < 0) {
        fprintf(stderr, "usage: ref_server unix|unixgram|unixpacket PATH\n");
        return 2;
    }
    raise_nofile();
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    setup_signals();
    open_listener(argv[2]);
    ep_set(EPOLL_CTL_ADD, sig_fd, EPOLLIN, &sig_fd);
    ep_set(EPOLL_CTL_ADD, lfd, EPOLLIN, NULL);
    run();
    unlink(argv[2]);
    return 0;
}
