/* Events, conditions and semaphores, the waiter queues they and task groups
 * (lgroup.c) share, and the deadlock report. Each object keeps a FIFO of
 * waiter nodes (userdata on the waiting task's own stack); the task hook
 * unlinks a node whatever ends its wait, and for a cond signal or a permit
 * handed to a task cancelled before it ran, hands it on instead, so nothing
 * is lost with the task. */
#include <lauxlib.h>
#include <string.h>

#include "lerror.h"
#include "lsync.h"

#define EVENT_MT "luds.event"
#define COND_MT "luds.cond"
#define SEM_MT "luds.semaphore"
#define PERMIT_MT "luds.permit"

static void sq_push(squeue *q, snode *n) {
  n->q = q;
  n->prev = q->tail;
  n->next = NULL;
  if (q->tail)
    q->tail->next = n;
  else
    q->head = n;
  q->tail = n;
}

void lsync_unlink(snode *n) {
  squeue *q = n->q;
  if (!q)
    return;
  if (n->prev)
    n->prev->next = n->next;
  else
    q->head = n->next;
  if (n->next)
    n->next->prev = n->prev;
  else
    q->tail = n->prev;
  n->prev = n->next = NULL;
  n->q = NULL;
}

void lsync_node_unwait(task *t) { lsync_unlink(t->wait_obj); }

/* Wakes the first waiter of q (FIFO); returns it, or NULL if none waits. */
snode *lsync_wake_first(squeue *q) {
  snode *n = q->head;
  if (n) {
    n->woken = 1;
    task_wake(n->t, WAKE_READY); /* unlinks it */
  }
  return n;
}

static runtime *up_rt(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

double lsync_deadline(lua_State *L, int i) {
  if (lua_gettop(L) < i) /* the common case, without a call into lauxlib */
    return 0;
  double s = luaL_optnumber(L, i, -1);
  return s >= 0 ? loop_now() + s : 0;
}

/* Pushes a waiter node for the running task t, not yet queued. */
snode *lsync_node(lua_State *L, task *t, void *obj) {
  snode *n = lua_newuserdatauv(L, sizeof *n, 0);
  memset(n, 0, sizeof *n);
  n->t = t;
  n->obj = obj;
  return n;
}

int lsync_suspend(lua_State *L, snode *n, squeue *q, const task_hook *h, double deadline,
                      lua_KFunction k) {
  sq_push(q, n);
  n->t->hook = h;
  n->t->wait_obj = n;
  return task_suspend(L, n->t, NULL, deadline, 0, k);
}

/* The node of the wait that just lsync_ended is on top; clears the hook. */
snode *lsync_ended(lua_State *L) {
  snode *n = lua_touserdata(L, -1);
  n->t->hook = NULL;
  return n;
}

static int push_true(lua_State *L) {
  lua_pushboolean(L, 1);
  return 1;
}

typedef struct {
  runtime *rt;
  int set;
  squeue q;
} event;

static const task_hook hook_event = {lsync_node_unwait, "event"};

static event *check_event(lua_State *L) { return luaL_checkudata(L, 1, EVENT_MT); }

/* The continuation of an event's or a cond's wait: true, or TIMEOUT. */
static int woken_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  return lsync_ended(L)->woken ? push_true(L) : lerror_push(L, "wait", NULL, NULL, LERR_TIMEOUT);
}

/* ev:wait([timeout]) -> true | nil, msg, "TIMEOUT" */
static int ev_wait(lua_State *L) {
  event *e = check_event(L);
  double deadline = lsync_deadline(L, 2);
  lua_settop(L, 1);
  if (e->set)
    return push_true(L);
  snode *n = lsync_node(L, task_running(L, e->rt), e);
  if (e->set) /* the allocation may have run a finalizer */
    return push_true(L);
  return lsync_suspend(L, n, &e->q, &hook_event, deadline, woken_k);
}

static int ev_set(lua_State *L) {
  event *e = check_event(L);
  e->set = 1;
  while (lsync_wake_first(&e->q))
    ;
  return push_true(L);
}

static int ev_clear(lua_State *L) {
  check_event(L)->set = 0;
  return push_true(L);
}

static int ev_is_set(lua_State *L) {
  lua_pushboolean(L, check_event(L)->set);
  return 1;
}

static int ev_tostring(lua_State *L) {
  event *e = check_event(L);
  lua_pushfstring(L, "event %p (%s)", (void *)e, e->set ? "set" : "clear");
  return 1;
}

