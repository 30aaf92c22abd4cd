/* Socket objects for Lua: the machinery every kind shares (life cycle,
 * waiting, errors, binding, the common methods). Where sockets come from
 * (listen, accept, dial) is ldial.c. Each blocking call tries its syscall
 * first and suspends its task only on EAGAIN, in a continuation that
 * retries. */
#include "lsock.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fsperm.h"
#include "lerror.h"
#include "lfsperm.h"
#include "lproxy.h"
#include "sock.h"

static unsigned on_io(loop_io *io, unsigned events) {
  lsock *s = (lsock *)((char *)io - offsetof(lsock, io));
  unsigned idle = 0;
  if (events & (LOOP_IN | LOOP_HUP)) {
    s->drained = 0;
    if (s->reader)
      task_wake(s->reader, WAKE_READY);
    else
      idle |= LOOP_IN;
  }
  if (events & (LOOP_OUT | LOOP_HUP)) {
    if (s->writer)
      task_wake(s->writer, WAKE_READY);
    else
      idle |= LOOP_OUT;
  }
  return idle;
}

static void on_shutdown(rt_closer *c) {
  lsock_shut((lsock *)((char *)c - offsetof(lsock, closer)));
}

void lsock_attach(lsock *s, int fd) {
  s->fd = s->io.fd = fd;
  rt_own(s->rt, fd, 1);
}

const char lsock_tag;
static const char *const class_kinds[] = {[LSOCK_LISTENER] = "listener", [LSOCK_CONN] = "conn",
                                          [LSOCK_PACKET] = "packet conn"};
static const char *const class_mts[] = {[LSOCK_LISTENER] = LISTENER_MT, [LSOCK_CONN] = CONN_MT,
                                        [LSOCK_PACKET] = PACKET_MT};

/* Another socket is named by its class, whatever its metatable says. */
lsock *lsock_self_fail(lua_State *L, int cls) {
  lsock *s = lua_type(L, 1) == LUA_TUSERDATA ? lua_touserdata(L, 1) : NULL;
  if (s && lua_rawlen(L, 1) == sizeof *s && s->tag == &lsock_tag)
    luaL_argerror(L, 1, lua_pushfstring(L, "%s expected, got %s", class_mts[cls], class_mts[s->cls]));
  luaL_typeerror(L, 1, class_mts[cls]);
  return NULL;
}

lsock *lsock_new(lua_State *L, runtime *rt, const addr_net *net, const char *mt) {
  lsock *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  s->fd = -1;
  s->net = net;
  s->rt = rt;
  s->io.fd = -1;
  s->io.fn = on_io;
  s->closer.close = on_shutdown;
  s->tag = &lsock_tag;
  s->cls = !strcmp(mt, LISTENER_MT) ? LSOCK_LISTENER : !strcmp(mt, CONN_MT) ? LSOCK_CONN : LSOCK_PACKET;
  luaL_setmetatable(L, mt);
  return s;
}

/* Every method has its class's metatable as upvalue 1: checking self is a
 * pointer comparison, with no registry lookup by name. */
static lsock *test_self(lua_State *L) {
  lsock *s = lua_touserdata(L, 1);
  if (!s || !lua_getmetatable(L, 1))
    return NULL;
  int same = lua_rawequal(L, -1, lua_upvalueindex(1));
  lua_pop(L, 1);
  return same ? s : NULL;
}

lsock *lsock_test(lua_State *L, int i) {
  static const char *const kinds[] = {CONN_MT, LISTENER_MT, PACKET_MT};
  for (int k = 0; k < 3; k++) {
    lsock *s = luaL_testudata(L, i, kinds[k]);
    if (s)
      return s;
  }
  return NULL;
}

lsock *lsock_self(lua_State *L) {
  lsock *s = test_self(L);
  if (!s) {
    lua_getfield(L, lua_upvalueindex(1), "__name");
    luaL_typeerror(L, 1, lua_tostring(L, -1));
  }
  return s;
}

