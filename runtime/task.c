/* Tasks and the scheduler: spawn, wake, suspend, cancel, join, and the Lua
 * functions built on them (spawn, sleep, now, run, exit, task methods). The
 * runtime lives in a userdata under a registry key, so two states have two
 * independent loops. */
#include "task.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lerror.h"
#include "lsync.h"

static const char *const state_names[] = {"ready", "running", "waiting",
                                          "done",  "failed",  "cancelled"};

static void enqueue(runtime *rt, task *t) {
  t->state = TASK_READY;
  t->next = NULL;
  if (rt->tail)
    rt->tail->next = t;
  else
    rt->head = t;
  rt->tail = t;
}

static int unlink_from(task **head, task *t) {
  for (task **pp = head; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      return 1;
    }
  return 0;
}

/* Takes a queued task out of the run queue or out of the pass under way. */
static void dequeue(runtime *rt, task *t) {
  if (!unlink_from(&rt->pass, t) && unlink_from(&rt->head, t) && rt->tail == t) {
    rt->tail = rt->head;
    while (rt->tail && rt->tail->next)
      rt->tail = rt->tail->next;
  }
}

static void unjoin(task *t) {
  task **pp = &t->joinee->joiners;
  while (*pp && *pp != t)
    pp = &(*pp)->join_next;
  if (*pp)
    *pp = t->join_next;
  t->joinee = t->join_next = NULL;
}

/* Undoes whatever a waiting task registered, so no waker can find it. */
static void unwait(task *t) {
  if (t->slot)
    *t->slot = NULL;
  t->slot = NULL;
  if (t->joinee)
    unjoin(t);
  if (t->hook) { /* see task_hook in task.h */
    const task_hook *h = t->hook;
    t->hook = NULL;
    h->unwait(t);
  }
  if (t->timer.slot && !t->rt->closed)
    loop_timer_stop(&t->rt->lp, &t->timer);
}

void task_wake(task *t, int why) {
  if (t->state != TASK_WAITING)
    return;
  unwait(t);
  t->wake = (unsigned char)why;
  enqueue(t->rt, t);
}

static void on_timer(loop_timer *tm) {
  task *t = (task *)((char *)tm - offsetof(task, timer));
  task_wake(t, WAKE_TIMEOUT);
}

task *task_running(lua_State *L, runtime *rt) {
  task *t = rt->current;
  if (rt->closing && rt->closing->co == L)
    luaL_error(L, "blocking call in a <close> handler of a task that is ending "
                  "(it cannot wait any more; spawn a task to do it)");
  if (!t)
    luaL_error(L, "blocking call outside a luds task (use luds.run or luds.spawn)");
  if (t->co != L)
    luaL_error(L, "blocking call inside a coroutine that is not a luds task "
                  "(use luds.spawn instead of coroutine.create)");
  if (!lua_isyieldable(L))
    luaL_error(L, "blocking call where the task cannot yield (inside a C call "
                  "such as a metamethod or table.sort)");
  return t;
}

int task_suspend(lua_State *L, task *t, task **slot, double deadline, lua_KContext ctx,
                 lua_KFunction k) {
  t->slot = slot;
  if (slot)
    *slot = t;
  if (deadline > 0)
    loop_timer_start(&t->rt->lp, &t->timer, deadline);
  t->state = TASK_WAITING;
  t->wake = WAKE_NONE;
  return lua_yieldk(L, 0, ctx, k);
}

int task_woken(runtime *rt) { return rt->current->wake; }

static void finish(runtime *rt, task *t, int state) {
  t->state = (unsigned char)state;
  rt->alive--;
  while (t->joiners)
    task_wake(t->joiners, WAKE_READY); /* unjoins it */
  luaL_unref(rt->L, LUA_REGISTRYINDEX, t->ref);
  t->ref = LUA_NOREF;
}

/* The text for the error value at idx: a string as it is, a number
 * converted (a copy: the value itself stays a number), what __tostring
 * gives if that is a string, else the value's type. */
