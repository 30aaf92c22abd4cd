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
#include "lwork.h"

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

/* Every NSS call (getpw*, getgr*, getgrouplist) may block for as long as
 * its backend takes (sssd, LDAP): each is a job on the worker pool
 * (lwork.h) while its task waits, and runs at once outside a task. */
enum { NSS_USER, NSS_GROUP, NSS_USER_GROUPS, NSS_IDS };

typedef struct nss_job {
  workpool_job base;
  int what;
  char *name; /* the name asked for (malloc'd), or NULL: by id; NSS_IDS: the owner's */
  long long id;
  int r;
  struct fsperm_user u;
  struct fsperm_group g;
  long long *gids;
  size_t n;
  /* NSS_IDS: owner and group (ids, or names to look up: name, gname) */
  char *gname;
  int uerr, gerr;  /* found before any lookup: a name with a NUL byte */
  lfsperm_opts o;  /* the options, with the ids the names gave */
} nss_job;

static int find_user(nss_job *q) {
  return q->name ? fsperm_lookup_user_name(q->name, &q->u) : fsperm_lookup_user_id(q->id, &q->u);
}

/* The owner first: the group is not asked for once the owner failed. */
static void find_ids(nss_job *q) {
  int r = q->uerr;
  if (r == 0 && q->name && (r = find_user(q)) == 0)
    q->o.uid = q->u.uid;
  r = r == -ENOENT ? LERR_UNKNOWN_USER : r;
  if (r == 0)
    r = q->gerr;
  if (r == 0 && q->gname && (r = fsperm_lookup_group_name(q->gname, &q->g)) == 0)
    q->o.gid = q->g.gid;
  q->r = r == -ENOENT ? LERR_UNKNOWN_GROUP : r;
}

/* On a worker thread: the lookup alone, no Lua. */
static void nss_work(workpool_job *j) {
  nss_job *q = (nss_job *)j;
  if (q->what == NSS_IDS)
    find_ids(q);
  else if (q->what == NSS_GROUP)
    q->r = q->name ? fsperm_lookup_group_name(q->name, &q->g) : fsperm_lookup_group_id(q->id, &q->g);
  else
    q->r = find_user(q);
  if (q->what == NSS_USER_GROUPS && q->r == 0)
    q->r = fsperm_user_groups(q->u.name, q->u.gid, &q->gids, &q->n);
}

static void nss_release(workpool_job *j) {
  nss_job *q = (nss_job *)j;
  fsperm_user_free(&q->u);
  fsperm_group_free(&q->g);
  free(q->gids);
  free(q->name);
  free(q->gname);
  free(q);
}

/* Pushes a box (lwork.h) with a new job of `what`. */
static nss_job *nss_new(lua_State *L, runtime *rt, int what) {
  nss_job *q = (nss_job *)lwork_new(L, rt, sizeof *q);
  q->base.work = nss_work;
  q->base.release = nss_release;
  q->what = what;
  return q;
}

/* An owner or group value at index i: an integer from -1 (keep) up, into
 * *id, or a name, copied into *name for the lookup. Raises on misuse; a
 * name with a NUL byte, which the C lookups would cut short, is -EINVAL. */
static int check_id(lua_State *L, int i, int group, long long *id, char **name) {
  if (lua_type(L, i) == LUA_TNUMBER) {
    lua_Integer n = lua_isinteger(L, i) ? lua_tointeger(L, i) : -2;
    if (n < -1 || n >= (lua_Integer)UINT32_MAX)
      luaL_error(L, "%s id %s out of range", group ? "group" : "user", luaL_tolstring(L, i, NULL));
    *id = n;
    return 0;
  }
  size_t len;
  const char *s = lua_tolstring(L, i, &len);
  if (!s)
    luaL_typeerror(L, i, group ? "group id or name" : "user id or name");
  if (strlen(s) != len)
    return -EINVAL;
  return (*name = strdup(s)) ? 0 : -ENOMEM;
}

