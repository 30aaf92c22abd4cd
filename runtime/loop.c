/* The event loop: epoll (level-triggered, interest armed on demand and dropped
 * lazily when an event finds nobody waiting), a binary min-heap of timers, and
 * every catchable signal a terminal or service manager sends (loop_signals)
 * as events, so that what they cause runs in the loop and never
 * asynchronously: a handler that only writes to a pipe while loop_catch_signals
 * is in force, the signalfd for a host that blocks them itself. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

double loop_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int ctl(loop *lp, int op, loop_io *io, unsigned events) {
  struct epoll_event ev = {.events = events, .data.ptr = io};
  return epoll_ctl(lp->epfd, op, io->fd, &ev) < 0 ? -errno : 0;
}

/* Watches only `keep`; an fd watched for nothing is removed, or a hung-up
 * socket nobody reads would be reported on every poll. An exclusive fd
 * cannot be modified: it is removed, then added again. */
static void narrow(loop *lp, loop_io *io, unsigned keep) {
  if (!(keep & ~LOOP_EXCLUSIVE))
    keep = 0;
  if (keep == io->armed)
    return;
  if (keep && !(io->armed & LOOP_EXCLUSIVE)) {
    ctl(lp, EPOLL_CTL_MOD, io, keep);
    io->armed = keep;
    return;
  }
  ctl(lp, EPOLL_CTL_DEL, io, 0);
  lp->nwatched--;
  io->armed = 0;
  if (keep)
    loop_arm(lp, io, keep);
}

int loop_arm(loop *lp, loop_io *io, unsigned events) {
  unsigned want = io->armed | events;
  if (want == io->armed)
    return 0;
  if (io->armed && (want & LOOP_EXCLUSIVE))
    narrow(lp, io, 0);
  int r = ctl(lp, io->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, io, want);
  if (r == 0) {
    lp->nwatched += !io->armed;
    io->armed = want;
  }
  return r;
}

/* After an event on an exclusive fd that stays watched: to the back of the
 * kernel's queue of loops waiting for it (see LOOP_EXCLUSIVE). */
static void requeue(loop *lp, loop_io *io) {
  unsigned armed = io->armed;
  narrow(lp, io, 0);
  loop_arm(lp, io, armed);
}

void loop_forget(loop *lp, loop_io *io) {
  if (io->armed)
    narrow(lp, io, 0);
  for (int i = lp->ievent; i < lp->nevents; i++)
    if (lp->events[i].data.ptr == io)
      lp->events[i].data.ptr = NULL;
}

int loop_watching(const loop *lp) { return lp->nwatched; }

static void heap_set(loop *lp, size_t i, loop_timer *t) {
  lp->heap[i] = t;
  t->slot = i + 1;
}

static void sift_up(loop *lp, size_t i) {
  loop_timer *t = lp->heap[i];
  while (i > 0 && lp->heap[(i - 1) / 2]->when > t->when) {
    heap_set(lp, i, lp->heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  heap_set(lp, i, t);
}

static void sift_down(loop *lp, size_t i) {
  loop_timer *t = lp->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= lp->ntimers)
      break;
    if (c + 1 < lp->ntimers && lp->heap[c + 1]->when < lp->heap[c]->when)
      c++;
    if (lp->heap[c]->when >= t->when)
      break;
    heap_set(lp, i, lp->heap[c]);
    i = c;
  }
  heap_set(lp, i, t);
}

/* The heap grows by doubling. */
int loop_timer_reserve(loop *lp, size_t n) {
  if (n <= lp->heapcap)
    return 0;
  size_t cap = lp->heapcap ? lp->heapcap : 64;
  while (cap < n)
    cap *= 2;
  loop_timer **h = realloc(lp->heap, cap * sizeof *h);
  if (!h)
    return -ENOMEM;
  lp->heap = h;
  lp->heapcap = cap;
  return 0;
}

void loop_timer_stop(loop *lp, loop_timer *t) {
  if (!t->slot)
    return;
  size_t i = t->slot - 1;
  loop_timer *last = lp->heap[--lp->ntimers];
  t->slot = 0;
  if (last == t)
    return;
  heap_set(lp, i, last);
  sift_up(lp, i);
  sift_down(lp, last->slot - 1);
}

/* Without a reservation, running out of memory here is fatal: a lost timer
 * would hang its task forever, and the caller has no way to report it. */
void loop_timer_start(loop *lp, loop_timer *t, double when) {
  loop_timer_stop(lp, t);
  if (loop_timer_reserve(lp, lp->ntimers + 1) < 0)
    abort();
  t->when = when;
  lp->heap[lp->ntimers] = t;
  sift_up(lp, lp->ntimers++);
}