static const char *error_text(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING)
    return lua_tostring(L, idx);
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_pushvalue(L, idx);
    return lua_tostring(L, -1);
  }
  if (luaL_callmeta(L, idx, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
    return lua_tostring(L, -1);
  return lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
}

/* (err, co or NULL) -> the text of err, with co's traceback. Run protected:
 * it allocates, and a __tostring is Lua code. */
static int format_error(lua_State *L) {
  lua_State *co = lua_touserdata(L, 2);
  const char *msg = error_text(L, 1);
  if (co)
    luaL_traceback(L, co, msg, 0);
  else
    lua_pushstring(L, msg);
  return 1;
}

/* Prints the error value at idx on stderr after prefix, with co's traceback
 * if co. Never raises and needs 3 free slots: when the text cannot be made
 * (no memory, a raising __tostring), says what it can without allocating. */
void task_report_error(lua_State *L, int idx, lua_State *co, const char *prefix) {
  lua_pushcfunction(L, format_error);
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, co);
  if (lua_pcall(L, 2, 1, 0) == LUA_OK)
    fprintf(stderr, "luds: %s%s\n", prefix, lua_tostring(L, -1));
  else {
    const char *why = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    if (lua_type(L, idx) == LUA_TSTRING)
      fprintf(stderr, "luds: %s%s\n", prefix, lua_tostring(L, idx));
    else
      fprintf(stderr, "luds: %s(error object is a %s value)\n", prefix, luaL_typename(L, idx));
    fprintf(stderr, "luds: (no traceback: %s)\n", why);
  }
  fflush(stderr);
  lua_pop(L, 1);
}

/* Closes the pending to-be-closed variables of t, which has reached its
 * final state, so whatever a handler does (cancel t again, cancel others,
 * spawn, exit) meets a consistent runtime; it cannot block (task_running
 * says why). L is the running thread, t stays anchored by the caller. A
 * handler's error is reported, unless it is t's own error (at err, or 0)
 * that lua_resetthread hands back. */
static void close_thread(lua_State *L, runtime *rt, task *t, int err) {
  task *outer = rt->closing;
  rt->closing = t;
  int status = lua_resetthread(t->co);
  rt->closing = outer;
  if (status != LUA_OK) {
    lua_xmove(t->co, L, 1);
    if (!err || !lua_rawequal(L, -1, err))
      task_report_error(L, lua_gettop(L), NULL, "error in a <close> handler: ");
    lua_pop(L, 1);
  }
  lua_settop(t->co, 0);
}

/* (handler, task, err, co) -> handler(task, text, err) queued as a task,
 * text being err with co's traceback. */
static int spawn_reporter(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushcfunction(L, format_error);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_call(L, 2, 1);
  lua_insert(L, 3);
  lua_pop(L, 1);
  task_spawn(L, rt, 3)->reports = 1;
  return 0;
}

/* Hands t's failure (error at err) to the luds.on_error handler, or prints
 * it when there is none, when t is the handler's own task, or when the
 * handler's task cannot be started. Never raises; needs 6 free slots. */
static void report_failure(runtime *rt, task *t, int err) {
  lua_State *L = rt->L;
  if (rt->on_error != LUA_NOREF && !t->reports) {
    lua_pushlightuserdata(L, rt);
    lua_pushcclosure(L, spawn_reporter, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->on_error);
    lua_pushvalue(L, err - 1); /* the task */
    lua_pushvalue(L, err);
    lua_pushlightuserdata(L, t->co);
    if (lua_pcall(L, 4, 0, 0) == LUA_OK)
      return;
    task_report_error(L, lua_gettop(L), NULL, "cannot start the on_error handler: ");
    lua_pop(L, 1);
  }
  task_report_error(L, err, t->co, "");
}

/* Keeps the error value itself for wait, ends t, reports the error with
 * its traceback, then closes t's to-be-closed variables, which are given
 * the error. Nothing here raises: it runs in the scheduler, where no error
 * can be caught, and rt_step has reserved the slots it uses on rt->L. */
static void fail(runtime *rt, task *t) {
  lua_State *L = rt->L;
  lua_State *co = t->co;
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref); /* anchors t until co is reset */
  lua_xmove(co, L, 1);
  lua_pushvalue(L, -1);
  lua_xmove(L, co, 1); /* back on co's top, for the handlers */
  lua_setiuservalue(L, -2, 2);
  rt->failed++;
  finish(rt, t, TASK_FAILED);
  lua_getiuservalue(L, -1, 2);
  int err = lua_gettop(L);
  report_failure(rt, t, err);
  close_thread(L, rt, t, err);
  lua_pop(L, 2);
}

