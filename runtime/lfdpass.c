/* Descriptors from elsewhere: passing them over unix sockets (SCM_RIGHTS)
 * with conn:send_fds and conn:recv_fds, adopting them with luds.wrap (what
 * arrives, what a parent left open) and luds.listeners_from_env (what a
 * service manager passed), closing them with luds.close_fd. Received
 * descriptors are plain integers the script owns; they are born CLOEXEC.
 * Descriptors that come with bytes a stream conn reads ahead (read_line)
 * are held with their bytes: recv_fds returns them with those bytes; a
 * plain read of the bytes closes them, as recv(2) would. */
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lerror.h"
#include "lsock.h"
#include "sock.h"

#define RECV_DEFAULT 65536
#define LISTEN_FDS_START 3 /* sd_listen_fds(3): passed sockets start here */

/* The descriptors in the list at index i: integers or luds socket objects. */
static int check_fds(lua_State *L, int i, int *fds) {
  luaL_checktype(L, i, LUA_TTABLE);
  int n = (int)luaL_len(L, i);
  luaL_argcheck(L, n <= SOCK_MAX_FDS, i, "too many descriptors for one message (253 at most)");
  for (int k = 0; k < n; k++) {
    lua_geti(L, i, k + 1);
    lsock *s = lsock_test(L, -1);
    int isint = lua_isinteger(L, -1); /* not "3": a string is no descriptor */
    lua_Integer fd = s ? s->fd : lua_tointeger(L, -1);
    if ((!s && !isint) || fd < 0 || fd > 0x7fffffff)
      luaL_error(L, "bad descriptor #%d: want an open fd number or luds socket", k + 1);
    fds[k] = (int)fd;
    lua_pop(L, 1);
  }
  return n;
}

static int unix_only(lua_State *L, lsock *s, const char *op) {
  if (s->net->family == AF_UNIX)
    return 0;
  return lsock_fail(L, s, op, -EOPNOTSUPP);
}

static int send_fds_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *s = lua_touserdata(L, 1);
  size_t len, done = (size_t)ctx;
  const char *data = lua_tolstring(L, 2, &len);
  int fds[SOCK_MAX_FDS];
  int nfds = check_fds(L, 3, fds);
  if (lsock_begin(L, s, status, LOOP_OUT, "send_fds"))
    return lua_pushinteger(L, (lua_Integer)done), 4;
  while (done < len) { /* the descriptors ride on the first bytes sent */
    ssize_t n = done == 0 ? sock_send_fds(s->fd, data, len, fds, nfds)
                          : sock_send(s->fd, data + done, len - done);
    if (n == -EAGAIN)
      return lsock_wait(L, s, LOOP_OUT, (lua_KContext)done, send_fds_k);
    if (n < 0) {
      lsock_fail(L, s, "send_fds", (int)n);
      return lua_pushinteger(L, (lua_Integer)done), 4;
    }
    done += (size_t)n;
  }
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

/* conn:send_fds(data, {fd | socket, ...}) -> #data | nil, msg, code, sent */
static int conn_send_fds(lua_State *L) {
  lsock *s = lsock_self(L);
  size_t len;
  luaL_checklstring(L, 2, &len);
  luaL_argcheck(L, len > 0, 2, "must not be empty: the descriptors travel with its bytes");
  int fds[SOCK_MAX_FDS];
  check_fds(L, 3, fds);
  lua_settop(L, 3);
  int r = unix_only(L, s, "send_fds");
  return r ? r : send_fds_k(L, LUA_OK, 0);
}

/* Descriptors that came with read-ahead bytes, each with the stream offset
 * of the last byte of the read that brought it: the kernel ends a read with
 * the message that carries descriptors, so they belong to its last bytes. */
struct lsock_held {
  size_t n, cap;
  struct {
    unsigned long long at;
    int fd;
  } v[];
};

/* Moves the held descriptors whose bytes end before `upto` into fds (at
 * most max; the rest are closed and *flags says so); keeps the others. */
