/* The module and the embedding API: luaopen_luds builds the luds table from
 * the bindings and the embedded Lua modules; the luds_* functions let a C
 * host run tasks, every call protected so that errors come back as status. */
#include "luds.h"

#include <lauxlib.h>
#include <string.h>

#include "embedded.h"
#include "lerror.h"
#include "lfsperm.h"
#include "lresolve.h"
#include "lsock.h"
#include "lsync.h"
#include "task.h"

#define OPENED_KEY "luds.opened"

static int load_embedded(lua_State *L) {
  const embedded_module *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbuffer(L, m->source, m->size, m->chunkname) != LUA_OK)
    return lua_error(L);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

/* package.preload entries for "luds" and each embedded module, unless the
 * host has put its own there. */
static void preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const embedded_module *m = embedded_modules; m->name; m++) {
    if (lua_getfield(L, -1, m->name) == LUA_TNIL) {
      lua_pushlightuserdata(L, (void *)m);
      lua_pushcclosure(L, load_embedded, 1);
      lua_setfield(L, -3, m->name);
    }
    lua_pop(L, 1);
  }
  lua_pushcfunction(L, luaopen_luds);
  lua_setfield(L, -2, "luds");
  lua_pop(L, 1);
}

/* require(name) for an embedded module, without needing a global require. */
static void require_embedded(lua_State *L, const char *name) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, name) == LUA_TNIL) {
    lua_pop(L, 1);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
  }
  lua_remove(L, -2);
}

int luaopen_luds(lua_State *L) {
  runtime *rt = rt_get(L);
  preload(L);
  lua_newtable(L);
  task_register(L, rt);
  rt_register(L, rt);
  lsock_register(L, rt);
  lpacket_register(L, rt);
  lfdpass_register(L, rt);
  lfdio_register(L, rt);
  lproc_register(L, rt);
  lcopy_register(L);
  lchan_register(L, rt);
  lsync_register(L, rt);
  lgroup_register(L, rt);
  lfsperm_register(L, rt);
  lworker_register(L, rt);
  lresolve_register(L, rt);
  lua_pushliteral(L, LUDS_VERSION);
  lua_setfield(L, -2, "version");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "luds"); /* so that luds.server can require "luds" */
  lua_pop(L, 1);
  require_embedded(L, "luds.server");
  lua_getfield(L, -1, "serve");
  lua_setfield(L, -3, "serve");
  lua_getfield(L, -1, "server");
  lua_setfield(L, -3, "server");
  lua_pop(L, 1);
  require_embedded(L, "luds.proc");
  lua_getfield(L, -1, "output");
  lua_setfield(L, -3, "output");
  lua_pop(L, 1);
  require_embedded(L, "luds.workers");
  lua_getfield(L, -1, "workers");
  lua_setfield(L, -3, "workers");
  lua_pop(L, 1);
  return 1;
}

static int open_p(lua_State *L) {
  preload(L);
  rt_get(L);
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, OPENED_KEY);
  return 0;
}

static int protect(lua_State *L, lua_CFunction f, int nargs) {
  lua_pushcfunction(L, f);
  lua_insert(L, -(nargs + 1));
  return lua_pcall(L, nargs, 0, 0) == LUA_OK ? LUDS_OK : LUDS_ERROR;
}

int luds_openlibs(lua_State *L) { return protect(L, open_p, 0); }

/* The runtime of L, or NULL with an error message pushed. */
static runtime *opened(lua_State *L) {
  runtime *rt = NULL;
  if (lua_getfield(L, LUA_REGISTRYINDEX, OPENED_KEY) == LUA_TBOOLEAN)
    rt = rt_find(L);
  lua_pop(L, 1);
  if (!rt)
    lua_pushliteral(L, "luds: library not opened in this lua_State (call luds_openlibs first)");
  else if (rt->running) {
    lua_pushliteral(L, "luds: the loop cannot be driven from inside itself "
                       "(a task, a <close> handler or a finalizer)");
    rt = NULL;
  }
  return rt;
}

static int spawn_p(lua_State *L) {
  task_spawn(L, lua_touserdata(L, 1), lua_gettop(L) - 2);
  return 0;
}

int luds_spawn(lua_State *L, int nargs) {
  runtime *rt = opened(L);
  if (!rt) {
    lua_insert(L, -(nargs + 2));
    lua_pop(L, nargs + 1);
    return LUDS_ERROR;
  }
  lua_pushlightuserdata(L, rt);
  lua_insert(L, -(nargs + 2));
  return protect(L, spawn_p, nargs + 2);
}

int luds_spawnfile(lua_State *L, const char *path, int nargs) {
  if (luaL_loadfile(L, path) != LUA_OK) {
    lua_insert(L, -(nargs + 1));
    lua_pop(L, nargs);
    return LUDS_ERROR;
  }
  lua_insert(L, -(nargs + 1));
  return luds_spawn(L, nargs);
}

static int run_p(lua_State *L) {
  runtime *rt = lua_touserdata(L, 1);
  double timeout = lua_tonumber(L, 2);
  int *dead = lua_touserdata(L, 4);
  int r = lua_toboolean(L, 3) ? rt_step(rt, timeout) : rt_run(rt);
  if (r == LERR_DEADLOCK) {
    *dead = 1;
    lsync_push_deadlock(L, rt);
    return lua_error(L);
  }
  if (r < 0)
    return luaL_error(L, "luds: event loop failed: %s", lerror_text(r));
  return 0;
}

/* On LUDS_ERROR *code is 2 for a deadlock (the report is the message), 1
 * otherwise. */
static int drive(lua_State *L, int step, double timeout, int *code) {
  runtime *rt = opened(L);
  int dead = 0;
  if (code)
    *code = 1;
  if (!rt)
    return LUDS_ERROR;
  lua_pushlightuserdata(L, rt);
  lua_pushnumber(L, timeout);
  lua_pushboolean(L, step);
  lua_pushlightuserdata(L, &dead);
  if (protect(L, run_p, 4) != LUDS_OK) {
    if (code)
      *code = dead ? 2 : 1;
    return LUDS_ERROR;
  }
  if (code)
    *code = rt->exiting ? rt->exit_code : rt->failed > 0;
  return rt->exiting ? LUDS_EXIT : LUDS_OK;
}

int luds_run(lua_State *L, int *code) { return drive(L, 0, -1, code); }

int luds_step(lua_State *L, int timeout_ms, int *code) {
  return drive(L, 1, timeout_ms < 0 ? -1 : timeout_ms / 1000.0, code);
}

int luds_fd(lua_State *L) {
  runtime *rt = rt_find(L);
  return rt ? rt->lp.epfd : -1;
}

int luds_timeout(lua_State *L) {
  runtime *rt = rt_find(L);
  if (!rt || rt->head)
    return rt ? 0 : -1;
  double t = loop_next_timeout(&rt->lp);
  return t < 0 ? -1 : (int)(t * 1000.0 + 0.999);
}

int luds_tasks(lua_State *L) {
  runtime *rt = rt_find(L);
  return rt ? rt->alive : 0;
}

int luds_failed(lua_State *L) {
  runtime *rt = rt_find(L);
  return rt ? rt->failed : 0;
}
