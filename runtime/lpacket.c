/* Packet sockets for Lua: unixgram and udp (listen_packet, read_from,
 * write_to) and the conns of unixpacket listeners and packet dials. A read
 * returns exactly one message, the whole of it when no max is given; a cut
 * message is reported (TRUNCATED, with what fit), never passed off as whole.
 * A seqpacket conn carries SO_PASSCRED, so that an empty message (which has
 * credentials) is never taken for the end of the stream (which has none). */
#include <errno.h>
#include <lauxlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lerror.h"
#include "lsock.h"
#include "sock.h"

/* read and read_from share this: ctx is (max + 1) * 2 + with_addr, where
 * max + 1 = 0 asks for the whole message,
 * read straight into a buffer as long as the longest message a peer can
 * send: one syscall, no peeking. (A peer with CAP_NET_ADMIN can force a
 * longer one: that arrives as TRUNCATED, never silently cut.) */
static int recv_k(lua_State *L, int status, lua_KContext ctx);

/* Pushes the sender's address, and its credentials when s reports them
 * (read_from only); returns how many values. */
static int push_sender(lua_State *L, const lsock *s, const addr *from, int flags,
                       const sock_cred *cred) {
  char name[ADDR_STRLEN];
  if (!from)
    return 0;
  lua_pushlstring(L, name, addr_write(from, name, sizeof name));
  if (!s->creds)
    return 1;
  if (flags & SOCK_HAS_CREDS)
    lsock_push_cred(L, cred);
  else
    lua_pushnil(L);
  return 2;
}

/* The message is copied out of the scratch buffer before anything else is
 * pushed: each push may run the GC, so finalizers that read other packet
 * conns (and grow the scratch buffer). */
static int push_message(lua_State *L, lsock *s, const char *buf, ssize_t n, size_t cap, int flags,
                        const addr *from, const sock_cred *cred) {
  if (lsock_eof(s, n, flags))
    return lsock_fail(L, s, "read", LERR_EOF);
  int base = lua_gettop(L);
  lua_pushlstring(L, buf, (size_t)n < cap ? (size_t)n : cap);
  int nret = 1 + push_sender(L, s, from, flags, cred);
  if (!(flags & SOCK_TRUNCATED))
    return nret;
  lsock_fail(L, s, from ? "read_from" : "read", LERR_TRUNCATED);
  lua_rotate(L, base + 1, 3); /* nil, msg, code, part, sender... */
  return nret + 3;
}

static int recv_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *s = lua_touserdata(L, 1);
  int with_addr = (int)(ctx & 1);
  lua_KContext max1 = ctx >> 1;
  int r = lsock_begin(L, s, status, LOOP_IN, with_addr ? "read_from" : "read");
  if (r)
    return r;
  size_t cap = max1 > 0 ? (size_t)max1 - 1 : s->rt->max_packet;
  char *buf = rt_scratch(L, s->rt, cap);
  addr from;
  sock_cred cred;
  int flags = 0;
  ssize_t n = sock_recv_packet(s->fd, buf, cap, with_addr ? &from : NULL, &cred, &flags);
  if (n == -EAGAIN)
    return lsock_wait(L, s, LOOP_IN, ctx, recv_k);
  if (n < 0)
    return lsock_fail(L, s, with_addr ? "read_from" : "read", (int)n);
  return push_message(L, s, buf, n, cap, flags, with_addr ? &from : NULL, &cred);
}

/* No message is longer than max_packet, so a larger max changes nothing
 * but would size the buffer (and overflow ctx). */
static int start_recv(lua_State *L, int with_addr) {
  lsock *s = lsock_check(L, LSOCK_PACKET);
  lua_Integer max = luaL_optinteger(L, 2, -1);
  luaL_argcheck(L, max >= -1, 2, "must not be negative");
  if (max > (lua_Integer)s->rt->max_packet)
    max = (lua_Integer)s->rt->max_packet;
  fit_stack(L, 1);
  return recv_k(L, LUA_OK, (lua_KContext)((max + 1) * 2 + with_addr));
}

/* pc:read([max]) -> message | nil, msg, "TRUNCATED", part | nil, msg, code */
static int p_read(lua_State *L) { return start_recv(L, 0); }

/* pc:read_from([max]) -> message, addr[, cred] | nil, msg, "TRUNCATED", part,
 * addr[, cred] | nil, msg, code; cred ({ pid, uid, gid }) when the socket
 * was opened with passcred. */