static int held_take(lsock *s, unsigned long long upto, int *fds, int max, int *flags) {
  struct lsock_held *h = s->held;
  int got = 0;
  size_t kept = 0;
  for (size_t k = 0; h && k < h->n; k++) {
    if (h->v[k].at >= upto)
      h->v[kept++] = h->v[k];
    else if (got < max)
      fds[got++] = h->v[k].fd;
    else
      sock_close(h->v[k].fd), *flags |= SOCK_FDS_DROPPED;
  }
  if (h)
    h->n = kept;
  return got;
}

void lfdpass_release(lsock *s) {
  int flags = 0;
  held_take(s, s->rpos, NULL, 0, &flags);
}

void lfdpass_drop(lsock *s) {
  int flags = 0;
  held_take(s, ~0ull, NULL, 0, &flags);
  free(s->held);
  s->held = NULL;
}

static int hold(lsock *s, const int *fds, int n, unsigned long long at) {
  struct lsock_held *h = s->held;
  if (!h || h->n + (size_t)n > h->cap) {
    size_t cap = (h ? h->cap * 2 : 8) + (size_t)n;
    h = realloc(h, sizeof *h + cap * sizeof h->v[0]);
    if (!h)
      return -ENOMEM;
    if (!s->held)
      h->n = 0;
    h->cap = cap;
    s->held = h;
  }
  for (int k = 0; k < n; k++)
    h->v[h->n].at = at, h->v[h->n++].fd = fds[k];
  return 0;
}

ssize_t lfdpass_fill(lsock *s, size_t room) {
  int fds[SOCK_MAX_FDS], nfds, flags;
  ssize_t n = sock_recv_fds(s->fd, s->buf + s->blen, room, fds, SOCK_MAX_FDS, s->passcred, &nfds,
                            &flags);
  if (nfds > 0 && (n <= 0 || hold(s, fds, nfds, s->rpos + s->blen + (size_t)n - 1) < 0))
    for (int k = 0; k < nfds; k++) /* no memory to keep them: as recv(2) */
      sock_close(fds[k]);
  return n;
}

static int push_fds(lua_State *L, const int *fds, int n, int flags) {
  lua_createtable(L, n, 0);
  for (int k = 0; k < n; k++) {
    lua_pushinteger(L, fds[k]);
    lua_rawseti(L, -2, k + 1);
  }
  if (!(flags & SOCK_FDS_DROPPED))
    return 2;
  lua_pushboolean(L, 1);
  return 3;
}

/* ctx: max bytes * 256 + max descriptors (0 to 253). */
/* recv_fds on a conn holding read-ahead bytes: those come first, with the
 * descriptors that came with them, before anything still in the socket. */
static int recv_buffered(lua_State *L, lsock *s, size_t max, int max_fds) {
  size_t n = s->blen < max ? s->blen : max;
  const char *p = s->buf + s->boff;
  int fds[SOCK_MAX_FDS], flags = 0;
  int nfds = held_take(s, s->rpos + n, fds, max_fds, &flags);
  lsock_consume(s, n); /* state first: the pushes may run finalizers */
  lua_pushlstring(L, p, n);
  return push_fds(L, fds, nfds, flags);
}

static int recv_fds_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *s = lua_touserdata(L, 1);
  int r = lsock_begin(L, s, status, LOOP_IN, "recv_fds");
  if (r)
    return r;
  size_t max = (size_t)ctx >> 8;
  int fds[SOCK_MAX_FDS], nfds, flags;
  char *buf = rt_scratch(L, s->rt, max);
  ssize_t n = sock_recv_fds(s->fd, buf, max, fds, (int)(ctx & 255), s->passcred, &nfds, &flags);
  if (n == -EAGAIN)
    return lsock_wait(L, s, LOOP_IN, ctx, recv_fds_k);
  if (n < 0)
    return lsock_fail(L, s, "recv_fds", (int)n);
  if (nfds == 0 && !(flags & SOCK_FDS_DROPPED) && lsock_eof(s, n, flags))
    return lsock_fail(L, s, "recv_fds", LERR_EOF);
  lua_pushlstring(L, buf, (size_t)n);
  return push_fds(L, fds, nfds, flags);
}

