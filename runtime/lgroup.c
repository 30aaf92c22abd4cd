/* Task groups (errgroup, TaskGroup, nurseries): children spawned into a
 * group, waited for together; the first failure cancels the rest, and the
 * group's <close> waits for them, so no child outlives its scope. */
#include <lauxlib.h>
#include <string.h>

#include "lerror.h"
#include "lsync.h"

#define GROUP_MT "luds.group"
#define CHILD_MT "luds.group.child"

static runtime *up_rt(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

/* A task group: uservalue 1 maps each live child (light userdata of its
 * task) to its token, uservalue 2 holds the first child error. A child runs
 * under child_main, which marks its token to-be-closed: however the child
 * ends (return, error, cancel) the token's __close counts it out. A child
 * cancelled before it ever ran has no such slot yet, so whoever cancels it
 * (the group) or finds it lsync_ended (g:wait) counts it out. */
typedef struct {
  runtime *rt;
  int alive;  /* children not counted out yet */
  int failed; /* a child raised: uservalue 2 holds its error */
  int closed; /* __close ran: no more spawns */
  squeue q;   /* tasks in g:wait or __close */
} group;

/* The token: user value 1 is the group, 2 the child's task. */
typedef struct {
  group *g;
  task *t;
  int done;
} child;

static group *check_group(lua_State *L) { return luaL_checkudata(L, 1, GROUP_MT); }

/* Counts the child of the token at i out: removes it from the group and
 * wakes the waiters when it was the last. Idempotent, never raises. */
static void child_end(lua_State *L, int i) {
  child *c = lua_touserdata(L, i);
  if (c->done)
    return;
  c->done = 1;
  if (lua_getiuservalue(L, i, 1) == LUA_TUSERDATA) {
    lua_getiuservalue(L, -1, 1);
    lua_pushlightuserdata(L, c->t);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (--c->g->alive == 0)
    while (lsync_wake_first(&c->g->q))
      ;
}

static int child_close(lua_State *L) {
  luaL_checkudata(L, 1, CHILD_MT);
  child_end(L, 1);
  return 0;
}

/* The tokens of the group at gi, as a list pushed on the stack. */
static void push_tokens(lua_State *L, int gi) {
  lua_getiuservalue(L, gi, 1);
  lua_newtable(L);
  lua_Integer k = 0;
  for (lua_pushnil(L); lua_next(L, -3);)
    lua_rawseti(L, -3, ++k);
  lua_remove(L, -2);
}

/* Counts out the children that lsync_ended without running their token. */
static void group_sweep(lua_State *L, int gi) {
  push_tokens(L, gi);
  for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, -1); i <= n; i++) {
    lua_rawgeti(L, -1, i);
    if (((child *)lua_touserdata(L, -1))->t->state >= TASK_DONE)
      child_end(L, lua_gettop(L));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Cancels every child of the group at gi but the running task; each ends
 * at once (task:cancel closes its variables), so alive drops here. */
static void group_cancel(lua_State *L, int gi, runtime *rt) {
  push_tokens(L, gi);
  int list = lua_gettop(L);
  for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, list); i <= n; i++) {
    lua_rawgeti(L, list, i);
    child *c = lua_touserdata(L, -1);
    if (c->t != rt->current && lua_getiuservalue(L, list + 1, 2) == LUA_TUSERDATA &&
        luaL_getmetafield(L, -1, "cancel")) {
      lua_insert(L, -2);
      lua_call(L, 1, 0);
      child_end(L, list + 1);
    }
    lua_settop(L, list);
  }
  lua_settop(L, list - 1);
}

/* Stack: token, fn, args... The first error is kept and cancels the other
 * children; the child task itself ends normally (the group handled it). */
static int child_k(lua_State *L, int status, lua_KContext ctx) {
  group *g = ((child *)lua_touserdata(L, 1))->g;
  (void)ctx;
  if (status != LUA_OK && status != LUA_YIELD && !g->failed) {
    g->failed = 1;
    lua_getiuservalue(L, 1, 1);
    lua_insert(L, -2);
    lua_setiuservalue(L, -2, 2);
    group_cancel(L, lua_gettop(L), g->rt);
  }
  return 0;
}

static int child_main(lua_State *L) {
  int nargs = lua_gettop(L) - 2;
  lua_toclose(L, 1);
  luaL_checkstack(L, nargs + 1, "too many arguments");
  for (int i = 2; i <= nargs + 2; i++)
    lua_pushvalue(L, i);
  return child_k(L, lua_pcallk(L, nargs, 0, 0, 0, child_k), 0);
}