static int l_event(lua_State *L) {
  event *e = lua_newuserdatauv(L, sizeof *e, 0);
  memset(e, 0, sizeof *e);
  luaL_setmetatable(L, EVENT_MT);
  e->rt = up_rt(L);
  return 1;
}

typedef struct {
  runtime *rt;
  squeue q;
} cond;

static const task_hook hook_cond = {lsync_node_unwait, "cond"};

/* A signalled waiter cancelled before it ran passes the signal on. */
static void cond_pass_on(task *t) {
  snode *n = t->wait_obj;
  cond *c = n->obj;
  lsync_wake_first(&c->q);
}

static const task_hook hook_signalled = {cond_pass_on, "cond"};

static cond *check_cond(lua_State *L) { return luaL_checkudata(L, 1, COND_MT); }

/* cv:wait([timeout]) -> true | nil, msg, "TIMEOUT". No mutex: tasks only
 * switch at blocking calls, so a check and a wait cannot miss a signal. */
static int cond_wait(lua_State *L) {
  cond *c = check_cond(L);
  double deadline = lsync_deadline(L, 2);
  lua_settop(L, 1);
  snode *n = lsync_node(L, task_running(L, c->rt), c);
  return lsync_suspend(L, n, &c->q, &hook_cond, deadline, woken_k);
}

static int cond_signal(lua_State *L) {
  snode *n = lsync_wake_first(&check_cond(L)->q);
  if (n) {
    n->t->hook = &hook_signalled;
    n->t->wait_obj = n;
  }
  lua_pushboolean(L, n != NULL);
  return 1;
}

static int cond_broadcast(lua_State *L) {
  cond *c = check_cond(L);
  lua_Integer k = 0;
  while (lsync_wake_first(&c->q))
    k++;
  lua_pushinteger(L, k);
  return 1;
}

static int cond_tostring(lua_State *L) {
  lua_pushfstring(L, "cond %p", (void *)check_cond(L));
  return 1;
}

static int l_cond(lua_State *L) {
  cond *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  luaL_setmetatable(L, COND_MT);
  c->rt = up_rt(L);
  return 1;
}

typedef struct {
  runtime *rt;
  lua_Integer avail;
  squeue q;
} sem;

typedef struct {
  sem *s;
  int held;
} permit;

static const task_hook hook_sem = {lsync_node_unwait, "semaphore"};

/* Returns one permit: to the first waiter, or to the count. */
static void sem_put(sem *s);

/* A task granted a permit and cancelled before it ran gives it back. */
static void sem_give_back(task *t) { sem_put(((snode *)t->wait_obj)->obj); }

static const task_hook hook_granted = {sem_give_back, "semaphore"};

static void sem_put(sem *s) {
  snode *n = lsync_wake_first(&s->q);
  if (!n) {
    s->avail++;
    return;
  }
  n->t->hook = &hook_granted;
  n->t->wait_obj = n;
}

static sem *check_sem(lua_State *L) { return luaL_checkudata(L, 1, SEM_MT); }

/* Stack: sem, permit, node. */
static int sem_acquire_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (!lsync_ended(L)->woken)
    return lerror_push(L, "acquire", NULL, NULL, LERR_TIMEOUT);
  ((permit *)lua_touserdata(L, 2))->held = 1;
  lua_pushvalue(L, 2);
  return 1;
}

/* sem:acquire([timeout]) -> permit | nil, msg, "TIMEOUT". The permit is
 * made first, so that nothing allocates once one is taken. */
static int sem_acquire(lua_State *L) {
  sem *s = check_sem(L);
  double deadline = lsync_deadline(L, 2);
  lua_settop(L, 1);
  permit *p = lua_newuserdatauv(L, sizeof *p, 1);
  p->s = s;
  p->held = 0;
  luaL_setmetatable(L, PERMIT_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 2, 1); /* the permit keeps its semaphore alive */
  if (s->avail > 0 && !s->q.head) {
    s->avail--;
    p->held = 1;
    return 1;
  }
  snode *n = lsync_node(L, task_running(L, s->rt), s);
  if (s->avail > 0 && !s->q.head) {
    s->avail--;
    p->held = 1;
    lua_pushvalue(L, 2);
    return 1;
  }
  return lsync_suspend(L, n, &s->q, &hook_sem, deadline, sem_acquire_k);
}

/* sem:release(): adds one permit (for counting without permit objects). */
static int sem_release(lua_State *L) {
  sem_put(check_sem(L));
  return push_true(L);
}

static int sem_available(lua_State *L) {
  lua_pushinteger(L, check_sem(L)->avail);
  return 1;
}