static void resume(runtime *rt, task *t) {
  int nres, nargs = t->nargs;
  t->nargs = 0;
  t->state = TASK_RUNNING;
  rt->current = t;
  rt->unpolled++;
  int status = lua_resume(t->co, rt->L, nargs, &nres);
  rt->current = NULL;
  if (status == LUA_OK)
    finish(rt, t, TASK_DONE);
  else if (status != LUA_YIELD)
    fail(rt, t);
  else {
    if (nres) /* lua_settop is no cheap call: most yields pass nothing */
      lua_pop(t->co, nres);
    if (t->state == TASK_RUNNING) /* a plain coroutine.yield(): run later */
      enqueue(rt, t);
  }
}

/* Runs the tasks queued when the pass began; those they queue wait for the
 * next pass, after a poll, so a yielding task cannot starve I/O. If the
 * runtime starts exiting, what is left goes back to the queue's front. */
static void run_ready(runtime *rt) {
  rt->pass = rt->head;
  rt->head = rt->tail = NULL;
  while (rt->pass && !rt->exiting) {
    task *t = rt->pass;
    rt->pass = t->next;
    resume(rt, t);
  }
  if (!rt->pass)
    return;
  task *last = rt->pass;
  while (last->next)
    last = last->next;
  last->next = rt->head;
  if (!rt->head)
    rt->tail = last;
  rt->head = rt->pass;
  rt->pass = NULL;
}

/* Whether the script handles any signal (a handler could spawn a task). */
static int handled(const runtime *rt) {
  for (int i = 0; i < LOOP_NSIG; i++)
    if (rt->on_sig[i] != LUA_NOREF)
      return 1;
  return 0;
}

/* No task can ever run again: none is ready and nothing that could wake one
 * is pending: no timer, no fd armed but the signalfd (and the pidfds or
 * poll timers of children nobody waits for: rt->background and
 * rt->background_timers), no script handler for a signal (one could spawn
 * a task). Tasks still alive then wait on each other (channels, events,
 * semaphores, joins). An fd left armed lazily (see loop.c) can only delay
 * the verdict until its event disarms it, never fake one. */
static int stuck(const runtime *rt) {
  return rt->alive > 0 && !rt->head && (int)rt->lp.ntimers == rt->background_timers &&
         loop_watching(&rt->lp) - rt->background <= LOOP_OWN_IOS && !handled(rt);
}

/* How many resumes may pass without a poll while tasks are ready. Polling
 * after every pass costs a poll syscall per channel hand-off (a ping-pong is
 * one task per pass); polling after RT_POLL_EVERY resumes bounds what I/O
 * and timers wait for by the work of 64 resumes, and a pass of 64 tasks or
 * more still polls after every pass, as before. */
#define RT_POLL_EVERY 64

static int step(runtime *rt, double timeout) {
  do
    run_ready(rt);
  while (rt->head && rt->unpolled < RT_POLL_EVERY && !rt->exiting);
  if (rt->exiting || (rt->alive == 0 && !rt->head))
    return 0;
  if (stuck(rt))
    return LERR_DEADLOCK;
  rt->unpolled = 0;
  int r = loop_poll(&rt->lp, rt->head ? 0 : timeout);
  if (r >= 0)
    run_ready(rt);
  return r < 0 ? r : 0;
}

/* What fail and on_signal push on rt->L at most, pcalls included. */
#define RT_SLOTS 8

/* A second scheduler started from inside a pass (a <close> handler or a
 * finalizer calling luds.run) would take over rt->pass and drop what the
 * outer pass had yet to run: refused. */
int rt_step(runtime *rt, double timeout) {
  if (rt->running)
    return -EDEADLK;
  if (!lua_checkstack(rt->L, RT_SLOTS))
    return -ENOMEM;
  rt->running = 1;
  int r = step(rt, timeout);
  rt->running = 0;
  return r;
}

int rt_run(runtime *rt) {
  int r = 0;
  if (rt->running)
    return -EDEADLK;
  loop_catch_signals(&rt->lp);
  while (r >= 0 && !rt->exiting && (rt->alive > 0 || rt->head))
    r = rt_step(rt, -1);
  loop_release_signals(&rt->lp);
  return r;
}

