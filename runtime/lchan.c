/* Channels (Go's chan) and select. A channel's buffer is a ring in its
 * uservalue table, indexed with an explicit count so nil travels. Waiting
 * tasks hang waiter records (userdata on their own coroutine stack) on the
 * channel's send and receive queues; a value reaches a waiting receiver by
 * lua_xmove straight onto its stack and a waiting sender's value stays on
 * its stack until a receiver takes it, so no hand-off runs Lua code. */
#include <lauxlib.h>
#include <stdint.h>
#include <string.h>

#include "lerror.h"
#include "lsock.h"
#include "lsync.h"

#define CHAN_MT "luds.channel"
#define BUF_MIN 16 /* slots a bounded channel starts with; it grows to its capacity */

typedef struct wnode wnode;
typedef struct wrec wrec;
typedef struct chan chan;

struct wnode {
  wrec *rec;
  chan *ch;
  wnode *prev, *next;
  int index;       /* the case (1 for a plain send or recv) */
  int send;        /* 1: a send, 0: a receive */
  int chidx, vidx; /* stack slots of the channel and of a send's value on rec->t->co */
  int linked;
};

/* One wait: a plain send or recv has one node, a select one per case. */
struct wrec {
  task *t;
  int n;
  int fired;  /* the case that completed; 0 while none has */
  int closed; /* it completed because the channel closed */
  wnode w[];
};

typedef struct {
  wnode *head, *tail;
} wqueue;

struct chan {
  const void *tag; /* &chan_tag: see check_chan */
  runtime *rt;
  lua_Integer cap, size, head, count; /* ring: count values from slot head */
  int closed;
  wqueue recvq, sendq;
};

static void q_push(wqueue *q, wnode *w) {
  w->prev = q->tail;
  w->next = NULL;
  if (q->tail)
    q->tail->next = w;
  else
    q->head = w;
  q->tail = w;
  w->linked = 1;
}

static void q_unlink(wqueue *q, wnode *w) {
  if (!w->linked)
    return;
  if (w->prev)
    w->prev->next = w->next;
  else
    q->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    q->tail = w->prev;
  w->prev = w->next = NULL;
  w->linked = 0;
}

/* The hook: whatever ends the wait unlinks every case from its channel. */
static void rec_unwait(task *t) {
  wrec *r = t->wait_obj;
  for (int i = 0; i < r->n; i++) {
    wnode *w = &r->w[i];
    q_unlink(w->send ? &w->ch->sendq : &w->ch->recvq, w);
  }
}

static const task_hook hook_recv = {rec_unwait, "channel receive"};
static const task_hook hook_send = {rec_unwait, "channel send"};
static const task_hook hook_select = {rec_unwait, "select"};

static lua_Integer slot(const chan *c, lua_Integer i) { return (c->head + i) % c->size + 1; }

/* Doubles the ring, keeping the order. Allocates (and so may run
 * finalizers) while the channel is consistent; callers decide after it. */
static void buf_grow(lua_State *S, int ci, chan *c) {
  lua_Integer size = c->size * 2;
  lua_createtable(S, (int)size, 0);
  lua_getiuservalue(S, ci, 1);
  for (lua_Integer i = 0; i < c->count; i++) {
    lua_rawgeti(S, -1, slot(c, i));
    lua_rawseti(S, -3, i + 1);
  }
  lua_pop(S, 1);
  lua_setiuservalue(S, ci, 1);
  c->head = 0;
  c->size = size;
}

/* Pops the value on top of S into the ring (at its tail, or its head when
 * given back). The slot exists already: no allocation. */
static void buf_put(lua_State *S, int ci, chan *c, int at_head) {
  lua_getiuservalue(S, ci, 1);
  lua_insert(S, -2);
  if (at_head) {
    c->head = (c->head + c->size - 1) % c->size;
    lua_rawseti(S, -2, slot(c, 0));
  } else
    lua_rawseti(S, -2, slot(c, c->count));
  c->count++;
  lua_pop(S, 1);
}

/* Pushes the value at the ring's head and frees its slot. */
static void buf_take(lua_State *S, int ci, chan *c) {
  lua_Integer k = slot(c, 0);
  c->head = (c->head + 1) % c->size;
  c->count--;
  lua_getiuservalue(S, ci, 1);
  lua_rawgeti(S, -1, k);
  lua_pushnil(S);
  lua_rawseti(S, -3, k);
  lua_remove(S, -2);
}

/* Completes w's wait: its task will see case w->index fire. */
static void fire(wnode *w, int closed) {
  w->rec->fired = w->index;
  w->rec->closed = closed;
  task_wake(w->rec->t, WAKE_READY); /* unlinks every case of the record */
}