static int p_read_from(lua_State *L) { return start_recv(L, 1); }

/* Unconnected datagram sockets poll writable even while the receiver's
 * queue is full, so a blocked write_to retries on a timer instead: 1, 2, 4
 * ... 32 ms, never past the write deadline. */
static int retry_later(lua_State *L, lsock *s, lua_KContext ctx, lua_KFunction k) {
  return lsock_backoff(L, s, (int)ctx, 5, ctx, k);
}

static int send_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *s = lua_touserdata(L, 1);
  int to_addr = !lua_isnone(L, 3);
  const char *op = to_addr ? "write_to" : "write";
  if (status == LUA_YIELD && to_addr && task_woken(s->rt) == WAKE_TIMEOUT)
    status = LUA_OK; /* the retry timer, not the deadline: checked below */
  int r = lsock_begin(L, s, status, LOOP_OUT, op);
  if (r)
    return r;
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  addr to;
  if (to_addr && (r = lsock_addr(L, 3, s->net, &to)) < 0)
    return lerror_push_at(L, op, s->net->name, 3, r);
  ssize_t n = sock_send_packet(s->fd, data, len, to_addr ? &to : NULL);
  if (n == -EAGAIN && to_addr)
    return retry_later(L, s, ctx, send_k);
  if (n == -EAGAIN)
    return lsock_wait(L, s, LOOP_OUT, ctx, send_k);
  if (n < 0 && to_addr)
    return lerror_push_at(L, op, s->net->name, 3, (int)n);
  if (n < 0)
    return lsock_fail(L, s, op, (int)n);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* pc:write(data) -> #data | nil, msg, code: one message, all or nothing */
static int p_write(lua_State *L) {
  lsock_check(L, LSOCK_PACKET);
  luaL_checkstring(L, 2);
  fit_stack(L, 2);
  return send_k(L, LUA_OK, 0);
}

/* pc:write_to(data, addr) -> #data | nil, msg, code */
static int p_write_to(lua_State *L) {
  lsock *s = lsock_check(L, LSOCK_PACKET);
  luaL_checkstring(L, 2);
  luaL_checkstring(L, 3);
  if (s->net->type == SOCK_SEQPACKET)
    luaL_error(L, "write_to: a unixpacket conn is connected: use write");
  fit_stack(L, 3);
  if (s->connected && s->fd >= 0) /* as Go refuses it: the peer is fixed, even for one address */
    return lsock_fail(L, s, "write_to", LERR_WRITE_TO_CONNECTED);
  return send_k(L, LUA_OK, 0);
}

/* luds.listen_packet(network, address [, opts]) -> packet conn | nil, msg,
 * code; raises for an opts key it does not accept (below) */
static int l_listen_packet(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  const addr_net *net = lsock_network(L, 1);
  if (net->listens)
    luaL_argerror(L, 1,
                  lua_pushfstring(L, "%s is a connection network: use luds.listen", net->name));
  luaL_checkstring(L, 2);
  if (!lua_isnoneornil(L, 3))
    luaL_checktype(L, 3, LUA_TTABLE);
  static const char *const accepted[] = {"group",        "mode",      "owner",           "passcred",
                                         "remove_stale", "reuseport", "unlink_on_close", NULL};
  lsock_checkopts(L, 3, accepted, "listen_packet");
  fit_stack(L, 3);
  int own = lsock_optflag(L, 3, "unlink_on_close");
  int creds = lsock_optflag(L, 3, "passcred");
  if (creds && net->family != AF_UNIX)
    luaL_error(L, "option 'passcred' needs a unix network, not %s", net->name);
  lsock *s = lsock_new(L, rt, net, PACKET_MT);
  s->creds = (unsigned char)creds;
  return lsock_listen_at(L, s, own, -1);
}

void lpacket_register(lua_State *L, runtime *rt) {
  rt->max_packet = sock_max_packet();
  static const luaL_Reg funcs[] = {{"listen_packet", l_listen_packet}, {NULL, NULL}};
  static const luaL_Reg methods[] = {{"read", p_read},
                                     {"read_from", p_read_from},
                                     {"write", p_write},
                                     {"write_to", p_write_to},
                                     {NULL, NULL}};
  lsock_class(L, PACKET_MT, "packet conn", methods);
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
}
