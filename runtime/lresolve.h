/* Host and service names for Lua: luds.resolve, and the lookups that dial,
 * listen and listen_packet make when their address holds a name. The
 * answer lives in a box (lwork.h) on the calling task's stack, where dial
 * also keeps its walk through the addresses. */
#ifndef LUDS_LRESOLVE_H
#define LUDS_LRESOLVE_H

#include <lua.h>

#include "addr.h"
#include "task.h"

/* Looks up the "host:port" at index i for net (lsock_addr said LERR_NAME
 * of it), pushing a box; goes on in k as lwork_start does, with no thread
 * hop when nothing can block (localhost with a numeric port). deadline:
 * loop_now() clock, 0 for none. */
int lresolve_start(lua_State *L, runtime *rt, const addr_net *net, int i, double deadline,
                   lua_KContext ctx, lua_KFunction k);
/* In k, for listen: the first IPv4 address of the answer in the box at i,
 * else its first (Go's rule); 0 or the failure. */
int lresolve_listen_addr(lua_State *L, int i, addr *a);
/* In k, for dial: the first address into *a, with *deadline, the dial's
 * deadline on entry, cut to this attempt's share of it (as Go gives each
 * of n addresses left 1/n of the time left, and at least 2 s of it); 0 or
 * the failure. */
int lresolve_first(lua_State *L, int i, addr *a, double *deadline);
/* Whether the box at i holds the dial's addresses; the one tried is *a. */
int lresolve_current(lua_State *L, int i, addr *a);
/* After an attempt failed with *err: 1 and the next address into *a with
 * its share of the deadline into *deadline, or 0 when there is none: the
 * dial's deadline passed (*err becomes LERR_TIMEOUT), or every address
 * failed (*err becomes the first failure, as Go reports). 0 and *err
 * untouched without a box at i. */
int lresolve_next(lua_State *L, int i, int *err, addr *a, double *deadline);
/* Adds luds.resolve to the table on top. */
void lresolve_register(lua_State *L, runtime *rt);

#endif
