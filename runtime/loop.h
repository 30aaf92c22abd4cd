/* The event loop: one epoll instance, a binary heap of timers, and SIGINT and
 * SIGTERM turned into events (a signalfd, and a pipe a handler writes to). It
 * knows file descriptors, event masks and timers only; nothing of sockets,
 * tasks or Lua. */
#ifndef LUDS_LOOP_H
#define LUDS_LOOP_H

#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>

#define LOOP_IN EPOLLIN
#define LOOP_OUT EPOLLOUT
#define LOOP_HUP (EPOLLERR | EPOLLHUP) /* always reported: wakes both sides */
/* With LOOP_IN, for an fd that other processes watch too (a listener shared
 * by workers): each event wakes one of the loops waiting for it, not all.
 * The kernel takes it only when an fd is added, never changed, so the loop
 * re-adds such an fd where it would change it, and after each event it
 * reports, which puts this loop at the back of the kernel's queue: wake-ups
 * go round-robin rather than always to the first loop that asked. */
#define LOOP_EXCLUSIVE EPOLLEXCLUSIVE
#define LOOP_MAX_EVENTS 256

typedef struct loop_io loop_io;
typedef struct loop_timer loop_timer;
typedef struct loop loop;

/* Called with the events that fired; returns the events nobody waits for any
 * more, which the loop then stops watching (lazy disarm, level-triggered). */
typedef unsigned loop_io_fn(loop_io *io, unsigned events);
typedef void loop_timer_fn(loop_timer *t);
typedef void loop_signal_fn(loop *lp, int signo);

struct loop_io {
  int fd;
  unsigned armed; /* events in the epoll interest set; 0: not registered */
  loop_io_fn *fn;
};

struct loop_timer {
  double when; /* on the loop_now() clock */
  size_t slot; /* heap index + 1; 0 while not scheduled */
  loop_timer_fn *fn;
};

/* The signals the loop turns into events: every catchable one that a
 * terminal, a service manager or kill(1) sends (loop_signals lists them). */
#define LOOP_NSIG 8
extern const int loop_signals[LOOP_NSIG];
/* The index of signo in loop_signals, or -1. */
int loop_signal_index(int signo);

struct loop {
  int epfd, sigfd;
  int wake[2];  /* the pipe the handler writes caught signals to */
  int catching; /* depth of loop_catch_signals */
  int oldwake;  /* the pipe the handler wrote to before */
  struct sigaction old[LOOP_NSIG]; /* dispositions found at catch */
  sigset_t sigs;
  loop_io sigio, wakeio;
  loop_signal_fn *on_signal;
  loop_timer **heap;
  size_t ntimers, heapcap;
  int nwatched; /* fds in the interest set, the signalfd included */
  struct epoll_event events[LOOP_MAX_EVENTS];
  int nevents, ievent; /* the batch being dispatched */
  int spin_us;          /* loop_set_spin; 0: never spin */
  double last_wait;     /* seconds the last sleeping wait lasted (measured while spinning is on) */
};

int loop_init(loop *lp, loop_signal_fn *on_signal);
void loop_free(loop *lp);
double loop_now(void);

/* Adds events (LOOP_IN, LOOP_OUT, LOOP_EXCLUSIVE) to what the loop watches
 * for io; returns 0 or -errno. */
int loop_arm(loop *lp, loop_io *io, unsigned events);
/* Stops watching io and drops its events still pending in this batch; call
 * it before closing io->fd. */
void loop_forget(loop *lp, loop_io *io);
/* How many fds the loop watches, its own included. */
/* The loop's own armed fds (the signalfd and the signal pipe), which
 * loop_watching counts too. */
#define LOOP_OWN_IOS 2
int loop_watching(const loop *lp);

/* Makes room for n scheduled timers: while no more are scheduled,
 * loop_timer_start never allocates (nor aborts). Returns 0 or -ENOMEM. */
int loop_timer_reserve(loop *lp, size_t n);
void loop_timer_start(loop *lp, loop_timer *t, double when);
void loop_timer_stop(loop *lp, loop_timer *t);
/* Seconds until the earliest timer, 0 if one is due, -1 if there is none. */
double loop_next_timeout(const loop *lp);

/* How long a loop whose last wait was short polls before it sleeps, in
 * microseconds (0: never; 50 by default: a peer that answers within that
 * is met awake instead of paying for a wake-up, doc/performance.md). */
#define LOOP_SPIN_DEFAULT 50
#define LOOP_SPIN_MAX 1000
void loop_set_spin(loop *lp, int us);

/* Waits at most timeout seconds (-1: until a timer or event), dispatches the
 * events and expired timers. Returns the number of events or -errno. */
int loop_poll(loop *lp, double timeout);

/* The signals of loop_signals reach on_signal in two ways. Between these two calls a
 * handler catches them and writes them to the loop's pipe; the signal mask is
 * never touched, so every program the process starts (io.popen, os.execute,
 * posix_spawn) inherits the mask it had and, exec resetting handlers, the
 * default dispositions. Outside, they reach it only if the host blocks them
 * (the signalfd). Release restores the dispositions found at catch and raises
 * again any signal caught but not yet read, so the restored disposition
 * decides. Calls nest; the innermost catching loop gets the signals. */
void loop_catch_signals(loop *lp);
void loop_release_signals(loop *lp);

/* For a child between fork and exec: an empty signal mask and the default
 * disposition for every signal the loop handles (loop_signals, SIGPIPE).
 * Async-signal-safe. */
void loop_child_signals(void);

#endif