/* conn:recv_fds([max [, max_fds]]) -> data, { fd, ... }[, true] | nil, msg,
 * code: one read (one message on packet conns) and the descriptors that
 * came with it; true when more than max_fds came and the kernel closed the
 * rest. */
static int conn_recv_fds(lua_State *L) {
  lsock *s = lsock_self(L);
  lua_Integer max = luaL_optinteger(L, 2, RECV_DEFAULT);
  luaL_argcheck(L, max > 0 && max <= (lua_Integer)s->rt->max_packet, 2, "out of range");
  lua_Integer max_fds = luaL_optinteger(L, 3, SOCK_MAX_FDS);
  luaL_argcheck(L, max_fds >= 0 && max_fds <= SOCK_MAX_FDS, 3, "must be from 0 to 253");
  lua_settop(L, 1);
  int r = unix_only(L, s, "recv_fds");
  if (r || s->blen == 0)
    return r ? r : recv_fds_k(L, LUA_OK, (lua_KContext)(max << 8 | max_fds));
  if (lsock_busy(s, LOOP_IN))
    return lsock_fail(L, s, "recv_fds", LERR_BUSY);
  return recv_buffered(L, s, (size_t)max, (int)max_fds);
}


void lfdpass_methods(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"send_fds", conn_send_fds}, {"recv_fds", conn_recv_fds}, {NULL, NULL}};
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, methods, 1);
}

/* The network a socket of this kind belongs to, or NULL. */
static const addr_net *network_of(const sock_kind *k) {
  int unix = k->family == AF_UNIX;
  if (!unix && k->family != AF_INET && k->family != AF_INET6)
    return NULL;
  switch (k->type) {
  case SOCK_STREAM:
    return addr_network(unix ? "unix" : "tcp");
  case SOCK_DGRAM:
    return addr_network(unix ? "unixgram" : "udp");
  case SOCK_SEQPACKET:
    return unix ? addr_network("unixpacket") : NULL;
  }
  return NULL;
}

/* A descriptor that is no socket goes to lfdio.c (pipes, terminals). */
int lfdpass_wrap(lua_State *L, runtime *rt, int fd, const char *op) {
  sock_kind kind;
  int r = sock_adopt(fd, &kind);
  if (r == -ENOTSOCK)
    return lfdio_wrap(L, rt, fd, op);
  const addr_net *net = r < 0 ? NULL : network_of(&kind);
  if (!net)
    return lerror_push(L, op, NULL, NULL, r < 0 ? r : -EPROTONOSUPPORT);
  const char *mt = kind.listening ? LISTENER_MT : kind.type == SOCK_STREAM ? CONN_MT : PACKET_MT;
  lsock *s = lsock_new(L, rt, net, mt);
  lsock_attach(s, fd);
  s->adopted = 1;
  s->passcred = kind.type == SOCK_SEQPACKET && sock_passcred(fd) == 0;
  s->creds = kind.type == SOCK_DGRAM && kind.family == AF_UNIX && kind.passcred;
  addr peer;
  s->connected = kind.type == SOCK_DGRAM && sock_name(fd, 1, &peer) == 0;
  return 1;
}

/* Argument i as a descriptor the runtime does not own (a socket's, the
 * loop's epoll and signalfd, a copy's pipe): wrapping or closing one would
 * leave two owners, and the second close would hit whatever reuses the
 * number. */
static int checkfd(lua_State *L, runtime *rt, int i) {
  lua_Integer fd = luaL_checkinteger(L, i);
  luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, i, "not a descriptor");
  if (rt_owns(rt, (int)fd))
    luaL_argerror(L, i,
                  lua_pushfstring(L, "fd %d belongs to luds (a socket: use its methods; "
                                     "or the event loop, or a copy's pipe)",
                                  (int)fd));
  return (int)fd;
}

/* luds.wrap(fd) -> listener | conn | packet conn that owns fd (a passed
 * descriptor, or one inherited), its network told by the socket itself; a
 * stream conn for a pipe, FIFO or terminal | nil, msg, code, in which case
 * fd stays the caller's. */
