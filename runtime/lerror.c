/* Names and messages for every error a script can see: errno values through
 * glibc's tables, luds's own conditions from the table below. Messages read
 * like Go's: "dial unix /run/x.sock: connection refused". */
#include "lerror.h"

#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

static const struct {
  int err;
  const char *name, *text;
} own[] = {
    {LERR_EOF, "EOF", "EOF"},
    {LERR_TIMEOUT, "TIMEOUT", "i/o timeout"},
    {LERR_CLOSED, "CLOSED", "use of closed connection"},
    {LERR_BUSY, "BUSY", "another task is already waiting on this socket"},
    {LERR_TRUNCATED, "TRUNCATED", "message truncated"},
    {LERR_UNKNOWN_USER, "UNKNOWN_USER", "unknown user"},
    {LERR_UNKNOWN_GROUP, "UNKNOWN_GROUP", "unknown group"},
    {LERR_UNEXPECTED_EOF, "EOF", "unexpected EOF"},
    {LERR_BAD_ADDRESS, "EINVAL", "invalid address (want host:port or [v6]:port, numeric or localhost)"},
    {LERR_NUL_IN_PATH, "EINVAL", "path contains a NUL byte"},
};

static int find_own(int err) {
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
    if (own[i].err == err)
      return (int)i;
  return -1;
}

const char *lerror_name(int err) {
  int i = find_own(err);
  if (i >= 0)
    return own[i].name;
  const char *name = strerrorname_np(-err);
  return name ? name : "EUNKNOWN";
}

const char *lerror_text(int err) {
  int i = find_own(err);
  if (i >= 0)
    return own[i].text;
  const char *text = strerrordesc_np(-err);
  return text ? text : "unknown error";
}

static void add_word(luaL_Buffer *b, const char *w) {
  if (!w || !*w)
    return;
  if (luaL_bufflen(b) > 0)
    luaL_addchar(b, ' ');
  luaL_addstring(b, w);
}

int lerror_push(lua_State *L, const char *op, const char *net, const char *addr, int err) {
  luaL_Buffer b;
  const char *text = lerror_text(err);
  lua_pushnil(L);
  luaL_buffinit(L, &b);
  if (err != LERR_EOF) {
    add_word(&b, op);
    add_word(&b, net);
    add_word(&b, addr);
    if (luaL_bufflen(&b) > 0)
      luaL_addstring(&b, ": ");
    luaL_addchar(&b, (char)tolower((unsigned char)text[0]));
    text++;
  }
  luaL_addstring(&b, text);
  luaL_pushresult(&b);
  lua_pushstring(L, lerror_name(err));
  return 3;
}