static void putback(task *t);
static const task_hook hook_putback = {putback, "channel receive"};

/* A waiter's stack has room for the one value a hand-off moves: it waits
 * inside a C function (recv, send, select), which starts with LUA_MINSTACK
 * free slots and uses two of them (select reserves its own), so neither
 * give nor take needs lua_checkstack. */

/* Moves the value on top of S onto waiting receiver w's stack and wakes it.
 * Until it runs, a cancel gives the value back (putback). */
static void give(lua_State *S, wnode *w) {
  task *t = w->rec->t;
  lua_xmove(S, t->co, 1);
  fire(w, 0);
  t->hook = &hook_putback;
  t->wait_obj = w->rec;
}

/* Pushes waiting sender w's value onto S and completes its send. */
static void take(lua_State *S, wnode *w) {
  lua_State *co = w->rec->t->co;
  lua_pushvalue(co, w->vidx);
  lua_xmove(co, S, 1);
  fire(w, 0);
}

/* A receiver that was handed a value is cancelled before it ran: the value
 * goes back to the head of the buffer (even past the capacity), so it is
 * neither lost nor delivered twice, and on to a receiver if one waits. The
 * work happens on the main thread: the cancelled one is still suspended. */
static void putback(task *t) {
  wrec *r = t->wait_obj;
  wnode *w = &r->w[r->fired - 1];
  chan *c = w->ch;
  lua_State *S = t->rt->L, *co = t->co;
  int top = lua_gettop(S);
  if (!lua_checkstack(S, 6))
    return;
  lua_pushvalue(co, w->chidx);
  lua_xmove(co, S, 1);
  int ci = lua_gettop(S);
  while (c->count >= c->size)
    buf_grow(S, ci, c);
  lua_xmove(co, S, 1);
  buf_put(S, ci, c, 1);
  while (c->count > 0 && c->recvq.head) {
    buf_take(S, ci, c);
    give(S, c->recvq.head);
  }
  lua_settop(S, top);
}

/* 1: a value is pushed; 0: none is ready; -1: closed and drained. */
static int recv_now(lua_State *L, int ci, chan *c) {
  if (c->count > 0) {
    buf_take(L, ci, c);
    if (c->sendq.head) { /* a slot just freed: the first waiting sender fills it */
      take(L, c->sendq.head);
      buf_put(L, ci, c, 0);
    }
    return 1;
  }
  if (c->sendq.head) {
    take(L, c->sendq.head);
    return 1;
  }
  return c->closed ? -1 : 0;
}

/* 1: the value at vi is sent; 0: it would wait; -1: the channel is closed. */
static int send_now(lua_State *L, int ci, chan *c, int vi) {
  while (c->count == c->size && c->count < c->cap)
    buf_grow(L, ci, c);
  if (c->closed)
    return -1;
  if (c->recvq.head) {
    lua_pushvalue(L, vi);
    give(L, c->recvq.head);
    return 1;
  }
  if (c->count < c->cap) {
    lua_pushvalue(L, vi);
    buf_put(L, ci, c, 0);
    return 1;
  }
  return 0;
}

static int recv_ready(const chan *c) { return c->count > 0 || c->sendq.head || c->closed; }

static int send_ready(const chan *c) {
  return c->closed || c->recvq.head || c->count < c->cap;
}

/* Every channel carries the address of this private object: a userdata of
 * a channel's size that starts with it is a channel. Cheaper than comparing
 * metatables (which pushes and pops one) on every send and recv; no other
 * code can know the address, so no other userdata starts with it. */
static const char chan_tag;

static chan *check_chan(lua_State *L, int i) {
  if (lua_rawlen(L, i) == sizeof(chan)) { /* a full userdata that size, or a string */
    chan *c = lua_touserdata(L, i);        /* NULL for the string */
    if (c && c->tag == &chan_tag)
      return c;
  }
  return luaL_checkudata(L, i, CHAN_MT); /* raises with the usual message */
}


static void init_rec(wrec *r, task *t, int n) {
  memset(r, 0, sizeof *r + (size_t)n * sizeof(wnode));
  r->t = t;
  r->n = n;
}

/* A select's record: a userdata on the waiting task's stack. */
static wrec *new_rec(lua_State *L, task *t, int n) {
  wrec *r = lua_newuserdatauv(L, sizeof *r + (size_t)n * sizeof(wnode), 0);
  init_rec(r, t, n);
  return r;
}

