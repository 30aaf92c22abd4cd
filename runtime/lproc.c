/* Child processes for Lua: luds.exec starts a program with the stdio asked
 * for (pipes become stream conns), p:wait, p:kill; luds.environ. From its
 * spawn until it is reaped, every child's pidfd is watched by the loop,
 * whether or not its object lives or anyone waits: a child is reaped as
 * soon as it ends, so none stays a zombie while the runtime runs. Where
 * the kernel has no pidfd (before Linux 5.3, or under valgrind) a timer
 * polls for the child's end instead, every 1 ms at first, backing off to
 * POLL_MAX seconds. */
#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "lerror.h"
#include "lexec.h"
#include "lsock.h"
#include "proc.h"

#define PROC_MT "luds.process"
#define REAPER_KEY "luds.reaper"
#define POLL_FIRST 0.001
#define POLL_MAX 0.05

extern char **environ;

typedef struct child child;
typedef struct waiter waiter;

/* A task in p:wait: userdata on that task's stack, linked into its child. */
struct waiter {
  task *t;
  child *c; /* NULL once the runtime closed */
  waiter *prev, *next;
};

/* The runtime's children: malloc'd records that outlive their Lua object
 * while the child runs. */
typedef struct reaper {
  runtime *rt;
  child *live;  /* every record but the dead */
  child *dead;  /* reaped after their object went: freed at the next exec */
  sigset_t dfl; /* reset to SIG_DFL in each child: the loop's and SIGPIPE */
  int closed;
} reaper;

struct child {
  loop_io io; /* first: on_pidfd finds the record with a cast; fd -1 once reaped */
  loop_timer poll; /* without a pidfd: polls for the end (POLL_FIRST...) */
  double every;    /* the poll's interval now */
  int by_timer;    /* 1: the kernel gave no pidfd, the timer watches it */
  reaper *rp;
  int pid, done, err; /* done: reaped (err: it could not be, e.g. -ECHILD) */
  proc_status st;
  int background;      /* counted in rt->background: armed, nobody waiting */
  struct lproc *owner; /* the Lua object, NULL once collected */
  waiter *waiters;
  child *prev, *next;
};

typedef struct lproc {
  child *c; /* NULL once collected or the runtime closed */
  int pid;
} lproc;

static void link_child(child **head, child *c) {
  c->prev = NULL;
  c->next = *head;
  if (*head)
    (*head)->prev = c;
  *head = c;
}

