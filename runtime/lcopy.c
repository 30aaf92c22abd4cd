/* luds.copy(dst, src): Go's io.Copy for stream conns, in C, never through
 * Lua strings. Bytes go from src's socket to dst's through one buffer owned
 * by the call (recv and send: cheapest for small messages) until a read
 * fills it; from then on through a pipe with splice(2), so the kernel moves
 * the pages of a bulk transfer and nothing is copied through user space
 * (out of descriptors for the pipe, the buffer goes on). Each side waits
 * for its own readiness and honours its own deadline. */
#include <errno.h>
#include <lauxlib.h>
#include <string.h>

#include "lerror.h"
#include "lsock.h"
#include "sock.h"

#define COPY_BUF (64 * 1024)
#define SPLICE_MAX (1 << 20)
#define STATE_MT "luds.copy"

typedef struct copy_state {
  int pipe[2];             /* -1 while copying through data */
  int tried_pipe;          /* a full read asked for a pipe once */
  size_t piped;            /* bytes in the pipe */
  size_t off, len;         /* bytes in data, not yet written */
  unsigned long long sent; /* total written to dst */
  char data[COPY_BUF];
} copy_state;

static void close_pipe(copy_state *c) {
  for (int i = 0; i < 2; i++)
    if (c->pipe[i] >= 0)
      sock_close(c->pipe[i]);
  c->pipe[0] = c->pipe[1] = -1;
}

/* The copy's results: the count alone (nret 0) or after the failure triple
 * on the stack (nret 3). The pipe goes now, not at the next GC. */
static int finish(lua_State *L, copy_state *c, int nret) {
  close_pipe(c);
  lua_pushinteger(L, (lua_Integer)c->sent);
  return nret + 1;
}

/* Takes bytes from src: what its read_line/read_full left buffered first,
 * then into the pipe or data. 1 when some came, 0 at EOF, or -errno. Less
 * than asked marks src drained, as a short conn:read does. */
static ssize_t take_in(lsock *src, copy_state *c) {
  ssize_t r;
  if (src->blen > 0) {
    size_t n = src->blen < COPY_BUF ? src->blen : COPY_BUF;
    memcpy(c->data, src->buf + src->boff, n);
    src->boff += n;
    src->blen -= n;
    c->off = 0, c->len = n;
    return 1;
  }
  if (src->drained) /* as in conn:read: skip the recv that would fail */
    return -EAGAIN;
  if (c->len == 0 && c->off == COPY_BUF && !c->tried_pipe) { /* bulk: splice */
    c->tried_pipe = 1;
    if (sock_pipe(c->pipe) < 0)
      c->pipe[0] = c->pipe[1] = -1;
  }
  int piping = c->pipe[0] >= 0;
  size_t want = piping ? SPLICE_MAX : COPY_BUF;
  r = piping ? sock_splice(src->fd, c->pipe[1], want) : sock_recv(src->fd, c->data, want);
  if (r <= 0)
    return r;
  src->drained = (size_t)r < want;
  if (piping)
    c->piped = (size_t)r;
  else
    c->off = 0, c->len = (size_t)r;
  return 1;
}

/* Writes to dst what take_in got; bytes written or -errno. */
static ssize_t put_out(lsock *dst, copy_state *c) {
  ssize_t n;
  if (c->len > 0) {
    if ((n = sock_send(dst->fd, c->data + c->off, c->len)) > 0)
      c->off += (size_t)n, c->len -= (size_t)n;
  } else if ((n = sock_splice(c->pipe[0], dst->fd, c->piped)) > 0) {
    c->piped -= (size_t)n;
  }
  if (n > 0)
    c->sent += (unsigned long long)n;
  return n;
}

/* The stack holds dst, src, the state. Only the first check after a wait
 * may see the wake-up's status: the task waited on one side only. */
static int copy_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  lsock *dst = lua_touserdata(L, 1), *src = lua_touserdata(L, 2);
  copy_state *c = lua_touserdata(L, 3);
  for (;; status = LUA_OK) {
    if (c->len == 0 && c->piped == 0) {
      if (lsock_begin(L, src, status, LOOP_IN, "read"))
        return finish(L, c, 3);
      ssize_t r = take_in(src, c);
      if (r == -EAGAIN)
        return lsock_wait(L, src, LOOP_IN, 0, copy_k);
      if (r <= 0)
        return finish(L, c, r == 0 ? 0 : lsock_fail(L, src, "read", (int)r));
      status = LUA_OK;
    }
    if (lsock_begin(L, dst, status, LOOP_OUT, "write"))
      return finish(L, c, 3);
    ssize_t n = put_out(dst, c);
    if (n == -EAGAIN)
      return lsock_wait(L, dst, LOOP_OUT, 0, copy_k);
    if (n < 0)
      return finish(L, c, lsock_fail(L, dst, "write", (int)n));
  }
}

/* A cancelled copy's pipe is closed when its state is collected. */
static int state_gc(lua_State *L) {
  close_pipe(lua_touserdata(L, 1));
  return 0;
}

/* luds.copy(dst, src) -> bytes | nil, msg, code, bytes: copies until src
 * ends; dst is left open (close_write it to pass the end on). */
static int l_copy(lua_State *L) {
  luaL_checkudata(L, 1, CONN_MT);
  luaL_checkudata(L, 2, CONN_MT);
  lua_settop(L, 2);
  copy_state *c = lua_newuserdatauv(L, sizeof *c, 0);
  c->piped = c->off = c->len = 0;
  c->sent = 0;
  c->pipe[0] = c->pipe[1] = -1;
  c->tried_pipe = 0;
  luaL_setmetatable(L, STATE_MT);
  return copy_k(L, LUA_OK, 0);
}

void lcopy_register(lua_State *L) {
  luaL_newmetatable(L, STATE_MT);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_copy);
  lua_setfield(L, -2, "copy");
}
