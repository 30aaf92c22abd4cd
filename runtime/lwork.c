/* The runtime's worker pool seen from Lua: one pool per lua_State (a
 * registry userdata, created with the first job), its eventfd watched by
 * the loop only while jobs are out (so a task waiting on a lookup is never
 * taken for a deadlock, and an idle pool never hides one), and the box that
 * holds a job on its task's stack. */
#include "lwork.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "lerror.h"

#define WORK_KEY "luds.work"
#define BOX_MT "luds.workbox"
/* How long lua_close waits for a thread still inside a job (a lookup
 * whose DNS server does not answer) before leaving it detached. */
#define CLOSE_GRACE 0.1

typedef struct lwork {
  runtime *rt;
  workpool *pool;
  loop_io io;
  size_t out; /* jobs submitted, neither delivered nor given up */
  int closed;
} lwork;

typedef struct box {
  lwork *w;
  workpool_job *job; /* NULL once given up or freed */
  task *waiter;      /* the task waiting for it (a task_suspend slot) */
  int delivered;     /* the job is done and back: the box owns it */
} box;

static void deliver(workpool_job *j, void *arg) {
  box *b = j->owner;
  lwork *w = arg;
  w->out--;
  b->delivered = 1;
  if (b->waiter)
    task_wake(b->waiter, WAKE_READY);
}

/* Watched lazily: the loop drops the fd once no job is out. */
static unsigned on_io(loop_io *io, unsigned events) {
  lwork *w = (lwork *)((char *)io - offsetof(lwork, io));
  (void)events;
  workpool_drain(w->pool, deliver, w);
  return w->out == 0 ? LOOP_IN : 0;
}

/* Gives up on the job of b: never delivered, freed by the pool. */
static void give_up(box *b) {
  lwork *w = b->w;
  workpool_cancel(w->pool, b->job);
  b->job = NULL;
  if (--w->out == 0 && !w->rt->closed)
    loop_forget(&w->rt->lp, &w->io);
}

/* The task stops waiting: woken by deliver (nothing to do), by its
 * deadline or by task:cancel (the job is given up). */
static void unwait(task *t) {
  box *b = t->wait_obj;
  if (b->job && !b->delivered)
    give_up(b);
}

static const task_hook work_hook = {unwait, "lookup"};

/* Every job of a closing state is released by workpool_free (or by its
 * thread, later); a box collected after that has nothing left to free. */
static int work_gc(lua_State *L) {
  lwork *w = lua_touserdata(L, 1);
  if (w->closed)
    return 0;
  w->closed = 1;
  if (!w->pool)
    return 0;
  if (!w->rt->closed) {
    loop_forget(&w->rt->lp, &w->io);
    rt_own(w->rt, w->io.fd, 0);
  }
  workpool_free(w->pool, CLOSE_GRACE);
  w->pool = NULL;
  return 0;
}

static lwork *get_work(lua_State *L, runtime *rt) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, WORK_KEY) == LUA_TUSERDATA) {
    lwork *w = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return w;
  }
  lua_pop(L, 1);
  lwork *w = lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  w->rt = rt;
  w->io.fd = -1;
  w->io.fn = on_io;
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, work_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, WORK_KEY);
  return w;
}

/* The pool and its eventfd, made on first use; 0 or -errno. */
static int open_pool(lwork *w) {
  if (w->pool)
    return 0;
  if (w->closed || w->rt->closed)
    return -ESHUTDOWN;
  int r = workpool_new(&w->pool, LWORK_THREADS);
  if (r < 0)
    return r;
  w->io.fd = workpool_fd(w->pool);
  rt_own(w->rt, w->io.fd, 1); /* never luds.close_fd'd nor wrapped */
  return 0;
}

/* __gc: a job given up, or never started, is the pool's already. */
static int box_gc(lua_State *L) {
  box *b = luaL_checkudata(L, 1, BOX_MT);
  if (!b->job)
    return 0;
  if (b->delivered)
    b->job->release(b->job);
  else if (!b->w->closed)
    give_up(b);
  b->job = NULL;
  return 0;
}

static void box_metatable(lua_State *L) {
  if (luaL_newmetatable(L, BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
}

workpool_job *lwork_new(lua_State *L, runtime *rt, size_t size) {
  lwork *w = get_work(L, rt);
  box *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  b->w = w;
  box_metatable(L);
  lua_setmetatable(L, -2);
  workpool_job *j = calloc(1, size);
  if (!j)
    luaL_error(L, "not enough memory");
  j->owner = b;
  b->job = j;
  b->delivered = 1; /* the box's until lwork_start submits it */
  return j;
}

/* Whether the running code is a task that may suspend here: what
 * task_running would raise for, tested without raising. */
static int can_wait(lua_State *L, runtime *rt) {
  task *t = rt->current;
  return t && t->co == L && lua_isyieldable(L) && !(rt->closing && rt->closing->co == L);
}

/* Submits the job of b; 0 or -errno (it stays the box's then). */
static int submit(lwork *w, box *b) {
  int r = open_pool(w);
  if (r == 0)
    r = loop_arm(&w->rt->lp, &w->io, LOOP_IN);
  if (r == 0 && (r = workpool_submit(w->pool, b->job)) < 0 && w->out == 0)
    loop_forget(&w->rt->lp, &w->io);
  if (r < 0)
    return r;
  b->delivered = 0;
  w->out++;
  return 0;
}

int lwork_start(lua_State *L, double deadline, lua_KContext ctx, lua_KFunction k) {
  box *b = luaL_checkudata(L, -1, BOX_MT);
  runtime *rt = b->w->rt;
  if (!can_wait(L, rt) || submit(b->w, b) < 0) {
    b->job->work(b->job);
    return k(L, LUA_OK, ctx);
  }
  task *t = rt->current;
  t->hook = &work_hook;
  t->wait_obj = b;
  return task_suspend(L, t, &b->waiter, deadline, ctx, k);
}

workpool_job *lwork_result(lua_State *L, int i) {
  box *b = luaL_testudata(L, i, BOX_MT);
  return b && b->delivered ? b->job : NULL;
}

void lwork_done(lua_State *L, int i) {
  box *b = luaL_testudata(L, i, BOX_MT);
  if (b && b->job && b->delivered) {
    b->job->release(b->job);
    b->job = NULL;
  }
}
