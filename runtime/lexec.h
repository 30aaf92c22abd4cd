/* What luds.exec is asked for (lexec.c reads it, lproc.c spawns it): the
 * child's argv, environment, directory and descriptors. */
#ifndef LUDS_LEXEC_H
#define LUDS_LEXEC_H

#include <lua.h>

#include "lsock.h"
#include "proc.h"

enum { IO_INHERIT, IO_NULL, IO_PIPE, IO_STDOUT, IO_FD, IO_SOCKET };

/* What the child's descriptors are to be, and its argv and environment;
 * every string is anchored in a table of the call (index 3). */
typedef struct plan {
  const char **argv, **envp;
  const char *cwd;
  int nfds;
  int how[PROC_MAX_FDS];
  int fd[PROC_MAX_FDS];      /* IO_FD */
  lsock *sock[PROC_MAX_FDS]; /* IO_SOCKET: its fd is read just before the spawn */
  lsock *pipe[3];            /* IO_PIPE: our end */
} plan;

/* The option names of fds 0, 1 and 2 (also p.stdin, p.stdout, p.stderr). */
extern const char *const lexec_stdio_names[3];

/* Reads luds.exec(argv, opts) at indexes 1 and 2 into pl, raising on any
 * misuse; pushes the table (index 3) that anchors every string pl holds,
 * so they live as long as the call. */
void lexec_plan(lua_State *L, plan *pl);

#endif