double loop_next_timeout(const loop *lp) {
  if (lp->ntimers == 0)
    return -1;
  double d = lp->heap[0]->when - loop_now();
  return d > 0 ? d : 0;
}

static void fire_timers(loop *lp) {
  if (lp->ntimers == 0)
    return;
  double now = loop_now();
  while (lp->ntimers > 0 && lp->heap[0]->when <= now) {
    loop_timer *t = lp->heap[0];
    loop_timer_stop(lp, t);
    t->fn(t);
  }
}

static int wait_ms(const loop *lp, double timeout) {
  double next = loop_next_timeout(lp);
  if (next >= 0 && (timeout < 0 || next < timeout))
    timeout = next;
  if (timeout < 0)
    return -1;
  double ms = timeout * 1000.0;
  return ms > 86400000.0 ? 86400000 : (int)ms + (ms > (int)ms);
}

static void dispatch(loop *lp) {
  for (lp->ievent = 0; lp->ievent < lp->nevents; lp->ievent++) {
    struct epoll_event *ev = &lp->events[lp->ievent];
    loop_io *io = ev->data.ptr;
    if (!io)
      continue;
    unsigned idle = io->fn(io, ev->events);
    if (idle & io->armed)
      narrow(lp, io, io->armed & ~idle);
    else if (io->armed & LOOP_EXCLUSIVE)
      requeue(lp, io);
  }
  lp->nevents = lp->ievent = 0;
}

/* Before a wait that would sleep, polls without sleeping for at most
 * spin_us while the last wait ended soon (within four times that): a peer
 * answering within microseconds is then met awake, saving the sleep and the
 * wake-up. An idle loop's waits are long, so it never spins. */
#define SPIN_RECENT 4

static int spin(loop *lp, int ms) {
  double start = loop_now(), stop = start + lp->spin_us * 1e-6;
  if (ms >= 0 && start + ms * 1e-3 < stop)
    stop = start + ms * 1e-3;
  int n;
  do
    n = epoll_wait(lp->epfd, lp->events, LOOP_MAX_EVENTS, 0);
  while (n == 0 && loop_now() < stop);
  return n;
}

static int wait_events(loop *lp, int ms) {
  if (ms == 0 || lp->spin_us == 0)
    return epoll_wait(lp->epfd, lp->events, LOOP_MAX_EVENTS, ms);
  if (lp->last_wait < lp->spin_us * SPIN_RECENT * 1e-6) {
    int n = spin(lp, ms);
    if (n != 0)
      return n;
  }
  double start = loop_now();
  int n = epoll_wait(lp->epfd, lp->events, LOOP_MAX_EVENTS, ms);
  lp->last_wait = loop_now() - start;
  return n;
}

int loop_poll(loop *lp, double timeout) {
  int n = wait_events(lp, wait_ms(lp, timeout));
  if (n < 0 && errno != EINTR)
    return -errno;
  lp->nevents = n > 0 ? n : 0;
  dispatch(lp);
  fire_timers(lp);
  return n > 0 ? n : 0;
}

static unsigned on_sigfd(loop_io *io, unsigned events) {
  loop *lp = (loop *)((char *)io - offsetof(loop, sigio));
  struct signalfd_siginfo si;
  (void)events;
  while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si)
    if (lp->on_signal)
      lp->on_signal(lp, (int)si.ssi_signo);
  return 0;
}

/* Each byte in the pipe is one caught signal's number. */
static unsigned on_wake(loop_io *io, unsigned events) {
  loop *lp = (loop *)((char *)io - offsetof(loop, wakeio));
  unsigned char b[64];
  ssize_t n;
  (void)events;
  while ((n = read(io->fd, b, sizeof b)) > 0)
    for (ssize_t i = 0; i < n; i++)
      if (lp->on_signal)
        lp->on_signal(lp, b[i]);
  return 0;
}

/* The write end of the pipe of the innermost catching loop (-1: none) and
 * the process it belongs to. A signal handler is given no context, and
 * dispositions are process-wide, so this is the one piece of mutable C
 * state the runtime has, process-wide too. */
static volatile sig_atomic_t wake_fd = -1, wake_pid;

/* Async-signal-safe. A full pipe drops the byte: the loop already has
 * signals to read, as the kernel merges a pending signal with a new one. A
 * child forked without exec shares the pipe: there the signal takes its
 * default action (raised again, it is delivered once the handler returns),
 * rather than reaching the parent's loop. */
