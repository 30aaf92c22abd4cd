/* Names for Lua: a lookup is a job (resolve_run) on the worker pool while
 * its task waits, or run at once when it cannot block (localhost with a
 * numeric port) or no task can wait. luds.resolve returns the answer as
 * address strings; dial walks it address by address within its one
 * deadline; listen binds the first IPv4 address of it. */
#include "lresolve.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "lerror.h"
#include "lsock.h"
#include "lwork.h"
#include "resolve.h"

_Static_assert((int)LERR_NOT_FOUND == (int)RESOLVE_NOT_FOUND &&
                   (int)LERR_UNKNOWN_PORT == (int)RESOLVE_NO_SERVICE &&
                   (int)LERR_LOOKUP_AGAIN == (int)RESOLVE_AGAIN &&
                   (int)LERR_LOOKUP_FAIL == (int)RESOLVE_FAIL,
               "lerror.h names resolve.h's failures by their numbers");

#define MIN_ATTEMPT 2.0 /* seconds each address gets at least, as in Go */

typedef struct rjob {
  workpool_job base;
  resolve_query q;
  int r;           /* resolve_run's result */
  size_t at;       /* dial: the address being tried */
  int first;       /* dial: how the first attempt failed (0: none yet) */
  double deadline; /* dial: the deadline of the whole dial (0: none) */
} rjob;

static void rjob_work(workpool_job *j) {
  rjob *rj = (rjob *)j;
  rj->r = resolve_run(&rj->q);
}

static void rjob_release(workpool_job *j) {
  resolve_clear(&((rjob *)j)->q);
  free(j);
}

/* A box with a lookup of the address at index i prepared; a malformed one
 * has its failure in r already. */
static rjob *prepare(lua_State *L, runtime *rt, const addr_net *net, int i, int with_port) {
  size_t len;
  const char *s = lua_tolstring(L, i, &len);
  rjob *j = (rjob *)lwork_new(L, rt, sizeof *j);
  int why = ADDR_MALFORMED;
  j->base.work = rjob_work;
  j->base.release = rjob_release;
  if (resolve_prepare(&j->q, net, s, len, with_port, &why) < 0)
    j->r = lsock_addr_error(why);
  return j;
}

static int start(lua_State *L, rjob *j, double deadline, lua_KContext ctx, lua_KFunction k) {
  if (j->r < 0)
    return k(L, LUA_OK, ctx);
  if (!resolve_blocks(&j->q)) {
    j->base.work(&j->base);
    return k(L, LUA_OK, ctx);
  }
  return lwork_start(L, deadline, ctx, k);
}

int lresolve_start(lua_State *L, runtime *rt, const addr_net *net, int i, double deadline,
                   lua_KContext ctx, lua_KFunction k) {
  return start(L, prepare(L, rt, net, i, 1), deadline, ctx, k);
}

/* The answer in the box at i, or NULL with the failure in *r (TIMEOUT:
 * the deadline passed while the lookup ran). */
static rjob *answer(lua_State *L, int i, int *r) {
  rjob *j = (rjob *)lwork_result(L, i);
  *r = j ? j->r : LERR_TIMEOUT;
  return *r < 0 ? NULL : j;
}

int lresolve_listen_addr(lua_State *L, int i, addr *a) {
  int r;
  rjob *j = answer(L, i, &r);
  if (!j)
    return r;
  *a = j->q.addrs[0];
  for (size_t k = 0; k < j->q.n; k++)
    if (j->q.addrs[k].ss.ss_family == AF_INET) {
      *a = j->q.addrs[k];
      break;
    }
  return 0;
}

/* This attempt's deadline: its share of the time left, as Go's
 * partialDeadline gives it. */
static double share(const rjob *j) {
  if (j->deadline <= 0)
    return 0;
  double left = j->deadline - loop_now();
  double each = left / (double)(j->q.n - j->at);
  if (each < MIN_ATTEMPT)
    each = left < MIN_ATTEMPT ? left : MIN_ATTEMPT;
  return loop_now() + (each > 0 ? each : 0);
}

int lresolve_first(lua_State *L, int i, addr *a, double *deadline) {
  int r;
  rjob *j = answer(L, i, &r);
  if (!j)
    return r;
  j->deadline = *deadline;
  *a = j->q.addrs[0];
  *deadline = share(j);
  return 0;
}

/* The box at i, if it holds an answer being walked. */
static rjob *walking(lua_State *L, int i) {
  rjob *j = (rjob *)lwork_result(L, i);
  return j && j->r == 0 ? j : NULL;
}

int lresolve_current(lua_State *L, int i, addr *a) {
  rjob *j = walking(L, i);
  if (j)
    *a = j->q.addrs[j->at];
  return j != NULL;
}

int lresolve_next(lua_State *L, int i, int *err, addr *a, double *deadline) {
  rjob *j = walking(L, i);
  if (!j)
    return 0;
  if (!j->first)
    j->first = *err;
  if (j->deadline > 0 && loop_now() >= j->deadline) {
    *err = LERR_TIMEOUT;
    return 0;
  }
  if (++j->at >= j->q.n) {
    *err = j->first;
    return 0;
  }
  *a = j->q.addrs[j->at];
  *deadline = share(j);
  return 1;
}

/* "host:port" or "[v6]:port", rather than a bare host: "db.internal",
 * "1.2.3.4", "::1" or "[::1]". */
static int has_port(const char *s, size_t len) {
  if (len > 0 && s[0] == '[')
    return s[len - 1] != ']';
  const char *colon = memchr(s, ':', len);
  return colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1);
}

/* ctx: whether the addresses are written with their port. */
static int resolve_k(lua_State *L, int status, lua_KContext ctx) {
  char buf[ADDR_STRLEN];
  int r;
  (void)status;
  rjob *j = answer(L, 4, &r);
  if (!j)
    return lerror_push_at(L, "resolve", NULL, 1, r);
  lua_createtable(L, (int)j->q.n, 0);
  for (size_t k = 0; k < j->q.n; k++) {
    const addr *a = &j->q.addrs[k];
    lua_pushlstring(L, buf, ctx ? addr_write(a, buf, sizeof buf) : addr_write_ip(a, buf, sizeof buf));
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  lwork_done(L, 4);
  return 1;
}

/* luds.resolve(address [, network [, timeout]]) -> { address, ... } | nil,
 * msg, code. address is a bare host or "host:port"; network (default
 * "tcp") picks the IP version(s) and, for a service name, the protocol. */
static int l_resolve(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const addr_net *net = lua_isnoneornil(L, 2) ? addr_network("tcp") : lsock_network(L, 2);
  if (net->family == AF_UNIX)
    luaL_argerror(L, 2, lua_pushfstring(L, "%s is not an IP network", net->name));
  double timeout = luaL_optnumber(L, 3, -1);
  lua_settop(L, 3);
  int with_port = has_port(s, len);
  rjob *j = prepare(L, rt, net, 1, with_port);
  return start(L, j, timeout >= 0 ? loop_now() + timeout : 0, with_port, resolve_k);
}

void lresolve_register(lua_State *L, runtime *rt) {
  static const luaL_Reg funcs[] = {{"resolve", l_resolve}, {NULL, NULL}};
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
}
