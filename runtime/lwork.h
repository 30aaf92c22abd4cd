/* Blocking calls off the loop, for the bindings: a job runs on the
 * runtime's worker pool (workpool.c) while its task waits, or right there
 * when no task can wait (a stock lua5.4 outside luds.run, a finalizer, a
 * metamethod). The job lives in a box on the task's stack, so that nothing
 * a script does (cancel, a deadline, an error, lua_close) can leak it or
 * let a late answer reach a task that gave up. */
#ifndef LUDS_LWORK_H
#define LUDS_LWORK_H

#include <lua.h>

#include "task.h"
#include "workpool.h"

#define LWORK_THREADS 4 /* the pool's threads at most, as libuv's default */

/* Pushes a box with a new zeroed job of size bytes (at least a
 * workpool_job); the caller sets its work, release and inputs, then calls
 * lwork_start. Raises when memory runs out (the box owns nothing then). */
workpool_job *lwork_new(lua_State *L, runtime *rt, size_t size);
/* Runs the job of the box on top of the stack: on the pool, suspending the
 * running task until the job is done or deadline (loop_now() clock, 0:
 * none) passes or the task is cancelled (the job is then given up: its
 * answer, when it comes, is freed unseen); or at once, on this thread, when
 * no task can wait here or no worker thread can be started. Either way it
 * goes on in k(L, LUA_OK or LUA_YIELD, ctx); `return` its value. */
int lwork_start(lua_State *L, double deadline, lua_KContext ctx, lua_KFunction k);
/* In k: the job of the box at index i, done, or NULL when it was given up
 * (the deadline passed first) or i holds no box. The box still owns it. */
workpool_job *lwork_result(lua_State *L, int i);
/* Frees the job of the box at index i now rather than at collection; does
 * nothing if i holds no box. */
void lwork_done(lua_State *L, int i);

#endif
