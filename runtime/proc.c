/* Child processes: posix_spawn (glibc starts the child with
 * clone(CLONE_VM|CLONE_VFORK) and reports an exec failure synchronously,
 * reaping that child itself), then a pidfd, the one handle by which the
 * child is waited for and signalled: no SIGCHLD handler, no pid races.
 * Where the kernel has no pidfd_open (before Linux 5.3, or under valgrind)
 * the pid itself does: it stays this child's until we reap it, and only we
 * do (by pid, never waitpid(-1)). */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Where a source descriptor is itself one of the child's targets (fd 0
 * given as the child's stdout, a pipe that landed on fd 1 because this
 * process had it closed), an earlier dup2 would overwrite it before its
 * turn: such sources are first copied above every target (tmp[i]). */
static int add_fd(posix_spawn_file_actions_t *fa, const proc_spec *sp, int i, int *tmp) {
  int src = sp->fds[i];
  if (src >= 0 && src < sp->nfds && src != i) {
    if ((tmp[i] = fcntl(src, F_DUPFD_CLOEXEC, sp->nfds)) < 0)
      return -errno;
    src = tmp[i];
  }
  if (src >= 0) /* glibc clears CLOEXEC when src == i */
    return -posix_spawn_file_actions_adddup2(fa, src, i);
  if (src == PROC_NULL)
    return -posix_spawn_file_actions_addopen(fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
  if (src == PROC_STDOUT)
    return -posix_spawn_file_actions_adddup2(fa, 1, i);
  return 0; /* PROC_INHERIT: fd i as it is here */
}

/* The chdir comes first: the directory's fd may be one of the targets. */
static int add_actions(posix_spawn_file_actions_t *fa, const proc_spec *sp, int *tmp) {
  int r = 0;
  if (sp->dirfd >= 0)
    r = -posix_spawn_file_actions_addfchdir_np(fa, sp->dirfd);
  for (int i = 0; r == 0 && i < sp->nfds; i++)
    r = add_fd(fa, sp, i, tmp);
  return r ? r : -posix_spawn_file_actions_addclosefrom_np(fa, sp->nfds);
}

static int set_signals(posix_spawnattr_t *at, const sigset_t *dfl) {
  sigset_t none;
  sigemptyset(&none);
  int r = posix_spawnattr_setsigmask(at, &none);
  if (r == 0 && dfl)
    r = posix_spawnattr_setsigdefault(at, dfl);
  if (r == 0)
    r = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | (dfl ? POSIX_SPAWN_SETSIGDEF : 0));
  return -r;
}

/* The child's pidfd, or -1 where the kernel has none (ENOSYS). Out of
 * descriptors the child could not be watched: it is killed and reaped at
 * once (its pid cannot be reused meanwhile, since it is not reaped yet). */
static int watch(int pid, int *pidfd) {
  int fd = pidfd_open(pid, 0);
  if (fd >= 0 || errno == ENOSYS) {
    *pidfd = fd;
    return 0;
  }
  int err = -errno;
  proc_abandon(&(proc_child){pid, -1});
  return err;
}

static int start(const proc_spec *sp, posix_spawn_file_actions_t *fa, posix_spawnattr_t *at,
                 proc_child *c) {
  int tmp[PROC_MAX_FDS];
  for (int i = 0; i < sp->nfds; i++)
    tmp[i] = -1;
  int r = add_actions(fa, sp, tmp);
  if (r == 0)
    r = set_signals(at, sp->sigdefault);
  pid_t child;
  char *const *envp = (char *const *)(sp->envp ? sp->envp : (const char *const *)environ);
  if (r == 0)
    r = -posix_spawnp(&child, sp->argv[0], fa, at, (char *const *)sp->argv, envp);
  for (int i = 0; i < sp->nfds; i++)
    if (tmp[i] >= 0)
      close(tmp[i]);
  if (r == 0 && (r = watch(child, &c->pidfd)) == 0)
    c->pid = child;
  return r;
}

int proc_spawn(const proc_spec *sp, proc_child *c) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  if (sp->nfds < 3 || sp->nfds > PROC_MAX_FDS)
    return -EINVAL;
  int r = posix_spawn_file_actions_init(&fa);
  if (r)
    return -r;
  if ((r = posix_spawnattr_init(&at)) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return -r;
  }
  r = start(sp, &fa, &at, c);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  return r;
}

/* waitid for c: by its pidfd, or by its pid where it has none. */
static int wait_child(const proc_child *c, siginfo_t *si, int options) {
  int r;
  do
    r = c->pidfd >= 0 ? waitid(P_PIDFD, (id_t)c->pidfd, si, options)
                      : waitid(P_PID, (id_t)c->pid, si, options);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

int proc_reap(const proc_child *c, proc_status *st) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r = wait_child(c, &si, WEXITED | WNOHANG);
  if (r < 0)
    return r;
  if (si.si_pid == 0)
    return 0;
  st->signaled = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
  st->code = si.si_status;
  return 1;
}

void proc_abandon(proc_child *c) {
  siginfo_t si;
  proc_signal(c, SIGKILL);
  wait_child(c, &si, WEXITED);
  if (c->pidfd >= 0)
    close(c->pidfd);
  c->pidfd = -1;
}

int proc_signal(const proc_child *c, int sig) {
  int r = c->pidfd >= 0 ? pidfd_send_signal(c->pidfd, sig, NULL, 0) : kill(c->pid, sig);
  return r < 0 ? -errno : 0;
}

int proc_open_dir(const char *path) {
  int fd;
  do
    fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

int proc_pipe(int fds[2], int ours) {
  if (pipe2(fds, O_CLOEXEC) < 0)
    return -errno;
  if (fcntl(fds[ours], F_SETFL, O_NONBLOCK) == 0)
    return 0;
  int err = -errno;
  close(fds[0]);
  close(fds[1]);
  return err;
}

void proc_close(int fd) { close(fd); }