static void unlink_child(child **head, child *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    *head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

/* The child's handle for proc.c: its pid and its pidfd (-1: none). */
static proc_child handle(const child *c) { return (proc_child){c->pid, c->io.fd}; }

static int watched(const child *c) { return c->io.fd >= 0 || c->poll.slot != 0; }

static void recount(child *c) {
  int bg = watched(c) && !c->waiters;
  runtime *rt = c->rp->rt;
  *(c->by_timer ? &rt->background_timers : &rt->background) += bg - c->background;
  c->background = bg;
}

/* The child is no longer watched: its pidfd closed, or its poll stopped. */
static void unwatch(child *c) {
  runtime *rt = c->rp->rt;
  if (c->io.fd >= 0) {
    if (!rt->closed)
      loop_forget(&rt->lp, &c->io);
    rt_own(rt, c->io.fd, 0);
    proc_close(c->io.fd);
    c->io.fd = -1;
  }
  if (!rt->closed)
    loop_timer_stop(&rt->lp, &c->poll);
  c->poll.slot = 0;
  recount(c);
}

/* Runs inside event dispatch: only queues tasks. The record is not freed
 * here (dispatch still reads its io): an orphan goes to the dead list. */
static void reaped(child *c, int err) {
  c->done = 1;
  c->err = err;
  unwatch(c);
  while (c->waiters)
    task_wake(c->waiters->t, WAKE_READY); /* the hook unlinks it */
  if (!c->owner) {
    unlink_child(&c->rp->live, c);
    c->next = c->rp->dead;
    c->rp->dead = c;
  }
}

static void check_end(child *c) {
  proc_child h = handle(c);
  int r = proc_reap(&h, &c->st);
  if (r != 0)
    reaped(c, r < 0 ? r : 0);
}

static unsigned on_pidfd(loop_io *io, unsigned events) {
  (void)events;
  check_end((child *)io);
  return 0;
}

/* Runs inside timer dispatch, as on_pidfd in event dispatch. */
static void on_poll(loop_timer *t) {
  child *c = (child *)((char *)t - offsetof(child, poll));
  check_end(c);
  if (c->done)
    return;
  c->every = c->every * 2 < POLL_MAX ? c->every * 2 : POLL_MAX;
  loop_timer_start(&c->rp->rt->lp, &c->poll, loop_now() + c->every);
}

static void sweep(reaper *rp) {
  while (rp->dead) {
    child *c = rp->dead;
    rp->dead = c->next;
    free(c);
  }
}

static void waiter_unwait(task *t) {
  waiter *w = t->wait_obj;
  child *c = w->c;
  if (!c)
    return;
  if (w->prev)
    w->prev->next = w->next;
  else
    c->waiters = w->next;
  if (w->next)
    w->next->prev = w->prev;
  w->c = NULL;
  recount(c);
}

static const task_hook hook_wait = {waiter_unwait, "process wait"};

/* ---- the process object ---- */

static lproc *check_proc(lua_State *L) { return luaL_checkudata(L, 1, PROC_MT); }

/* The failure triple for op on the process at index 1:
 * "op prog pid: message". */
static int fail(lua_State *L, const char *op, int err) {
  lproc *p = lua_touserdata(L, 1);
  lua_getiuservalue(L, 1, 4);
  const char *name = lua_tostring(L, -1);
  return lerror_push(L, op, name, lua_pushfstring(L, "%d", p->pid), err);
}

static int push_outcome(lua_State *L, lproc *p) {
  child *c = p->c;
  if (!c || c->err)
    return fail(L, "wait", c ? c->err : LERR_CLOSED);
  if (!c->st.signaled) {
    lua_pushinteger(L, c->st.code);
    return 1;
  }
  int sig = c->st.code;
  fail(L, "wait", LERR_SIGNALED);
  const char *abbrev = sigabbrev_np(sig);
  lua_pushfstring(L, "%s %d%s%s%s", lua_tostring(L, -2), sig, abbrev ? " (" : "",
                  abbrev ? abbrev : "", abbrev ? ")" : "");
  lua_replace(L, -3);
  lua_pushinteger(L, sig);
  return 4;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  lproc *p = lua_touserdata(L, 1);
  (void)status, (void)ctx;
  if (p->c && !p->c->done)
    return fail(L, "wait", LERR_TIMEOUT);
  return push_outcome(L, p);
}

/* p:wait([timeout]) -> exit status 0-255 | nil, msg, "SIGNALED", signo |
 * nil, msg, "TIMEOUT" (the child runs on) | nil, msg, code. Any number of
 * tasks may wait; the result stays, so a second wait returns it again. */
static int p_wait(lua_State *L) {
  lproc *p = check_proc(L);
  double timeout = luaL_optnumber(L, 2, -1);
  lua_settop(L, 1);
  if (!p->c || p->c->done)
    return push_outcome(L, p);
  task *t = task_running(L, p->c->rp->rt);
  waiter *w = lua_newuserdatauv(L, sizeof *w, 0);
  child *c = p->c;
  if (!c || c->done) /* the allocation may have run a finalizer */
    return push_outcome(L, p);
  *w = (waiter){.t = t, .c = c, .next = c->waiters};
  if (c->waiters)
    c->waiters->prev = w;
  c->waiters = w;
  recount(c);
  t->hook = &hook_wait;
  t->wait_obj = w;
  return task_suspend(L, t, NULL, timeout >= 0 ? loop_now() + timeout : 0, 0, wait_k);
}

/* A signal by number (0 to SIGRTMAX; 0 only checks) or by name, with or
 * without "SIG": "TERM", "SIGKILL". */
static int check_signal(lua_State *L, int i) {
  if (lua_isnoneornil(L, i))
    return SIGTERM;
  if (lua_type(L, i) == LUA_TNUMBER) {
    lua_Integer n = luaL_checkinteger(L, i);
    luaL_argcheck(L, n >= 0 && n <= SIGRTMAX, i, "not a signal number");
    return (int)n;
  }
  const char *name = luaL_checkstring(L, i);
  const char *bare = strncmp(name, "SIG", 3) == 0 ? name + 3 : name;
  for (int sig = 1; sig <= SIGRTMAX; sig++) {
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev && strcmp(abbrev, bare) == 0)
      return sig;
  }
  return luaL_argerror(L, i, lua_pushfstring(L, "unknown signal '%s'", name));
}

/* p:kill([sig]) -> true | nil, msg, code; never a signal to a reaped
 * child's pid, which may belong to another process by now. */
static int p_kill(lua_State *L) {
  lproc *p = check_proc(L);
  int sig = check_signal(L, 2);
  lua_settop(L, 1);
  if (!p->c || p->c->done)
    return fail(L, "kill", p->c ? LERR_PROCESS_DONE : LERR_CLOSED);
  proc_child h = handle(p->c);
  int r = proc_signal(&h, sig);
  if (r < 0)
    return fail(L, "kill", r == -ESRCH ? LERR_PROCESS_DONE : r);
  lua_pushboolean(L, 1);
  return 1;
}

