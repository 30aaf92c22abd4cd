/* Where sockets come from, for Lua: luds.listen, ln:accept and luds.dial
 * (every address a name gives, in turn, within the timeout). Owner and
 * group names and host names are looked up on the worker pool first. */
#include <errno.h>
#include <limits.h>
#include <lauxlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lerror.h"
#include "lfsperm.h"
#include "lproxy.h"
#include "lresolve.h"
#include "lsock.h"
#include "lwork.h"
#include "sock.h"

#define BACKLOG_DEFAULT 4096

static int accept_fd(lua_State *L, lsock *ln) {
  int fd, tries = 0;
  do /* a connection reset before we took it is not the listener's error */
    fd = sock_accept(ln->fd);
  while (fd == -ECONNABORTED || (fd < 0 && tries++ == 0 && lsock_collected(L, fd)));
  return fd;
}

/* A PROXY listener hands each new fd to lproxy, which reads its header in
 * the background, and returns the first conn whose header is complete
 * (often the one just accepted). After PROXY_BURST accepts without one it
 * waits on the listener like any other task, so that a flood of clients
 * that send nothing cannot keep it from yielding. */
#define PROXY_BURST 64

static int accept_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *ln = lua_touserdata(L, 1);
  int r = lsock_begin(L, ln, status, LOOP_IN, "accept");
  if (r)
    return r;
  lsock *c = lua_touserdata(L, 2);
  int fd;
  for (int n = 0;; n++) {
    if (ln->proxy && lproxy_take(ln, c))
      return 1;
    fd = n < PROXY_BURST ? accept_fd(L, ln) : -EAGAIN;
    if (fd == -EAGAIN)
      return lsock_wait(L, ln, LOOP_IN, ctx, accept_k);
    if (fd < 0)
      return lsock_fail(L, ln, "accept", fd);
    if (!ln->proxy)
      break;
    lproxy_start(ln, fd);
  }
  lsock_attach(c, fd);
  if (ln->net->family != AF_UNIX)
    sock_nodelay(fd);
  if (ln->passcred) /* inherited on recent kernels; this covers older ones */
    c->passcred = sock_passcred(fd) == 0;
  return 1;
}

/* ln:accept() -> conn | nil, msg, code. The conn object exists before the
 * syscall, so an out-of-memory error can never leak an accepted fd. */
int ldial_accept(lua_State *L) {
  lsock *ln = lsock_self(L);
  lua_settop(L, 1);
  lsock_new(L, ln->rt, ln->net, ln->net->type == SOCK_STREAM ? CONN_MT : PACKET_MT);
  return accept_k(L, LUA_OK, 0);
}


/* ctx: (backlog + 1) * 2 + own, backlog -1 for no listen (listen_packet).
 * Binds s (at 4) to a when r is 0, then listens; the boxes of the owner and
 * group (at 5) and of a name's lookup (at 6, if any) go. */
static int bind_at(lua_State *L, lsock *s, const addr *a, int r, lua_KContext ctx) {
  int backlog = (int)(ctx / 2) - 1;
  if (r == 0)
    r = lsock_bind(L, s, a, 3, 5, (int)(ctx & 1));
  if (r == 0 && backlog >= 0)
    r = sock_listen(s->fd, backlog);
  lwork_done(L, 5);
  lwork_done(L, 6);
  lua_settop(L, 4);
  if (r == 0)
    return 1;
  lsock_shut(s);
  return lerror_push_at(L, "listen", s->net->name, 2, r);
}

static int bind_named_k(lua_State *L, int status, lua_KContext ctx) {
  addr a;
  (void)status;
  int r = lresolve_listen_addr(L, 6, &a);
  return bind_at(L, lua_touserdata(L, 4), &a, r, ctx);
}

/* Owner and group are known (the box at 5): the address next. */
static int perm_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *s = lua_touserdata(L, 4);
  addr a;
  (void)status;
  int r = lsock_addr(L, 2, s->net, &a);
  if (r == LERR_NAME) /* a host or service name: look it up first */
    return lresolve_start(L, s->rt, s->net, 2, 0, ctx, bind_named_k);
  return bind_at(L, s, &a, r, ctx);
}

int lsock_listen_at(lua_State *L, lsock *s, int own, int backlog) {
  lua_KContext ctx = ((lua_KContext)backlog + 1) * 2 + (own != 0);
  return lfsperm_start(L, s->rt, 3, ctx, perm_k);
}

/* luds.listen(network, address [, opts]) -> listener | nil, msg, code; raises
 * for an opts key it does not accept (below) */
static int l_listen(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  const addr_net *net = lsock_network(L, 1);
  if (!net->listens)
    luaL_argerror(L, 1,
                  lua_pushfstring(L, "%s is a packet network: use luds.listen_packet", net->name));
  luaL_checkstring(L, 2);
  if (!lua_isnoneornil(L, 3))
    luaL_checktype(L, 3, LUA_TTABLE);
  static const char *const accepted[] = {"backlog",      "group",     "mode",
                                         "owner",        "proxy",     "proxy_timeout",
                                         "remove_stale", "reuseport", NULL};
  lsock_checkopts(L, 3, accepted, "listen");
  int backlog = (int)lsock_optrange(L, 3, "backlog", BACKLOG_DEFAULT, INT_MAX);
  lproxy_opts proxy;
  lproxy_options(L, 3, net, &proxy);
  lua_settop(L, 3);
  lsock *s = lsock_new(L, rt, net, LISTENER_MT);
  int r = lproxy_listen(s, &proxy);
  if (r < 0) {
    lsock_shut(s);
    return lerror_push_at(L, "listen", net->name, 2, r);
  }
  return lsock_listen_at(L, s, 1, backlog);
}

