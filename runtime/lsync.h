/* Task coordination primitives: channels and select (lchan.c); events,
 * conditions, semaphores and task groups (lsync.c); the deadlock report. */
#ifndef LUDS_LSYNC_H
#define LUDS_LSYNC_H

#include <lua.h>

#include "task.h"

/* Add channel, select and event, cond, semaphore, group to the table on top. */
void lchan_register(lua_State *L, runtime *rt);
void lsync_register(lua_State *L, runtime *rt);

/* Pushes the deadlock report: a first line, then every waiting task with
 * what it waits on and its traceback. */
void lsync_push_deadlock(lua_State *L, runtime *rt);

#endif
