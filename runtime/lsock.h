/* Socket objects shared by the stream (lstream.c) and packet (lpacket.c)
 * bindings: the userdata, its life cycle, waiting for readiness and the
 * failure triple. One metatable per kind: listener, conn, packet conn. */
#ifndef LUDS_LSOCK_H
#define LUDS_LSOCK_H

#include <lauxlib.h>
#include <lua.h>
#include <sys/types.h>

#include "addr.h"
#include "fdio.h"
#include "sock.h"
#include "task.h"

#define LISTENER_MT "luds.listener"
#define CONN_MT "luds.conn"
#define PACKET_MT "luds.packetconn"

/* Which class an lsock is, fixed at creation (a script cannot change it,
 * as debug.setmetatable could change a metatable). */
enum { LSOCK_LISTENER = 1, LSOCK_CONN, LSOCK_PACKET };

typedef struct lsock {
  const void *tag;         /* &lsock_tag: see lsock_check */
  int fd;
  unsigned char cls;       /* LSOCK_LISTENER, LSOCK_CONN or LSOCK_PACKET */
  unsigned char passcred; /* SO_PASSCRED is on: EOF is told from "" */
  unsigned char creds;    /* read_from reports each sender's credentials */
  unsigned char drained;  /* a short stream read emptied the buffer and no
                             readiness event came since: skip the recv */
  unsigned char connected; /* a datagram socket with a fixed peer (dialed) */
  unsigned char file;      /* LSOCK_FILE_* bits: a plain descriptor, not a socket */
  unsigned char blocking;  /* O_NONBLOCK was cleared for a child that shares it
                              (lproc.c): reads and writes still pass MSG_DONTWAIT,
                              but luds.copy must not splice it */
  unsigned char adopted;   /* luds.wrap'd or passed: the socket may be
                              another process's too (a service manager's) */
  unsigned share;          /* LOOP_EXCLUSIVE: a listener other processes
                              accept from too (workers); else 0 */
  const addr_net *net;
  runtime *rt;
  loop_io io;
  task *reader, *writer;
  double rdeadline, wdeadline; /* loop_now() clock; 0: none */
  rt_closer closer;            /* registered while it owns a file */
  char *path;                  /* the file to unlink on close, or NULL */
  unsigned long long dev, ino; /* ...only while it is still this file */
  char *buf;                   /* bytes read ahead by read_line/read_full */
  size_t boff, blen, bcap;
  unsigned long long rpos;     /* stream offset of buf + boff */
  struct lsock_held *held;     /* descriptors that came with read-ahead bytes */
  struct lproxy_ln *proxy;     /* a PROXY protocol listener's state (lproxy.c) */
  struct lproxy_hdr *proxied;  /* the PROXY protocol header a conn came with */
} lsock;

/* A stream conn on a pipe, FIFO, terminal or character device (lfdio.c)
 * has LSOCK_FILE set and reads and writes with read(2)/write(2). It cannot
 * be half closed: close_write closes one that only writes, close_read one
 * that only reads. RESTORE: it was blocking when wrapped, so closing it
 * clears O_NONBLOCK again on the description others share. */
enum { LSOCK_FILE = 1, LSOCK_FILE_READ = 2, LSOCK_FILE_WRITE = 4, LSOCK_FILE_RESTORE = 8 };

/* The stream conn's own read and write: one flag test off the socket path. */
static inline ssize_t lsock_recv(const lsock *s, void *buf, size_t n) {
  return s->file ? fdio_read(s->fd, buf, n) : sock_recv(s->fd, buf, n);
}
static inline ssize_t lsock_send(const lsock *s, const void *buf, size_t n) {
  return s->file ? fdio_write(s->fd, buf, n) : sock_send(s->fd, buf, n);
}

/* Pushes a new closed socket object with metatable mt. */
lsock *lsock_new(lua_State *L, runtime *rt, const addr_net *net, const char *mt);
/* Gives s its descriptor, recorded as owned (see rt_own). */
void lsock_attach(lsock *s, int fd);
/* The luds socket (of any kind) at index i, or NULL. */
lsock *lsock_test(lua_State *L, int i);
/* The socket at index 1 of a method: its metatable must be the method's
 * upvalue 1 (lsock_class sets it); raises otherwise. */
