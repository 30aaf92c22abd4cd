/* The runtime behind one lua_State: the loop, the run queue and the tasks.
 * A task is a coroutine that a blocking call suspends (lua_yieldk) after
 * registering where its waker will find it; wakers only queue tasks, so no
 * Lua code ever runs inside event dispatch. */
#ifndef LUDS_TASK_H
#define LUDS_TASK_H

#include <lua.h>

#include "loop.h"

typedef struct task task;
typedef struct runtime runtime;
typedef struct rt_closer rt_closer;
typedef struct task_hook task_hook;

enum task_state { TASK_READY, TASK_RUNNING, TASK_WAITING, TASK_DONE, TASK_FAILED, TASK_CANCELLED };
#define TASK_WAIT_SPACE 80
#define TASK_MT "luds.task" /* made by the first spawn, so every task has it */

enum task_wake { WAKE_NONE, WAKE_READY, WAKE_TIMEOUT };

struct task {
  runtime *rt;
  lua_State *co;
  int ref;   /* registry anchor while the task is alive */
  int nargs; /* arguments for the first resume */
  unsigned char state, wake;
  unsigned char reports; /* runs the on_error handler: its own failure is printed */
  task *next;  /* run queue */
  task **slot; /* where a waker finds this task while it waits */
  task *joinee, *join_next, *joiners;
  loop_timer timer;
  const task_hook *hook; /* set by a coordination primitive (lchan.c, lsync.c) */
  void *wait_obj;        /* the primitive's waiter record, for the hook */
  /* Room for a primitive's record of a one-case wait (a channel send or
   * recv), so that blocking allocates nothing; valid while t waits and
   * until its continuation ran. */
  _Alignas(8) unsigned char wait_space[TASK_WAIT_SPACE];
};

/* How a primitive that keeps its own waiter list learns that one of its
 * waiters stops waiting. unwait() clears t->hook, then calls unwait(t): once
 * per wait, when the task is woken, times out or is cancelled, so the
 * primitive unlinks its record. A primitive that hands a woken task
 * something (a channel value, a permit) may set a hook again after the
 * wake: task:cancel of a ready task calls it too, so what was handed over
 * goes back rather than dying with the task. The continuation clears it.
 * `what` names the wait in the deadlock report. */
struct task_hook {
  void (*unwait)(task *t);
  const char *what;
};

/* Something to close when the process is told to stop (listeners). */
struct rt_closer {
  void (*close)(rt_closer *c);
  rt_closer *prev, *next;
};

struct runtime {
  loop lp; /* first: loop callbacks find the runtime with a cast */
  lua_State *L;
  task *head, *tail; /* the run queue */
  task *pass;        /* what the current pass has yet to run */
  task *current;
  task *closing; /* whose <close> handlers lua_resetthread is running */
  int running;   /* inside rt_step: no second scheduler may start */
  int alive, failed;
  unsigned unpolled; /* tasks resumed since the last loop poll */
  int exiting, exit_code;
  int on_sig[LOOP_NSIG]; /* refs of script handlers (by loop_signals index), or LUA_NOREF */
  int on_error;          /* ref of the luds.on_error handler, or LUA_NOREF */
  int closed; /* the state is being closed: no more loop operations */
  rt_closer closers;
  char *scratch;
  size_t scratch_cap;
  size_t max_packet; /* the longest message a packet read may meet */
  unsigned char *owned; /* bitset of the fds this runtime's sockets own */
  size_t owned_bytes;
  int background; /* fds armed that can wake no task (children nobody waits
                     for, watched only to be reaped): no bar to a deadlock */
  int background_timers; /* timers of the same (children polled for, where
                            the kernel has no pidfd) */
};

/* The runtime of L, or NULL if it has none yet (never raises). */
runtime *rt_find(lua_State *L);
/* The runtime of L, created on first use; raises on failure. */
runtime *rt_get(lua_State *L);
/* A buffer of at least n bytes, valid until the next call; raises on ENOMEM. */
char *rt_scratch(lua_State *L, runtime *rt, size_t n);
/* Records that a socket object owns fd (on) or no longer does (off), so
 * that luds.wrap and luds.close_fd can refuse it. Best effort: without
 * memory to grow the record, fd goes unrecorded. */
void rt_own(runtime *rt, int fd, int on);
int rt_owns(const runtime *rt, int fd);
void rt_add_closer(runtime *rt, rt_closer *c);
void rt_remove_closer(rt_closer *c);
/* Closes every registered closer and stops the scheduler with code. */
void rt_shutdown(runtime *rt, int code);
/* Runs tasks until none is alive or the runtime is exiting, catching SIGINT
 * and SIGTERM meanwhile; 0 or -errno, LERR_DEADLOCK when tasks are alive but
 * nothing can ever wake one. Never raises. Not re-entrant: check
 * rt->running first (-EDEADLK). */
int rt_run(runtime *rt);
/* Runs what is ready, waits for events at most timeout seconds, runs again.
 * As rt_run: never raises, not re-entrant. */
int rt_step(runtime *rt, double timeout);

/* The task running on L; raises if L is not a task or cannot yield here
 * (a <close> handler of an ending task, a finalizer, a C call). */
task *task_running(lua_State *L, runtime *rt);
/* Suspends the running task: returns lua_yieldk's value, so call it as
 * `return task_suspend(...)`. The continuation k runs after task_wake, the
 * deadline (0: none) or task_wake_all; task_woken tells which. */
int task_suspend(lua_State *L, task *t, task **slot, double deadline, lua_KContext ctx,
                 lua_KFunction k);
void task_wake(task *t, int why);
int task_woken(runtime *rt);
/* Pushes a new task running the function under its nargs arguments, queued.
 * Raises (before anything changes) when memory runs out. */
task *task_spawn(lua_State *L, runtime *rt, int nargs);

/* Prints the error value at idx on stderr after prefix ("luds: " first),
 * with co's traceback if co. Never raises; needs 3 free slots. */
void task_report_error(lua_State *L, int idx, lua_State *co, const char *prefix);

/* Adds spawn, sleep, now, run, exit to the table on top of the stack. */
void task_register(lua_State *L, runtime *rt);
/* Adds on_signal (rt.c). */
void rt_register(lua_State *L, runtime *rt);

/* Sets the stack to n slots: lua_settop costs a call (and a check for
 * to-be-closed slots) even when the stack is already that size. */
static inline void fit_stack(lua_State *L, int n) {
  if (lua_gettop(L) != n)
    lua_settop(L, n);
}

#endif
