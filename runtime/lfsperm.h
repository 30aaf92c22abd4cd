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

/* Reads the options table at index opts (none: defaults). Raises on misuse
 * (a bad mode, an id out of range); returns 0, or LERR_UNKNOWN_USER/GROUP. */
int lfsperm_options(lua_State *L, int opts, lfsperm_opts *o);
void lfsperm_register(lua_State *L, runtime *rt);

#endif
