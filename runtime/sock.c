/* Non-blocking socket calls returning -errno. Unix connects never block:
 * the kernel either queues the connection at once or answers EAGAIN when the
 * listener's backlog is full, which the caller retries. Reads and writes
 * pass MSG_DONTWAIT as well as relying on O_NONBLOCK: a conn handed to a
 * child process as its stdio has O_NONBLOCK cleared on the description it
 * shares with us (lproc.c), and must still never block the loop. */
#include "sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

int sock_open(int family, int type) {
  int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fd < 0 ? -errno : fd;
}

int sock_bind(int fd, const addr *a) {
  return bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ? -errno : 0;
}

int sock_listen(int fd, int backlog) { return listen(fd, backlog) < 0 ? -errno : 0; }

int sock_accept(int fd) {
  int r;
  do
    r = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

int sock_connect(int fd, const addr *a) {
  if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
    return 0;
  return errno == EINTR ? -EINPROGRESS : -errno;
}

int sock_connect_result(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return -errno;
  return -err;
}

ssize_t sock_recv(int fd, void *buf, size_t n) {
  ssize_t r;
  do
    r = recv(fd, buf, n, MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

ssize_t sock_send(int fd, const void *buf, size_t n) {
  ssize_t r;
  do
    r = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

int sock_shutdown(int fd, int how) { return shutdown(fd, how) < 0 ? -errno : 0; }

/* close(2) is not retried: Linux releases the fd even when it fails. */
void sock_close(int fd) { close(fd); }

int sock_name(int fd, int peer, addr *a) {
  a->len = sizeof a->ss;
  int r = peer ? getpeername(fd, (struct sockaddr *)&a->ss, &a->len)
               : getsockname(fd, (struct sockaddr *)&a->ss, &a->len);
  return r < 0 ? -errno : 0;
}

static int set_int(int fd, int level, int opt) {
  int one = 1;
  return setsockopt(fd, level, opt, &one, sizeof one) < 0 ? -errno : 0;
}

int sock_reuseaddr(int fd) { return set_int(fd, SOL_SOCKET, SO_REUSEADDR); }

int sock_nodelay(int fd) { return set_int(fd, IPPROTO_TCP, TCP_NODELAY); }

int sock_reuseport(int fd) { return set_int(fd, SOL_SOCKET, SO_REUSEPORT); }

static void from_ucred(const struct ucred *u, sock_cred *cred) {
  cred->pid = u->pid;
  cred->uid = u->uid;
  cred->gid = u->gid;
}

static void take_cred(const struct cmsghdr *c, sock_cred *cred) {
  struct ucred u;
  memcpy(&u, CMSG_DATA(c), sizeof u); /* CMSG_DATA need not be aligned */
  from_ucred(&u, cred);
}

/* Closes the descriptors of an SCM_RIGHTS message from index `keep` on: a
 * peer may attach descriptors to any message, and the kernel installs as
 * many as the control buffer has room for. */
static void close_rights(const struct cmsghdr *c, int keep) {
  int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
  for (int k = keep; k < n; k++) {
    int fd;
    memcpy(&fd, CMSG_DATA(c) + sizeof(int) * (size_t)k, sizeof fd);
    close(fd);
  }
}

ssize_t sock_recv_packet(int fd, void *buf, size_t cap, addr *from, sock_cred *cred, int *flags) {
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(struct ucred))];
  } ctl;
  struct iovec iov = {.iov_base = buf, .iov_len = cap};
  struct msghdr m = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof ctl};
  if (from) {
    m.msg_name = &from->ss;
    m.msg_namelen = sizeof from->ss;
  }
  ssize_t n;
  do
    n = recvmsg(fd, &m, MSG_TRUNC | MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -errno;
  if (from)
    from->len = m.msg_namelen;
  *flags = (m.msg_flags & MSG_TRUNC) ? SOCK_TRUNCATED : 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET)
      continue;
    if (c->cmsg_type == SCM_RIGHTS)
      close_rights(c, 0); /* nobody asked for them */
    if (c->cmsg_type != SCM_CREDENTIALS)
      continue;
    *flags |= SOCK_HAS_CREDS;
    if (cred)
      take_cred(c, cred);
  }
  return n;
}

