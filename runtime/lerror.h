/* The failure triple: nil, "op net addr: message", "CODE". Errors below the
 * bindings are -errno; luds adds a few conditions of its own, below -4096 so
 * that they can never collide with an errno. */
#ifndef LUDS_LERROR_H
#define LUDS_LERROR_H

#include <lua.h>

enum {
  LERR_EOF = -5001,
  LERR_TIMEOUT = -5002,
  LERR_CLOSED = -5003,
  LERR_BUSY = -5004,
  LERR_TRUNCATED = -5005,
  LERR_UNKNOWN_USER = -5006,
  LERR_UNKNOWN_GROUP = -5007,
  LERR_UNEXPECTED_EOF = -5008,
  LERR_NUL_IN_PATH = -5010, /* EINVALs from the address parser */
  LERR_NO_PORT = -5011,
  LERR_V6_BRACKETS = -5012,
  LERR_BAD_PORT = -5013,
  LERR_BAD_HOST = -5014,
  LERR_WRONG_FAMILY = -5015,
  LERR_NAME = -5016, /* EINVAL: a host or service name where only numbers go */
  LERR_REPLACED = -5020,       /* EEXIST: the new socket file was swapped before chown/chmod */
  LERR_NO_SOCKET_FILE = -5021, /* EINVAL: mode/owner/group on an address with no file */
  LERR_WRITE_TO_CONNECTED = -5022, /* EISCONN, Go's ErrWriteToConnected */
  LERR_CLOSED_CHAN = -5030,        /* CLOSED, for channels */
  LERR_DEADLOCK = -5031,           /* the scheduler: no task can ever run again */
  LERR_NOT_POLLABLE = -5040,       /* EPERM: wrap of a regular file, a directory, /dev/null */
  LERR_SIGNALED = -5041,           /* a child process was ended by a signal */
  LERR_PROCESS_DONE = -5042,       /* ESRCH: a signal for a child already reaped */
  LERR_NOT_FOUND = -5050, /* resolve.h's failures, the same numbers (lresolve.c checks) */
  LERR_UNKNOWN_PORT = -5051,
  LERR_LOOKUP_AGAIN = -5052,
  LERR_LOOKUP_FAIL = -5053,
};

/* The symbolic name ("ENOENT", "TIMEOUT") and the lowercase text of err. */
const char *lerror_name(int err);
const char *lerror_text(int err);
/* Pushes nil, message, code and returns 3. op, net and addr may be NULL. */
int lerror_push(lua_State *L, const char *op, const char *net, const char *addr, int err);
/* lerror_push with the address the string at index i, NUL bytes and all. */
int lerror_push_at(lua_State *L, const char *op, const char *net, int i, int err);

#endif