static void free_path(lsock *s) {
  if (!s->path)
    return;
  fsperm_remove_own(s->path, s->dev, s->ino);
  free(s->path);
  s->path = NULL;
}

void lsock_shut(lsock *s) {
  if (s->proxy || s->proxied) /* first: a listener's pending conns, even if its listen failed */
    lproxy_free(s);
  if (s->fd < 0)
    return;
  if (!s->rt->closed)
    loop_forget(&s->rt->lp, &s->io);
  if (s->reader)
    task_wake(s->reader, WAKE_READY);
  if (s->writer)
    task_wake(s->writer, WAKE_READY);
  rt_remove_closer(&s->closer);
  free_path(s);
  rt_own(s->rt, s->fd, 0);
  if (s->file & LSOCK_FILE_RESTORE)
    fdio_set_blocking(s->fd);
  sock_close(s->fd);
  s->fd = s->io.fd = -1;
  lfdpass_drop(s);
  free(s->buf);
  s->buf = NULL;
  s->boff = s->blen = s->bcap = 0;
}

/* The address that names a conn in messages: its peer if the peer has a
 * name (a dialed conn), else its own (an accepted one, a listener). */
static const char *label(lsock *s, char *buf) {
  addr a;
  buf[0] = '\0';
  if (s->fd < 0)
    return buf;
  if (sock_name(s->fd, 1, &a) == 0)
    addr_format(&a, buf, ADDR_STRLEN);
  if (!buf[0] && sock_name(s->fd, 0, &a) == 0)
    addr_format(&a, buf, ADDR_STRLEN);
  return buf;
}

int lsock_fail(lua_State *L, lsock *s, const char *op, int err) {
  char buf[ADDR_STRLEN];
  return lerror_push(L, op, s->net->name, err == LERR_EOF ? NULL : label(s, buf), err);
}

int lsock_busy(const lsock *s, unsigned dir) {
  task *w = dir == LOOP_IN ? s->reader : s->writer;
  return w && w != s->rt->current;
}

int lsock_begin_slow(lua_State *L, lsock *s, int status, unsigned dir, const char *op) {
  if (s->fd < 0)
    return lsock_fail(L, s, op, LERR_CLOSED);
  if (status == LUA_YIELD && task_woken(s->rt) == WAKE_TIMEOUT)
    return lsock_fail(L, s, op, LERR_TIMEOUT);
  if (lsock_busy(s, dir))
    return lsock_fail(L, s, op, LERR_BUSY);
  double deadline = dir == LOOP_IN ? s->rdeadline : s->wdeadline;
  if (deadline > 0 && loop_now() >= deadline)
    return lsock_fail(L, s, op, LERR_TIMEOUT);
  return 0;
}

int lsock_wait(lua_State *L, lsock *s, unsigned dir, lua_KContext ctx, lua_KFunction k) {
  task *t = task_running(L, s->rt);
  int r = loop_arm(&s->rt->lp, &s->io, dir | s->share);
  if (r < 0)
    return lsock_fail(L, s, dir == LOOP_IN ? "read" : "write", r);
  task **slot = dir == LOOP_IN ? &s->reader : &s->writer;
  double deadline = dir == LOOP_IN ? s->rdeadline : s->wdeadline;
  return task_suspend(L, t, slot, deadline, ctx, k);
}

const addr_net *lsock_network(lua_State *L, int i) {
  const char *name = luaL_checkstring(L, i);
  const addr_net *net = addr_network(name);
  if (!net)
    luaL_argerror(L, i, lua_pushfstring(L, "unknown network '%s'", name));
  return net;
}