_Static_assert(sizeof(wrec) + sizeof(wnode) <= TASK_WAIT_SPACE, "TASK_WAIT_SPACE too small");

/* A plain send's or recv's record lives in the task: blocking allocates
 * nothing, so nothing (no finalizer) runs between the try and the wait. */
static wrec *task_rec(task *t) {
  wrec *r = (wrec *)(void *)t->wait_space;
  init_rec(r, t, 1);
  return r;
}

/* A continuation's context: the record (8-aligned) and recv's mode in its
 * low bit, so resuming looks nothing up. */
static lua_KContext rec_ctx(wrec *r, int as) { return (lua_KContext)(intptr_t)r | as; }
static wrec *ctx_rec(lua_KContext ctx) { return (wrec *)(intptr_t)(ctx & ~(lua_KContext)1); }

static void add_node(wrec *r, int i, chan *c, int send, int chidx, int vidx) {
  wnode *w = &r->w[i - 1];
  w->rec = r;
  w->ch = c;
  w->index = i;
  w->send = send;
  w->chidx = chidx;
  w->vidx = vidx;
  q_push(send ? &c->sendq : &c->recvq, w);
}

static int push_true_under(lua_State *L) {
  lua_pushboolean(L, 1);
  lua_insert(L, -2);
  return 2;
}

enum { AS_RECV, AS_ITER };

static int recv_result(lua_State *L, int r, int as) {
  if (as == AS_ITER) {
    if (r < 0)
      lua_pushnil(L);
    return 1;
  }
  if (r < 0)
    return lerror_push(L, "recv", NULL, NULL, LERR_CLOSED_CHAN);
  return push_true_under(L);
}

/* recv's results when the true it returns first is already under the
 * value (r > 0) or on top (r < 0: closed). */
static int recv_done(lua_State *L, int r, int as) {
  if (r > 0)
    return as == AS_ITER ? 1 : 2;
  if (as == AS_ITER) {
    lua_pushnil(L);
    return 1;
  }
  return lerror_push(L, "recv", NULL, NULL, LERR_CLOSED_CHAN);
}

/* Stack on resume: ch, true[, value]. */
static int recv_k(lua_State *L, int status, lua_KContext ctx) {
  wrec *r = ctx_rec(ctx);
  int as = (int)(ctx & 1);
  (void)status;
  r->t->hook = NULL;
  if (!r->fired)
    return lerror_push(L, "recv", NULL, NULL, LERR_TIMEOUT);
  return recv_done(L, r->closed ? -1 : 1, as);
}

/* The value, taken now or handed over while waiting, lands above a true
 * pushed first: no rotation to return true, value. */
static int recv_wait(lua_State *L, int as) {
  chan *c = check_chan(L, 1);
  double deadline = as == AS_ITER ? 0 : lsync_deadline(L, 2);
  fit_stack(L, 1);
  lua_pushboolean(L, 1);
  int r = recv_now(L, 1, c);
  if (r != 0)
    return recv_done(L, r, as);
  task *t = task_running(L, c->rt);
  wrec *rec = task_rec(t);
  add_node(rec, 1, c, 0, 1, 0);
  t->hook = &hook_recv;
  t->wait_obj = rec;
  return task_suspend(L, t, NULL, deadline, rec_ctx(rec, as), recv_k);
}

/* ch:recv([timeout]) -> true, value | nil, msg, "CLOSED" | nil, msg, "TIMEOUT" */
static int ch_recv(lua_State *L) { return recv_wait(L, AS_RECV); }

static int ch_iter(lua_State *L) { return recv_wait(L, AS_ITER); }

/* for v in ch:values() do ... end: until the channel is closed and drained
 * (a nil value also ends a generic for). */
static int ch_values(lua_State *L) {
  check_chan(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, ch_iter, 1);
  lua_pushvalue(L, 1);
  return 2;
}

static int send_result(lua_State *L, int r) {
  if (r < 0)
    return lerror_push(L, "send", NULL, NULL, LERR_CLOSED_CHAN);
  lua_pushboolean(L, 1);
  return 1;
}

/* Stack on resume: ch, value. */
static int send_k(lua_State *L, int status, lua_KContext ctx) {
  wrec *r = ctx_rec(ctx);
  (void)status;
  r->t->hook = NULL;
  if (!r->fired)
    return lerror_push(L, "send", NULL, NULL, LERR_TIMEOUT);
  return send_result(L, r->closed ? -1 : 1);
}