/* g:spawn(fn, ...) -> task. The token is made first: nothing can fail
 * between the task's birth and its record in the group. */
static int group_spawn(lua_State *L) {
  group *g = check_group(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (g->closed)
    return luaL_error(L, "spawn on a group that has been closed");
  int n = lua_gettop(L);
  child *c = lua_newuserdatauv(L, sizeof *c, 2);
  memset(c, 0, sizeof *c);
  c->g = g;
  c->done = 1; /* until it counts */
  luaL_setmetatable(L, CHILD_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lua_getiuservalue(L, 1, 1); /* children */
  lua_pushcfunction(L, child_main);
  lua_pushvalue(L, n + 1);
  for (int i = 2; i <= n; i++)
    lua_pushvalue(L, i);
  task *t = task_spawn(L, g->rt, n); /* ..., token, children, task */
  c->t = t;
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, n + 1, 2);
  lua_pushlightuserdata(L, t);
  lua_pushvalue(L, n + 1);
  lua_rawset(L, n + 2);
  c->done = 0;
  g->alive++;
  return 1;
}

static int group_outcome(lua_State *L, group *g) {
  lua_pushboolean(L, !g->failed);
  if (!g->failed)
    return 1;
  lua_getiuservalue(L, 1, 2);
  return 2;
}

static const task_hook hook_group = {lsync_node_unwait, "group wait"};

static int group_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (!lsync_ended(L)->woken)
    return lerror_push(L, "wait", NULL, NULL, LERR_TIMEOUT);
  return group_outcome(L, lua_touserdata(L, 1));
}

/* g:wait([timeout]) -> true | false, first error | nil, msg, "TIMEOUT" */
static int group_wait(lua_State *L) {
  group *g = check_group(L);
  double deadline = lsync_deadline(L, 2);
  lua_settop(L, 1);
  group_sweep(L, 1);
  if (g->alive == 0)
    return group_outcome(L, g);
  snode *n = lsync_node(L, task_running(L, g->rt), g);
  return lsync_suspend(L, n, &g->q, &hook_group, deadline, group_wait_k);
}

static int group_cancel_m(lua_State *L) {
  group *g = check_group(L);
  group_cancel(L, 1, g->rt);
  lua_pushboolean(L, 1);
  return 1;
}

/* The owner, waiting in __close, is cancelled: its children go with it. */
static void close_unwait(task *t) {
  snode *n = t->wait_obj;
  lsync_unlink(n);
  if (n->woken)
    return;
  lua_State *S = t->rt->L;
  if (!lua_checkstack(S, 8))
    return;
  lua_pushvalue(t->co, 1); /* the group, __close's first argument */
  lua_xmove(t->co, S, 1);
  group_cancel(S, lua_gettop(S), t->rt);
  lua_pop(S, 1);
}

static const task_hook hook_group_close = {close_unwait, "group close"};

static int group_close_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lsync_ended(L);
  return 0;
}

/* __close: waits for the children; left by an error, or where the task
 * cannot wait (it is being cancelled), cancels them first. */
static int group_close(lua_State *L) {
  group *g = check_group(L);
  runtime *rt = g->rt;
  int can_wait = rt->current && rt->current->co == L && lua_isyieldable(L);
  g->closed = 1;
  lua_settop(L, 2);
  if (!lua_isnil(L, 2) || !can_wait)
    group_cancel(L, 1, rt);
  group_sweep(L, 1);
  if (g->alive == 0 || !can_wait) /* only the running task can be left */
    return 0;
  snode *n = lsync_node(L, rt->current, g);
  return lsync_suspend(L, n, &g->q, &hook_group_close, 0, group_close_k);
}

static int group_tostring(lua_State *L) {
  group *g = check_group(L);
  lua_pushfstring(L, "group %p (%d running%s)", (void *)g, g->alive, g->closed ? ", closed" : "");
  return 1;
}

static int l_group(lua_State *L) {
  group *g = lua_newuserdatauv(L, sizeof *g, 2);
  memset(g, 0, sizeof *g);
  luaL_setmetatable(L, GROUP_MT);
  g->rt = up_rt(L);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

void lgroup_register(lua_State *L, runtime *rt) {
  static const luaL_Reg gr[] = {{"spawn", group_spawn},   {"wait", group_wait},
                                {"cancel", group_cancel_m}, {"__close", group_close},
                                {"__tostring", group_tostring}, {NULL, NULL}};
  static const luaL_Reg ch[] = {{"__close", child_close}, {NULL, NULL}};
  lsync_class(L, GROUP_MT, gr);
  lsync_class(L, CHILD_MT, ch);
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, l_group, 1);
  lua_setfield(L, -2, "group");
}