/* p.pid, p.stdin, p.stdout, p.stderr (conns, or nil), then the methods. */
static int p_index(lua_State *L) {
  lproc *p = check_proc(L);
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "pid") == 0)
      return lua_pushinteger(L, p->pid), 1;
    for (int i = 0; i < 3; i++)
      if (strcmp(k, lexec_stdio_names[i]) == 0)
        return lua_getiuservalue(L, 1, i + 1), 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

/* "process 1234 sleep (running)", "(exit 0)", "(signal 9)". */
static int p_tostring(lua_State *L) {
  lproc *p = check_proc(L);
  child *c = p->c;
  lua_getiuservalue(L, 1, 4);
  const char *name = lua_tostring(L, -1);
  if (!c)
    return lua_pushfstring(L, "process %d %s", p->pid, name), 1;
  if (!c->done || c->err)
    return lua_pushfstring(L, "process %d %s (%s)", p->pid, name, c->done ? "lost" : "running"), 1;
  lua_pushfstring(L, "process %d %s (%s %d)", p->pid, name, c->st.signaled ? "signal" : "exit",
                  c->st.code);
  return 1;
}

/* The child stays watched until it ends, and is reaped then. */
static int p_gc(lua_State *L) {
  lproc *p = luaL_testudata(L, 1, PROC_MT);
  if (!p || !p->c)
    return 0;
  child *c = p->c;
  p->c = NULL;
  c->owner = NULL;
  if (c->done) {
    unlink_child(&c->rp->live, c);
    free(c);
  }
  return 0;
}

/* ---- luds.exec ---- */

/* Opens the pipes asked for: our end to its conn, the child's into fds. */
static int open_pipes(plan *pl, int *fds) {
  for (int i = 0; i < 3; i++) {
    int p[2], ours = i == 0 ? 1 : 0;
    if (pl->how[i] != IO_PIPE)
      continue;
    int r = proc_pipe(p, ours);
    if (r < 0)
      return r;
    lfdio_attach(pl->pipe[i], p[ours], ours ? LSOCK_FILE_WRITE : LSOCK_FILE_READ);
    fds[i] = p[1 - ours];
  }
  return 0;
}

/* A child expects blocking stdio (cat given a socket as stdin would read
 * EAGAIN): a conn's socket loses O_NONBLOCK on the description the child
 * shares; our reads and writes on it pass MSG_DONTWAIT (sock.c). A
 * listener keeps it (luds's accept relies on it), as does a pipe or
 * terminal conn (read(2) has no such flag). */
static void share(lsock *s) {
  if (s->file || s->cls == LSOCK_LISTENER)
    return;
  fdio_set_blocking(s->fd);
  s->blocking = 1;
}

static int child_fds(plan *pl, int *fds) {
  for (int i = 0; i < pl->nfds; i++) {
    switch (pl->how[i]) {
    case IO_INHERIT:
      fds[i] = PROC_INHERIT;
      break;
    case IO_NULL:
      fds[i] = PROC_NULL;
      break;
    case IO_STDOUT:
      fds[i] = PROC_STDOUT;
      break;
    case IO_FD:
      fds[i] = pl->fd[i];
      break;
    case IO_SOCKET:
      if ((fds[i] = pl->sock[i]->fd) < 0)
        return LERR_CLOSED;
      share(pl->sock[i]);
    }
  }
  return 0;
}

static int spawn(reaper *rp, plan *pl, proc_child *h, int *stage) {
  int fds[PROC_MAX_FDS], dirfd = -1, r = 0;
  for (int i = 0; i < 3; i++)
    fds[i] = -1;
  *stage = 0;
  if (pl->cwd && (dirfd = r = proc_open_dir(pl->cwd)) < 0)
    return r;
  *stage = 1;
  if ((r = open_pipes(pl, fds)) == 0 && (r = child_fds(pl, fds)) == 0) {
    proc_spec sp = {pl->argv, pl->envp, dirfd, pl->nfds, fds, &rp->dfl};
    r = proc_spawn(&sp, h);
  }
  for (int i = 0; i < 3; i++)
    if (pl->how[i] == IO_PIPE && fds[i] >= 0)
      proc_close(fds[i]);
  if (dirfd >= 0)
    proc_close(dirfd);
  return r;
}

/* Watches child h by its pidfd, or else by a timer. */
static int watch(reaper *rp, child *c, proc_child *h) {
  loop *lp = &rp->rt->lp;
  *c = (child){.io = {.fd = h->pidfd, .fn = on_pidfd}, .poll = {.fn = on_poll},
               .every = POLL_FIRST, .by_timer = h->pidfd < 0, .rp = rp, .pid = h->pid};
  if (!c->by_timer)
    return loop_arm(lp, &c->io, LOOP_IN);
  int r = loop_timer_reserve(lp, lp->ntimers + 1);
  if (r == 0)
    loop_timer_start(lp, &c->poll, loop_now() + c->every);
  return r;
}

