/* Passing descriptors over unix sockets (SCM_RIGHTS): conn:send_fds and
 * conn:recv_fds on stream and packet conns, and luds.from_fd / close_fd to
 * adopt or close what arrives. Received descriptors are plain integers the
 * script owns; they are born CLOEXEC. */
#include <errno.h>
#include <lauxlib.h>
#include <sys/socket.h>

#include "lerror.h"
#include "lsock.h"
#include "sock.h"

#define RECV_DEFAULT 65536

/* The descriptors in the list at index i: integers or luds socket objects. */
static int check_fds(lua_State *L, int i, int *fds) {
  luaL_checktype(L, i, LUA_TTABLE);
  int n = (int)luaL_len(L, i);
  luaL_argcheck(L, n <= SOCK_MAX_FDS, i, "too many descriptors for one message (253 at most)");
  for (int k = 0; k < n; k++) {
    lua_geti(L, i, k + 1);
    lsock *s = lsock_test(L, -1);
    int isint;
    lua_Integer fd = s ? s->fd : lua_tointegerx(L, -1, &isint);
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

static int push_fds(lua_State *L, const int *fds, int n) {
  lua_createtable(L, n, 0);
  for (int k = 0; k < n; k++) {
    lua_pushinteger(L, fds[k]);
    lua_rawseti(L, -2, k + 1);
  }
  return 2;
}

static int recv_fds_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *s = lua_touserdata(L, 1);
  int r = lsock_begin(L, s, status, LOOP_IN, "recv_fds");
  if (r)
    return r;
  int fds[SOCK_MAX_FDS], nfds, flags;
  char *buf = rt_scratch(L, s->rt, (size_t)ctx);
  ssize_t n = sock_recv_fds(s->fd, buf, (size_t)ctx, fds, &nfds, &flags);
  if (n == -EAGAIN)
    return lsock_wait(L, s, LOOP_IN, ctx, recv_fds_k);
  if (n < 0)
    return lsock_fail(L, s, "recv_fds", (int)n);
  if (nfds == 0 && lsock_eof(s, n, flags))
    return lsock_fail(L, s, "recv_fds", LERR_EOF);
  lua_pushlstring(L, buf, (size_t)n);
  return push_fds(L, fds, nfds);
}

/* conn:recv_fds([max]) -> data, { fd, ... } | nil, msg, code: one read (one
 * message on packet conns) and the descriptors that came with it. */
static int conn_recv_fds(lua_State *L) {
  lsock *s = lsock_self(L);
  lua_Integer max = luaL_optinteger(L, 2, RECV_DEFAULT);
  luaL_argcheck(L, max > 0 && max <= (lua_Integer)s->rt->max_packet, 2, "out of range");
  lua_settop(L, 1);
  int r = unix_only(L, s, "recv_fds");
  return r ? r : recv_fds_k(L, LUA_OK, (lua_KContext)max);
}

void lfdpass_methods(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"send_fds", conn_send_fds}, {"recv_fds", conn_recv_fds}, {NULL, NULL}};
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, methods, 1);
}

/* luds.from_fd(network, fd) -> listener | conn | packet conn that owns fd
 * (a passed descriptor, or one inherited from a supervisor) | nil, msg,
 * code, in which case fd stays the caller's. */
static int l_from_fd(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  const addr_net *net = lsock_network(L, 1);
  lua_Integer fd = luaL_checkinteger(L, 2);
  luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 2, "not a descriptor");
  int listening = 0;
  int r = sock_adopt((int)fd, net->type, &listening);
  if (r < 0)
    return lerror_push(L, "from_fd", net->name, NULL, r);
  const char *mt = listening ? LISTENER_MT : net->type == SOCK_STREAM ? CONN_MT : PACKET_MT;
  lsock *s = lsock_new(L, rt, net, mt);
  s->fd = s->io.fd = (int)fd;
  s->passcred = net->type == SOCK_SEQPACKET && sock_passcred(s->fd) == 0;
  return 1;
}

/* luds.close_fd(fd) -> true | nil, msg, code: for received descriptors. */
static int l_close_fd(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 1, "not a descriptor");
  int r = sock_close_fd((int)fd);
  if (r < 0)
    return lerror_push(L, "close_fd", NULL, NULL, r);
  lua_pushboolean(L, 1);
  return 1;
}

void lfdpass_register(lua_State *L, runtime *rt) {
  static const luaL_Reg funcs[] = {{"from_fd", l_from_fd}, {"close_fd", l_close_fd}, {NULL, NULL}};
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
}
