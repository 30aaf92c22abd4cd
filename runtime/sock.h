/* The socket OS layer: thin, non-blocking wrappers over the socket calls.
 * Every function returns >= 0 or -errno and retries EINTR itself; every fd
 * is born NONBLOCK|CLOEXEC. No Lua here. */
#ifndef LUDS_SOCK_H
#define LUDS_SOCK_H

#include <stddef.h>
#include <sys/types.h>

#include "addr.h"

int sock_open(int family, int type);
int sock_bind(int fd, const addr *a);
int sock_listen(int fd, int backlog);
/* A new connected fd, or -EAGAIN when none is pending. */
int sock_accept(int fd);
/* 0 when connected, -EINPROGRESS (wait for writability, then
 * sock_connect_result), -EAGAIN (a full unix backlog: retry later). */
int sock_connect(int fd, const addr *a);
int sock_connect_result(int fd);
/* Reads and writes never block, whatever O_NONBLOCK says (MSG_DONTWAIT). */
ssize_t sock_recv(int fd, void *buf, size_t n);
/* Never raises SIGPIPE. */
ssize_t sock_send(int fd, const void *buf, size_t n);
int sock_shutdown(int fd, int how);
void sock_close(int fd);
/* The local (peer = 0) or remote (peer = 1) address of fd. */
int sock_name(int fd, int peer, addr *a);
/* Options luds sets by default: SO_REUSEADDR on IP listeners, TCP_NODELAY. */
int sock_reuseaddr(int fd);
int sock_nodelay(int fd);
/* SO_REUSEPORT: sockets that all set it share one address; the kernel
 * spreads connections (or datagrams) among them. */
int sock_reuseport(int fd);

enum { SOCK_TRUNCATED = 1, SOCK_HAS_CREDS = 2, SOCK_FDS_DROPPED = 4 };

/* A sender's credentials, as the kernel vouches for them. */
typedef struct sock_cred {
  long long pid, uid, gid;
} sock_cred;

/* Receives one message into buf (cap bytes), its sender into *from and its
 * credentials into *cred when they are not NULL. Returns the message's whole
 * length (more than cap if it was cut, with SOCK_TRUNCATED in *flags;
 * SOCK_HAS_CREDS when it carried SCM_CREDENTIALS) or -errno. Descriptors a
 * sender attached (SCM_RIGHTS) are closed at once: nobody asked for them. */
ssize_t sock_recv_packet(int fd, void *buf, size_t cap, addr *from, sock_cred *cred, int *flags);
/* Sends one message to `to` (NULL: the connected peer). */
ssize_t sock_send_packet(int fd, const void *buf, size_t n, const addr *to);
/* The longest unix datagram or seqpacket message a peer can send. */
size_t sock_max_packet(void);
/* SO_PASSCRED: every message then carries the sender's credentials, so an
 * empty message can be told from the end of the stream. */
int sock_passcred(int fd);
int sock_peer_cred(int fd, sock_cred *cred);
/* The supplementary groups the peer held when it connected (or listened),
 * SO_PEERGROUPS (Linux 4.13): up to *n of them into gids, their count into
 * *n; -ERANGE with the count needed in *n when they do not fit. */
int sock_peer_groups(int fd, gid_t *gids, size_t *n);

#define SOCK_MAX_FDS 253 /* SCM_MAX_FD: the most one message can carry */

/* Sends buf (n > 0) with nfds descriptors attached (SCM_RIGHTS). */
ssize_t sock_send_fds(int fd, const void *buf, size_t n, const int *fds, int nfds);
/* Receives into buf and up to max_fds (<= SOCK_MAX_FDS) passed descriptors
 * (born CLOEXEC) into fds, their count into *nfds. The kernel closes any
 * beyond max_fds: SOCK_FDS_DROPPED in *flags then. with_creds: fd has
 * SO_PASSCRED on, so credentials come first and need room. SOCK_HAS_CREDS
 * in *flags when the message carried them. */
ssize_t sock_recv_fds(int fd, void *buf, size_t cap, int *fds, int max_fds, int with_creds,
                      int *nfds, int *flags);

typedef struct sock_kind {
  int family, type, listening, passcred;
} sock_kind;

/* What socket fd is, changing nothing; -ENOTSOCK, -EBADF. */
int sock_kind_of(int fd, sock_kind *kind);
/* Makes fd, a socket the caller now owns, fit for the loop (NONBLOCK,
 * CLOEXEC) and tells what it is; -ENOTSOCK, -EBADF. */
int sock_adopt(int fd, sock_kind *kind);
int sock_close_fd(int fd);

/* A non-blocking CLOEXEC pipe, widened to 1 MiB where allowed: the
 * middle of a splice from one socket to another. */
int sock_pipe(int fds[2]);
/* Moves up to n bytes from fd `from` to fd `to` in the kernel, one of them
 * a pipe (splice(2)); 0 at the end of `from`, -EAGAIN when either is not
 * ready. */
ssize_t sock_splice(int from, int to, size_t n);

#endif