lsock *lsock_self(lua_State *L);
/* The socket of class cls at index 1 of a method, or raises: the hot
 * methods' check, with no metatable fetch or comparison. Only luds's C code
 * knows lsock_tag's address, so no other userdata of this size holds it. */
extern const char lsock_tag;
lsock *lsock_self_fail(lua_State *L, int cls);
static inline lsock *lsock_check(lua_State *L, int cls) {
  if (lua_rawlen(L, 1) == sizeof(lsock)) { /* a full userdata that size, or a string */
    lsock *s = lua_touserdata(L, 1);     /* NULL for the string */
    if (s && s->tag == &lsock_tag && s->cls == cls)
      return s;
  }
  return lsock_self_fail(L, cls);
}
/* Closes s: unwatches it, wakes its waiters (they see CLOSED), removes its
 * file if still ours, closes the fd. Idempotent; never raises. */
void lsock_shut(lsock *s);
/* Whether a task other than the caller waits to read (LOOP_IN) or write s:
 * then even buffered bytes are not served (BUSY), one waiter per direction. */
int lsock_busy(const lsock *s, unsigned dir);
/* Marks n read-ahead bytes taken (lstream.c); descriptors that came with
 * them and were not asked for are closed. */
void lsock_consume(lsock *s, size_t n);
/* Pushes nil, "op net addr: message", code; returns 3. */
int lsock_fail(lua_State *L, lsock *s, const char *op, int err);
/* lsock_begin's every check, out of line. */
int lsock_begin_slow(lua_State *L, lsock *s, int status, unsigned dir, const char *op);
/* Before a syscall in direction dir (LOOP_IN/LOOP_OUT): 0 when it may go
 * ahead, else the CLOSED/TIMEOUT/BUSY triple was pushed and 3 is returned.
 * Inline: an open socket with no waiter, no deadline and no timeout just
 * woken is the hot path's usual case, and costs no call. */
static inline int lsock_begin(lua_State *L, lsock *s, int status, unsigned dir,
                              const char *op) {
  int in = dir == LOOP_IN;
  if (s->fd >= 0 && !(in ? s->reader : s->writer) && (in ? s->rdeadline : s->wdeadline) == 0 &&
      (status == LUA_OK || s->rt->current->wake != WAKE_TIMEOUT))
    return 0;
  return lsock_begin_slow(L, s, status, dir, op);
}
/* Suspends the running task until s is ready in dir; `return` its value. */
int lsock_wait(lua_State *L, lsock *s, unsigned dir, lua_KContext ctx, lua_KFunction k);
/* Suspends the running task for 1 ms << min(attempt, max_shift), never past
 * s's write deadline, then continues in k with ctx + 1: for what cannot be
 * polled (a full unix backlog, a full datagram receiver). */
int lsock_backoff(lua_State *L, lsock *s, int attempt, int max_shift, lua_KContext ctx,
                  lua_KFunction k);
/* Whether a read of n bytes (with sock_recv_packet's flags) is the end of
 * the stream: 0 on a stream; an empty message without credentials on a
 * seqpacket conn that asked for them; never on a datagram socket. */
int lsock_eof(const lsock *s, ssize_t n, int flags);
/* Opens the socket of s (NONBLOCK|CLOEXEC; SO_PASSCRED for seqpacket),
 * collecting garbage and trying once more when out of fds. */
int lsock_open(lua_State *L, lsock *s, int family);
/* Opens the socket of s for a and binds it with the mode/owner/group that
 * lfsperm_start read into the box at perm (the options table at opts gives
 * the rest); if own, close removes the file. */
int lsock_bind(lua_State *L, lsock *s, const addr *a, int opts, int perm, int own);
/* Pushes { pid =, uid =, gid = } (lpeer.c). */
void lsock_push_cred(lua_State *L, const sock_cred *cred);
/* Adds peer_cred and peer_groups to the conn metatable on top (lpeer.c). */
void lpeer_methods(lua_State *L);
/* The network named by argument i; raises for an unknown one. */
const addr_net *lsock_network(lua_State *L, int i);
/* The end of listen and listen_packet: binds s (at 4, the options table at
 * 3) to the address at 2 once owner and group names (lfsperm.h), then a
 * host or service name (lresolve.h), are looked up, then listens with
 * backlog unless it is -1. own: close removes the file. Returns s, or the
 * triple after closing it. */
