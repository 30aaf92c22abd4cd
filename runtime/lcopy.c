/* luds.copy(dst, src): Go's io.Copy for stream conns, in C, never through
 * Lua strings. Each chunk is read into the runtime's scratch buffer and
 * sent at once; only what dst cannot take yet is kept (in a buffer of the
 * call, sized to it), so a copy waiting for input holds no buffer at all.
 * Once a read fills the scratch buffer the transfer is bulk: from then on a
 * pipe carries it with splice(2), so the kernel moves the pages and nothing
 * is copied through user space (out of descriptors for the pipe, the
 * scratch buffer goes on). A conn copied into itself (an echo) never
 * splices: measured, it gained nothing and cost two descriptors; nor does a
 * copy with a pipe or terminal conn on either side (a terminal cannot take a
 * splice), nor one whose socket a child made blocking (splice would wait
 * on it). Each side waits for its own readiness and honours its own
 * deadline. */
#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "lerror.h"
#include "lsock.h"
#include "sock.h"

#define CHUNK (64 * 1024)
#define SPLICE_MAX (1 << 20)
#define STATE_MT "luds.copy"

typedef struct copy_state {
  runtime *rt;             /* the pipe's fds are recorded as its own */
  int pipe[2];             /* -1 while not splicing */
  int tried_pipe;          /* bulk was seen (or this is an echo) */
  size_t piped;            /* bytes in the pipe */
  char *held;              /* bytes read that dst could not take yet */
  size_t off, len, cap;
  unsigned long long sent; /* total written to dst */
} copy_state;

static void release(copy_state *c) {
  for (int i = 0; i < 2; i++)
    if (c->pipe[i] >= 0) {
      rt_own(c->rt, c->pipe[i], 0);
      sock_close(c->pipe[i]);
    }
  c->pipe[0] = c->pipe[1] = -1;
  free(c->held);
  c->held = NULL;
  c->off = c->len = c->cap = 0;
}

/* The copy's results: the count alone (nret 0) or after the failure triple
 * on the stack (nret 3). The pipe and buffer go now, not at the next GC. */
static int finish(lua_State *L, copy_state *c, int nret) {
  release(c);
  lua_pushinteger(L, (lua_Integer)c->sent);
  return nret + 1;
}

/* Keeps n bytes that dst could not take, to send after a wait. */
static int hold(copy_state *c, const char *p, size_t n) {
  if (n > c->cap) {
    char *q = realloc(c->held, n);
    if (!q)
      return -ENOMEM;
    c->held = q;
    c->cap = n;
  }
  memcpy(c->held, p, n);
  c->off = 0;
  c->len = n;
  return 0;
}

/* Sends what is pending: bytes src read ahead (read_line), held bytes, or
 * the pipe. Bytes written, or -errno. */
static ssize_t put_out(lsock *dst, lsock *src, copy_state *c) {
  ssize_t n;
  if (src->blen > 0) {
    if ((n = lsock_send(dst, src->buf + src->boff, src->blen)) > 0)
      lsock_consume(src, (size_t)n);
  } else if (c->len > 0) {
    if ((n = lsock_send(dst, c->held + c->off, c->len)) > 0)
      c->off += (size_t)n, c->len -= (size_t)n;
  } else if ((n = sock_splice(c->pipe[0], dst->fd, c->piped)) > 0) {
    c->piped -= (size_t)n;
  }
  if (n > 0)
    c->sent += (unsigned long long)n;
  return n;
}

/* Reads from src into the pipe, or into scratch and on to dst at once,
 * holding what dst does not take. 1 when bytes came, 0 at EOF, -errno
 * (-EAGAIN: src has nothing; errors on the send side come back as
 * *dst_err). Less than asked marks src drained, as a short conn:read does. */
