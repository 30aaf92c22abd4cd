/* Worker processes for Lua: luds.worker() (who this worker is), and the
 * primitives luds.workers (lua/luds/workers.lua) supervises with, kept in
 * the private module "luds.workerproc": spawn this program again with
 * the listeners passed, a process object to wait for and signal, readiness,
 * marking a listener shared, the CPU count. */
#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lerror.h"
#include "lsock.h"
#include "proc.h"
#include "worker.h"

#define PROC_MT "luds.worker_process"
#define WORKER_ENV "LUDS_WORKER" /* "index count generation supervisor notify pid" */

typedef struct proc {
  runtime *rt;
  int pid, pidfd; /* pidfd -1: reaped (or never started) */
  loop_io io;
  task *waiter;
  proc_status st;
} proc;

/* What LUDS_WORKER says, when it is meant for this very process. */
typedef struct identity {
  int index, count, generation, supervisor, notify;
} identity;

static int whoami(identity *id) {
  const char *s = getenv(WORKER_ENV);
  long pid;
  return s && sscanf(s, "%d %d %d %d %d %ld", &id->index, &id->count, &id->generation,
                     &id->supervisor, &id->notify, &pid) == 6 && pid == (long)getpid();
}

/* luds.worker() -> { index =, count =, generation =, supervisor = } | nil */
static int l_worker(lua_State *L) {
  identity id;
  if (!whoami(&id))
    return lua_pushnil(L), 1;
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, id.index);
  lua_setfield(L, -2, "index");
  lua_pushinteger(L, id.count);
  lua_setfield(L, -2, "count");
  lua_pushinteger(L, id.generation);
  lua_setfield(L, -2, "generation");
  lua_pushinteger(L, id.supervisor);
  lua_setfield(L, -2, "supervisor");
  return 1;
}

static unsigned on_io(loop_io *io, unsigned events) {
  proc *p = (proc *)((char *)io - offsetof(proc, io));
  (void)events;
  if (!p->waiter)
    return LOOP_IN;
  task_wake(p->waiter, WAKE_READY);
  return 0;
}

static void release(proc *p) {
  if (p->pidfd < 0)
    return;
  if (!p->rt->closed)
    loop_forget(&p->rt->lp, &p->io);
  rt_own(p->rt, p->pidfd, 0);
  close(p->pidfd);
  p->pidfd = p->io.fd = -1;
}

/* __gc and __close: the descriptor goes; a child still running stays. */
static int wproc_gc(lua_State *L) {
  proc *p = luaL_testudata(L, 1, PROC_MT);
  if (p)
    release(p);
  return 0;
}

static proc *check_proc(lua_State *L) { return luaL_checkudata(L, 1, PROC_MT); }

static int push_status(lua_State *L, const proc *p) {
  if (!p->st.signaled) {
    lua_pushliteral(L, "exited");
    lua_pushinteger(L, p->st.code);
    return 2;
  }
  const char *name = sigabbrev_np(p->st.code);
  lua_pushliteral(L, "killed");
  lua_pushinteger(L, p->st.code);
  lua_pushfstring(L, "SIG%s", name ? name : "?");
  return 3;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  proc *p = lua_touserdata(L, 1);
  (void)status;
  if (p->pidfd < 0)
    return p->pid > 0 ? push_status(L, p) : lerror_push(L, "wait", NULL, NULL, -ECHILD);
  if (p->waiter && p->waiter != p->rt->current)
    return lerror_push(L, "wait", NULL, NULL, LERR_BUSY);
  proc_child h = {p->pid, p->pidfd};
  int r = proc_reap(&h, &p->st);
  if (r == -ECHILD) /* SIGCHLD ignored: the kernel reaped it, status unknown */
    p->st = (proc_status){.signaled = 0, .code = 255}, r = 1;
  if (r < 0)
    return lerror_push(L, "wait", NULL, NULL, r);
  if (r == 1) {
    release(p);
    return push_status(L, p);
  }
  if ((r = loop_arm(&p->rt->lp, &p->io, LOOP_IN)) < 0)
    return lerror_push(L, "wait", NULL, NULL, r);
  return task_suspend(L, task_running(L, p->rt), &p->waiter, 0, ctx, wait_k);
}

/* proc:wait() -> "exited", code | "killed", signo, "SIGNAME" (waits) */
static int wproc_wait(lua_State *L) {
  check_proc(L);
  lua_settop(L, 1);
  return wait_k(L, LUA_OK, 0);
}

