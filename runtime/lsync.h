/* Task coordination primitives: channels and select (lchan.c); events,
 * conditions, semaphores (lsync.c) and task groups (lgroup.c); the waiter
 * queues the last two share; the deadlock report. */
#ifndef LUDS_LSYNC_H
#define LUDS_LSYNC_H

#include <lauxlib.h>
#include <lua.h>

#include "task.h"

/* Add channel, select; event, cond, semaphore; group to the table on top. */
void lchan_register(lua_State *L, runtime *rt);
void lsync_register(lua_State *L, runtime *rt);
void lgroup_register(lua_State *L, runtime *rt);

/* A FIFO of waiting tasks, each with a node (a userdata on its own stack). */
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

/* Unlinks n from its queue, if it is in one. */
void lsync_unlink(snode *n);
/* The hook's unwait for a task waiting with a node. */
void lsync_node_unwait(task *t);
/* Wakes the first waiter of q (FIFO); returns it, or NULL if none waits. */
snode *lsync_wake_first(squeue *q);
/* A relative timeout argument (nil or negative: none) as a deadline. */
double lsync_deadline(lua_State *L, int i);
/* Pushes a waiter node for the running task t, not yet queued. */
snode *lsync_node(lua_State *L, task *t, void *obj);
/* Queues n on q with hook h and suspends its task; `return` its value. */
int lsync_suspend(lua_State *L, snode *n, squeue *q, const task_hook *h, double deadline,
                  lua_KFunction k);
/* The node of the wait that just ended, on top of the stack; clears the hook. */
snode *lsync_ended(lua_State *L);
/* A metatable called name with methods and __index pointing at itself. */
void lsync_class(lua_State *L, const char *name, const luaL_Reg *methods);

/* Pushes the deadlock report: a first line, then every waiting task with
 * what it waits on and its traceback. */
void lsync_push_deadlock(lua_State *L, runtime *rt);

#endif
