/* Who is at the other end of a unix or unixpacket conn, as the kernel
 * recorded it when the connection was made: conn:peer_cred() (SO_PEERCRED)
 * and conn:peer_groups() (SO_PEERGROUPS). Neither can be forged by the
 * peer; luds.creds decides from both. */
#include <errno.h>
#include <lauxlib.h>
#include <sys/socket.h>

#include "lerror.h"
#include "lsock.h"
#include "sock.h"

void lsock_push_cred(lua_State *L, const sock_cred *cred) {
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, cred->pid);
  lua_setfield(L, -2, "pid");
  lua_pushinteger(L, cred->uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, cred->gid);
  lua_setfield(L, -2, "gid");
}

/* The conn of a peer method, or NULL with the triple pushed: a closed one,
 * or one of a network without a connected peer process. */
static lsock *peer_conn(lua_State *L, const char *op) {
  lsock *s = lsock_self(L);
  if (s->fd < 0)
    return lsock_fail(L, s, op, LERR_CLOSED), NULL;
  if (s->net->family != AF_UNIX || s->net->type == SOCK_DGRAM)
    return lsock_fail(L, s, op, -EOPNOTSUPP), NULL;
  return s;
}

/* conn:peer_cred() -> { pid, uid, gid } of the process that connected (or
 * accepted) on unix and unixpacket conns. */
static int s_peer_cred(lua_State *L) {
  lsock *s = peer_conn(L, "peer_cred");
  sock_cred cred;
  if (!s)
    return 3;
  int r = sock_peer_cred(s->fd, &cred);
  if (r < 0)
    return lsock_fail(L, s, "peer_cred", r);
  lsock_push_cred(L, &cred);
  return 1;
}

/* The first try fits most peers; a bigger list takes a second, of the
 * size the kernel asked for. The buffer is Lua's, so nothing leaks if a
 * push runs out of memory. */
#define GROUPS_FIRST 64

/* conn:peer_groups() -> { gid, ... }: the supplementary groups the peer
 * held when it connected (an accepted conn) or listened (a dialed one), in
 * the kernel's order; the gid of peer_cred is not among them unless the
 * peer also held it as a supplementary group. */
static int s_peer_groups(lua_State *L) {
  lsock *s = peer_conn(L, "peer_groups");
  size_t n = GROUPS_FIRST;
  if (!s)
    return 3;
  gid_t *gids = lua_newuserdatauv(L, n * sizeof *gids, 0);
  int r = sock_peer_groups(s->fd, gids, &n);
  if (r == -ERANGE) {
    gids = lua_newuserdatauv(L, n * sizeof *gids, 0);
    r = sock_peer_groups(s->fd, gids, &n);
  }
  if (r < 0)
    return lsock_fail(L, s, "peer_groups", r);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)gids[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

void lpeer_methods(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"peer_cred", s_peer_cred}, {"peer_groups", s_peer_groups}, {NULL, NULL}};
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, methods, 1);
}
