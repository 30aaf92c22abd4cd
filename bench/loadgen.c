/* loadgen: bounded-time load generator for Unix-socket echo servers.
 * Owns the client side of every benchmark in bench/: ping-pong latency over
 * stream, datagram and seqpacket sockets, verified bulk stream throughput,
 * and idle per-connection server memory. Prints one key=value line per run. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define CHUNK (64 * 1024)
#define PERIOD 65521
#define MAX_EVENTS 256
#define SUB_BITS 5
#define SUB (1u << SUB_BITS)
#define HIST_N ((64 - SUB_BITS) * SUB + SUB)
#define CONNECT_BUDGET_S 20
#define LOST_AFTER_NS 1000000000ull
#define STARTUP_GRACE_NS 2000000000ull

struct opts {
    const char *mode, *path;
    int conns, n, pid, blocking;
    double secs;
};

struct result {
    uint64_t ops, errors, lost;
    double secs, p50, p99, mbps, kib_per_conn;
    long rss_before, rss_after;
    int conns;
};

struct peer {
    int fd, idx;
    unsigned events;
    uint32_t seq, got, put;
    uint64_t t0;
    unsigned char out[MSG], in[2 * MSG];
};

static struct opts opt = { .conns = 1, .n = 10000, .secs = 3.0 };
static struct sockaddr_un server_addr;
static int ep = -1, sock_type;
static uint64_t hist[HIST_N];
static char (*client_paths)[sizeof server_addr.sun_path];
static int n_client_paths;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned us)
{
    struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

static void unlink_client_paths(void)
{
    for (int i = 0; i < n_client_paths; i++)
        unlink(client_paths[i]);
}

static void on_fatal_signal(int sig)
{
    static const char msg[] = "loadgen: hard time cap reached\n";
    if (sig == SIGALRM)
        (void)!write(2, msg, sizeof msg - 1);
    unlink_client_paths();
    _exit(sig == SIGALRM ? 124 : 130);
}

static void setup_process(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    atexit(unlink_client_paths);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("epoll_create1");
        exit(1);
    }
}

static void ep_set(int op, int fd, unsigned events, void *ptr)
{
    struct epoll_event ev = { .events = events, .data.ptr = ptr };
    if (epoll_ctl(ep, op, fd, &ev) < 0) {
        perror("epoll_ctl");
        exit(1);
    }
}

/* Log-linear histogram of nanoseconds: exact below 32, then 32 sub-buckets
 * per power of two (about 3% resolution). */
static unsigned hist_idx(uint64_t v)
{
    if (v < SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    return (e - SUB_BITS + 1) * SUB + (unsigned)((v >> (e - SUB_BITS)) & (SUB - 1));
}

static double hist_mid(unsigned idx)
{
    if (idx < SUB)
        return idx;
    unsigned e = idx / SUB + SUB_BITS - 1;
    uint64_t width = 1ull << (e - SUB_BITS);
    return (double)((SUB + idx % SUB) * width) + (double)width / 2;
}

static double hist_pct_us(double p)
{
    uint64_t total = 0, cum = 0;
    for (unsigned i = 0; i < HIST_N; i++)
        total += hist[i];
    if (total == 0)
        return 0;
    uint64_t target = (uint64_t)(p * (double)total + 0.999999);
    for (unsigned i = 0; i < HIST_N; i++) {
        cum += hist[i];
        if (cum >= target)
            return hist_mid(i) / 1000.0;
    }
    return 0;
}

static void print_result(const struct result *r)
{
    printf("mode=%s conns=%d secs=%.2f ops=%llu ops_per_sec=%.1f p50_us=%.1f "
           "p99_us=%.1f mb_per_sec=%.1f rss_before_kib=%ld rss_after_kib=%ld "
           "kib_per_conn=%.2f errors=%llu lost=%llu\n",
           opt.mode, r->conns, r->secs, (unsigned long long)r->ops,
           r->secs > 0 ? (double)r->ops / r->secs : 0.0, r->p50, r->p99, r->mbps,
           r->rss_before, r->rss_after, r->kib_per_conn,
           (unsigned long long)r->errors, (unsigned long long)r->lost);
    fflush(stdout);
}

/* A full backlog (EAGAIN) is retried until the deadline; a missing or not
 * yet listening server only for a short startup grace. */
static int retryable(int err, uint64_t now, uint64_t deadline, uint64_t grace_end)
{
    if (err == EAGAIN || err == EINTR)
        return now < deadline;
    if (err == ECONNREFUSED || err == ENOENT)
        return now < deadline && now < grace_end;
    return 0;
}

static int bind_client(int fd, int idx)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, client_paths[idx]);
    unlink(sa.sun_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return 0;
    perror("bind client socket");
    return -1;
}

