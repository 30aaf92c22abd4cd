/* Stream conns for Lua (unix, tcp, and pipes: lfdio.c): read, read_full,
 * read_line, write.
 * The only allocation on a read is the string it returns; bytes read ahead
 * by read_line/read_full wait in a per-conn buffer, so none is ever lost. */
#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "lerror.h"
#include "lproxy.h"
#include "lsock.h"
#include "sock.h"

#define READ_DEFAULT 65536
#define READ_CHUNK (256 * 1024) /* the most one stream read returns */
#define LINE_MAX_BYTES (1024 * 1024)

static int conn_read_k(lua_State *L, int status, lua_KContext ctx);
static int read_some(lua_State *L, lsock *s, int status, lua_KContext ctx);
static int conn_write_k(lua_State *L, int status, lua_KContext ctx);

void lsock_consume(lsock *s, size_t n) {
  s->boff += n;
  s->blen -= n;
  s->rpos += n;
  if (s->blen == 0)
    s->boff = 0;
  if (s->held)
    lfdpass_release(s);
}

/* Pushes up to n buffered bytes. The offsets move first: the push may run
 * the GC, and a finalizer that reads this conn must find them consistent
 * (the bytes stay where they are until the next fill). */
static size_t take(lua_State *L, lsock *s, size_t n) {
  if (n > s->blen)
    n = s->blen;
  const char *p = s->buf + s->boff;
  lsock_consume(s, n);
  lua_pushlstring(L, p, n);
  return n;
}

/* conn:read([max]) -> up to max bytes | nil, "EOF", "EOF" | nil, msg, code */
static int conn_read(lua_State *L) {
  lsock *s = lsock_check(L, LSOCK_CONN);
  lua_Integer max = READ_DEFAULT;
  if (lua_gettop(L) != 1) { /* lua_gettop is cheaper than luaL_optinteger */
    max = luaL_optinteger(L, 2, READ_DEFAULT);
    luaL_argcheck(L, max >= 0, 2, "must not be negative");
    lua_settop(L, 1);
  }
  if (s->blen > 0 && s->fd >= 0) {
    if (lsock_busy(s, LOOP_IN))
      return lsock_fail(L, s, "read", LERR_BUSY);
    take(L, s, (size_t)max);
    return 1;
  }
  if (max == 0 && s->fd >= 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  return read_some(L, s, LUA_OK, (lua_KContext)(max < READ_CHUNK ? max : READ_CHUNK));
}

/* A read shorter than asked emptied the socket; until the loop reports it
 * readable again the next read waits at once instead of paying for a recv
 * that would say EAGAIN (level-triggered epoll still reports data that came
 * in between, so nothing is missed). */
static int read_some(lua_State *L, lsock *s, int status, lua_KContext ctx) {
  int r = lsock_begin(L, s, status, LOOP_IN, "read");
  if (r)
    return r;
  if (s->drained)
    return lsock_wait(L, s, LOOP_IN, ctx, conn_read_k);
  char *buf = rt_scratch(L, s->rt, (size_t)ctx);
  ssize_t n = lsock_recv(s, buf, (size_t)ctx);
  if (n > 0) {
    s->drained = (size_t)n < (size_t)ctx;
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
  }
  if (n == -EAGAIN)
    return lsock_wait(L, s, LOOP_IN, ctx, conn_read_k);
  return lsock_fail(L, s, "read", n == 0 ? LERR_EOF : (int)n);
}

static int conn_read_k(lua_State *L, int status, lua_KContext ctx) {
  return read_some(L, lua_touserdata(L, 1), status, ctx);
}

/* Reads more into the read-ahead buffer, growing it toward want bytes: at
 * most READ_CHUNK past what it holds, so memory follows the data that came,
 * not the size a caller asked for. */
static ssize_t fill(lsock *s, size_t want) {
  if (want > s->blen + READ_CHUNK)
    want = s->blen + READ_CHUNK;
  if (s->boff > 0 && s->blen > 0)
    memmove(s->buf, s->buf + s->boff, s->blen);
  s->boff = 0;
  if (want > s->bcap) {
    size_t cap = s->bcap ? s->bcap : 4096;
    while (cap < want)
      cap *= 2;
    char *p = realloc(s->buf, cap);
    if (!p)
      return -ENOMEM;
    s->buf = p;
    s->bcap = cap;
  }
  ssize_t n = s->net->family == AF_UNIX ? lfdpass_fill(s, s->bcap - s->blen)
                                         : lsock_recv(s, s->buf + s->blen, s->bcap - s->blen);
  if (n > 0)
    s->blen += (size_t)n;
  s->drained = 0;
  return n;
}

static int read_full_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *s = lua_touserdata(L, 1);
  size_t want = (size_t)ctx;
  while (s->blen < want) {
    int r = lsock_begin(L, s, status, LOOP_IN, "read");
    if (r)
      return r;
    status = LUA_OK;
    ssize_t n = fill(s, want);
    if (n == -EAGAIN)
      return lsock_wait(L, s, LOOP_IN, ctx, read_full_k);
    if (n == 0 && s->blen > 0)
      return lerror_push(L, NULL, NULL, NULL, LERR_UNEXPECTED_EOF);
    if (n <= 0)
      return lsock_fail(L, s, "read", n == 0 ? LERR_EOF : (int)n);
  }
  take(L, s, want);
  return 1;
}