/* The child is ours from here on: watched until reaped, in rp->live. */
static int adopt(reaper *rp, child *c, lproc *p, proc_child *h) {
  int r = watch(rp, c, h);
  if (r < 0) {
    proc_abandon(h);
    return r;
  }
  if (h->pidfd >= 0)
    rt_own(rp->rt, h->pidfd, 1);
  c->owner = p;
  link_child(&rp->live, c);
  recount(c);
  p->c = c;
  p->pid = h->pid;
  return 0;
}

/* Pushes the process object and a conn for each pipe (closed yet), all
 * before any descriptor exists, so no allocation can fail past that. */
static lproc *new_proc(lua_State *L, reaper *rp, plan *pl) {
  lproc *p = lua_newuserdatauv(L, sizeof *p, 4);
  memset(p, 0, sizeof *p);
  luaL_setmetatable(L, PROC_MT);
  lua_pushstring(L, pl->argv[0]);
  lua_setiuservalue(L, -2, 4);
  for (int i = 0; i < 3; i++) {
    if (pl->how[i] != IO_PIPE)
      continue;
    pl->pipe[i] = lfdio_new(L, rp->rt, FDIO_PIPE);
    lua_setiuservalue(L, -2, i + 1);
  }
  return p;
}

static void close_pipes(plan *pl) {
  for (int i = 0; i < 3; i++)
    if (pl->pipe[i])
      lsock_shut(pl->pipe[i]);
}

/* luds.exec(argv [, opts]) -> process | nil, msg, code. Raises for a bad
 * argv or option; an exec failure (missing program, bad cwd) is a triple
 * and leaves no child behind. */
static int l_exec(lua_State *L) {
  reaper *rp = lua_touserdata(L, lua_upvalueindex(1));
  plan pl;
  lexec_plan(L, &pl);
  sweep(rp);
  lproc *p = new_proc(L, rp, &pl);
  child *c = malloc(sizeof *c);
  proc_child h;
  int stage = 1;
  int r = c ? spawn(rp, &pl, &h, &stage) : -ENOMEM;
  if (r == 0 && (r = adopt(rp, c, p, &h)) == 0)
    return 1;
  free(c);
  close_pipes(&pl);
  return lerror_push(L, stage ? "exec" : "chdir", NULL, stage ? pl.argv[0] : pl.cwd, r);
}

/* luds.environ() -> { NAME = value, ... }: this process's environment, for
 * an exec env that extends it. */
static int l_environ(lua_State *L) {
  lua_newtable(L);
  for (char **e = environ; e && *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq)
      continue;
    lua_pushlstring(L, *e, (size_t)(eq - *e));
    lua_pushstring(L, eq + 1);
    lua_rawset(L, -3);
  }
  return 1;
}

/* At lua_close: the state's children are no longer watched. One that has
 * ended is reaped now; one still running is left to this process (it is
 * reaped by init once this process exits). */
static int reaper_gc(lua_State *L) {
  reaper *rp = lua_touserdata(L, 1);
  if (rp->closed)
    return 0;
  rp->closed = 1;
  sweep(rp);
  while (rp->live) {
    child *c = rp->live;
    unlink_child(&rp->live, c);
    if (c->owner)
      c->owner->c = NULL;
    for (waiter *w = c->waiters; w; w = w->next)
      w->c = NULL, w->t->hook = NULL;
    if (watched(c)) {
      proc_child h = handle(c);
      proc_reap(&h, &c->st);
      unwatch(c);
    }
    free(c);
  }
  return 0;
}

static reaper *get_reaper(lua_State *L, runtime *rt) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, REAPER_KEY) == LUA_TUSERDATA)
    return lua_touserdata(L, -1);
  lua_pop(L, 1);
  reaper *rp = lua_newuserdatauv(L, sizeof *rp, 0);
  memset(rp, 0, sizeof *rp);
  rp->rt = rt;
  sigemptyset(&rp->dfl);
  for (int i = 0; i < LOOP_NSIG; i++)
    sigaddset(&rp->dfl, loop_signals[i]);
  sigaddset(&rp->dfl, SIGPIPE);
  lua_newtable(L);
  lua_pushcfunction(L, reaper_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, REAPER_KEY);
  return rp;
}

void lproc_register(lua_State *L, runtime *rt) {
  static const luaL_Reg methods[] = {{"wait", p_wait}, {"kill", p_kill}, {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", p_gc}, {"__tostring", p_tostring}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"exec", l_exec}, {NULL, NULL}};
  if (luaL_newmetatable(L, PROC_MT)) {
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_pushcclosure(L, p_index, 1);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  get_reaper(L, rt);
  luaL_setfuncs(L, funcs, 1);
  lua_pushcfunction(L, l_environ);
  lua_setfield(L, -2, "environ");
}
