/* Worker processes, the OS side: start this program again with descriptors
 * in place (fork + exec) with a pidfd to watch it by (reaped and signalled
 * through proc.h), and count the CPUs. No Lua here; >= 0 or -errno, EINTR retried. */
#ifndef LUDS_WORKER_H
#define LUDS_WORKER_H

#include <stddef.h>

#define WORKER_MAX_FDS 253  /* listeners passed to one worker */
#define WORKER_PID_ROOM 20  /* room for a pid's digits in an environment string */

typedef struct worker_spec {
  const char *exe; /* this very program: worker_exe */
  char *const *argv, *const *envp;
  /* Up to two strings of envp that end in WORKER_PID_ROOM spaces: the
   * child writes its own pid there (LISTEN_PID must name the worker). */
  char *pid_at[2];
  const int *fds; /* become 3, 4, ... in the child; the notify socket follows */
  int nfds;
} worker_spec;

/* Starts a worker: a child that dies with its parent (PR_SET_PDEATHSIG,
 * SIGKILL), with the signal mask empty and default dispositions, fds at 3..
 * and one end of a fresh unix stream pair after them, then execs. Returns
 * the pid with *pidfd (watch it for LOOP_IN: readable once the child
 * exited) and *notify, the other end of the pair (both NONBLOCK|CLOEXEC),
 * or -errno, the exec's own error included: then nothing is left open and
 * no child is left. */
int worker_spawn(const worker_spec *w, int *pidfd, int *notify);
/* The child is reaped and signalled as any other (proc.h: proc_reap,
 * proc_signal), with its pid and pidfd. */
/* The path of this program (so that ps shows its name), in buf; or
 * "/proc/self/exe" when it cannot be told or the file was replaced since
 * (an upgrade): the running binary, either way. */
const char *worker_exe(char *buf, size_t cap);
/* The CPUs this process may run on (sched_getaffinity), at least 1. */
int worker_cpus(void);
/* This process's command line as a NULL-terminated vector, one malloc'ed
 * block for free(); -errno. */
int worker_cmdline(char ***argv);
/* Writes "ready\n" to the notify socket fd and closes it. */
int worker_ready(int fd);

#endif