static void push_task_mt(lua_State *L);

/* Every allocation comes before the task counts as alive: a memory error
 * leaves nothing behind. Each live task may have one timer, reserved here,
 * so that no wait has to allocate one in the scheduler. */
task *task_spawn(lua_State *L, runtime *rt, int nargs) {
  luaL_checktype(L, -(nargs + 1), LUA_TFUNCTION);
  if (loop_timer_reserve(&rt->lp, (size_t)rt->alive + 1) < 0)
    luaL_error(L, "not enough memory");
  task *t = lua_newuserdatauv(L, sizeof *t, 2);
  memset(t, 0, sizeof *t);
  push_task_mt(L);
  lua_setmetatable(L, -2);
  t->rt = rt;
  t->timer.fn = on_timer;
  t->co = lua_newthread(L);
  if (!lua_checkstack(t->co, nargs + 1))
    luaL_error(L, "too many arguments for a task");
  lua_setiuservalue(L, -2, 1);
  lua_insert(L, -(nargs + 2));
  lua_xmove(L, t->co, nargs + 1);
  t->nargs = nargs;
  lua_pushvalue(L, -1);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  rt->alive++;
  enqueue(rt, t);
  return t;
}

static task *check_task(lua_State *L, int i) { return luaL_checkudata(L, i, TASK_MT); }

static runtime *up_rt(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

static int push_outcome(lua_State *L, task *t) {
  if (t->state == TASK_DONE) {
    int n = lua_gettop(t->co);
    luaL_checkstack(L, n + 1, "too many results");
    if (!lua_checkstack(t->co, 1))
      luaL_error(L, "not enough memory");
    lua_pushboolean(L, 1);
    for (int i = 1; i <= n; i++) {
      lua_pushvalue(t->co, i);
      lua_xmove(t->co, L, 1);
    }
    return n + 1;
  }
  lua_pushboolean(L, 0);
  lua_getiuservalue(L, 1, 2);
  return 2;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  task *t = check_task(L, 1);
  (void)status, (void)ctx;
  if (t->state < TASK_DONE)
    return lerror_push(L, "wait", NULL, NULL, LERR_TIMEOUT);
  return push_outcome(L, t);
}

/* task:wait([timeout]) -> true, results... | false, err | nil, msg, "TIMEOUT" */
static int task_wait(lua_State *L) {
  task *t = check_task(L, 1);
  double timeout = luaL_optnumber(L, 2, -1);
  lua_settop(L, 1);
  if (t->state >= TASK_DONE)
    return push_outcome(L, t);
  task *self = task_running(L, t->rt);
  if (self == t)
    return luaL_error(L, "a task cannot wait for itself");
  self->joinee = t;
  self->join_next = t->joiners;
  t->joiners = self;
  double deadline = timeout >= 0 ? loop_now() + timeout : 0;
  return task_suspend(L, self, NULL, deadline, 0, wait_k);
}

/* Ends a task that is not running, then closes its to-be-closed variables.
 * The task is cancelled before any handler runs, so a handler that cancels
 * it again gets false, like any cancel of an ended task. */
static int task_cancel(lua_State *L) {
  task *t = check_task(L, 1);
  runtime *rt = t->rt;
  lua_settop(L, 1);
  if (t->state >= TASK_DONE) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (t->state == TASK_RUNNING) /* only rt->current runs */
    return luaL_error(L, "a task cannot cancel itself (return or error instead)");
  lua_pushliteral(L, "cancelled"); /* may raise: before anything changes */
  lua_setiuservalue(L, 1, 2);
  if (t->state == TASK_READY)
    dequeue(rt, t);
  unwait(t); /* a ready task too: gives back what a primitive handed it */
  finish(rt, t, TASK_CANCELLED);
  close_thread(L, rt, t, 0);
  lua_pushboolean(L, 1);
  return 1;
}

static int task_status(lua_State *L) {
  lua_pushstring(L, state_names[check_task(L, 1)->state]);
  return 1;
}

static int task_tostring(lua_State *L) {
  task *t = check_task(L, 1);
  lua_pushfstring(L, "task %p (%s)", (void *)t, state_names[t->state]);
  return 1;
}

static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  task_spawn(L, up_rt(L), lua_gettop(L) - 1);
  return 1;
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)L, (void)status, (void)ctx;
  return 0;
}