/* conn:read_full(n): exactly n bytes; what came before an error stays
 * buffered for the next read, so no byte is ever lost. */
static int conn_read_full(lua_State *L) {
  lsock *s = lsock_check(L, LSOCK_CONN);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "must not be negative");
  fit_stack(L, 1);
  if (s->fd < 0)
    return lsock_fail(L, s, "read", LERR_CLOSED);
  if (lsock_busy(s, LOOP_IN))
    return lsock_fail(L, s, "read", LERR_BUSY);
  if (n == 0)
    return lua_pushliteral(L, ""), 1;
  return read_full_k(L, LUA_OK, (lua_KContext)n);
}

static int push_line(lua_State *L, lsock *s, const char *nl) {
  const char *p = s->buf + s->boff;
  size_t n = (size_t)(nl - p);
  lsock_consume(s, n + 1);
  lua_pushlstring(L, p, n);
  return 1;
}

static int read_line_k(lua_State *L, int status, lua_KContext ctx) {
  lsock *s = lua_touserdata(L, 1);
  for (size_t seen = (size_t)ctx;; status = LUA_OK) {
    if (seen > s->blen) /* the buffer changed under a wait (close) */
      seen = 0;
    const char *nl = s->buf ? memchr(s->buf + s->boff + seen, '\n', s->blen - seen) : NULL;
    if (nl)
      return push_line(L, s, nl);
    seen = s->blen;
    if (seen >= LINE_MAX_BYTES)
      return lsock_fail(L, s, "read", -EMSGSIZE);
    int r = lsock_begin(L, s, status, LOOP_IN, "read");
    if (r)
      return r;
    ssize_t n = fill(s, s->blen + 4096);
    if (n == -EAGAIN)
      return lsock_wait(L, s, LOOP_IN, (lua_KContext)seen, read_line_k);
    if (n == 0 && s->blen > 0)
      return take(L, s, s->blen), 1;
    if (n <= 0)
      return lsock_fail(L, s, "read", n == 0 ? LERR_EOF : (int)n);
  }
}

/* conn:read_line(): the next line without its "\n"; a last line without one
 * is returned as it is, then EOF. Lines are limited to 1 MiB. */
static int conn_read_line(lua_State *L) {
  lsock *s = lsock_check(L, LSOCK_CONN);
  fit_stack(L, 1);
  if (s->blen > 0 && lsock_busy(s, LOOP_IN))
    return lsock_fail(L, s, "read", LERR_BUSY);
  return read_line_k(L, LUA_OK, 0);
}

static int write_fail(lua_State *L, lsock *s, int err, size_t done) {
  lsock_fail(L, s, "write", err);
  lua_pushinteger(L, (lua_Integer)done);
  return 4;
}

static int write_from(lua_State *L, lsock *s, const char *data, size_t len, size_t done,
                      int status) {
  if (lsock_begin(L, s, status, LOOP_OUT, "write"))
    return lua_pushinteger(L, (lua_Integer)done), 4;
  while (done < len) {
    ssize_t n = lsock_send(s, data + done, len - done);
    if (n == -EAGAIN)
      return lsock_wait(L, s, LOOP_OUT, (lua_KContext)done, conn_write_k);
    if (n < 0)
      return write_fail(L, s, (int)n, done);
    done += (size_t)n;
  }
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

static int conn_write_k(lua_State *L, int status, lua_KContext ctx) {
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  return write_from(L, lua_touserdata(L, 1), data, len, (size_t)ctx, status);
}

/* conn:write(data) -> #data | nil, msg, code, bytes_written_before */
static int conn_write(lua_State *L) {
  lsock *s = lsock_check(L, LSOCK_CONN);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  fit_stack(L, 2);
  return write_from(L, s, data, len, 0, LUA_OK);
}

void lstream_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"read", conn_read},
                                     {"read_full", conn_read_full},
                                     {"read_line", conn_read_line},
                                     {"write", conn_write},
                                     {"proxied", lproxy_proxied},
                                     {NULL, NULL}};
  lsock_class(L, CONN_MT, "conn", methods);
}
