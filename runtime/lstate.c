/* luds_newstate and luds_close: a lua_State on the small-block allocator
 * (mempool.h), with the panic handler and the warning switch ("@on",
 * "@off", off at first) that luaL_newstate would give it. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luds.h"
#include "mempool.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

/* The pool and the warning switch of one state, in one allocation (the pool
 * first: luds_close frees the whole from the pool's address). */
typedef struct state_extra {
  mempool pool;
  int warn_on, warn_cont; /* warnings shown; inside a multi-part one */
} state_extra;

static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  if (!msg)
    msg = "error object is not a string";
  fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", msg);
  fflush(stderr);
  return 0;
}

/* A control message ("@on", "@off", any other "@..." ignored) switches;
 * anything else prints while on, each message on a line of its own after
 * "Lua warning: ". */
static void warn(void *ud, const char *msg, int tocont) {
  state_extra *x = ud;
  if (!x->warn_cont && !tocont && msg[0] == '@') { /* only a whole message is one */
    if (strcmp(msg, "@on") == 0)
      x->warn_on = 1;
    else if (strcmp(msg, "@off") == 0)
      x->warn_on = 0;
    return;
  }
  if (!x->warn_on)
    return;
  fprintf(stderr, "%s%s%s", x->warn_cont ? "" : "Lua warning: ", msg, tocont ? "" : "\n");
  fflush(stderr);
  x->warn_cont = tocont;
}

lua_State *luds_newstate(void) {
  state_extra *x = calloc(1, sizeof *x);
  if (!x)
    return NULL;
  /* Checkers see each block freed: reused ones would hide a use after free. */
  x->pool.limit = RUNNING_ON_VALGRIND || UNDER_ASAN ? 0 : MEMPOOL_KEEP;
  lua_State *L = lua_newstate(mempool_alloc, &x->pool);
  if (!L) {
    mempool_drain(&x->pool);
    free(x);
    return NULL;
  }
  lua_atpanic(L, panic);
  lua_setwarnf(L, warn, x);
  return L;
}

void luds_close(lua_State *L) {
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  lua_close(L);
  if (f == mempool_alloc) {
    mempool_drain(ud);
    free(ud); /* the pool is the first member of its state_extra */
  }
}