/* ch:send(v [, timeout]) -> true | nil, msg, "CLOSED" | nil, msg, "TIMEOUT" */
static int ch_send(lua_State *L) {
  chan *c = check_chan(L, 1);
  if (lua_gettop(L) < 2)
    luaL_checkany(L, 2);
  double deadline = lsync_deadline(L, 3);
  fit_stack(L, 2);
  int r = send_now(L, 1, c, 2);
  if (r != 0)
    return send_result(L, r);
  task *t = task_running(L, c->rt);
  wrec *rec = task_rec(t);
  add_node(rec, 1, c, 1, 1, 2);
  t->hook = &hook_send;
  t->wait_obj = rec;
  return task_suspend(L, t, NULL, deadline, rec_ctx(rec, 0), send_k);
}

/* ch:try_recv() -> true, value | false (nothing ready) | nil, msg, "CLOSED" */
static int ch_try_recv(lua_State *L) {
  chan *c = check_chan(L, 1);
  lua_settop(L, 1);
  int r = recv_now(L, 1, c);
  if (r == 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  return recv_result(L, r, AS_RECV);
}

/* ch:try_send(v) -> true | false (it would wait) | nil, msg, "CLOSED" */
static int ch_try_send(lua_State *L) {
  chan *c = check_chan(L, 1);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  int r = send_now(L, 1, c, 2);
  if (r == 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  return send_result(L, r);
}

/* Buffered values still drain; every waiter wakes with CLOSED. */
static int ch_close(lua_State *L) {
  chan *c = check_chan(L, 1);
  if (c->closed)
    return lerror_push(L, "close", NULL, NULL, LERR_CLOSED_CHAN);
  c->closed = 1;
  while (c->recvq.head)
    fire(c->recvq.head, 1);
  while (c->sendq.head)
    fire(c->sendq.head, 1);
  lua_pushboolean(L, 1);
  return 1;
}

static int ch_len(lua_State *L) {
  lua_pushinteger(L, check_chan(L, 1)->count);
  return 1;
}

static int ch_capacity(lua_State *L) {
  lua_pushinteger(L, check_chan(L, 1)->cap);
  return 1;
}

static int ch_tostring(lua_State *L) {
  chan *c = check_chan(L, 1);
  if (c->closed)
    lua_pushfstring(L, "channel %p (%I/%I, closed)", (void *)c, c->count, c->cap);
  else
    lua_pushfstring(L, "channel %p (%I/%I)", (void *)c, c->count, c->cap);
  return 1;
}

static runtime *up_rt(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

/* luds.channel([capacity]): 0 (the default) is a rendezvous. */
static int l_channel(lua_State *L) {
  lua_Integer cap = luaL_optinteger(L, 1, 0);
  luaL_argcheck(L, cap >= 0, 1, "capacity must not be negative");
  chan *c = lua_newuserdatauv(L, sizeof *c, 1);
  memset(c, 0, sizeof *c);
  c->tag = &chan_tag;
  luaL_setmetatable(L, CHAN_MT);
  c->rt = up_rt(L);
  c->cap = cap;
  c->size = cap < 1 ? 1 : cap < BUF_MIN ? cap : BUF_MIN;
  lua_createtable(L, (int)c->size, 0);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* select: cases at 1, opts at 2, then per case its channel, its value (nil
 * for a receive) and whether it sends, then the record. */
#define CASE_CH(i) (3 * (i))
#define CASE_V(i) (3 * (i) + 1)
#define CASE_SEND(i) (3 * (i) + 2)

static int case_error(lua_State *L, int i) {
  return luaL_argerror(L, 1, lua_pushfstring(L, "case %d: want { \"recv\", channel } or "
                                                "{ \"send\", channel, value }", i));
}

/* Pushes case i's channel, value and send flag. */
static void parse_case(lua_State *L, int i) {
  if (lua_rawgeti(L, 1, i) != LUA_TTABLE)
    case_error(L, i);
  lua_rawgeti(L, -1, 1);
  const char *op = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  int send = strcmp(op, "send") == 0;
  if (!send && strcmp(op, "recv") != 0)
    case_error(L, i);
  lua_pop(L, 1);
  lua_rawgeti(L, -1, 2);
  if (!luaL_testudata(L, -1, CHAN_MT))
    case_error(L, i);
  lua_rawgeti(L, -2, 3);
  if (!send && !lua_isnil(L, -1))
    case_error(L, i);
  lua_pushboolean(L, send);
  lua_remove(L, -4);
}

static uint64_t next_random(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

/* Pushes case i's outcome: its index, then what its own call returns. */
static int case_result(lua_State *L, int i, int send, int r) {
  int base = lua_gettop(L) - (r > 0 && !send); /* a received value is on top */
  lua_pushinteger(L, i);
  lua_insert(L, base + 1);
  return 1 + (send ? send_result(L, r) : recv_result(L, r, AS_RECV));
}

/* Fires one ready case, chosen uniformly among the ready ones (reservoir
 * sampling: the k-th ready case replaces the pick with probability 1/k);
 * returns the number of results, or 0 if no case is ready. */
static int select_now(lua_State *L, int n, uint64_t *rng) {
  int pick = 0, seen = 0;
  for (int i = 1; i <= n; i++) {
    chan *c = lua_touserdata(L, CASE_CH(i));
    int ready = lua_toboolean(L, CASE_SEND(i)) ? send_ready(c) : recv_ready(c);
    if (ready && next_random(rng) % (uint64_t)++seen == 0)
      pick = i;
  }
  if (!pick)
    return 0;
  chan *c = lua_touserdata(L, CASE_CH(pick));
  int send = lua_toboolean(L, CASE_SEND(pick));
  int r = send ? send_now(L, CASE_CH(pick), c, CASE_V(pick)) : recv_now(L, CASE_CH(pick), c);
  return case_result(L, pick, send, r);
}

static int select_k(lua_State *L, int status, lua_KContext n) {
  wrec *r = lua_touserdata(L, CASE_CH((int)n + 1));
  (void)status;
  r->t->hook = NULL;
  if (!r->fired)
    return lerror_push(L, "select", NULL, NULL, LERR_TIMEOUT);
  int send = r->w[r->fired - 1].send;
  return case_result(L, r->fired, send, r->closed ? -1 : 1);
}

/* luds.select(cases [, { timeout = s, default = true }]): waits until one
 * case can proceed and fires exactly that one. -> i, then what that case's
 * send or recv returns | 0 (default: nothing was ready) | nil, msg, "TIMEOUT" */
static int l_select(lua_State *L) {
  runtime *rt = up_rt(L);
  uint64_t *rng = lua_touserdata(L, lua_upvalueindex(2));
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  static const char *const accepted[] = {"default", "timeout", NULL};
  lsock_checkopts(L, 2, accepted, "select");
  double deadline = 0;
  int dflt = 0;
  lua_settop(L, 2);
  if (!lua_isnil(L, 2)) {
    lua_getfield(L, 2, "timeout");
    if (!lua_isnil(L, -1)) {
      luaL_argcheck(L, lua_type(L, -1) == LUA_TNUMBER, 2, "timeout must be a number");
      double s = lua_tonumber(L, -1);
      deadline = s >= 0 ? loop_now() + s : 0;
    }
    lua_getfield(L, 2, "default");
    dflt = lua_toboolean(L, -1);
    lua_pop(L, 2);
  }
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  luaL_argcheck(L, n <= 100000, 1, "too many cases");
  luaL_checkstack(L, (int)(3 * n + 8), "too many cases");
  for (int i = 1; i <= n; i++)
    parse_case(L, i);
  int nr = select_now(L, (int)n, rng);
  if (nr)
    return nr;
  if (dflt) {
    lua_pushinteger(L, 0);
    return 1;
  }
  task *t = task_running(L, rt);
  wrec *rec = new_rec(L, t, (int)n);
  if ((nr = select_now(L, (int)n, rng)) != 0)
    return nr;
  for (int i = 1; i <= n; i++)
    add_node(rec, i, lua_touserdata(L, CASE_CH(i)), lua_toboolean(L, CASE_SEND(i)), CASE_CH(i),
             CASE_V(i));
  t->hook = &hook_select;
  t->wait_obj = rec;
  return task_suspend(L, t, NULL, deadline, (lua_KContext)n, select_k);
}

void lchan_register(lua_State *L, runtime *rt) {
  static const luaL_Reg methods[] = {
      {"send", ch_send},         {"recv", ch_recv},     {"try_send", ch_try_send},
      {"try_recv", ch_try_recv}, {"close", ch_close},   {"values", ch_values},
      {"capacity", ch_capacity}, {"__len", ch_len},     {"__tostring", ch_tostring},
      {NULL, NULL}};
  luaL_newmetatable(L, CHAN_MT);
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, methods, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, l_channel, 1);
  lua_setfield(L, -2, "channel");
  lua_pushlightuserdata(L, rt);
  uint64_t *rng = lua_newuserdatauv(L, sizeof *rng, 0);
  *rng = ((uint64_t)(loop_now() * 1e9) ^ (uint64_t)(uintptr_t)rng) | 1;
  lua_pushcclosure(L, l_select, 2);
  lua_setfield(L, -2, "select");
}
