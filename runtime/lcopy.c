/* luds.copy(dst, src): Go's io.Copy for stream conns, in C. Bytes go from
 * src's socket to dst's through one buffer owned by the call, never through
 * Lua strings; each side waits for its own readiness and honours its own
 * deadline, so a proxy costs two syscalls per chunk and nothing else. */
#include <errno.h>
#include <lauxlib.h>
#include <string.h>

#include "lerror.h"
#include "lsock.h"
#include "sock.h"

#define COPY_BUF (64 * 1024)

typedef struct copy_state {
  size_t off, len;       /* bytes read but not yet written */
  unsigned long long sent; /* total written to dst */
  char data[COPY_BUF];
} copy_state;

static int copy_fail(lua_State *L, lsock *s, const char *op, int err, const copy_state *c) {
  lsock_fail(L, s, op, err);
  lua_pushinteger(L, (lua_Integer)c->sent);
  return 4;
}

/* Refills c from src: bytes src's read_line/read_full left buffered first.
 * 1 when c holds bytes, 0 at EOF, -EAGAIN, or -errno. */
static ssize_t refill(lsock *src, copy_state *c) {
  size_t n = src->blen < COPY_BUF ? src->blen : COPY_BUF;
  ssize_t r = (ssize_t)n;
  if (n > 0) {
    memcpy(c->data, src->buf + src->boff, n);
    src->boff += n;
    src->blen -= n;
  } else if (src->drained) {
    return -EAGAIN;
  } else if ((r = sock_recv(src->fd, c->data, COPY_BUF)) > 0) {
    src->drained = (size_t)r < COPY_BUF;
  }
  if (r > 0)
    c->off = 0, c->len = (size_t)r;
  return r > 0 ? 1 : r;
}

/* The stack holds dst, src, the state. Only the first check after a wait
 * may see the wake-up's status: the task waited on one side only. */
static int copy_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  lsock *dst = lua_touserdata(L, 1), *src = lua_touserdata(L, 2);
  copy_state *c = lua_touserdata(L, 3);
  for (;; status = LUA_OK) {
    if (c->len == 0) {
      if (lsock_begin(L, src, status, LOOP_IN, "read"))
        return lua_pushinteger(L, (lua_Integer)c->sent), 4;
      ssize_t r = refill(src, c);
      if (r == -EAGAIN)
        return lsock_wait(L, src, LOOP_IN, 0, copy_k);
      if (r == 0)
        return lua_pushinteger(L, (lua_Integer)c->sent), 1;
      if (r < 0)
        return copy_fail(L, src, "read", (int)r, c);
      status = LUA_OK;
    }
    if (lsock_begin(L, dst, status, LOOP_OUT, "write"))
      return lua_pushinteger(L, (lua_Integer)c->sent), 4;
    ssize_t n = sock_send(dst->fd, c->data + c->off, c->len);
    if (n == -EAGAIN)
      return lsock_wait(L, dst, LOOP_OUT, 0, copy_k);
    if (n < 0)
      return copy_fail(L, dst, "write", (int)n, c);
    c->off += (size_t)n;
    c->len -= (size_t)n;
    c->sent += (unsigned long long)n;
  }
}

/* luds.copy(dst, src) -> bytes | nil, msg, code, bytes: copies until src
 * ends; dst is left open (close_write it to pass the end on). */
static int l_copy(lua_State *L) {
  luaL_checkudata(L, 1, CONN_MT);
  luaL_checkudata(L, 2, CONN_MT);
  lua_settop(L, 2);
  copy_state *c = lua_newuserdatauv(L, sizeof *c, 0);
  c->off = c->len = 0;
  c->sent = 0;
  return copy_k(L, LUA_OK, 0);
}

void lcopy_register(lua_State *L) {
  lua_pushcfunction(L, l_copy);
  lua_setfield(L, -2, "copy");
}