int lsock_listen_at(lua_State *L, lsock *s, int own, int backlog);
/* Parses argument i as an address of net; 0 or -errno: LERR_NAME when it
 * holds a host or service name (lresolve.h looks those up). */
int lsock_addr(lua_State *L, int i, const addr_net *net, addr *a);
/* The failure for addr_parse's -EINVAL with the addr_problem why. */
int lsock_addr_error(int why);
/* Raises unless every key of the options table at absolute index opts (none
 * or nil: no table) is a string in accepted, a NULL-terminated list in
 * alphabetical order; the error names the stray key and lists accepted, so a
 * misspelt option never passes for its default. Only the table's own keys
 * are looked at (lua_next), not what an __index would supply. */
void lsock_checkopts(lua_State *L, int opts, const char *const accepted[], const char *fname);
/* An optional integer option from 0 to max; raises for anything else. */
lua_Integer lsock_optrange(lua_State *L, int opts, const char *key, lua_Integer def,
                           lua_Integer max);
/* Optional number field of an options table. */
double lsock_optnumber(lua_State *L, int opts, const char *key, double def);
/* Optional boolean field of an options table (Lua truth). */
int lsock_optflag(lua_State *L, int opts, const char *key);

/* Creates metatable mt for a conn kind: methods m plus close, fd, deadlines,
 * addresses, close_read/close_write, __gc, __close and __tostring. */
void lsock_class(lua_State *L, const char *mt, const char *kind, const luaL_Reg *m);
/* Adds listen, dial, ... to the luds table on top of the stack. */
void lsock_register(lua_State *L, runtime *rt);
/* ldial.c: ln:accept, and luds.listen and luds.dial (upvalue: the runtime). */
int ldial_accept(lua_State *L);
extern const luaL_Reg ldial_funcs[];
/* Out of fds (err is -EMFILE or -ENFILE), collects the garbage, which may
 * hold sockets nobody closed, and says whether trying again is worth it. */
int lsock_collected(lua_State *L, int err);
void lpacket_register(lua_State *L, runtime *rt);
/* Creates the stream conn class (lstream.c). */
void lstream_register(lua_State *L);
/* Adds send_fds and recv_fds to the conn metatable on top (lfdpass.c). */
void lfdpass_methods(lua_State *L);
/* Reads up to room bytes into s->buf + s->blen (a unix stream conn's
 * read-ahead), keeping descriptors that came with them for recv_fds. */
ssize_t lfdpass_fill(lsock *s, size_t room);
/* Closes the held descriptors whose bytes were taken by a plain read. */
void lfdpass_release(lsock *s);
/* Closes every held descriptor (the conn closes). */
void lfdpass_drop(lsock *s);
/* Adds luds.copy to the table on top (lcopy.c). */
void lcopy_register(lua_State *L);
/* Adds luds.wrap, luds.listeners_from_env and luds.close_fd to the table
 * on top. */
void lfdpass_register(lua_State *L, runtime *rt);
/* Pushes a listener, conn or packet conn owning socket fd; 1, or 3 for a
 * failure triple, in which case fd stays the caller's. */
int lfdpass_wrap(lua_State *L, runtime *rt, int fd, const char *op);

/* Pushes a new closed stream conn for a plain descriptor of fdio_type type
 * (lfdio.c): its network is "pipe", "tty" or "char". */
lsock *lfdio_new(lua_State *L, runtime *rt, int type);
/* Gives a conn of lfdio_new its descriptor with LSOCK_FILE_* flags. */
void lfdio_attach(lsock *s, int fd, unsigned flags);
/* luds.wrap of a descriptor that is not a socket: 1 and a conn owning fd,
 * or 3 for a failure triple (fd stays the caller's). */
int lfdio_wrap(lua_State *L, runtime *rt, int fd, const char *op);
/* Adds stdin, stdout, stderr to the table on top (lfdio.c); exec, output's
 * engine and environ (lproc.c). */
void lfdio_register(lua_State *L, runtime *rt);
void lproc_register(lua_State *L, runtime *rt);
/* Adds luds.worker to the table on top and makes the private module
 * "luds.workerproc" that luds.workers supervises with (lworker.c). */
void lworker_register(lua_State *L, runtime *rt);

#endif