static void on_caught(int signo) {
  int saved = errno;
  unsigned char b = (unsigned char)signo;
  int fd = wake_fd;
  if (fd >= 0 && wake_pid == getpid()) {
    ssize_t r = write(fd, &b, 1);
    (void)r;
  } else {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(signo, &sa, NULL);
    raise(signo);
  }
  errno = saved;
}

/* Not signalfd with the signals blocked: a blocked mask is inherited by every
 * child (exec keeps it), so a `sleep` started by the script would ignore
 * SIGTERM; a handler is reset to the default by exec. SA_RESTART: the
 * script's own blocking calls (io.read, the wait in os.execute) carry on. */
const int loop_signals[LOOP_NSIG] = {SIGINT,  SIGTERM, SIGHUP,   SIGQUIT,
                                     SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM};

int loop_signal_index(int signo) {
  for (int i = 0; i < LOOP_NSIG; i++)
    if (loop_signals[i] == signo)
      return i;
  return -1;
}

void loop_catch_signals(loop *lp) {
  if (lp->catching++)
    return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_caught;
  sa.sa_flags = SA_RESTART;
  sa.sa_mask = lp->sigs;
  lp->oldwake = wake_fd;
  wake_pid = getpid();
  wake_fd = lp->wake[1];
  for (int i = 0; i < LOOP_NSIG; i++)
    sigaction(loop_signals[i], &sa, &lp->old[i]);
}

void loop_release_signals(loop *lp) {
  if (!lp->catching || --lp->catching)
    return;
  for (int i = 0; i < LOOP_NSIG; i++)
    sigaction(loop_signals[i], &lp->old[i], NULL);
  wake_fd = lp->oldwake;
  unsigned char b[64];
  ssize_t n;
  while ((n = read(lp->wake[0], b, sizeof b)) > 0)
    for (ssize_t i = 0; i < n; i++)
      raise(b[i]);
}

void loop_child_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  wake_fd = -1;
  for (int i = 0; i < LOOP_NSIG; i++)
    sigaction(loop_signals[i], &sa, NULL);
  sigaction(SIGPIPE, &sa, NULL);
  sigprocmask(SIG_SETMASK, &sa.sa_mask, NULL);
}

static int open_signals(loop *lp) {
  sigemptyset(&lp->sigs);
  for (int i = 0; i < LOOP_NSIG; i++)
    sigaddset(&lp->sigs, loop_signals[i]);
  lp->sigfd = signalfd(-1, &lp->sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  if (lp->sigfd < 0 || pipe2(lp->wake, O_NONBLOCK | O_CLOEXEC) < 0)
    return -errno;
  lp->sigio = (loop_io){.fd = lp->sigfd, .fn = on_sigfd};
  lp->wakeio = (loop_io){.fd = lp->wake[0], .fn = on_wake};
  int r = loop_arm(lp, &lp->sigio, LOOP_IN);
  return r < 0 ? r : loop_arm(lp, &lp->wakeio, LOOP_IN);
}

static void on_sigpipe(int signo) { (void)signo; }

/* A write to a dead peer must be an error value, never the end of the
 * process: sockets write with MSG_NOSIGNAL, and any other write (a pipe)
 * meets this empty handler unless the host installed its own. A handler, not
 * SIG_IGN, because exec resets it: child processes get the default back. */
static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
    return;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigpipe;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);
}

int loop_init(loop *lp, loop_signal_fn *on_signal) {
  memset(lp, 0, sizeof *lp);
  lp->sigfd = lp->wake[0] = lp->wake[1] = -1;
  lp->on_signal = on_signal;
  lp->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (lp->epfd < 0)
    return -errno;
  int r = open_signals(lp);
  if (r < 0) {
    loop_free(lp);
    return r;
  }
  ignore_sigpipe();
  lp->spin_us = LOOP_SPIN_DEFAULT;
  lp->last_wait = 1;
  return 0;
}

void loop_set_spin(loop *lp, int us) {
  lp->spin_us = us < 0 ? 0 : us > LOOP_SPIN_MAX ? LOOP_SPIN_MAX : us;
}

void loop_free(loop *lp) {
  while (lp->catching)
    loop_release_signals(lp);
  for (int i = 0; i < 2; i++)
    if (lp->wake[i] >= 0)
      close(lp->wake[i]);
  if (lp->sigfd >= 0)
    close(lp->sigfd);
  if (lp->epfd >= 0)
    close(lp->epfd);
  free(lp->heap);
  lp->heap = NULL;
  lp->ntimers = lp->heapcap = 0;
  lp->sigfd = lp->epfd = lp->wake[0] = lp->wake[1] = -1;
}