int lsock_addr_error(int why) {
  static const int errs[] = {
      [ADDR_MALFORMED] = -EINVAL,           [ADDR_NUL] = LERR_NUL_IN_PATH,
      [ADDR_MISSING_PORT] = LERR_NO_PORT,   [ADDR_NEEDS_BRACKETS] = LERR_V6_BRACKETS,
      [ADDR_BAD_PORT] = LERR_BAD_PORT,      [ADDR_BAD_HOST] = LERR_BAD_HOST,
      [ADDR_WRONG_FAMILY] = LERR_WRONG_FAMILY, [ADDR_NAME] = LERR_NAME,
  };
  return errs[why];
}

int lsock_addr(lua_State *L, int i, const addr_net *net, addr *a) {
  size_t len;
  const char *s = luaL_checklstring(L, i, &len);
  int why = ADDR_MALFORMED;
  int r = addr_parse(net, s, len, a, &why);
  return r == -EINVAL ? lsock_addr_error(why) : r;
}

int lsock_backoff(lua_State *L, lsock *s, int attempt, int max_shift, lua_KContext ctx,
                  lua_KFunction k) {
  double when = loop_now() + 0.001 * (double)(1 << (attempt < max_shift ? attempt : max_shift));
  if (s->wdeadline > 0 && when > s->wdeadline)
    when = s->wdeadline;
  return task_suspend(L, task_running(L, s->rt), NULL, when, ctx + 1, k);
}

int lsock_eof(const lsock *s, ssize_t n, int flags) {
  if (n != 0)
    return 0;
  if (s->net->type == SOCK_STREAM)
    return 1;
  /* Without SO_PASSCRED (it failed) an empty read can only be taken for
   * EOF, as Go does: better than reading "" forever. */
  return s->net->type == SOCK_SEQPACKET && !(s->passcred && (flags & SOCK_HAS_CREDS));
}

/* Out of fds, the garbage may hold sockets nobody closed: collect it once
 * and say whether trying again is worth it. */
int lsock_collected(lua_State *L, int err) {
  if (err != -EMFILE && err != -ENFILE)
    return 0;
  lua_gc(L, LUA_GCCOLLECT);
  return 1;
}

/* A seqpacket socket gets SO_PASSCRED before it can receive anything (its
 * accepted conns inherit it), so every message carries credentials; so
 * does a datagram socket whose reads report them. */
int lsock_open(lua_State *L, lsock *s, int family) {
  int fd = sock_open(family, s->net->type);
  if (fd < 0 && lsock_collected(L, fd))
    fd = sock_open(family, s->net->type);
  if (fd < 0)
    return fd;
  lsock_attach(s, fd);
  if (s->net->type != SOCK_SEQPACKET && !s->creds)
    return 0;
  s->passcred = 1;
  return sock_passcred(fd);
}

/* Remembers the file s created (st: as the bind saw it) so that close
 * removes it, but only while lstat still shows this very socket. */
static int own_file(lsock *s, const char *path, const struct fsperm_stat *st) {
  s->path = strdup(path);
  if (!s->path)
    return -ENOMEM;
  s->dev = st->dev;
  s->ino = st->ino;
  rt_add_closer(s->rt, &s->closer);
  return 0;
}

/* EADDRINUSE from bind also means "some file is there": say which. EEXIST
 * is fsperm's "the file was swapped before its chown/chmod". */
static int bind_error(const char *path, int r) {
  struct fsperm_stat st;
  if (r == -EEXIST)
    return LERR_REPLACED;
  if (r == -EADDRINUSE && path && fsperm_stat(path, &st) == 0 && st.type != FSPERM_SOCKET)
    return -EEXIST;
  return r;
}