static int l_wrap(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  return lfdpass_wrap(L, rt, checkfd(L, rt, 1), "wrap");
}

/* The count in LISTEN_FDS if LISTEN_PID is this process (*ours is set), 0
 * if the sockets are not ours or none were passed, -EINVAL if the count is
 * malformed. */
static int passed_count(int *ours) {
  const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
  char *end;
  *ours = 0;
  if (!pid || !fds)
    return 0;
  errno = 0;
  long long p = strtoll(pid, &end, 10);
  if (!*pid || *end || errno || p != (long long)getpid())
    return 0;
  *ours = 1;
  long long n = strtoll(fds, &end, 10);
  if (!*fds || *end || errno || n < 0 || n > INT_MAX - LISTEN_FDS_START)
    return -EINVAL;
  return (int)n;
}

/* Adds the socket on top to names[name] (an array), popping nothing. */
static void add_named(lua_State *L, int names, const char *name, size_t len) {
  if (len == 0)
    name = "unknown", len = 7;
  lua_pushlstring(L, name, len);
  if (lua_rawget(L, names) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlstring(L, name, len);
    lua_pushvalue(L, -2);
    lua_rawset(L, names);
  }
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_pop(L, 1);
}

/* luds.listeners_from_env() -> list, names | nil, msg, code: the sockets a
 * service manager passed (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, as
 * systemd does), in fd order and by name; the variables are unset so that
 * children do not take them for theirs. Not for us: two empty tables. */
static int l_listeners_from_env(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  int ours, n = passed_count(&ours);
  const char *names = getenv("LISTEN_FDNAMES");
  lua_settop(L, 0);
  lua_pushstring(L, names ? names : "");            /* 1: copied before unsetenv */
  lua_createtable(L, n > 0 && n < 64 ? n : 0, 0); /* 2: n is not checked yet */
  lua_newtable(L);                                  /* 3 */
  if (ours) {
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
  }
  if (n < 0)
    return lerror_push(L, "listeners_from_env", NULL, "LISTEN_FDS", n);
  for (int k = 0; k < n; k++) { /* all or nothing: check before adopting */
    sock_kind kind; /* the loop's own fds are no sockets: ENOTSOCK first */
    int r = sock_kind_of(LISTEN_FDS_START + k, &kind);
    if (r < 0 || !network_of(&kind))
      return lerror_push(L, "listeners_from_env",
                         lua_pushfstring(L, "fd %d", LISTEN_FDS_START + k), NULL,
                         r < 0 ? r : -EPROTONOSUPPORT);
    if (rt_owns(rt, LISTEN_FDS_START + k))
      return luaL_error(L, "listeners_from_env: fd %d already belongs to a luds socket",
                        LISTEN_FDS_START + k);
  }
  const char *name = lua_tostring(L, 1);
  for (int k = 0; k < n; k++) {
    if (lfdpass_wrap(L, rt, LISTEN_FDS_START + k, "listeners_from_env") != 1)
      return 3;
    const char *colon = strchr(name, ':');
    size_t len = colon ? (size_t)(colon - name) : strlen(name);
    add_named(L, 3, name, len);
    name += colon ? len + 1 : len;
    lua_rawseti(L, 2, k + 1);
  }
  return 2;
}

/* luds.close_fd(fd) -> true | nil, msg, code: for received descriptors. */
static int l_close_fd(lua_State *L) {
  int r = sock_close_fd(checkfd(L, lua_touserdata(L, lua_upvalueindex(1)), 1));
  if (r < 0)
    return lerror_push(L, "close_fd", NULL, NULL, r);
  lua_pushboolean(L, 1);
  return 1;
}

void lfdpass_register(lua_State *L, runtime *rt) {
  static const luaL_Reg funcs[] = {{"wrap", l_wrap},
                                   {"listeners_from_env", l_listeners_from_env},
                                   {"close_fd", l_close_fd},
                                   {NULL, NULL}};
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
}
