/* Lua face of fsperm.c: modes as "0660" strings or numbers, owners and
 * groups as ids or names, results as tables, failures as the triple. */
#include "lfsperm.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fsperm.h"
#include "lerror.h"

static unsigned check_mode(lua_State *L, int i, const char *what) {
  unsigned mode = 0;
  int ok;
  if (lua_type(L, i) == LUA_TNUMBER) {
    lua_Integer n = 0;
    ok = lua_isinteger(L, i) && fsperm_check_mode(n = lua_tointeger(L, i)) == 0;
    mode = (unsigned)n;
  } else {
    const char *s = lua_tostring(L, i);
    ok = s && fsperm_parse_mode(s, &mode) == 0;
  }
  if (!ok)
    luaL_error(L,
               "%s: invalid mode %s (want an octal string such as \"0660\" "
               "or a number from 0 to 0777)",
               what, luaL_tolstring(L, i, NULL));
  return mode;
}

/* An id argument: an integer from -1 (keep) up, or a name looked up. */
static int check_id(lua_State *L, int i, int group, long long *id) {
  if (lua_type(L, i) == LUA_TNUMBER) {
    lua_Integer n = lua_isinteger(L, i) ? lua_tointeger(L, i) : -2;
    if (n < -1 || n >= (lua_Integer)UINT32_MAX)
      luaL_error(L, "%s id %s out of range", group ? "group" : "user", luaL_tolstring(L, i, NULL));
    *id = n;
    return 0;
  }
  size_t len;
  const char *name = lua_tolstring(L, i, &len);
  if (!name)
    luaL_typeerror(L, i, group ? "group id or name" : "user id or name");
  if (strlen(name) != len) /* the C lookups would cut the name short */
    return -EINVAL;
  if (group) {
    struct fsperm_group g;
    int r = fsperm_lookup_group_name(name, &g);
    *id = g.gid;
    fsperm_group_free(&g);
    return r == -ENOENT ? LERR_UNKNOWN_GROUP : r;
  }
  struct fsperm_user u;
  int r = fsperm_lookup_user_name(name, &u);
  *id = u.uid;
  fsperm_user_free(&u);
  return r == -ENOENT ? LERR_UNKNOWN_USER : r;
}

static int opt_id(lua_State *L, int opts, const char *key, int group, long long *id) {
  *id = -1;
  lua_getfield(L, opts, key);
  int r = lua_isnil(L, -1) ? 0 : check_id(L, lua_gettop(L), group, id);
  lua_pop(L, 1);
  return r;
}

int lfsperm_options(lua_State *L, int opts, lfsperm_opts *o) {
  o->mode = -1;
  o->uid = o->gid = -1;
  o->remove_stale = 0;
  if (lua_isnoneornil(L, opts))
    return 0;
  if (lua_getfield(L, opts, "mode") != LUA_TNIL)
    o->mode = (long)check_mode(L, lua_gettop(L), "option 'mode'");
  lua_pop(L, 1);
  lua_getfield(L, opts, "remove_stale");
  o->remove_stale = lua_toboolean(L, -1);
  lua_pop(L, 1);
  /* Both ids are checked before either failure is returned, so a bad group
   * raises even when the owner is an unknown name. */
  int ru = opt_id(L, opts, "owner", 0, &o->uid);
  int rg = opt_id(L, opts, "group", 1, &o->gid);
  return ru ? ru : rg;
}

/* A path argument; NULL (after pushing the EINVAL triple) if it holds a NUL
 * byte, which the C calls would silently cut short. */
static const char *check_path(lua_State *L, const char *op) {
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  if (strlen(path) == len)
    return path;
  lerror_push(L, op, NULL, NULL, -EINVAL);
  return NULL;
}