static const char *const signal_names[] = {"TERM", "KILL", "INT",  "HUP",  "QUIT",
                                           "USR1", "USR2", "ALRM", "WINCH", NULL};
static const int signal_numbers[] = {SIGTERM, SIGKILL, SIGINT,  SIGHUP,  SIGQUIT,
                                     SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH};

/* proc:signal(name) -> true | nil, msg, "ESRCH" once it has been reaped */
static int wproc_signal(lua_State *L) {
  proc *p = check_proc(L);
  int signo = signal_numbers[luaL_checkoption(L, 2, NULL, signal_names)];
  proc_child h = {p->pid, p->pidfd};
  int r = p->pidfd < 0 ? -ESRCH : proc_signal(&h, signo);
  if (r < 0)
    return lerror_push(L, "signal", NULL, NULL, r);
  lua_pushboolean(L, 1);
  return 1;
}

static int wproc_pid(lua_State *L) {
  lua_pushinteger(L, check_proc(L)->pid);
  return 1;
}

static int wproc_tostring(lua_State *L) {
  proc *p = check_proc(L);
  lua_pushfstring(L, "worker process %d%s", p->pid, p->pidfd < 0 ? " (reaped)" : "");
  return 1;
}

/* The descriptors of the luds sockets in the list at index i. */
static int listener_fds(lua_State *L, int i, int *fds) {
  luaL_checktype(L, i, LUA_TTABLE);
  int n = (int)luaL_len(L, i);
  luaL_argcheck(L, n <= WORKER_MAX_FDS, i, "too many listeners (253 at most)");
  for (int k = 0; k < n; k++) {
    lua_geti(L, i, k + 1);
    lsock *s = lsock_test(L, -1);
    if (!s || s->fd < 0 || s->cls == LSOCK_CONN)
      luaL_error(L, "bad listener #%d: want an open luds listener or packet conn", k + 1);
    fds[k] = s->fd;
    lua_pop(L, 1);
  }
  return n;
}

static int skipped(const char *e) {
  static const char *const names[] = {"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=",
                                      WORKER_ENV "=", NULL};
  for (int k = 0; names[k]; k++)
    if (!strncmp(e, names[k], strlen(names[k])))
      return 1;
  return 0;
}

/* A Lua-owned buffer (collected with the stack) holding fmt's text
 * followed by WORKER_PID_ROOM spaces; returns where the spaces start. */
static char *pid_string(lua_State *L, const char *text) {
  size_t len = strlen(text);
  char *s = lua_newuserdatauv(L, len + WORKER_PID_ROOM + 1, 0);
  memcpy(s, text, len);
  memset(s + len, ' ', WORKER_PID_ROOM);
  s[len + WORKER_PID_ROOM] = '\0';
  return s;
}

extern char **environ;

/* The worker's environment: ours without LISTEN_* and LUDS_WORKER, then
 * LISTEN_FDS, LISTEN_PID and LUDS_WORKER. Lua-owned (on the stack). */
static char **worker_env(lua_State *L, worker_spec *w, const identity *id) {
  size_t n = 0, k = 0;
  while (environ[n])
    n++;
  char **envp = lua_newuserdatauv(L, (n + 4) * sizeof *envp, 0);
  for (size_t i = 0; i < n; i++)
    if (!skipped(environ[i]))
      envp[k++] = environ[i];
  lua_pushfstring(L, "LISTEN_FDS=%d", w->nfds);
  envp[k++] = (char *)lua_tostring(L, -1);
  envp[k] = pid_string(L, "LISTEN_PID=");
  w->pid_at[0] = envp[k++] + strlen("LISTEN_PID=");
  lua_pushfstring(L, WORKER_ENV "=%d %d %d %d %d ", id->index, id->count, id->generation,
                  id->supervisor, id->notify);
  envp[k] = pid_string(L, lua_tostring(L, -1));
  w->pid_at[1] = envp[k++] + lua_rawlen(L, -2);
  envp[k] = NULL;
  return envp;
}

static int check_count(lua_State *L, int i, lua_Integer min) {
  lua_Integer v = luaL_checkinteger(L, i);
  luaL_argcheck(L, v >= min && v <= 1000000, i, "out of range");
  return (int)v;
}

