/* Events, conditions, semaphores and task groups, and the deadlock report.
 * Each object keeps a FIFO of waiter nodes (userdata on the waiting task's
 * own stack); the task hook unlinks a node whatever ends its wait, and for
 * a cond signal or a permit handed to a task cancelled before it ran, hands
 * it on instead, so nothing is lost with the task. */
#include <lauxlib.h>
#include <string.h>

#include "lerror.h"
#include "lsync.h"

#define EVENT_MT "luds.event"
#define COND_MT "luds.cond"
#define SEM_MT "luds.semaphore"
#define PERMIT_MT "luds.permit"
#define GROUP_MT "luds.group"
#define CHILD_MT "luds.group.child"

typedef struct snode snode;
typedef struct {
  snode *head, *tail;
} squeue;

struct snode {
  task *t;
  squeue *q;
  void *obj; /* the event, cond, semaphore or group */
  snode *prev, *next;
  int woken; /* 1 once the object (not a timeout or a cancel) woke it */
};

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

static void sq_unlink(snode *n) {
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

static void node_unwait(task *t) { sq_unlink(t->wait_obj); }

/* Wakes the first waiter of q (FIFO); returns it, or NULL if none waits. */
static snode *wake_first(squeue *q) {
  snode *n = q->head;
  if (n) {
    n->woken = 1;
    task_wake(n->t, WAKE_READY); /* unlinks it */
  }
  return n;
}

static runtime *up_rt(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

static double opt_deadline(lua_State *L, int i) {
  double s = luaL_optnumber(L, i, -1);
  return s >= 0 ? loop_now() + s : 0;
}

/* Pushes a waiter node for the running task t, not yet queued. */
static snode *new_node(lua_State *L, task *t, void *obj) {
  snode *n = lua_newuserdatauv(L, sizeof *n, 0);
  memset(n, 0, sizeof *n);
  n->t = t;
  n->obj = obj;
  return n;
}

static int suspend_on(lua_State *L, snode *n, squeue *q, const task_hook *h, double deadline,
                      lua_KFunction k) {
  sq_push(q, n);
  n->t->hook = h;
  n->t->wait_obj = n;
  return task_suspend(L, n->t, NULL, deadline, 0, k);
}

/* The node of the wait that just ended is on top; clears the hook. */
static snode *ended(lua_State *L) {
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

static const task_hook hook_event = {node_unwait, "event"};

static event *check_event(lua_State *L) { return luaL_checkudata(L, 1, EVENT_MT); }

/* The continuation of an event's or a cond's wait: true, or TIMEOUT. */
static int woken_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  return ended(L)->woken ? push_true(L) : lerror_push(L, "wait", NULL, NULL, LERR_TIMEOUT);
}

/* ev:wait([timeout]) -> true | nil, msg, "TIMEOUT" */
static int ev_wait(lua_State *L) {
  event *e = check_event(L);
  double deadline = opt_deadline(L, 2);
  lua_settop(L, 1);
  if (e->set)
    return push_true(L);
  snode *n = new_node(L, task_running(L, e->rt), e);
  if (e->set) /* the allocation may have run a finalizer */
    return push_true(L);
  return suspend_on(L, n, &e->q, &hook_event, deadline, woken_k);
}

static int ev_set(lua_State *L) {
  event *e = check_event(L);
  e->set = 1;
  while (wake_first(&e->q))
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

static const task_hook hook_cond = {node_unwait, "cond"};

/* A signalled waiter cancelled before it ran passes the signal on. */
static void cond_pass_on(task *t) {
  snode *n = t->wait_obj;
  cond *c = n->obj;
  wake_first(&c->q);
}

static const task_hook hook_signalled = {cond_pass_on, "cond"};

static cond *check_cond(lua_State *L) { return luaL_checkudata(L, 1, COND_MT); }

/* cv:wait([timeout]) -> true | nil, msg, "TIMEOUT". No mutex: tasks only
 * switch at blocking calls, so a check and a wait cannot miss a signal. */
static int cond_wait(lua_State *L) {
  cond *c = check_cond(L);
  double deadline = opt_deadline(L, 2);
  lua_settop(L, 1);
  snode *n = new_node(L, task_running(L, c->rt), c);
  return suspend_on(L, n, &c->q, &hook_cond, deadline, woken_k);
}

static int cond_signal(lua_State *L) {
  snode *n = wake_first(&check_cond(L)->q);
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
  while (wake_first(&c->q))
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

static const task_hook hook_sem = {node_unwait, "semaphore"};

/* Returns one permit: to the first waiter, or to the count. */
static void sem_put(sem *s);

/* A task granted a permit and cancelled before it ran gives it back. */
static void sem_give_back(task *t) { sem_put(((snode *)t->wait_obj)->obj); }

static const task_hook hook_granted = {sem_give_back, "semaphore"};

static void sem_put(sem *s) {
  snode *n = wake_first(&s->q);
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
  if (!ended(L)->woken)
    return lerror_push(L, "acquire", NULL, NULL, LERR_TIMEOUT);
  ((permit *)lua_touserdata(L, 2))->held = 1;
  lua_pushvalue(L, 2);
  return 1;
}

/* sem:acquire([timeout]) -> permit | nil, msg, "TIMEOUT". The permit is
 * made first, so that nothing allocates once one is taken. */
static int sem_acquire(lua_State *L) {
  sem *s = check_sem(L);
  double deadline = opt_deadline(L, 2);
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
  snode *n = new_node(L, task_running(L, s->rt), s);
  if (s->avail > 0 && !s->q.head) {
    s->avail--;
    p->held = 1;
    lua_pushvalue(L, 2);
    return 1;
  }
  return suspend_on(L, n, &s->q, &hook_sem, deadline, sem_acquire_k);
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

/* permit:release(), __close and __gc: returns the permit once; true if it
 * was held. Never raises on a permit. */
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

static int permit_tostring(lua_State *L) {
  permit *p = luaL_checkudata(L, 1, PERMIT_MT);
  lua_pushfstring(L, "permit %p (%s)", (void *)p, p->held ? "held" : "released");
  return 1;
}

/* A task group: uservalue 1 maps each live child (light userdata of its
 * task) to its token, uservalue 2 holds the first child error. A child runs
 * under child_main, which marks its token to-be-closed: however the child
 * ends (return, error, cancel) the token's __close counts it out. A child
 * cancelled before it ever ran has no such slot yet, so whoever cancels it
 * (the group) or finds it ended (g:wait) counts it out. */
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
    while (wake_first(&c->g->q))
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

/* Counts out the children that ended without running their token. */
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

static const task_hook hook_group = {node_unwait, "group wait"};

static int group_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (!ended(L)->woken)
    return lerror_push(L, "wait", NULL, NULL, LERR_TIMEOUT);
  return group_outcome(L, lua_touserdata(L, 1));
}

/* g:wait([timeout]) -> true | false, first error | nil, msg, "TIMEOUT" */
static int group_wait(lua_State *L) {
  group *g = check_group(L);
  double deadline = opt_deadline(L, 2);
  lua_settop(L, 1);
  group_sweep(L, 1);
  if (g->alive == 0)
    return group_outcome(L, g);
  snode *n = new_node(L, task_running(L, g->rt), g);
  return suspend_on(L, n, &g->q, &hook_group, deadline, group_wait_k);
}

static int group_cancel_m(lua_State *L) {
  group *g = check_group(L);
  group_cancel(L, 1, g->rt);
  return push_true(L);
}

/* The owner, waiting in __close, is cancelled: its children go with it. */
static void close_unwait(task *t) {
  snode *n = t->wait_obj;
  sq_unlink(n);
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
  ended(L);
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
  snode *n = new_node(L, rt->current, g);
  return suspend_on(L, n, &g->q, &hook_group_close, 0, group_close_k);
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

/* Whether the value on top is a task: the main chunk's task is spawned
 * before require "luds" creates the task metatable, so it is recognised by
 * its size and its coroutine (user value 1) instead. */
static task *as_task(lua_State *L, runtime *rt) {
  task *t = lua_touserdata(L, -1);
  if (!t || lua_type(L, -1) != LUA_TUSERDATA || lua_rawlen(L, -1) != sizeof *t)
    return NULL;
  int ok = lua_getiuservalue(L, -1, 1) == LUA_TTHREAD && lua_tothread(L, -1) == t->co;
  lua_pop(L, 1);
  return ok && t->rt == rt ? t : NULL;
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

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods) {
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
  static const luaL_Reg pm[] = {{"release", permit_release}, {"__close", permit_release},
                                {"__gc", permit_release},     {"__tostring", permit_tostring},
                                {NULL, NULL}};
  static const luaL_Reg gr[] = {{"spawn", group_spawn},   {"wait", group_wait},
                                {"cancel", group_cancel_m}, {"__close", group_close},
                                {"__tostring", group_tostring}, {NULL, NULL}};
  static const luaL_Reg ch[] = {{"__close", child_close}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"event", l_event},
                                   {"cond", l_cond},
                                   {"semaphore", l_semaphore},
                                   {"group", l_group},
                                   {NULL, NULL}};
  new_class(L, EVENT_MT, ev);
  new_class(L, COND_MT, cv);
  new_class(L, SEM_MT, sm);
  new_class(L, PERMIT_MT, pm);
  new_class(L, GROUP_MT, gr);
  new_class(L, CHILD_MT, ch);
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
}