/* Unix listeners answer EAGAIN when the backlog is full: back off a little
 * and retry with a fresh socket until the deadline. */
static int open_client(int idx, uint64_t deadline)
{
    unsigned backoff = 20;
    uint64_t grace_end = now_ns() + STARTUP_GRACE_NS;
    for (;;) {
        int fd = socket(AF_UNIX, sock_type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            perror("socket");
            return -1;
        }
        if (sock_type == SOCK_DGRAM && bind_client(fd, idx) < 0) {
            close(fd);
            return -1;
        }
        if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) == 0)
            return fd;
        int err = errno;
        close(fd);
        if (!retryable(err, now_ns(), deadline, grace_end)) {
            fprintf(stderr, "loadgen: connect %s: %s\n", opt.path, strerror(err));
            return -1;
        }
        sleep_us(backoff);
        backoff = backoff < 5000 ? backoff * 2 : backoff;
    }
}

static void set_client_paths(int n)
{
    client_paths = calloc((size_t)n, sizeof *client_paths);
    if (!client_paths) {
        perror("calloc");
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        int len = snprintf(client_paths[i], sizeof client_paths[i], "%s.client.%d.%d",
                           opt.path, (int)getpid(), i);
        if (len < 0 || (size_t)len >= sizeof client_paths[i]) {
            fprintf(stderr, "loadgen: client socket path too long\n");
            exit(2);
        }
    }
    n_client_paths = n;
}

static void peer_want_out(struct peer *p, int on)
{
    unsigned ev = on ? EPOLLIN | EPOLLOUT : EPOLLIN;
    if (ev != p->events) {
        p->events = ev;
        ep_set(EPOLL_CTL_MOD, p->fd, ev, p);
    }
}

static int peer_flush(struct peer *p)
{
    while (p->put < MSG) {
        ssize_t n = send(p->fd, p->out + p->put, MSG - p->put, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            peer_want_out(p, 1);
            return 0;
        }
        if (n < 0)
            return -1;
        p->put += (uint32_t)n;
    }
    peer_want_out(p, 0);
    return 0;
}

static int peer_start(struct peer *p, uint64_t now)
{
    p->seq++;
    memcpy(p->out, &p->idx, 4);
    memcpy(p->out + 4, &p->seq, 4);
    for (int i = 8; i < MSG; i++)
        p->out[i] = (unsigned char)(p->seq + (uint32_t)i);
    p->got = p->put = 0;
    p->t0 = now;
    return peer_flush(p);
}

/* Returns 1 when a full, matching echo has arrived, 0 when more is needed,
 * -1 on error. Datagram echoes that do not match are stale and ignored. */
static int peer_recv(struct peer *p)
{
    size_t room = sock_type == SOCK_STREAM ? MSG - p->got : sizeof p->in;
    ssize_t n = recv(p->fd, p->in + p->got, room, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0 && sock_type != SOCK_DGRAM)
        return -1;
    if (sock_type == SOCK_STREAM && (p->got += (uint32_t)n) < MSG)
        return 0;
    p->got = 0;
    if ((n == MSG || sock_type == SOCK_STREAM) && memcmp(p->in, p->out, MSG) == 0)
        return 1;
    if (sock_type == SOCK_DGRAM)
        return 0;
    fprintf(stderr, "loadgen: echo mismatch on connection %d\n", p->idx);
    return -1;
}