/* spawn(listeners, index, count, generation) -> proc, notify_fd | nil, msg,
 * code: this program (see worker_exe) and command line again, as worker
 * index of count, the listeners on fds 3.. (LISTEN_FDS, LISTEN_PID), the
 * notify socket after them (its fd is the caller's). */
static int l_spawn(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  int fds[WORKER_MAX_FDS];
  char exe[4096];
  worker_spec w = {.exe = worker_exe(exe, sizeof exe), .fds = fds};
  w.nfds = listener_fds(L, 1, fds);
  identity id = {check_count(L, 2, 1), check_count(L, 3, 1), check_count(L, 4, 0), getpid(),
                 3 + w.nfds};
  luaL_argcheck(L, id.index <= id.count, 2, "more than the count");
  lua_settop(L, 4);
  proc *p = lua_newuserdatauv(L, sizeof *p, 0); /* 5 */
  memset(p, 0, sizeof *p);
  p->rt = rt;
  p->pidfd = p->io.fd = -1;
  p->io.fn = on_io;
  luaL_setmetatable(L, PROC_MT);
  w.envp = worker_env(L, &w, &id);
  char **argv;
  int notify, r = worker_cmdline(&argv);
  if (r == 0) {
    w.argv = argv;
    r = worker_spawn(&w, &p->pidfd, &notify);
    free(argv);
  }
  if (r < 0)
    return lerror_push(L, "spawn", NULL, NULL, r);
  p->pid = r;
  p->io.fd = p->pidfd;
  rt_own(rt, p->pidfd, 1);
  lua_settop(L, 5);
  lua_pushinteger(L, notify);
  return 2;
}

/* ready() -> true | nil, msg, code: tells the supervisor this worker has
 * its listeners (once; later calls do nothing). */
static int l_ready(lua_State *L) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  identity id;
  if (!whoami(&id) || id.notify < 0 || rt_owns(rt, id.notify))
    return lua_pushboolean(L, 1), 1;
  lua_pushfstring(L, "%d %d %d %d -1 %d", id.index, id.count, id.generation, id.supervisor,
                  (int)getpid());
  setenv(WORKER_ENV, lua_tostring(L, -1), 1); /* a second call finds no socket */
  int r = worker_ready(id.notify);
  if (r < 0)
    return lerror_push(L, "ready", NULL, NULL, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* share(listener): accept on it wakes one of the processes waiting. */
static int l_share(lua_State *L) {
  lsock *s = lsock_test(L, 1);
  luaL_argcheck(L, s != NULL, 1, "luds socket expected");
  if (s->cls == LSOCK_LISTENER)
    s->share = LOOP_EXCLUSIVE;
  return 0;
}

/* refuse(listener): new connections are refused from now on, by every
 * process that shares it, while those already queued can still be taken
 * (unix; TCP resets them) and the socket file stays: the supervisor's
 * drain. Not for an adopted socket: the service manager keeps using it. */
static int l_refuse(lua_State *L) {
  lsock *s = lsock_test(L, 1);
  luaL_argcheck(L, s != NULL, 1, "luds socket expected");
  if (s->fd >= 0 && !s->adopted && s->cls == LSOCK_LISTENER)
    sock_shutdown(s->fd, SHUT_RD);
  return 0;
}

/* check(listeners): raises unless each is an open listener or packet conn. */
static int l_check(lua_State *L) {
  int fds[WORKER_MAX_FDS];
  listener_fds(L, 1, fds);
  return 0;
}

static int l_cpus(lua_State *L) {
  lua_pushinteger(L, worker_cpus());
  return 1;
}

void lworker_register(lua_State *L, runtime *rt) {
  static const luaL_Reg methods[] = {{"wait", wproc_wait},     {"signal", wproc_signal},
                                     {"pid", wproc_pid},       {"__gc", wproc_gc},
                                     {"__close", wproc_gc},    {"__tostring", wproc_tostring},
                                     {NULL, NULL}};
  static const luaL_Reg internal[] = {
      {"spawn", l_spawn}, {"ready", l_ready}, {"share", l_share},
      {"check", l_check}, {"cpus", l_cpus},   {"refuse", l_refuse}, {NULL, NULL}};
  luaL_newmetatable(L, PROC_MT);
  luaL_setfuncs(L, methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_worker);
  lua_setfield(L, -2, "worker");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_createtable(L, 0, 4);
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, internal, 1);
  lua_setfield(L, -2, "luds.workerproc");
  lua_pop(L, 1);
}
