/* Standalone checks for runtime/workpool.c: jobs delivered once each through
 * the eventfd, cancel in every state (queued, running, finished), signals
 * blocked in the workers, and a shutdown that neither hangs on a job stuck
 * in its call nor loses it (the detached thread releases it later). Every
 * wait is bounded. Prints "N passed, N failed". */
#include "workpool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond) check((cond), #cond, __LINE__)

static void check(int ok, const char *what, int line) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  fprintf(stderr, "FAIL line %d: %s\n", line, what);
}

static atomic_int released;

typedef struct job {
  workpool_job base;
  int id;
  int gate;          /* a pipe's read end the work waits on (-1: none) */
  int all_blocked;   /* every signal was blocked while it ran */
  atomic_int started;
} job;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Waits for the gate to open (a byte, or its write end closed), 10 s at most. */
static void work(workpool_job *j) {
  job *me = (job *)j;
  sigset_t mask;
  atomic_store(&me->started, 1);
  pthread_sigmask(SIG_SETMASK, NULL, &mask);
  me->all_blocked = sigismember(&mask, SIGINT) && sigismember(&mask, SIGTERM) &&
                    sigismember(&mask, SIGCHLD) && sigismember(&mask, SIGUSR1);
  if (me->gate >= 0) {
    struct pollfd p = {me->gate, POLLIN, 0};
    poll(&p, 1, 10000);
  }
}

static void release(workpool_job *j) {
  atomic_fetch_add(&released, 1);
  free(j);
}

static job *new_job(int id, int gate) {
  job *j = calloc(1, sizeof *j);
  if (!j)
    abort();
  j->base.work = work;
  j->base.release = release;
  j->id = id;
  j->gate = gate;
  return j;
}

struct seen {
  int ids[64];
  int n;
};

static void deliver(workpool_job *j, void *arg) {
  struct seen *s = arg;
  job *me = (job *)j;
  if (s->n < 64)
    s->ids[s->n++] = me->id;
  CHECK(me->all_blocked);
  free(j); /* a delivered job is the owner's */
}

/* Drains until `want` jobs were delivered in all or 5 s passed. */
static void drain_until(workpool *p, struct seen *s, int want) {
  double until = now() + 5;
  while (s->n < want && now() < until) {
    struct pollfd fd = {workpool_fd(p), POLLIN, 0};
    if (poll(&fd, 1, 100) > 0)
      workpool_drain(p, deliver, s);
  }
}

static int wait_released(int want) {
  for (int i = 0; i < 500 && atomic_load(&released) < want; i++)
    usleep(10000);
  return atomic_load(&released);
}

static void test_delivers_each_once(void) {
  workpool *p;
  struct seen s = {.n = 0};
  CHECK(workpool_new(&p, 4) == 0);
  for (int i = 0; i < 40; i++)
    CHECK(workpool_submit(p, &new_job(i, -1)->base) == 0);
  drain_until(p, &s, 40);
  CHECK(s.n == 40);
  int count[40] = {0};
  for (int i = 0; i < s.n; i++)
    if (s.ids[i] >= 0 && s.ids[i] < 40)
      count[s.ids[i]]++;
  int once = 1;
  for (int i = 0; i < 40; i++)
    once &= count[i] == 1;
  CHECK(once);
  struct pollfd fd = {workpool_fd(p), POLLIN, 0};
  CHECK(poll(&fd, 1, 0) == 0); /* nothing left to tell */
  atomic_store(&released, 0);
  workpool_free(p, 1);
  CHECK(atomic_load(&released) == 0);
}

/* One thread: a job held at its gate keeps the next two queued. */
static void test_cancel_queued_running_finished(void) {
  workpool *p;
  int gate[2];
  struct seen s = {.n = 0};
  CHECK(pipe(gate) == 0);
  CHECK(workpool_new(&p, 1) == 0);
  atomic_store(&released, 0);
  job *held = new_job(1, gate[0]), *queued = new_job(2, -1), *last = new_job(3, -1);
  CHECK(workpool_submit(p, &held->base) == 0);
  CHECK(workpool_submit(p, &queued->base) == 0);
  CHECK(workpool_submit(p, &last->base) == 0);
  workpool_cancel(p, &queued->base); /* queued: released at once, never run */
  CHECK(atomic_load(&released) == 1);
  for (int i = 0; i < 5000 && !atomic_load(&held->started); i++)
    usleep(1000);
  workpool_cancel(p, &held->base); /* running: released by its thread */
  CHECK(atomic_load(&released) == 1);
  CHECK(write(gate[1], "x", 1) == 1);
  CHECK(wait_released(2) == 2);
  drain_until(p, &s, 1);
  CHECK(s.n == 1 && s.ids[0] == 3);
  job *done = new_job(4, -1);
  CHECK(workpool_submit(p, &done->base) == 0);
  struct pollfd fd = {workpool_fd(p), POLLIN, 0};
  CHECK(poll(&fd, 1, 5000) == 1);
  workpool_cancel(p, &done->base); /* finished, not drained: released at once */
  CHECK(atomic_load(&released) == 3);
  CHECK(workpool_drain(p, deliver, &s) == 0);
  workpool_free(p, 1);
  close(gate[0]);
  close(gate[1]);
}

/* A job stuck in its call does not hold up the shutdown, and is released
 * by its detached thread once the call returns; queued jobs at once. */
static void test_free_with_a_stuck_job(void) {
  workpool *p;
  int gate[2];
  CHECK(pipe(gate) == 0);
  CHECK(workpool_new(&p, 1) == 0);
  atomic_store(&released, 0);
  job *stuck = new_job(1, gate[0]);
  CHECK(workpool_submit(p, &stuck->base) == 0);
  CHECK(workpool_submit(p, &new_job(2, -1)->base) == 0);
  for (int i = 0; i < 5000 && !atomic_load(&stuck->started); i++)
    usleep(1000);
  double t0 = now();
  workpool_free(p, 0.05);
  double took = now() - t0;
  CHECK(took < 2); /* the bound, not the 10 s the job may wait */
  CHECK(atomic_load(&released) == 1); /* the queued one */
  CHECK(write(gate[1], "x", 1) == 1);
  CHECK(wait_released(2) == 2);
  usleep(20000); /* the thread drops the pool's last memory: valgrind's to see */
  close(gate[0]);
  close(gate[1]);
}

static void test_bad_size(void) {
  workpool *p;
  CHECK(workpool_new(&p, 0) == -EINVAL);
  CHECK(workpool_new(&p, WORKPOOL_MAX + 1) == -EINVAL);
  CHECK(p == NULL);
}

int main(void) {
  test_delivers_each_once();
  test_cancel_queued_running_finished();
  test_free_with_a_stuck_job();
  test_bad_size();
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
