/* Plain descriptors as stream conns: luds.wrap of a pipe, FIFO, terminal or
 * character device, and luds.stdin/stdout/stderr, each on an open file
 * description of its own where the system gives one, so that its
 * O_NONBLOCK never reaches the shell's terminal nor this process's print. */
#include <errno.h>
#include <lauxlib.h>
#include <sys/socket.h>

#include "lerror.h"
#include "lsock.h"

/* Networks in name only, for messages and tostring ("pipe conn"). Not
 * AF_UNIX: nothing tries descriptor passing or credentials on them. */
static const addr_net nets[] = {
    [FDIO_PIPE] = {"pipe", AF_UNSPEC, SOCK_STREAM, 0},
    [FDIO_TTY] = {"tty", AF_UNSPEC, SOCK_STREAM, 0},
    [FDIO_CHAR] = {"char", AF_UNSPEC, SOCK_STREAM, 0},
};

lsock *lfdio_new(lua_State *L, runtime *rt, int type) {
  return lsock_new(L, rt, &nets[type == FDIO_TTY || type == FDIO_CHAR ? type : FDIO_PIPE], CONN_MT);
}

void lfdio_attach(lsock *s, int fd, unsigned flags) {
  lsock_attach(s, fd);
  s->file = (unsigned char)(LSOCK_FILE | flags);
}

static int fail(lua_State *L, const char *op, int fd, int err) {
  return lerror_push(L, op, lua_pushfstring(L, "fd %d", fd), NULL, err);
}

/* Whether the loop can watch fd (the kernel refuses regular files and
 * devices without readiness): armed once and forgotten at once. */
static int pollable(lsock *s, int fd) {
  s->io.fd = fd;
  int r = loop_arm(&s->rt->lp, &s->io, LOOP_IN);
  if (r == 0)
    loop_forget(&s->rt->lp, &s->io);
  s->io.fd = -1;
  return r == -EPERM ? LERR_NOT_POLLABLE : r;
}

/* Wraps fd, named `shown` in messages. An O_NONBLOCK set here that was not
 * there before is cleared again by close. */
static int wrap(lua_State *L, runtime *rt, int fd, const char *op, int shown) {
  fdio_kind k;
  int r = fdio_kind_of(fd, &k);
  if (r == 0 && (k.type == FDIO_FILE || k.type == FDIO_OTHER))
    r = LERR_NOT_POLLABLE;
  if (r < 0)
    return fail(L, op, shown, r);
  lsock *s = lfdio_new(L, rt, k.type);
  if ((r = pollable(s, fd)) < 0 || (r = fdio_adopt(fd)) < 0)
    return fail(L, op, shown, r); /* s stays closed: fd is still the caller's */
  lfdio_attach(s, fd,
               (k.readable ? LSOCK_FILE_READ : 0u) | (k.writable ? LSOCK_FILE_WRITE : 0u) |
                   (k.nonblock ? 0u : LSOCK_FILE_RESTORE));
  return 1;
}

int lfdio_wrap(lua_State *L, runtime *rt, int fd, const char *op) {
  return wrap(L, rt, fd, op, fd);
}

/* A conn on a new description of fd (a pipe's, a terminal's), else on a
 * duplicate (a socket, or a reopen the system refused): never fd itself,
 * so that closing it leaves fd 0, 1 or 2 open. */
static int std_conn(lua_State *L, int fd, int writing, const char *op) {
  runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  fdio_kind k;
  int r = fdio_kind_of(fd, &k);
  if (r < 0)
    return fail(L, op, fd, r);
  int mine = k.type == FDIO_PIPE || k.type == FDIO_TTY ? fdio_reopen(fd, writing) : -ENXIO;
  if (mine < 0)
    mine = fdio_dup(fd);
  if (mine < 0)
    return fail(L, op, fd, mine);
  r = k.type == FDIO_SOCKET ? lfdpass_wrap(L, rt, mine, op) : wrap(L, rt, mine, op, fd);
  if (r != 1)
    sock_close(mine);
  return r;
}

static int l_stdin(lua_State *L) { return std_conn(L, 0, 0, "stdin"); }
static int l_stdout(lua_State *L) { return std_conn(L, 1, 1, "stdout"); }
static int l_stderr(lua_State *L) { return std_conn(L, 2, 1, "stderr"); }

void lfdio_register(lua_State *L, runtime *rt) {
  static const luaL_Reg funcs[] = {
      {"stdin", l_stdin}, {"stdout", l_stdout}, {"stderr", l_stderr}, {NULL, NULL}};
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
}
