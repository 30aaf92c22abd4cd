/* Options tables of listen, listen_packet, dial and select: every key must be one
 * the function accepts (a typo such as `mdoe` must never pass silently, it
 * could leave a socket wider open than asked), and each value is read with
 * its type checked. */
#include <lauxlib.h>
#include <string.h>

#include "lsock.h"

/* Whether the string on top of the stack is one of accepted, NULs and all. */
static int is_accepted(lua_State *L, const char *const accepted[]) {
  size_t len;
  const char *key = lua_tolstring(L, -1, &len);
  for (; *accepted; accepted++)
    if (strlen(*accepted) == len && memcmp(key, *accepted, len) == 0)
      return 1;
  return 0;
}

/* Adds key to b as it reads in a message: quoted, NUL bytes as \0. */
static void add_key(luaL_Buffer *b, const char *key, size_t len) {
  luaL_addchar(b, '\'');
  for (size_t i = 0; i < len; i++) {
    if (key[i])
      luaL_addchar(b, key[i]);
    else
      luaL_addstring(b, "\\0");
  }
  luaL_addchar(b, '\'');
}

static void add_list(luaL_Buffer *b, const char *const words[]) {
  for (int i = 0; words[i]; i++) {
    if (i > 0)
      luaL_addstring(b, ", ");
    luaL_addstring(b, words[i]);
  }
}

/* Raises for the key on top of the stack, which is not in accepted. */
static int bad_option(lua_State *L, int opts, const char *const accepted[], const char *fname) {
  size_t len = 0;
  int named = lua_type(L, -1) == LUA_TSTRING;
  const char *key = named ? lua_tolstring(L, -1, &len) : luaL_typename(L, -1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (named) {
    luaL_addstring(&b, "unknown option ");
    add_key(&b, key, len);
  } else {
    luaL_addstring(&b, "option names must be strings, not ");
    luaL_addstring(&b, key);
  }
  luaL_addstring(&b, "; accepted: ");
  add_list(&b, accepted);
  luaL_pushresult(&b);
  return luaL_error(L, "bad argument #%d to '%s' (%s)", opts, fname, lua_tostring(L, -1));
}

void lsock_checkopts(lua_State *L, int opts, const char *const accepted[], const char *fname) {
  if (lua_isnoneornil(L, opts))
    return;
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    lua_pop(L, 1);
    /* lua_tolstring only on a string key: converting a number in place
     * would make lua_next lose its way. */
    if (lua_type(L, -1) != LUA_TSTRING || !is_accepted(L, accepted))
      bad_option(L, opts, accepted, fname);
  }
}

int lsock_optflag(lua_State *L, int opts, const char *key) {
  if (lua_isnoneornil(L, opts))
    return 0;
  lua_getfield(L, opts, key);
  int on = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return on;
}

double lsock_optnumber(lua_State *L, int opts, const char *key, double def) {
  if (lua_isnoneornil(L, opts))
    return def;
  lua_getfield(L, opts, key);
  double v = lua_isnil(L, -1) ? def : lua_tonumber(L, -1);
  if (!lua_isnil(L, -1) && !lua_isnumber(L, -1))
    luaL_error(L, "option '%s' must be a number", key);
  lua_pop(L, 1);
  return v;
}

/* An optional integer option from 0 to max; raises for anything else. */
lua_Integer lsock_optrange(lua_State *L, int opts, const char *key, lua_Integer def,
                           lua_Integer max) {
  if (lua_isnoneornil(L, opts))
    return def;
  lua_getfield(L, opts, key);
  int isint;
  lua_Integer v = lua_isnil(L, -1) ? def : lua_tointegerx(L, -1, &isint);
  if (!lua_isnil(L, -1) && (!isint || v < 0 || v > max))
    luaL_error(L, "option '%s' must be an integer from 0 to %I", key, max);
  lua_pop(L, 1);
  return v;
}
