/* The runtime object behind one lua_State: its creation and finalizer,
 * the closers run at shutdown, the signals it turns into tasks or exits
 * (and luds.on_signal), the fds its sockets own and the scratch buffer. */
#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "lerror.h"
#include "task.h"

#define RT_KEY "luds.runtime"
#define SCRATCH_MIN (256 * 1024)

void rt_add_closer(runtime *rt, rt_closer *c) {
  c->prev = &rt->closers;
  c->next = rt->closers.next;
  if (c->next)
    c->next->prev = c;
  rt->closers.next = c;
}

void rt_remove_closer(rt_closer *c) {
  if (!c->prev)
    return;
  c->prev->next = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

void rt_shutdown(runtime *rt, int code) {
  if (!rt->exiting) {
    rt->exiting = 1;
    rt->exit_code = code;
  }
  while (rt->closers.next)
    rt->closers.next->close(rt->closers.next);
}

/* The names luds.on_signal takes, in loop_signals order. */
static const char *const signal_names[LOOP_NSIG + 1] = {"INT",  "TERM", "HUP",   "QUIT",
                                                        "USR1", "USR2", "WINCH", "ALRM", NULL};

static int *handler_ref(runtime *rt, int signo) {
  return &rt->on_sig[loop_signal_index(signo)];
}

/* (rt, handler, signo): the handler's task, given the signal's name. */
static int spawn_handler(lua_State *L) {
  lua_pushstring(L, signal_names[loop_signal_index((int)lua_tointeger(L, 3))]);
  lua_replace(L, 3);
  task_spawn(L, lua_touserdata(L, 1), 1);
  return 0;
}

/* A script's handler runs as a new task (given the signal's name); without
 * one, or without the memory to start it, a signal whose default is to end
 * the process closes every listener (removing their files) and exits with
 * 128 + signo, as TERM does; SIGWINCH, ignored by default, stays ignored.
 * Runs inside event dispatch: nothing raises. */
static void on_signal(loop *lp, int signo) {
  runtime *rt = (runtime *)lp;
  int ref = *handler_ref(rt, signo);
  lua_State *L = rt->L;
  if (ref != LUA_NOREF) {
    lua_pushcfunction(L, spawn_handler);
    lua_pushlightuserdata(L, rt);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_pushinteger(L, signo);
    if (lua_pcall(L, 3, 0, 0) == LUA_OK)
      return;
    task_report_error(L, lua_gettop(L), NULL, "cannot start the signal handler: ");
    lua_pop(L, 1);
  }
  if (signo != SIGWINCH)
    rt_shutdown(rt, 128 + signo);
}

/* The buffer starts half a page past a page boundary. The kernel copies
 * received stream data out of page-aligned fragments; a destination a few
 * bytes off that alignment (what malloc returns) makes every store alias a
 * pending load 4 KiB apart, and measured the recv copy at 3x its cost
 * (bulk echo: 1.5 GB/s against 2.5-3.2 GB/s with this offset). */
#define SCRATCH_SKEW 2048

char *rt_scratch(lua_State *L, runtime *rt, size_t n) {
  if (n <= rt->scratch_cap)
    return rt->scratch + SCRATCH_SKEW;
  size_t cap = n < SCRATCH_MIN ? SCRATCH_MIN : n;
  char *p = NULL;
  if (posix_memalign((void **)&p, 4096, cap + SCRATCH_SKEW) != 0)
    luaL_error(L, "not enough memory for a %I byte buffer", (lua_Integer)n);
  free(rt->scratch);
  rt->scratch = p;
  rt->scratch_cap = cap;
  return p + SCRATCH_SKEW;
}

void rt_own(runtime *rt, int fd, int on) {
  size_t byte = (size_t)fd / 8;
  if (fd < 0 || rt->closed || (!on && byte >= rt->owned_bytes))
    return;
  if (byte >= rt->owned_bytes) {
    size_t n = rt->owned_bytes ? rt->owned_bytes : 128;
    while (n <= byte)
      n *= 2;
    unsigned char *p = realloc(rt->owned, n);
    if (!p)
      return;
    memset(p + rt->owned_bytes, 0, n - rt->owned_bytes);
    rt->owned = p;
    rt->owned_bytes = n;
  }
  unsigned char bit = (unsigned char)(1u << (fd % 8));
  rt->owned[byte] = on ? rt->owned[byte] | bit : rt->owned[byte] & ~bit;
}

int rt_owns(const runtime *rt, int fd) {
  size_t byte = (size_t)fd / 8;
  return fd >= 0 && byte < rt->owned_bytes && (rt->owned[byte] >> (fd % 8)) & 1;
}

static int rt_gc(lua_State *L) {
  runtime *rt = lua_touserdata(L, 1);
  if (rt->closed)
    return 0;
  rt->closed = 1;
  loop_free(&rt->lp);
  free(rt->scratch);
  rt->scratch = NULL;
  free(rt->owned);
  rt->owned = NULL;
  rt->owned_bytes = 0;
  return 0;
}

/* LUDS_SPIN_US: an integer from 0 to 1000 sets the spin; anything else is
 * ignored, leaving the default. */
static void spin_from_env(loop *lp) {
  const char *v = getenv("LUDS_SPIN_US");
  char *end;
  if (!v || !*v)
    return;
  errno = 0;
  long us = strtol(v, &end, 10);
  if (!errno && !*end && us >= 0 && us <= LOOP_SPIN_MAX)
    loop_set_spin(lp, (int)us);
}

runtime *rt_find(lua_State *L) {
  runtime *rt = NULL;
  if (lua_getfield(L, LUA_REGISTRYINDEX, RT_KEY) == LUA_TUSERDATA)
    rt = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return rt;
}

runtime *rt_get(lua_State *L) {
  runtime *rt = rt_find(L);
  if (rt)
    return rt;
  rt = lua_newuserdatauv(L, sizeof *rt, 0);
  memset(rt, 0, sizeof *rt);
  rt->closed = 1;
  lua_newtable(L);
  lua_pushcfunction(L, rt_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  int r = loop_init(&rt->lp, on_signal);
  if (r < 0)
    luaL_error(L, "luds: cannot create the event loop: %s", lerror_text(r));
  rt->closed = 0;
  rt_own(rt, rt->lp.epfd, 1); /* never luds.close_fd'd nor wrapped */
  rt_own(rt, rt->lp.sigfd, 1);
  rt_own(rt, rt->lp.wake[0], 1);
  rt_own(rt, rt->lp.wake[1], 1);
  for (int i = 0; i < LOOP_NSIG; i++)
    rt->on_sig[i] = LUA_NOREF;
  rt->on_error = LUA_NOREF;
  spin_from_env(&rt->lp);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  rt->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, RT_KEY);
  return rt;
}

/* luds.on_signal(name, fn | nil), name one of signal_names: fn(name) runs
 * as a task on each such signal instead of the default (close and exit;
 * nothing for WINCH); nil restores it. */
static int l_on_signal(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  int signo = loop_signals[luaL_checkoption(L, 1, NULL, signal_names)];
  if (!lua_isnil(L, 2))
    luaL_checktype(L, 2, LUA_TFUNCTION);
  int *ref = handler_ref(rt, signo);
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  lua_settop(L, 2);
  *ref = lua_isnil(L, 2) ? LUA_NOREF : luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushboolean(L, 1);
  return 1;
}


/* luds.spin([microseconds]) -> the setting before: how long the loop polls
 * before it sleeps while recent waits were short (0: never). */
static int l_spin(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  int before = rt->lp.spin_us;
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer us = luaL_checkinteger(L, 1);
    luaL_argcheck(L, us >= 0 && us <= LOOP_SPIN_MAX, 1, "must be 0 to 1000 microseconds");
    loop_set_spin(&rt->lp, (int)us);
  }
  lua_pushinteger(L, before);
  return 1;
}

void rt_register(lua_State *L, runtime *rt) {
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, l_on_signal, 1);
  lua_setfield(L, -2, "on_signal");
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, l_spin, 1);
  lua_setfield(L, -2, "spin");
}