int lsock_bind(lua_State *L, lsock *s, const addr *a, int opts, int perm, int own) {
  lfsperm_opts o;
  int r = lfsperm_options(L, perm, &o);
  if (r < 0)
    return r;
  int reuseport = lsock_optflag(L, opts, "reuseport");
  if (reuseport && s->net->family == AF_UNIX)
    luaL_error(L,
               "option 'reuseport' needs an IP network (tcp, tcp4, tcp6, udp, udp4, udp6), not %s",
               s->net->name);
  const char *path = addr_path(a);
  if (!path && (o.mode >= 0 || o.uid != -1 || o.gid != -1))
    return LERR_NO_SOCKET_FILE;
  if (path && o.remove_stale && (r = fsperm_remove_stale(path)) < 0 && r != -ENOENT)
    return r;
  r = lsock_open(L, s, a->ss.ss_family);
  if (r < 0)
    return r;
  if (s->net->family != AF_UNIX && s->net->listens)
    sock_reuseaddr(s->fd);
  if (reuseport && (r = sock_reuseport(s->fd)) < 0)
    return r;
  struct fsperm_stat st;
  r = fsperm_bind_unix(s->fd, (const struct sockaddr *)&a->ss, a->len, path, o.mode, o.uid, o.gid,
                       path && own ? &st : NULL);
  if (r < 0)
    return bind_error(path, r);
  return path && own ? own_file(s, path, &st) : 0;
}

static int s_close(lua_State *L) {
  lsock *s = lsock_self(L);
  if (s->fd < 0)
    return lsock_fail(L, s, "close", LERR_CLOSED);
  lsock_shut(s);
  lua_pushboolean(L, 1);
  return 1;
}

/* __gc and __close: never raise, whatever a script passes them. */
static int s_gc(lua_State *L) {
  lsock *s = test_self(L);
  if (s)
    lsock_shut(s);
  return 0;
}

/* A plain descriptor has no half close: the direction asked for is all it
 * has (a pipe's end), and then it closes, or it is refused. */
static int shut_file(lua_State *L, lsock *s, int how, const char *op) {
  if (s->file & (how == SHUT_WR ? LSOCK_FILE_READ : LSOCK_FILE_WRITE))
    return lsock_fail(L, s, op, -EOPNOTSUPP);
  lsock_shut(s);
  lua_pushboolean(L, 1);
  return 1;
}

static int shut(lua_State *L, int how, const char *op) {
  lsock *s = lsock_self(L);
  if (s->fd < 0)
    return lsock_fail(L, s, op, LERR_CLOSED);
  if (s->file)
    return shut_file(L, s, how, op);
  int r = sock_shutdown(s->fd, how);
  if (r < 0)
    return lsock_fail(L, s, op, r);
  lua_pushboolean(L, 1);
  return 1;
}

static int s_close_write(lua_State *L) { return shut(L, SHUT_WR, "close_write"); }
static int s_close_read(lua_State *L) { return shut(L, SHUT_RD, "close_read"); }

/* An unconnected packet socket has no peer: "", as for an unnamed one. */
static int push_name(lua_State *L, int peer, const char *op) {
  lsock *s = lsock_self(L);
  char buf[ADDR_STRLEN];
  addr a;
  if (s->fd < 0)
    return lsock_fail(L, s, op, LERR_CLOSED);
  int r = lproxy_name(s, peer, &a);
  if (r == -ENOTCONN && s->net->type == SOCK_DGRAM)
    return lua_pushliteral(L, ""), 1;
  if (r < 0)
    return lsock_fail(L, s, op, r);
  lua_pushlstring(L, buf, addr_write(&a, buf, sizeof buf));
  return 1;
}

static int s_local_addr(lua_State *L) { return push_name(L, 0, "local_addr"); }
static int s_remote_addr(lua_State *L) { return push_name(L, 1, "remote_addr"); }

static int s_fd(lua_State *L) {
  lua_pushinteger(L, lsock_self(L)->fd);
  return 1;
}

/* A new deadline also applies to a task already waiting. */
static void set_deadline(lsock *s, unsigned dir, double t) {
  task *w = dir == LOOP_IN ? s->reader : s->writer;
  *(dir == LOOP_IN ? &s->rdeadline : &s->wdeadline) = t;
  if (!w)
    return;
  if (t > 0)
    loop_timer_start(&s->rt->lp, &w->timer, t);
  else
    loop_timer_stop(&s->rt->lp, &w->timer);
}

