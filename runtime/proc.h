/* The process OS layer: start a program (posix_spawn, never through a
 * shell), watch it through a pidfd, reap it with waitid, signal it through
 * the pidfd so that a recycled pid is never hit. No Lua here: every function
 * returns >= 0 or -errno and retries EINTR itself. */
#ifndef LUDS_PROC_H
#define LUDS_PROC_H

#include <signal.h>

/* What a child descriptor is, where proc_spec.fds gives no fd of ours. */
enum { PROC_INHERIT = -1, PROC_NULL = -2, PROC_STDOUT = -3 /* for fd 2 only: 2>&1 */ };

#define PROC_MAX_FDS 64 /* 0, 1, 2 and the extra ones */

typedef struct proc_spec {
  const char *const *argv;    /* argv[0] is the program: looked up in PATH if it has no '/' */
  const char *const *envp;    /* NULL: this process's environment */
  int dirfd;                  /* the child's working directory (an O_PATH fd), or -1 */
  int nfds;                   /* 3 + the extra descriptors, at most PROC_MAX_FDS */
  const int *fds;             /* what child fd i is: an fd of ours or PROC_* (0-2 only) */
  const sigset_t *sigdefault; /* signals reset to SIG_DFL in the child */
} proc_spec;

typedef struct proc_status {
  int signaled; /* 1: ended by signal `code`; 0: exited with status `code` */
  int code;
} proc_status;

/* A child: its pid and its pidfd (CLOEXEC), or -1 where the kernel has no
 * pidfd_open; then the pid, which stays this child's until it is reaped,
 * is its handle, and its end must be polled for (proc_reap). */
typedef struct proc_child {
  int pid, pidfd;
} proc_child;

/* Starts sp->argv[0] with an empty signal mask. Child fd i is sp->fds[i]
 * for i < nfds, and no other descriptor reaches it (the rest are closed
 * before exec, whether CLOEXEC or not). On success *c is set and the
 * caller must reap the child (proc_reap) once its pidfd is readable. An
 * exec failure (-ENOENT, -EACCES, ...) leaves nothing to reap. */
int proc_spawn(const proc_spec *sp, proc_child *c);
/* 1 and *st once child c has ended (it is reaped then), 0 while it runs,
 * -errno (-ECHILD: someone else reaped it). */
int proc_reap(const proc_child *c, proc_status *st);
/* Kills child c and reaps it, waiting for it, then closes its pidfd: for a
 * child that could not be watched, or whose runtime is closing. */
void proc_abandon(proc_child *c);
/* Sends sig to child c; -ESRCH once it has been reaped. */
int proc_signal(const proc_child *c, int sig);
/* Opens path as a working directory for proc_spec.dirfd. */
int proc_open_dir(const char *path);
/* A CLOEXEC pipe whose end `ours` (0: read, 1: write) is NONBLOCK; the
 * child's end stays blocking, as programs expect of their stdio. */
int proc_pipe(int fds[2], int ours);
void proc_close(int fd);

#endif