ssize_t sock_send_packet(int fd, const void *buf, size_t n, const addr *to) {
  const struct sockaddr *sa = to ? (const struct sockaddr *)&to->ss : NULL;
  socklen_t len = to ? to->len : 0;
  ssize_t r;
  do
    r = sendto(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT, sa, len);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

/* A unix datagram or seqpacket message is at most the sender's SO_SNDBUF
 * less 32 bytes, and SO_SNDBUF at most twice net.core.wmem_max (short of
 * SO_SNDBUFFORCE, which needs CAP_NET_ADMIN). */
size_t sock_max_packet(void) {
  unsigned long wmem = 0;
  FILE *f = fopen("/proc/sys/net/core/wmem_max", "re");
  if (f) {
    if (fscanf(f, "%lu", &wmem) != 1)
      wmem = 0;
    fclose(f);
  }
  if (wmem < 65536 || wmem > 64ul * 1024 * 1024)
    wmem = 212992; /* the kernel's default */
  return 2 * wmem;
}

int sock_passcred(int fd) { return set_int(fd, SOL_SOCKET, SO_PASSCRED); }

int sock_peer_cred(int fd, sock_cred *cred) {
  struct ucred c;
  socklen_t len = sizeof c;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) < 0)
    return -errno;
  from_ucred(&c, cred);
  return 0;
}

int sock_peer_groups(int fd, gid_t *gids, size_t *n) {
  socklen_t len = (socklen_t)(*n * sizeof *gids);
  int r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gids, &len) < 0 ? -errno : 0;
  if (r == 0 || r == -ERANGE)
    *n = len / sizeof *gids;
  return r;
}

typedef union {
  struct cmsghdr h;
  char space[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * SOCK_MAX_FDS)];
} fd_control;

ssize_t sock_send_fds(int fd, const void *buf, size_t n, const int *fds, int nfds) {
  fd_control ctl;
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    memset(&ctl, 0, sizeof ctl);
    m.msg_control = &ctl;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
  }
  ssize_t r;
  do
    r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

static void take_fds(struct msghdr *m, int *fds, int max_fds, int *nfds, int *flags) {
  if (m->msg_flags & MSG_CTRUNC)
    *flags |= SOCK_FDS_DROPPED;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
      *flags |= SOCK_HAS_CREDS;
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
      continue;
    int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    if (*nfds + n > max_fds) { /* cannot happen: the kernel fills no more */
      close_rights(c, max_fds - *nfds);
      n = max_fds - *nfds;
      *flags |= SOCK_FDS_DROPPED;
    }
    memcpy(fds + *nfds, CMSG_DATA(c), sizeof(int) * (size_t)n);
    *nfds += n;
  }
}

/* Room for exactly max_fds: CMSG_SPACE would round up and let in one more.
 * Credentials, when the socket asks for them, come first. */
ssize_t sock_recv_fds(int fd, void *buf, size_t cap, int *fds, int max_fds, int with_creds,
                      int *nfds, int *flags) {
  fd_control ctl;
  struct iovec iov = {.iov_base = buf, .iov_len = cap};
  size_t room = with_creds ? CMSG_SPACE(sizeof(struct ucred)) : 0;
  if (max_fds > 0)
    room += CMSG_LEN(sizeof(int) * (size_t)max_fds);
  struct msghdr m = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = room ? &ctl : NULL, .msg_controllen = room};
  ssize_t r;
  *nfds = *flags = 0;
  do
    r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -errno;
  take_fds(&m, fds, max_fds, nfds, flags);
  return r;
}

static int get_int(int fd, int opt, int *v) {
  socklen_t len = sizeof *v;
  return getsockopt(fd, SOL_SOCKET, opt, v, &len) < 0 ? -errno : 0;
}

int sock_kind_of(int fd, sock_kind *kind) {
  int r;
  if ((r = get_int(fd, SO_DOMAIN, &kind->family)) < 0 || (r = get_int(fd, SO_TYPE, &kind->type)) < 0 ||
      (r = get_int(fd, SO_ACCEPTCONN, &kind->listening)) < 0)
    return r;
  if (kind->family != AF_UNIX || get_int(fd, SO_PASSCRED, &kind->passcred) < 0)
    kind->passcred = 0; /* an IP socket has no SO_PASSCRED on recent kernels */
  return 0;
}

int sock_adopt(int fd, sock_kind *kind) {
  int r = sock_kind_of(fd, kind);
  if (r < 0)
    return r;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    return -errno;
  return 0;
}

int sock_pipe(int fds[2]) {
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
    return -errno;
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20); /* a smaller pipe works too */
  return 0;
}

ssize_t sock_splice(int from, int to, size_t n) {
  ssize_t r;
  do
    r = splice(from, NULL, to, NULL, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

int sock_close_fd(int fd) { return close(fd) < 0 && errno != EINTR ? -errno : 0; }
