/* Worker processes, the OS side: fork + exec of this program with the
 * listeners on fds 3.., a pidfd per child for the loop to watch (no SIGCHLD
 * handler, no zombie once reaped), signals through the pidfd (never a
 * recycled pid), the CPU count and the command line to run again. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "proc.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* Async-signal-safe: digits of n at p, then the end of the string. */
static void put_pid(char *p, long n) {
  char d[WORKER_PID_ROOM];
  int k = 0;
  do
    d[k++] = (char)('0' + n % 10);
  while ((n /= 10) > 0 && k < WORKER_PID_ROOM);
  while (k > 0)
    *p++ = d[--k];
  *p = '\0';
}

/* Every fd goes above the range first, so that no dup2 into 3.. lands on
 * one still to be moved; dup2 clears CLOEXEC on the copy in place, and the
 * high copies close at exec. */
static int place_fds(const int *fds, int n) {
  int high[WORKER_MAX_FDS + 1];
  for (int i = 0; i < n; i++)
    if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + n)) < 0)
      return -errno;
  for (int i = 0; i < n; i++)
    if (dup2(high[i], 3 + i) < 0)
      return -errno;
  return 0;
}

/* Between fork and exec: only async-signal-safe calls (the parent may have
 * threads). Reports an error as an int on errpipe. */
static void child(const worker_spec *w, const int *fds, int n, pid_t parent, int errpipe) {
  int err = 0;
  loop_child_signals();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
    err = errno;
  else if (getppid() != parent) /* it died before the line above */
    _exit(127);
  if (!err)
    err = -place_fds(fds, n);
  for (int i = 0; !err && i < 2; i++)
    if (w->pid_at[i])
      put_pid(w->pid_at[i], (long)getpid());
  if (!err) {
    execve(w->exe, w->argv, w->envp);
    err = errno;
  }
  ssize_t r = write(errpipe, &err, sizeof err);
  (void)r;
  _exit(127);
}

static void reap_now(pid_t pid) {
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

/* 0 once the child has exec'd (the pipe closed), else its -errno. */
static int exec_result(int errpipe) {
  int err = 0;
  ssize_t r;
  while ((r = read(errpipe, &err, sizeof err)) < 0 && errno == EINTR)
    ;
  return r == (ssize_t)sizeof err ? -err : 0;
}

static int fork_exec(const worker_spec *w, const int *fds, int n) {
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) < 0)
    return -errno;
  pid_t parent = getpid(), pid = fork();
  if (pid == 0)
    child(w, fds, n, parent, ep[1]);
  int err = pid < 0 ? -errno : 0;
  close(ep[1]);
  if (pid > 0 && (err = exec_result(ep[0])) < 0)
    reap_now(pid);
  close(ep[0]);
  return err < 0 ? err : pid;
}

int worker_spawn(const worker_spec *w, int *pidfd, int *notify) {
  int sv[2], fds[WORKER_MAX_FDS + 1];
  if (w->nfds < 0 || w->nfds > WORKER_MAX_FDS)
    return -EINVAL;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  memcpy(fds, w->fds, (size_t)w->nfds * sizeof *fds);
  fds[w->nfds] = sv[1];
  int pid = fork_exec(w, fds, w->nfds + 1);
  close(sv[1]);
  int pfd = -1;
  if (pid >= 0 && (pfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
    int err = -errno; /* no way to watch it: it must not run unwatched */
    proc_abandon(&(proc_child){pid, -1});
    pid = err;
  }
  if (pid < 0) {
    close(sv[0]);
    return pid;
  }
  *pidfd = pfd; /* pidfd_open sets CLOEXEC; NONBLOCK matters only to waitid */
  *notify = sv[0];
  return pid;
}

const char *worker_exe(char *buf, size_t cap) {
  static const char self[] = "/proc/self/exe", gone[] = " (deleted)";
  ssize_t n = readlink(self, buf, cap - 1);
  if (n <= 0 || (size_t)n >= cap - 1)
    return self;
  buf[n] = '\0';
  size_t g = sizeof gone - 1;
  return (size_t)n > g && !strcmp(buf + n - g, gone) ? self : buf;
}

int worker_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* The whole of a small file (at most cap - 1 bytes, NUL added); -errno. */
static ssize_t slurp(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t len = 0;
  ssize_t r = 1;
  while (len < cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) != 0)
    if (r > 0)
      len += (size_t)r;
    else if (errno != EINTR)
      break;
  int err = errno;
  close(fd);
  if (r < 0)
    return -err;
  buf[len] = '\0';
  return len == cap - 1 ? -E2BIG : (ssize_t)len;
}

#define CMDLINE_MAX (256 * 1024)

int worker_cmdline(char ***argv) {
  char *text = malloc(CMDLINE_MAX);
  if (!text)
    return -ENOMEM;
  ssize_t len = slurp("/proc/self/cmdline", text, CMDLINE_MAX);
  size_t n = 0;
  for (ssize_t i = 0; i < len; i++)
    n += text[i] == '\0';
  char **v = len <= 0 ? NULL : malloc((n + 1) * sizeof *v + (size_t)len);
  if (v) {
    char *p = memcpy(v + n + 1, text, (size_t)len);
    for (size_t k = 0; k < n; k++, p += strlen(p) + 1)
      v[k] = p;
    v[n] = NULL;
  }
  free(text);
  if (!v)
    return len < 0 ? (int)len : len == 0 ? -ENOENT : -ENOMEM;
  *argv = v;
  return 0;
}

int worker_ready(int fd) {
  static const char msg[] = "ready\n";
  ssize_t r;
  while ((r = send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL)) < 0 && errno == EINTR)
    ;
  int err = r < 0 ? -errno : 0;
  close(fd);
  return err;
}