static double check_deadline(lua_State *L) {
  if (lua_isnoneornil(L, 2))
    return 0;
  double t = luaL_checknumber(L, 2);
  return t > 0 ? t : 1e-9; /* 0 or negative: already passed */
}

static int deadline(lua_State *L, unsigned dirs) {
  lsock *s = lsock_self(L);
  double t = check_deadline(L);
  if (dirs & LOOP_IN)
    set_deadline(s, LOOP_IN, t);
  if (dirs & LOOP_OUT)
    set_deadline(s, LOOP_OUT, t);
  lua_pushboolean(L, 1);
  return 1;
}

static int s_set_deadline(lua_State *L) { return deadline(L, LOOP_IN | LOOP_OUT); }
static int s_set_read_deadline(lua_State *L) { return deadline(L, LOOP_IN); }
static int s_set_write_deadline(lua_State *L) { return deadline(L, LOOP_OUT); }

/* "unix listener /run/x.sock", "unix conn -> /run/x.sock" (an unnamed side
 * is left out), "unixgram packet conn /tmp/a.sock", "unix conn (closed)". */
static int s_tostring(lua_State *L) {
  lsock *s = lsock_self(L);
  const char *kind = class_kinds[s->cls]; /* not the metatable's field: a script may change that */
  char a[ADDR_STRLEN], b[ADDR_STRLEN];
  size_t alen = 0, blen = 0;
  addr x;
  if (s->fd < 0)
    return lua_pushfstring(L, "%s %s (closed)", s->net->name, kind), 1;
  if (lproxy_name(s, 0, &x) == 0)
    alen = addr_write(&x, a, sizeof a);
  if (s->cls != LSOCK_LISTENER && lproxy_name(s, 1, &x) == 0)
    blen = addr_write(&x, b, sizeof b);
  luaL_Buffer out;
  luaL_buffinit(L, &out);
  lua_pushfstring(L, "%s %s%s", s->net->name, kind, alen ? " " : "");
  luaL_addvalue(&out);
  luaL_addlstring(&out, a, alen);
  if (blen)
    luaL_addstring(&out, " -> ");
  luaL_addlstring(&out, b, blen);
  luaL_pushresult(&out);
  return 1;
}

static int ln_addr(lua_State *L) { return push_name(L, 0, "addr"); }

static void new_class(lua_State *L, const char *mt, const char *kind, const luaL_Reg *m) {
  static const luaL_Reg common[] = {
      {"close", s_close}, {"fd", s_fd},      {"set_deadline", s_set_deadline},
      {"__gc", s_gc},     {"__close", s_gc}, {"__tostring", s_tostring},
      {NULL, NULL}};
  luaL_newmetatable(L, mt);
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, common, 1);
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, m, 1);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

/* Methods of conns of every kind; lpacket.c adds its own beside them. */
static const luaL_Reg conn_common[] = {{"close_write", s_close_write},
                                       {"close_read", s_close_read},
                                       {"local_addr", s_local_addr},
                                       {"remote_addr", s_remote_addr},
                                       {"set_read_deadline", s_set_read_deadline},
                                       {"set_write_deadline", s_set_write_deadline},
                                       {NULL, NULL}};

void lsock_class(lua_State *L, const char *mt, const char *kind, const luaL_Reg *m) {
  new_class(L, mt, kind, m);
  luaL_getmetatable(L, mt);
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, conn_common, 1);
  lfdpass_methods(L);
  lpeer_methods(L);
  lua_pop(L, 1);
}

void lsock_register(lua_State *L, runtime *rt) {
  static const luaL_Reg ln_methods[] = {{"accept", ldial_accept}, {"addr", ln_addr}, {NULL, NULL}};
  new_class(L, LISTENER_MT, "listener", ln_methods);
  lstream_register(L);
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, ldial_funcs, 1);
}