/* Checks the owner (index ui, 0: none) and the group (gi) of the job q,
 * the owner first, both before either failure counts: a bad group raises
 * even when the owner is an unknown name. */
static void check_ids(lua_State *L, nss_job *q, int ui, int gi) {
  q->uerr = ui ? check_id(L, ui, 0, &q->o.uid, &q->name) : 0;
  q->gerr = gi ? check_id(L, gi, 1, &q->o.gid, &q->gname) : 0;
}

/* Goes on in k with the job of the box on top: through the pool if it has
 * names to look up, else at once. */
static int find_ids_then(lua_State *L, nss_job *q, lua_KContext ctx, lua_KFunction k) {
  if (q->uerr || (!q->name && !q->gname)) {
    find_ids(q);
    return k(L, LUA_OK, ctx);
  }
  return lwork_start(L, 0, ctx, k);
}

int lfsperm_start(lua_State *L, runtime *rt, int opts, lua_KContext ctx, lua_KFunction k) {
  nss_job *q = nss_new(L, rt, NSS_IDS);
  q->o = (lfsperm_opts){.mode = -1, .uid = -1, .gid = -1};
  if (lua_isnoneornil(L, opts))
    return find_ids_then(L, q, ctx, k);
  if (lua_getfield(L, opts, "mode") != LUA_TNIL)
    q->o.mode = (long)check_mode(L, lua_gettop(L), "option 'mode'");
  lua_getfield(L, opts, "remove_stale");
  q->o.remove_stale = lua_toboolean(L, -1);
  int top = lua_gettop(L);
  int ui = lua_getfield(L, opts, "owner") == LUA_TNIL ? 0 : top + 1;
  int gi = lua_getfield(L, opts, "group") == LUA_TNIL ? 0 : top + 2;
  check_ids(L, q, ui, gi);
  lua_settop(L, top - 2);
  return find_ids_then(L, q, ctx, k);
}

