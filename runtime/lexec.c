/* Reading luds.exec's arguments: argv, env, cwd, stdin/stdout/stderr and
 * extra_fds, with raw reads (no metamethod runs while the plan is built)
 * and every misuse raised before anything is opened. */
#include <lauxlib.h>
#include <string.h>

#include "lexec.h"

const char *const lexec_stdio_names[3] = {"stdin", "stdout", "stderr"};

#define ANCHOR 3

static int opt_error(lua_State *L, const char *key, const char *why) {
  return luaL_error(L, "bad argument #2 to 'exec' (option '%s' %s)", key, why);
}

/* Anchors the value on top in the call's table; pops it. */
static void anchor(lua_State *L) { lua_rawseti(L, ANCHOR, (lua_Integer)lua_rawlen(L, ANCHOR) + 1); }

/* A string without NUL bytes, anchored, or NULL if the value on top is not
 * one (popped either way). */
static const char *anchored_string(lua_State *L) {
  size_t len;
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
  if (s && strlen(s) != len)
    s = NULL;
  if (s)
    anchor(L);
  else
    lua_pop(L, 1);
  return s;
}

static const char **new_vector(lua_State *L, size_t n) {
  const char **v = lua_newuserdatauv(L, (n + 1) * sizeof *v, 0);
  anchor(L);
  v[n] = NULL;
  return v;
}

/* argv at index 1: raw reads, so no metamethod runs while it is built. */
static void check_argv(lua_State *L, plan *pl) {
  size_t n = lua_rawlen(L, 1);
  luaL_argcheck(L, n > 0, 1, "argv must name a program");
  pl->argv = new_vector(L, n);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i + 1);
    if (!(pl->argv[i] = anchored_string(L)))
      luaL_argerror(L, 1,
                    lua_pushfstring(L, "argv[%d] must be a string without NUL bytes", (int)i + 1));
  }
}

/* One "NAME=value" from the pair on top (popped). */
static const char *env_entry(lua_State *L) {
  size_t klen, vlen;
  int vt = lua_type(L, -1);
  if (lua_type(L, -2) != LUA_TSTRING || (vt != LUA_TSTRING && vt != LUA_TNUMBER))
    opt_error(L, "env", "must map names to strings");
  const char *k = lua_tolstring(L, -2, &klen);
  lua_pushvalue(L, -1); /* a number is converted on the copy, not in the table */
  const char *v = lua_tolstring(L, -1, &vlen);
  if (klen == 0 || strlen(k) != klen || strchr(k, '=') || strlen(v) != vlen)
    opt_error(L, "env", "names must be non-empty, without '=' or NUL; values without NUL");
  lua_pushfstring(L, "%s=%s", k, v);
  const char *e = anchored_string(L);
  lua_pop(L, 2);
  return e;
}

static void check_env(lua_State *L, plan *pl) {
  if (lua_getfield(L, 2, "env") == LUA_TNIL)
    return (void)lua_pop(L, 1);
  if (!lua_istable(L, -1))
    opt_error(L, "env", "must be a table");
  int t = lua_gettop(L);
  size_t n = 0, k = 0;
  for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1))
    n++;
  pl->envp = new_vector(L, n);
  for (lua_pushnil(L); lua_next(L, t) && k < n;)
    pl->envp[k++] = env_entry(L);
  pl->envp[k] = NULL;
  lua_settop(L, t - 1);
}

/* The value on top as a child descriptor: a luds socket or an fd number. */
static int check_fd(lua_State *L, plan *pl, int i) {
  lsock *s = lsock_test(L, -1);
  if (s) {
    pl->how[i] = IO_SOCKET;
    pl->sock[i] = s;
    anchor(L);
    return 1;
  }
  int isint = 0;
  lua_Integer fd = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : -1;
  if (!isint || fd < 0 || fd > INT_MAX)
    return 0;
  pl->how[i] = IO_FD;
  pl->fd[i] = (int)fd;
  lua_pop(L, 1);
  return 1;
}

static void check_stdio(lua_State *L, plan *pl, int i) {
  /* in IO_* order */
  static const char *const words[] = {"inherit", "null", "pipe", "stdout", NULL};
  lua_getfield(L, 2, lexec_stdio_names[i]);
  if (lua_isnil(L, -1)) {
    pl->how[i] = IO_INHERIT;
    lua_pop(L, 1);
    return;
  }
  if (check_fd(L, pl, i))
    return;
  const char *w = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  int k = 0;
  while (words[k] && strcmp(words[k], w) != 0)
    k++;
  if (!words[k] || (k == IO_STDOUT && i != 2))
    opt_error(L, lexec_stdio_names[i],
              i == 2 ? "must be \"inherit\", \"null\", \"pipe\", \"stdout\", a luds socket or an fd"
                     : "must be \"inherit\", \"null\", \"pipe\", a luds socket or an fd");
  pl->how[i] = k;
  lua_pop(L, 1);
}

static void check_extra(lua_State *L, plan *pl) {
  pl->nfds = 3;
  if (lua_getfield(L, 2, "extra_fds") == LUA_TNIL)
    return (void)lua_pop(L, 1);
  if (!lua_istable(L, -1))
    opt_error(L, "extra_fds", "must be a list of luds sockets or fds");
  int t = lua_gettop(L);
  size_t n = lua_rawlen(L, t);
  if (n > PROC_MAX_FDS - 3)
    opt_error(L, "extra_fds", lua_pushfstring(L, "holds more than %d", PROC_MAX_FDS - 3));
  for (size_t k = 0; k < n; k++) {
    lua_rawgeti(L, t, (lua_Integer)k + 1);
    if (!check_fd(L, pl, pl->nfds++))
      opt_error(L, "extra_fds", "must be a list of luds sockets or fds");
  }
  lua_pop(L, 1);
}

void lexec_plan(lua_State *L, plan *pl) {
  static const char *const accepted[] = {"cwd",   "env",    "extra_fds", "stderr",
                                         "stdin", "stdout", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  lsock_checkopts(L, 2, accepted, "exec");
  lua_settop(L, 2);
  if (lua_isnil(L, 2)) {
    lua_newtable(L);
    lua_replace(L, 2);
  }
  lua_newtable(L); /* ANCHOR */
  memset(pl, 0, sizeof *pl);
  check_argv(L, pl);
  check_env(L, pl);
  lua_getfield(L, 2, "cwd");
  if (!lua_isnil(L, -1) && !(pl->cwd = anchored_string(L)))
    opt_error(L, "cwd", "must be a path without NUL bytes");
  lua_settop(L, ANCHOR);
  for (int i = 0; i < 3; i++)
    check_stdio(L, pl, i);
  check_extra(L, pl);
}