static ssize_t pass_on(lua_State *L, lsock *dst, lsock *src, copy_state *c, int *dst_err) {
  if (src->drained)
    return -EAGAIN;
  if (c->pipe[0] >= 0) {
    ssize_t r = sock_splice(src->fd, c->pipe[1], SPLICE_MAX);
    if (r > 0)
      src->drained = r < SPLICE_MAX, c->piped = (size_t)r;
    return r > 0 ? 1 : r;
  }
  char *buf = rt_scratch(L, src->rt, CHUNK);
  ssize_t r = lsock_recv(src, buf, CHUNK);
  if (r <= 0)
    return r;
  src->drained = r < CHUNK;
  if (r == CHUNK && !c->tried_pipe) { /* bulk: splice from now on */
    c->tried_pipe = 1;
    if (sock_pipe(c->pipe) < 0)
      c->pipe[0] = c->pipe[1] = -1;
    rt_own(c->rt, c->pipe[0], 1);
    rt_own(c->rt, c->pipe[1], 1);
  }
  ssize_t m = lsock_send(dst, buf, (size_t)r);
  if (m == -EAGAIN)
    m = 0;
  if (m < 0)
    return *dst_err = (int)m, 1;
  c->sent += (unsigned long long)m;
  if (m < r)
    *dst_err = hold(c, buf + m, (size_t)(r - m));
  return 1;
}

/* The stack holds dst, src, the state. Only the first check after a wait
 * may see the wake-up's status: the task waited on one side only. */
static int copy_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  lsock *dst = lua_touserdata(L, 1), *src = lua_touserdata(L, 2);
  copy_state *c = lua_touserdata(L, 3);
  for (;; status = LUA_OK) {
    if (src->blen == 0 && c->len == 0 && c->piped == 0) {
      /* both sides, before reading: nothing is read that cannot go on */
      if (lsock_begin(L, src, status, LOOP_IN, "read") ||
          lsock_begin(L, dst, LUA_OK, LOOP_OUT, "write"))
        return finish(L, c, 3);
      int dst_err = 0;
      ssize_t r = pass_on(L, dst, src, c, &dst_err);
      if (r == -EAGAIN)
        return lsock_wait(L, src, LOOP_IN, 0, copy_k);
      if (r <= 0)
        return finish(L, c, r == 0 ? 0 : lsock_fail(L, src, "read", (int)r));
      if (dst_err)
        return finish(L, c, lsock_fail(L, dst, "write", dst_err));
      continue;
    }
    if (lsock_begin(L, dst, status, LOOP_OUT, "write"))
      return finish(L, c, 3);
    if (src->blen > 0 && lsock_busy(src, LOOP_IN))
      return finish(L, c, lsock_fail(L, src, "read", LERR_BUSY));
    ssize_t n = put_out(dst, src, c);
    if (n == -EAGAIN)
      return lsock_wait(L, dst, LOOP_OUT, 0, copy_k);
    if (n < 0)
      return finish(L, c, lsock_fail(L, dst, "write", (int)n));
  }
}

/* __gc and __close of the state: the state is a to-be-closed slot of the
 * call, so a cancelled copy (its task reset) lets its pipe and buffer go at
 * once, not at the next collection. */
static int state_gc(lua_State *L) {
  release(lua_touserdata(L, 1));
  return 0;
}

/* luds.copy(dst, src) -> bytes | nil, msg, code, bytes: copies until src
 * ends; dst is left open (close_write it to pass the end on). */
static int l_copy(lua_State *L) {
  luaL_checkudata(L, 1, CONN_MT);
  luaL_checkudata(L, 2, CONN_MT);
  lua_settop(L, 2);
  copy_state *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  c->pipe[0] = c->pipe[1] = -1;
  lsock *dst = lua_touserdata(L, 1), *src = lua_touserdata(L, 2);
  c->rt = dst->rt;
  c->tried_pipe =
      lua_rawequal(L, 1, 2) || dst->file || src->file || dst->blocking || src->blocking;
  luaL_setmetatable(L, STATE_MT);
  lua_toclose(L, 3);
  return copy_k(L, LUA_OK, 0);
}

void lcopy_register(lua_State *L) {
  luaL_newmetatable(L, STATE_MT);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_copy);
  lua_setfield(L, -2, "copy");
}
