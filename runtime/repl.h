/* The luds binary's read-eval-print loop (lua.c's doREPL on the runtime). */
#ifndef LUDS_REPL_H
#define LUDS_REPL_H

#include <lua.h>

/* Reads chunks from standard input until its end, each run as a task of its
 * own while the loop keeps serving every other task; prints a chunk's
 * results, or its error, as lua.c does. Call it inside a task (it yields). */
int repl_run(lua_State *L);

#endif