struct pp {
    struct peer *peers;
    int alive;
    uint64_t ops, errors, lost;
};

static void peer_fail(struct pp *pp, struct peer *p)
{
    if (p->fd < 0)
        return;
    close(p->fd);
    p->fd = -1;
    pp->alive--;
    pp->errors++;
}

static void peer_event(struct pp *pp, struct peer *p, unsigned events)
{
    if (p->fd < 0)
        return;
    int rc = 0;
    if (events & EPOLLOUT)
        rc = peer_flush(p);
    if (rc == 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        rc = peer_recv(p);
    if (rc == 1) {
        uint64_t now = now_ns();
        hist[hist_idx(now - p->t0)]++;
        pp->ops++;
        rc = peer_start(p, now);
    }
    if (rc < 0)
        peer_fail(pp, p);
}

/* A datagram echo can be dropped by the server; give up on it after a
 * second and send the next one so the client does not stall forever. */
static void resend_lost(struct pp *pp, uint64_t now)
{
    for (int i = 0; i < opt.conns; i++) {
        struct peer *p = &pp->peers[i];
        if (p->fd >= 0 && now - p->t0 > LOST_AFTER_NS) {
            pp->lost++;
            if (peer_start(p, now) < 0)
                peer_fail(pp, p);
        }
    }
}

static void pp_connect(struct pp *pp)
{
    pp->peers = calloc((size_t)opt.conns, sizeof *pp->peers);
    if (!pp->peers) {
        perror("calloc");
        exit(1);
    }
    uint64_t deadline = now_ns() + CONNECT_BUDGET_S * 1000000000ull;
    for (int i = 0; i < opt.conns; i++) {
        struct peer *p = &pp->peers[i];
        p->idx = i;
        p->fd = open_client(i, deadline);
        if (p->fd < 0)
            exit(1);
        p->events = EPOLLIN;
        ep_set(EPOLL_CTL_ADD, p->fd, EPOLLIN, p);
    }
    pp->alive = opt.conns;
}

static void pp_loop(struct pp *pp, uint64_t end)
{
    static struct epoll_event evs[MAX_EVENTS];
    uint64_t next_scan = now_ns() + 100000000ull;
    for (uint64_t now = now_ns(); now < end && pp->alive > 0; now = now_ns()) {
        uint64_t left_ms = (end - now) / 1000000 + 1;
        int n = epoll_wait(ep, evs, MAX_EVENTS, left_ms < 100 ? (int)left_ms : 100);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; i++)
            peer_event(pp, evs[i].data.ptr, evs[i].events);
        if (sock_type == SOCK_DGRAM && now >= next_scan) {
            resend_lost(pp, now_ns());
            next_scan = now + 100000000ull;
        }
    }
}

/* One connection whose client blocks in recv between messages (no epoll,
 * no spinning): a server that parks pays a wake-up per round trip. A
 * receive timeout of a second counts a lost datagram and sends the next. */
static int blocking_loop(struct peer *p, uint64_t end, struct pp *pp)
{
    struct timeval tv = { .tv_sec = 1 };
    int fl = fcntl(p->fd, F_GETFL);
    if (fl < 0 || fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
        setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        perror("blocking client");
        return -1;
    }
    for (uint64_t now = now_ns(); now < end; now = now_ns()) {
        if (peer_start(p, now) < 0)
            return -1;
        int rc;
        do
            errno = 0;
        while ((rc = peer_recv(p)) == 0 && errno != EAGAIN);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            pp->lost++;
            continue;
        }
        hist[hist_idx(now_ns() - p->t0)]++;
        pp->ops++;
    }
    return 0;
}

