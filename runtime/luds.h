/* luds: Unix-domain (and IP) sockets for Lua 5.4 scripts, on an event loop
 * with one coroutine task per blocking flow. The only public C header.
 * Every function returns a status; on LUDS_ERROR an error message is on
 * top of the Lua stack. Nothing here aborts or raises into the host. */
#ifndef LUDS_H
#define LUDS_H

#include <lua.h>

#define LUDS_VERSION "0.1.0"

#if defined(__GNUC__)
#define LUDS_API __attribute__((visibility("default")))
#else
#define LUDS_API
#endif

enum luds_status {
  LUDS_OK = 0,    /* done: no task is alive any more (or, for luds_step, none was due) */
  LUDS_ERROR = 1, /* failed: message on the stack */
  LUDS_EXIT = 2   /* luds.exit() or SIGINT/SIGTERM: the exit code is in *code */
};

/* A new state like luaL_newstate's (panic handler, warnings off until
 * "@on"), on an allocator that keeps small freed blocks for reuse: the
 * strings that reads return cost no trip through malloc. NULL when out of
 * memory. Close it with luds_close, which also frees the allocator's blocks
 * (luds_close on any other state is lua_close). */
LUDS_API lua_State *luds_newstate(void);
LUDS_API void luds_close(lua_State *L);

/* The opener behind require "luds" (for a stock lua5.4 and luaL_requiref). */
LUDS_API int luaopen_luds(lua_State *L);

/* Makes require "luds" and the shipped Lua modules (luds.server,
 * luds.creds) available in L and creates its event loop. Call it once,
 * after luaL_openlibs. */
LUDS_API int luds_openlibs(lua_State *L);

/* Pops a function and its nargs arguments and queues them as a new task. */
LUDS_API int luds_spawn(lua_State *L, int nargs);

/* Loads the Lua file at path (NULL: standard input) and queues it as a task
 * with the nargs values on top of the stack as its arguments (popped). */
LUDS_API int luds_spawnfile(lua_State *L, const char *path, int nargs);

/* Runs the loop until no task is alive. LUDS_ERROR with *code 2 (and the
 * report as the message) when tasks are alive but none can ever run again:
 * all wait on channels, events, semaphores, groups or each other, with no
 * timer, fd or signal handler that could wake one (a deadlock); *code is 1
 * for any other error. luds_step reports a deadlock the same way. */
LUDS_API int luds_run(lua_State *L, int *code);

/* For a host with its own event loop: a file descriptor that polls readable
 * whenever luds has events to handle (-1 before luds_openlibs). */
LUDS_API int luds_fd(lua_State *L);

/* Runs the tasks that are ready, waits at most timeout_ms (0: not at all,
 * -1: until an event or timer) for events, then runs what they woke.
 * Call it when luds_fd polls readable or after luds_timeout milliseconds. */
LUDS_API int luds_step(lua_State *L, int timeout_ms, int *code);

/* Milliseconds until luds needs luds_step for a timer (-1: no timer, 0: it
 * has ready tasks now). */
LUDS_API int luds_timeout(lua_State *L);

/* How many tasks are alive, and how many have failed so far. */
LUDS_API int luds_tasks(lua_State *L);
LUDS_API int luds_failed(lua_State *L);

#endif
