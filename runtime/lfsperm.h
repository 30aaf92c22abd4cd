/* Lua bindings for file permissions and identities: luds.chmod, chown, stat,
 * lookup_user, lookup_group, user_groups, remove_stale, and the mode/owner/
 * group/remove_stale options of listen and listen_packet. */
#ifndef LUDS_LFSPERM_H
#define LUDS_LFSPERM_H

#include <lua.h>

#include "task.h"

typedef struct lfsperm_opts {
  long mode;          /* -1: not asked */
  long long uid, gid; /* -1: keep */
  int remove_stale;
} lfsperm_opts;

/* Reads the options table at index opts (none: defaults), raising on
 * misuse (a bad mode, an id out of range), and pushes a box (lwork.h)
 * holding them; owner and group names are looked up in it, on the worker
 * pool as lookup_user is when a task can wait, else at once. Then goes on
 * in k (see lwork_start), which reads them with lfsperm_options. */
int lfsperm_start(lua_State *L, runtime *rt, int opts, lua_KContext ctx, lua_KFunction k);
/* In k: the options in the box at index i; 0, or the failure of their
 * names' lookups (LERR_UNKNOWN_USER/GROUP, -errno). */
int lfsperm_options(lua_State *L, int i, lfsperm_opts *o);
void lfsperm_register(lua_State *L, runtime *rt);

#endif