static int run_pingpong(struct result *r)
{
    struct pp pp = { 0 };
    if (sock_type == SOCK_DGRAM)
        set_client_paths(opt.conns);
    pp_connect(&pp);
    uint64_t start = now_ns(), end = start + (uint64_t)(opt.secs * 1e9);
    if (opt.blocking) {
        if (blocking_loop(&pp.peers[0], end, &pp) < 0)
            peer_fail(&pp, &pp.peers[0]);
    } else {
        for (int i = 0; i < opt.conns; i++)
            if (peer_start(&pp.peers[i], start) < 0)
                peer_fail(&pp, &pp.peers[i]);
        pp_loop(&pp, end);
    }
    r->secs = (double)(now_ns() - start) / 1e9;
    r->ops = pp.ops;
    r->errors = pp.errors;
    r->lost = pp.lost;
    r->p50 = hist_pct_us(0.50);
    r->p99 = hist_pct_us(0.99);
    return 0;
}

static unsigned char pattern[PERIOD + CHUNK];
static unsigned char rbuf[4 * CHUNK];

/* Pseudo-random bytes with a prime period, so shifted, dropped or repeated
 * chunks never line up with the expected stream. */
static void fill_pattern(void)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < PERIOD; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        pattern[i] = (unsigned char)(x >> 24);
    }
    for (size_t i = PERIOD; i < sizeof pattern; i++)
        pattern[i] = pattern[i - PERIOD];
}

static int bulk_verify(const unsigned char *data, size_t n, uint64_t off)
{
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t len = n - i < CHUNK ? n - i : CHUNK;
        if (memcmp(data + i, pattern + (off + i) % PERIOD, len) != 0) {
            fprintf(stderr, "loadgen: bulk echo mismatch near byte %llu\n",
                    (unsigned long long)(off + i));
            return -1;
        }
    }
    return 0;
}