static int l_sleep(lua_State *L) {
  runtime *rt = up_rt(L);
  double s = luaL_checknumber(L, 1);
  task *t = task_running(L, rt);
  if (!(s > 0)) /* also NaN: just let the others run */
    return lua_yieldk(L, 0, 0, sleep_k);
  return task_suspend(L, t, NULL, loop_now() + s, 0, sleep_k);
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, loop_now());
  return 1;
}

static int exit_code(lua_State *L, int i) {
  if (lua_isboolean(L, i))
    return lua_toboolean(L, i) ? 0 : 1;
  return (int)luaL_optinteger(L, i, 0);
}

static void exit_now(runtime *rt) {
  fflush(NULL);
  exit(rt->exit_code);
}

/* Closes every listener (removing its file) and ends the process. Inside a
 * task the scheduler stops and the host (the luds binary) exits cleanly.
 * Where the scheduler runs but nothing can be suspended (a <close> handler,
 * a finalizer, a C call) it returns: the scheduler stops as soon as control
 * comes back to it, so the host still closes the state. */
static int l_exit(lua_State *L) {
  runtime *rt = up_rt(L);
  rt_shutdown(rt, exit_code(L, 1));
  if (rt->current && rt->current->co == L && lua_isyieldable(L))
    return task_suspend(L, rt->current, NULL, 0, 0, sleep_k);
  if (rt->running)
    return 0;
  exit_now(rt);
  return 0;
}

/* luds.on_error(fn | nil): fn(task, message, err) runs as a new task for
 * each task that fails, instead of the message (err with the traceback)
 * going to stderr; nil restores that. Returns the previous handler. */
static int l_on_error(lua_State *L) {
  runtime *rt = up_rt(L);
  if (!lua_isnoneornil(L, 1))
    luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  if (rt->on_error == LUA_NOREF)
    lua_pushnil(L);
  else
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->on_error);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->on_error);
  lua_pushvalue(L, 1);
  rt->on_error = lua_isnil(L, -1) ? (lua_pop(L, 1), LUA_NOREF) : luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

/* Inside a task: spawn and wait. Outside (a stock lua5.4 or a host): drive
 * the loop until every task has ended, then report on fn's task. Refused
 * where the scheduler is already running but no task can wait (a <close>
 * handler of an ending task, a finalizer): see rt_step. */
static int l_run(lua_State *L) {
  runtime *rt = up_rt(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (rt->current)
    task_running(L, rt); /* raises unless this task can wait here */
  else if (rt->running)
    return luaL_error(L, "luds.run: the scheduler is already running");
  task_spawn(L, rt, lua_gettop(L) - 1); /* leaves only the task, at 1 */
  if (rt->current)
    return task_wait(L);
  int r = rt_run(rt);
  if (r == LERR_DEADLOCK) {
    lsync_push_deadlock(L, rt);
    return lua_error(L);
  }
  if (r < 0)
    return luaL_error(L, "luds.run: event loop failed: %s", lerror_text(r));
  if (rt->exiting)
    exit_now(rt);
  return task_wait(L);
}

/* Pushes the task metatable, made on first use: the main chunk's task is
 * spawned (by a host, luds_spawnfile) before require "luds" has run. */
static void push_task_mt(lua_State *L) {
  static const luaL_Reg methods[] = {{"wait", task_wait},
                                     {"cancel", task_cancel},
                                     {"status", task_status},
                                     {"__tostring", task_tostring},
                                     {NULL, NULL}};
  if (!luaL_newmetatable(L, TASK_MT))
    return;
  luaL_setfuncs(L, methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
}

void task_register(lua_State *L, runtime *rt) {
  static const luaL_Reg funcs[] = {
      {"spawn", l_spawn}, {"sleep", l_sleep},         {"now", l_now}, {"run", l_run},
      {"exit", l_exit},   {"on_error", l_on_error}, {NULL, NULL}};
  push_task_mt(L);
  lua_pop(L, 1);
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
}