static int result(lua_State *L, const char *op, const char *path, int r) {
  if (r < 0)
    return lerror_push(L, op, NULL, path, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* luds.chmod(path, mode) -> true | nil, msg, code. The mode is checked
 * first: a misuse raises whatever the path holds. */
static int l_chmod(lua_State *L) {
  unsigned mode = check_mode(L, 2, "chmod");
  const char *path = check_path(L, "chmod");
  if (!path)
    return 3;
  return result(L, "chmod", path, fsperm_chmod(path, mode));
}

/* luds.chown(path, uid|name, gid|name); -1 keeps the current id. Both ids
 * are checked (a misuse raises) before any failure is returned. */
static int l_chown(lua_State *L) {
  luaL_checkstring(L, 1);
  long long uid, gid;
  int ru = check_id(L, 2, 0, &uid);
  int rg = check_id(L, 3, 1, &gid);
  const char *path = check_path(L, "chown");
  if (!path)
    return 3;
  int r = ru ? ru : rg;
  return result(L, "chown", path, r ? r : fsperm_chown(path, uid, gid));
}

static void set_int(lua_State *L, const char *key, long long v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, key);
}

static void set_str(lua_State *L, const char *key, const char *v) {
  lua_pushstring(L, v ? v : "");
  lua_setfield(L, -2, key);
}

/* luds.stat(path) -> { type, mode = "0660", uid, gid, dev, ino, size } */
static int l_stat(lua_State *L) {
  const char *path = check_path(L, "stat");
  if (!path)
    return 3;
  struct fsperm_stat st;
  int r = fsperm_stat(path, &st);
  if (r < 0)
    return lerror_push(L, "stat", NULL, path, r);
  lua_createtable(L, 0, 7);
  set_str(L, "type", fsperm_type_name(st.type));
  lua_pushfstring(L, "%c%c%c%c", '0' + (st.mode >> 9 & 7), '0' + (st.mode >> 6 & 7),
                  '0' + (st.mode >> 3 & 7), '0' + (st.mode & 7));
  lua_setfield(L, -2, "mode");
  set_int(L, "uid", st.uid);
  set_int(L, "gid", st.gid);
  set_int(L, "dev", (long long)st.dev);
  set_int(L, "ino", (long long)st.ino);
  set_int(L, "size", st.size);
  return 1;
}

static int push_user(lua_State *L, int r, struct fsperm_user *u) {
  if (r == 0) {
    lua_createtable(L, 0, 5);
    set_int(L, "uid", u->uid);
    set_int(L, "gid", u->gid);
    set_str(L, "name", u->name);
    set_str(L, "home", u->home);
    set_str(L, "shell", u->shell);
  }
  fsperm_user_free(u);
  if (r == 0)
    return 1;
  return lerror_push(L, "lookup_user", NULL, luaL_tolstring(L, 1, NULL),
                     r == -ENOENT ? LERR_UNKNOWN_USER : r);
}

static lua_Integer check_lookup_id(lua_State *L) {
  lua_Integer id = luaL_checkinteger(L, 1);
  luaL_argcheck(L, id >= 0 && id < (lua_Integer)UINT32_MAX, 1, "id out of range");
  return id;
}

/* A name argument, or NULL (which the lookups answer with EINVAL) if it
 * holds a NUL byte that the C calls would silently cut it at. */
static const char *name_arg(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  return strlen(name) == len ? name : NULL;
}

/* luds.lookup_user(name|uid) -> { uid, gid, name, home, shell } */
static int l_lookup_user(lua_State *L) {
  struct fsperm_user u;
  if (lua_type(L, 1) == LUA_TNUMBER)
    return push_user(L, fsperm_lookup_user_id(check_lookup_id(L), &u), &u);
  return push_user(L, fsperm_lookup_user_name(name_arg(L), &u), &u);
}

static int push_group(lua_State *L, int r, struct fsperm_group *g) {
  if (r == 0) {
    lua_createtable(L, 0, 3);
    set_int(L, "gid", g->gid);
    set_str(L, "name", g->name);
    lua_createtable(L, (int)g->nmembers, 0);
    for (size_t i = 0; i < g->nmembers; i++) {
      lua_pushstring(L, g->members[i]);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "members");
  }
  fsperm_group_free(g);
  if (r == 0)
    return 1;
  return lerror_push(L, "lookup_group", NULL, luaL_tolstring(L, 1, NULL),
                     r == -ENOENT ? LERR_UNKNOWN_GROUP : r);
}

/* luds.lookup_group(name|gid) -> { gid, name, members = { names } } */
static int l_lookup_group(lua_State *L) {
  struct fsperm_group g;
  if (lua_type(L, 1) == LUA_TNUMBER)
    return push_group(L, fsperm_lookup_group_id(check_lookup_id(L), &g), &g);
  return push_group(L, fsperm_lookup_group_name(name_arg(L), &g), &g);
}

/* luds.user_groups(name|uid) -> { gid, ... }: primary group first, then
 * every supplementary group of the user. */
static int l_user_groups(lua_State *L) {
  struct fsperm_user u;
  int r = lua_type(L, 1) == LUA_TNUMBER ? fsperm_lookup_user_id(check_lookup_id(L), &u)
                                        : fsperm_lookup_user_name(name_arg(L), &u);
  long long *gids = NULL;
  size_t n = 0;
  if (r == 0)
    r = fsperm_user_groups(u.name, u.gid, &gids, &n);
  fsperm_user_free(&u);
  if (r < 0)
    return lerror_push(L, "user_groups", NULL, luaL_tolstring(L, 1, NULL),
                       r == -ENOENT ? LERR_UNKNOWN_USER : r);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)gids[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  free(gids);
  return 1;
}

/* luds.remove_stale(path) -> true | nil, msg, code: only a socket nobody
 * listens on is removed; a live one is EADDRINUSE, anything else ENOTSOCK. */
static int l_remove_stale(lua_State *L) {
  const char *path = check_path(L, "remove_stale");
  if (!path)
    return 3;
  return result(L, "remove_stale", path, fsperm_remove_stale(path));
}

void lfsperm_register(lua_State *L) {
  static const luaL_Reg funcs[] = {{"chmod", l_chmod},
                                   {"chown", l_chown},
                                   {"stat", l_stat},
                                   {"lookup_user", l_lookup_user},
                                   {"lookup_group", l_lookup_group},
                                   {"user_groups", l_user_groups},
                                   {"remove_stale", l_remove_stale},
                                   {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