enum { DIAL_FRESH, DIAL_CONNECTING, DIAL_BACKOFF };

static int dial_done(lua_State *L, lsock *c, int r) {
  c->wdeadline = 0;
  lwork_done(L, 5);
  if (r == 0) {
    if (c->net->family != AF_UNIX && c->net->type == SOCK_STREAM)
      sock_nodelay(c->fd);
    c->connected = c->net->type == SOCK_DGRAM;
    lua_settop(L, 4);
    return 1;
  }
  lsock_shut(c);
  return lerror_push_at(L, "dial", c->net->name, 2, r);
}

/* A full unix backlog answers EAGAIN and cannot be polled: retry after
 * 1, 2, 4 ... 64 ms, never past the dial deadline. */
static int dial_backoff(lua_State *L, lsock *c, lua_KContext ctx, lua_KFunction k) {
  return lsock_backoff(L, c, (int)(ctx - DIAL_BACKOFF), 6, ctx, k);
}

static int dial_local(lua_State *L, lsock *c, const addr *remote);

/* Attempt r failed: with the addresses a name gave (lresolve.c keeps them
 * in the box at 5), on to the next with a new socket (Go's dialSerial); 0
 * when none is left or the deadline has passed, with what to report in *r. */
static int dial_next(lua_State *L, lsock *c, int *r) {
  addr a;
  while (lresolve_next(L, 5, r, &a, &c->wdeadline)) {
    lsock_shut(c);
    if ((*r = dial_local(L, c, &a)) == 0)
      return 1;
  }
  return 0;
}

static int dial_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *c = lua_touserdata(L, 4);
  addr a;
  int r;
  if (status == LUA_YIELD && ctx == DIAL_CONNECTING) {
    r = task_woken(c->rt) == WAKE_TIMEOUT ? LERR_TIMEOUT : sock_connect_result(c->fd);
  } else if (c->wdeadline > 0 && loop_now() >= c->wdeadline) {
    r = LERR_TIMEOUT;
  } else {
    if (!lresolve_current(L, 5, &a))
      lsock_addr(L, 2, c->net, &a);
    r = sock_connect(c->fd, &a);
    if (r == -EINPROGRESS)
      return lsock_wait(L, c, LOOP_OUT, DIAL_CONNECTING, dial_k);
    if (r == -EAGAIN)
      return dial_backoff(L, c, ctx < DIAL_BACKOFF ? DIAL_BACKOFF : ctx, dial_k);
  }
  if (r != 0 && dial_next(L, c, &r))
    return dial_k(L, LUA_OK, DIAL_FRESH);
  return dial_done(L, c, r);
}

/* The name's addresses are in: dial them in turn, from the first. */
static int dial_named_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *c = lua_touserdata(L, 4);
  addr a;
  (void)status, (void)ctx;
  int r = lresolve_first(L, 5, &a, &c->wdeadline);
  if (r == 0)
    r = dial_local(L, c, &a);
  if (r == 0 || dial_next(L, c, &r))
    return dial_k(L, LUA_OK, DIAL_FRESH);
  return dial_done(L, c, r);
}

/* Binds a dialing socket to opts.local_address; a unixgram socket with none
 * autobinds, so that a server can always answer it. */
static int dial_local(lua_State *L, lsock *c, const addr *remote) {
  addr a;
  int r = 0;
  if (lua_getfield(L, 3, "local_address") != LUA_TNIL) {
    if (!lua_isstring(L, -1))
      luaL_error(L, "option 'local_address' must be a string");
    r = lsock_addr(L, lua_gettop(L), c->net, &a);
  } else if (c->net->family == AF_UNIX && c->net->type == SOCK_DGRAM) {
    r = addr_parse(c->net, "", 0, &a, NULL);
  } else {
    lua_pop(L, 1);
    return lsock_open(L, c, remote->ss.ss_family);
  }
  lua_pop(L, 1);
  if (r == 0)
    r = lsock_open(L, c, a.ss.ss_family);
  return r == 0 ? sock_bind(c->fd, &a) : r;
}

/* luds.dial(network, address [, opts]) -> conn | nil, msg, code; raises for
 * an opts key it does not accept (below) */
static int l_dial(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  const addr_net *net = lsock_network(L, 1);
  luaL_checkstring(L, 2);
  if (lua_isnoneornil(L, 3)) {
    lua_settop(L, 2);
    lua_newtable(L);
  }
  luaL_checktype(L, 3, LUA_TTABLE);
  static const char *const accepted[] = {"local_address", "timeout", NULL};
  lsock_checkopts(L, 3, accepted, "dial");
  double timeout = lsock_optnumber(L, 3, "timeout", 0);
  if (!(timeout >= 0)) /* NaN too */
    luaL_error(L, "option 'timeout' must be a number of seconds, 0 or more (0: none)");
  lua_settop(L, 3);
  lsock *c = lsock_new(L, rt, net, net->type == SOCK_STREAM ? CONN_MT : PACKET_MT);
  c->wdeadline = timeout > 0 ? loop_now() + timeout : 0; /* 0: none, as in Go */
  addr a;
  int r = lsock_addr(L, 2, net, &a);
  if (r == LERR_NAME) /* a host or service name: look it up first, within the timeout */
    return lresolve_start(L, rt, net, 2, c->wdeadline, 0, dial_named_k);
  if (r == 0)
    r = dial_local(L, c, &a);
  if (r < 0)
    return dial_done(L, c, r);
  return dial_k(L, LUA_OK, DIAL_FRESH);
}

const luaL_Reg ldial_funcs[] = {{"listen", l_listen}, {"dial", l_dial}, {NULL, NULL}};
