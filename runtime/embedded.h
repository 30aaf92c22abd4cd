/* The Lua modules under lua/, compiled into the library by tools/embed.lua
 * so that neither the binary nor luds.so needs a LUA_PATH. */
#ifndef LUDS_EMBEDDED_H
#define LUDS_EMBEDDED_H

#include <stddef.h>

typedef struct embedded_module {
  const char *name;      /* "luds.server" */
  const char *chunkname; /* "@lua/luds/server.lua" */
  const char *source;
  size_t size;
} embedded_module;

/* Terminated by an entry whose name is NULL. */
extern const embedded_module embedded_modules[];

#endif