static int sem_tostring(lua_State *L) {
  sem *s = check_sem(L);
  lua_pushfstring(L, "semaphore %p (%I available)", (void *)s, s->avail);
  return 1;
}

static int l_semaphore(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 0, 1, "permits must not be negative");
  sem *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, SEM_MT);
  s->rt = up_rt(L);
  s->avail = n;
  return 1;
}

/* permit:release(): returns the permit once; true if it was held. Never
 * raises on a permit. */
static int permit_release(lua_State *L) {
  permit *p = luaL_checkudata(L, 1, PERMIT_MT);
  int held = p->held;
  if (held) {
    p->held = 0;
    sem_put(p->s);
  }
  lua_pushboolean(L, held);
  return 1;
}

/* __close and __gc: the same, returning nothing (a metamethod's value means nothing). */
static int permit_drop(lua_State *L) {
  permit_release(L);
  return 0;
}

static int permit_tostring(lua_State *L) {
  permit *p = luaL_checkudata(L, 1, PERMIT_MT);
  lua_pushfstring(L, "permit %p (%s)", (void *)p, p->held ? "held" : "released");
  return 1;
}

/* The task on top of the stack, if the value there is one of rt's. */
static task *as_task(lua_State *L, runtime *rt) {
  task *t = luaL_testudata(L, -1, TASK_MT);
  return t && t->rt == rt ? t : NULL;
}

/* Each waiting task, found through the registry references that keep the
 * live ones, in reference order; at most 100 are listed. */
void lsync_push_deadlock(lua_State *L, runtime *rt) {
  luaL_checkstack(L, 8, NULL);
  lua_newtable(L);
  int out = lua_gettop(L), k = 0, more = 0;
  for (lua_pushnil(L); lua_next(L, LUA_REGISTRYINDEX); lua_pop(L, 1)) {
    task *t = as_task(L, rt);
    if (!t || t->state != TASK_WAITING)
      continue;
    if (k >= 100) {
      more++;
      continue;
    }
    const char *what = t->hook ? t->hook->what : t->joinee ? "task:wait" : "waiting";
    lua_pushfstring(L, "\n\ntask %p [%s]:\n", (void *)t, what);
    luaL_traceback(L, t->co, NULL, 0);
    lua_concat(L, 2);
    lua_rawseti(L, out, ++k);
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, lerror_text(LERR_DEADLOCK));
  for (int i = 1; i <= k; i++) {
    lua_rawgeti(L, out, i);
    luaL_addvalue(&b);
  }
  if (more) {
    lua_pushfstring(L, "\n\n... and %d more waiting tasks", more);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  lua_remove(L, out);
}

/* luds.tasks() -> a list of every task not yet ended (the caller's
 * included), in no particular order. */
static int l_tasks(lua_State *L) {
  runtime *rt = up_rt(L);
  lua_newtable(L);
  int out = lua_gettop(L);
  lua_Integer k = 0;
  for (lua_pushnil(L); lua_next(L, LUA_REGISTRYINDEX); lua_pop(L, 1)) {
    task *t = as_task(L, rt);
    if (t && t->state < TASK_DONE) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, out, ++k);
    }
  }
  return 1;
}

void lsync_class(lua_State *L, const char *name, const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

void lsync_register(lua_State *L, runtime *rt) {
  static const luaL_Reg ev[] = {{"wait", ev_wait},         {"set", ev_set},
                                {"clear", ev_clear},       {"is_set", ev_is_set},
                                {"__tostring", ev_tostring}, {NULL, NULL}};
  static const luaL_Reg cv[] = {{"wait", cond_wait},
                                {"signal", cond_signal},
                                {"broadcast", cond_broadcast},
                                {"__tostring", cond_tostring},
                                {NULL, NULL}};
  static const luaL_Reg sm[] = {{"acquire", sem_acquire},
                                {"release", sem_release},
                                {"available", sem_available},
                                {"__tostring", sem_tostring},
                                {NULL, NULL}};
  static const luaL_Reg pm[] = {{"release", permit_release}, {"__close", permit_drop},
                                {"__gc", permit_drop},     {"__tostring", permit_tostring},
                                {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"event", l_event},
                                   {"cond", l_cond},
                                   {"semaphore", l_semaphore},
                                   {"tasks", l_tasks},
                                   {NULL, NULL}};
  lsync_class(L, EVENT_MT, ev);
  lsync_class(L, COND_MT, cv);
  lsync_class(L, SEM_MT, sm);
  lsync_class(L, PERMIT_MT, pm);
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
}