static int bulk_write(int fd, uint64_t *sent)
{
    ssize_t n = send(fd, pattern + *sent % PERIOD, CHUNK, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    *sent += (uint64_t)n;
    return 0;
}

static int bulk_read(int fd, uint64_t *recvd)
{
    ssize_t n = recv(fd, rbuf, sizeof rbuf, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0) {
        fprintf(stderr, "loadgen: server closed the bulk connection\n");
        return -1;
    }
    if (bulk_verify(rbuf, (size_t)n, *recvd) < 0)
        exit(3);
    *recvd += (uint64_t)n;
    return 0;
}

static int bulk_loop(int fd, uint64_t end, uint64_t *recvd)
{
    struct epoll_event ev;
    uint64_t sent = 0;
    for (uint64_t now = now_ns(); now < end; now = now_ns()) {
        uint64_t left_ms = (end - now) / 1000000 + 1;
        int n = epoll_wait(ep, &ev, 1, left_ms < 100 ? (int)left_ms : 100);
        if (n <= 0)
            continue;
        if ((ev.events & EPOLLOUT) && bulk_write(fd, &sent) < 0)
            return -1;
        if ((ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && bulk_read(fd, recvd) < 0)
            return -1;
    }
    return 0;
}

/* One connection for a bulk pattern (loop: 0 or -1 on error, receiving
 * into *recvd until end), with its result. */
static int run_one_conn(struct result *r, unsigned events,
                        int (*loop)(int fd, uint64_t end, uint64_t *recvd))
{
    fill_pattern();
    int fd = open_client(0, now_ns() + CONNECT_BUDGET_S * 1000000000ull);
    if (fd < 0)
        return -1;
    ep_set(EPOLL_CTL_ADD, fd, events, NULL);
    uint64_t recvd = 0, start = now_ns();
    if (loop(fd, start + (uint64_t)(opt.secs * 1e9), &recvd) < 0)
        r->errors = 1;
    r->secs = (double)(now_ns() - start) / 1e9;
    r->ops = recvd / CHUNK;
    r->mbps = r->secs > 0 ? (double)recvd / r->secs / 1e6 : 0;
    r->conns = 1;
    close(fd);
    return 0;
}

static int run_bulk(struct result *r) { return run_one_conn(r, EPOLLIN | EPOLLOUT, bulk_loop); }

/* Waits until fd is ready for events (one fd registered); 0, or -1 when
 * the deadline passed. */
static int wait_ready(int fd, unsigned events, uint64_t end)
{
    struct epoll_event ev = { .events = events };
    ep_set(EPOLL_CTL_MOD, fd, events, NULL);
    for (uint64_t now = now_ns(); now < end; now = now_ns()) {
        uint64_t left_ms = (end - now) / 1000000 + 1;
        if (epoll_wait(ep, &ev, 1, left_ms < 100 ? (int)left_ms : 100) == 1)
            return 0;
    }
    return -1;
}

/* One turn of the alternating pattern: all of a chunk out, then all of
 * its echo back. 1 when done, 0 when time ran out, -1 on error. */
static int alt_turn(int fd, uint64_t *sent, uint64_t *recvd, uint64_t end)
{
    uint64_t target = *sent + CHUNK;
    while (*sent < target) {
        ssize_t n = send(fd, pattern + *sent % PERIOD, (size_t)(target - *sent), MSG_NOSIGNAL);
        if (n > 0)
            *sent += (uint64_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        else if (wait_ready(fd, EPOLLOUT, end) < 0)
            return 0;
    }
    while (*recvd < target) {
        ssize_t n = recv(fd, rbuf, (size_t)(target - *recvd), 0);
        if (n > 0) {
            if (bulk_verify(rbuf, (size_t)n, *recvd) < 0)
                exit(3);
            *recvd += (uint64_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            return -1;
        } else if (wait_ready(fd, EPOLLIN, end) < 0) {
            return 0;
        }
    }
    return 1;
}

static int alt_loop(int fd, uint64_t end, uint64_t *recvd)
{
    uint64_t sent = 0;
    int rc;
    while ((rc = alt_turn(fd, &sent, recvd, end)) == 1 && now_ns() < end)
        ;
    return rc < 0 ? -1 : 0;
}

/* Full-duplex bulk on one non-blocking socket, the way a client with one
 * buffer does it: write a 64 KiB chunk, read its echo, again. */
static int run_alt(struct result *r) { return run_one_conn(r, EPOLLIN, alt_loop); }

static long read_rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static int idle_open(int *fds, int n)
{
    uint64_t deadline = now_ns() + (CONNECT_BUDGET_S + (uint64_t)n / 500) * 1000000000ull;
    for (int i = 0; i < n; i++) {
        fds[i] = open_client(i, deadline);
        if (fds[i] < 0)
            return -1;
        if (send(fds[i], "x", 1, MSG_NOSIGNAL) != 1) {
            perror("send");
            return -1;
        }
        ep_set(EPOLL_CTL_ADD, fds[i], EPOLLIN, &fds[i]);
    }
    return 0;
}

/* Every connection sent one byte; its echo proves the server accepted the
 * connection and performed a read on it. */
static uint64_t idle_wait_echoes(int n)
{
    static struct epoll_event evs[MAX_EVENTS];
    uint64_t echoed = 0, end = now_ns() + (CONNECT_BUDGET_S + (uint64_t)n / 500) * 1000000000ull;
    while (echoed < (uint64_t)n && now_ns() < end) {
        int k = epoll_wait(ep, evs, MAX_EVENTS, 100);
        for (int i = 0; i < k; i++) {
            int *fd = evs[i].data.ptr;
            char c;
            ssize_t got = recv(*fd, &c, 1, 0);
            if (got == 1 || got == 0 || (got < 0 && errno != EAGAIN))
                ep_set(EPOLL_CTL_DEL, *fd, 0, NULL);
            echoed += got == 1;
        }
    }
    return echoed;
}

static int run_idle(struct result *r)
{
    if (opt.pid <= 0) {
        fprintf(stderr, "loadgen: idle mode needs -p SERVERPID\n");
        return -1;
    }
    int *fds = calloc((size_t)opt.n, sizeof *fds);
    r->rss_before = read_rss_kib(opt.pid);
    if (!fds || r->rss_before < 0) {
        fprintf(stderr, "loadgen: cannot read VmRSS of pid %d\n", opt.pid);
        return -1;
    }
    uint64_t start = now_ns();
    if (idle_open(fds, opt.n) < 0)
        return -1;
    r->ops = idle_wait_echoes(opt.n);
    r->errors = (uint64_t)opt.n - r->ops;
    r->rss_after = read_rss_kib(opt.pid);
    r->secs = (double)(now_ns() - start) / 1e9;
    r->conns = opt.n;
    r->kib_per_conn = (double)(r->rss_after - r->rss_before) / opt.n;
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen pingpong|dgram|seqpacket PATH [-c CONNS] [-d SECS] [-b]\n"
            "       loadgen bulk|alt PATH [-d SECS]\n"
            "       loadgen idle PATH [-n CONNS] -p SERVERPID\n");
    exit(2);
}

static long parse_num(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        usage();
    return v;
}

static void parse_args(int argc, char **argv)
{
    if (argc < 3)
        usage();
    opt.mode = argv[1];
    opt.path = argv[2];
    int c;
    optind = 3;
    while ((c = getopt(argc, argv, "bc:d:n:p:")) != -1) {
        char *end;
        switch (c) {
        case 'b': opt.blocking = 1; break;
        case 'c': opt.conns = (int)parse_num(optarg, 1, 1000000); break;
        case 'n': opt.n = (int)parse_num(optarg, 1, 1000000); break;
        case 'p': opt.pid = (int)parse_num(optarg, 1, INT_MAX); break;
        case 'd':
            opt.secs = strtod(optarg, &end);
            if (*end || !(opt.secs > 0 && opt.secs <= 3600))
                usage();
            break;
        default: usage();
        }
    }
    if (optind != argc || (opt.blocking && opt.conns != 1))
        usage();
}

static void set_server_addr(void)
{
    server_addr.sun_family = AF_UNIX;
    if (strlen(opt.path) >= sizeof server_addr.sun_path) {
        fprintf(stderr, "loadgen: path too long: %s\n", opt.path);
        exit(2);
    }
    strcpy(server_addr.sun_path, opt.path);
}

static int dispatch(struct result *r)
{
    static const struct { const char *name; int type; int (*run)(struct result *); } modes[] = {
        { "pingpong", SOCK_STREAM, run_pingpong },
        { "seqpacket", SOCK_SEQPACKET, run_pingpong },
        { "dgram", SOCK_DGRAM, run_pingpong },
        { "bulk", SOCK_STREAM, run_bulk },
        { "alt", SOCK_STREAM, run_alt },
        { "idle", SOCK_STREAM, run_idle },
    };
    r->conns = opt.conns;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(opt.mode, modes[i].name) == 0) {
            sock_type = modes[i].type;
            return modes[i].run(r);
        }
    }
    usage();
    return -1;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    set_server_addr();
    setup_process();
    unsigned budget = CONNECT_BUDGET_S * 2;
    if (strcmp(opt.mode, "idle") == 0)
        budget += (unsigned)opt.n / 250;
    alarm((unsigned)opt.secs + budget + 10);
    struct result r = { 0 };
    if (dispatch(&r) < 0)
        return 1;
    print_result(&r);
    if (r.ops == 0) {
        fprintf(stderr, "loadgen: no operations completed\n");
        return 1;
    }
    return 0;
}
