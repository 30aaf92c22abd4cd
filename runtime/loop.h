/* The event loop: one epoll instance, a binary heap of timers and signals read
 * through a signalfd. It knows file descriptors, event masks and timers only;
 * nothing of sockets, tasks or Lua. */
#ifndef LUDS_LOOP_H
#define LUDS_LOOP_H

#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>

#define LOOP_IN EPOLLIN
#define LOOP_OUT EPOLLOUT
#define LOOP_HUP (EPOLLERR | EPOLLHUP) /* always reported: wakes both sides */
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

struct loop {
  int epfd, sigfd;
  sigset_t sigs, oldmask;
  int blocked;
  loop_io sigio;
  loop_signal_fn *on_signal;
  loop_timer **heap;
  size_t ntimers, heapcap;
  int nwatched; /* fds in the interest set, the signalfd included */
  struct epoll_event events[LOOP_MAX_EVENTS];
  int nevents, ievent; /* the batch being dispatched */
};

int loop_init(loop *lp, loop_signal_fn *on_signal);
void loop_free(loop *lp);
double loop_now(void);

/* Adds events to what the loop watches for io; returns 0 or -errno. */
int loop_arm(loop *lp, loop_io *io, unsigned events);
/* Stops watching io and drops its events still pending in this batch; call
 * it before closing io->fd. */
void loop_forget(loop *lp, loop_io *io);
/* How many fds the loop watches (the signalfd is one of them). */
int loop_watching(const loop *lp);

void loop_timer_start(loop *lp, loop_timer *t, double when);
void loop_timer_stop(loop *lp, loop_timer *t);
/* Seconds until the earliest timer, 0 if one is due, -1 if there is none. */
double loop_next_timeout(const loop *lp);

/* Waits at most timeout seconds (-1: until a timer or event), dispatches the
 * events and expired timers. Returns the number of events or -errno. */
int loop_poll(loop *lp, double timeout);

/* SIGINT and SIGTERM reach on_signal only while blocked (between these). */
void loop_block_signals(loop *lp);
void loop_unblock_signals(loop *lp);

#endif