int lfsperm_options(lua_State *L, int i, lfsperm_opts *o) {
  nss_job *q = (nss_job *)lwork_result(L, i);
  if (!q)
    return LERR_CLOSED;
  *o = q->o;
  return q->r;
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

static int chown_k(lua_State *L, int status, lua_KContext ctx) {
  lfsperm_opts o;
  (void)status, (void)ctx;
  int r = lfsperm_options(L, 4, &o);
  const char *path = lua_tostring(L, 1);
  return result(L, "chown", path, r ? r : fsperm_chown(path, o.uid, o.gid));
}

/* luds.chown(path, uid|name, gid|name); -1 keeps the current id. Both ids
 * are checked (a misuse raises) before any failure is returned; names are
 * looked up as lookup_user does. */
static int l_chown(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  luaL_checkstring(L, 1);
  lua_settop(L, 3);
  nss_job *q = nss_new(L, rt, NSS_IDS);
  q->o = (lfsperm_opts){.mode = -1, .uid = -1, .gid = -1};
  check_ids(L, q, 2, 3);
  if (!check_path(L, "chown"))
    return 3;
  return find_ids_then(L, q, 0, chown_k);
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

static lua_Integer check_lookup_id(lua_State *L) {
  lua_Integer id = luaL_checkinteger(L, 1);
  luaL_argcheck(L, id >= 0 && id < (lua_Integer)UINT32_MAX, 1, "id out of range");
  return id;
}

/* Looks up argument 1 (a name or an id) as `what`, then goes on in k with
 * the job in the box at 2. A name with a NUL byte, which the C calls would
 * cut short, is EINVAL without a lookup. */
static int nss_start(lua_State *L, int what, lua_KFunction k) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  lua_Integer id = lua_type(L, 1) == LUA_TNUMBER ? check_lookup_id(L) : -1;
  size_t len;
  const char *name = id < 0 ? luaL_checklstring(L, 1, &len) : NULL;
  lua_settop(L, 1);
  nss_job *q = nss_new(L, rt, what);
  q->id = id;
  if (name && (strlen(name) != len || !(q->name = strdup(name)))) {
    q->r = strlen(name) != len ? -EINVAL : -ENOMEM;
    return k(L, LUA_OK, 0);
  }
  return lwork_start(L, 0, 0, k);
}

static nss_job *nss_result(lua_State *L) { return (nss_job *)lwork_result(L, 2); }

static int nss_fail(lua_State *L, const char *op, int r, int unknown) {
  return lerror_push(L, op, NULL, luaL_tolstring(L, 1, NULL), r == -ENOENT ? unknown : r);
}

static int user_k(lua_State *L, int status, lua_KContext ctx) {
  nss_job *q = nss_result(L);
  (void)status, (void)ctx;
  if (q->r < 0)
    return nss_fail(L, "lookup_user", q->r, LERR_UNKNOWN_USER);
  lua_createtable(L, 0, 5);
  set_int(L, "uid", q->u.uid);
  set_int(L, "gid", q->u.gid);
  set_str(L, "name", q->u.name);
  set_str(L, "home", q->u.home);
  set_str(L, "shell", q->u.shell);
  lwork_done(L, 2);
  return 1;
}

/* luds.lookup_user(name|uid) -> { uid, gid, name, home, shell } */
static int l_lookup_user(lua_State *L) { return nss_start(L, NSS_USER, user_k); }

static int group_k(lua_State *L, int status, lua_KContext ctx) {
  nss_job *q = nss_result(L);
  (void)status, (void)ctx;
  if (q->r < 0)
    return nss_fail(L, "lookup_group", q->r, LERR_UNKNOWN_GROUP);
  lua_createtable(L, 0, 3);
  set_int(L, "gid", q->g.gid);
  set_str(L, "name", q->g.name);
  lua_createtable(L, (int)q->g.nmembers, 0);
  for (size_t i = 0; i < q->g.nmembers; i++) {
    lua_pushstring(L, q->g.members[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "members");
  lwork_done(L, 2);
  return 1;
}

/* luds.lookup_group(name|gid) -> { gid, name, members = { names } } */
static int l_lookup_group(lua_State *L) { return nss_start(L, NSS_GROUP, group_k); }

static int groups_k(lua_State *L, int status, lua_KContext ctx) {
  nss_job *q = nss_result(L);
  (void)status, (void)ctx;
  if (q->r < 0)
    return nss_fail(L, "user_groups", q->r, LERR_UNKNOWN_USER);
  lua_createtable(L, (int)q->n, 0);
  for (size_t i = 0; i < q->n; i++) {
    lua_pushinteger(L, (lua_Integer)q->gids[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lwork_done(L, 2);
  return 1;
}

/* luds.user_groups(name|uid) -> { gid, ... }: primary group first, then
 * every supplementary group of the user (the group database's view). */
static int l_user_groups(lua_State *L) { return nss_start(L, NSS_USER_GROUPS, groups_k); }

/* luds.remove_stale(path) -> true | nil, msg, code: only a socket nobody
 * listens on is removed; a live one is EADDRINUSE, anything else ENOTSOCK. */
static int l_remove_stale(lua_State *L) {
  const char *path = check_path(L, "remove_stale");
  if (!path)
    return 3;
  return result(L, "remove_stale", path, fsperm_remove_stale(path));
}

void lfsperm_register(lua_State *L, runtime *rt) {
  static const luaL_Reg funcs[] = {{"chmod", l_chmod},
                                   {"chown", l_chown},
                                   {"stat", l_stat},
                                   {"lookup_user", l_lookup_user},
                                   {"lookup_group", l_lookup_group},
                                   {"user_groups", l_user_groups},
                                   {"remove_stale", l_remove_stale},
                                   {NULL, NULL}};
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
}
