/* The worker pool: a mutex-guarded queue, threads started lazily up to a
 * bound, finished jobs told through one eventfd. The pool's memory is
 * reference-counted (the owner and each thread) so that a thread detached
 * at shutdown, still inside a slow call, can finish and free it later. */
#include "workpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum { JOB_QUEUED = 1, JOB_RUNNING, JOB_FINISHED, JOB_ABANDONED, JOB_DELIVERED };

typedef struct worker {
  workpool *p;
  pthread_t tid;
  workpool_job *current; /* the job it runs, or NULL */
  int done;              /* the thread has left its loop: join will not wait */
} worker;

struct workpool {
  pthread_mutex_t mu;
  pthread_cond_t cv;       /* signalled when a job is queued or the pool stops */
  pthread_cond_t exited;   /* broadcast when a thread leaves its loop */
  workpool_job *head, *tail; /* queued, not started */
  workpool_job *done;        /* finished, not drained: newest first */
  unsigned max, nthreads, busy, queued; /* busy: threads inside a job */
  unsigned refs; /* the owner's, plus one per thread */
  int stopping, efd;
  worker workers[WORKPOOL_MAX];
};

static void drop_ref(workpool *p) {
  pthread_mutex_lock(&p->mu);
  int last = --p->refs == 0;
  pthread_mutex_unlock(&p->mu);
  if (!last)
    return;
  pthread_cond_destroy(&p->cv);
  pthread_cond_destroy(&p->exited);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

/* Under the lock: the first queued job, taken off the queue. */
static workpool_job *take(workpool *p) {
  workpool_job *j = p->head;
  p->head = j->next;
  if (!p->head)
    p->tail = NULL;
  p->queued--;
  j->next = NULL;
  return j;
}

/* Under the lock: the job is finished; the eventfd is written only when
 * the done list was empty, drain reading it back under the same lock. */
static void finished(workpool *p, workpool_job *j) {
  uint64_t one = 1;
  j->state = JOB_FINISHED;
  j->next = p->done;
  p->done = j;
  if (!j->next && !p->stopping && write(p->efd, &one, sizeof one) < 0) {
    /* EAGAIN only: the counter is already far from zero, so readable */
  }
}

/* Runs j without the lock; a job given up meanwhile is released here. */
static void run(worker *w, workpool_job *j) {
  workpool *p = w->p;
  j->work(j);
  pthread_mutex_lock(&p->mu);
  w->current = NULL;
  p->busy--;
  int abandoned = j->state == JOB_ABANDONED;
  if (!abandoned)
    finished(p, j);
  pthread_mutex_unlock(&p->mu);
  if (abandoned)
    j->release(j);
}

static void *thread_main(void *arg) {
  worker *w = arg;
  workpool *p = w->p;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stopping && !p->head)
      pthread_cond_wait(&p->cv, &p->mu);
    if (p->stopping)
      break;
    workpool_job *j = take(p);
    j->state = JOB_RUNNING;
    w->current = j;
    p->busy++;
    pthread_mutex_unlock(&p->mu);
    run(w, j);
    pthread_mutex_lock(&p->mu);
  }
  w->done = 1;
  pthread_cond_broadcast(&p->exited);
  pthread_mutex_unlock(&p->mu);
  drop_ref(p);
  return NULL;
}

/* Under the lock. Every signal is blocked in the new thread (it inherits
 * the mask in force here), so signals reach the loop's thread only. */
static int start_thread(workpool *p) {
  worker *w = &p->workers[p->nthreads];
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  w->p = p;
  w->current = NULL;
  w->done = 0;
  int r = pthread_create(&w->tid, NULL, thread_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r != 0)
    return -r;
  p->nthreads++;
  p->refs++;
  return 0;
}

int workpool_new(workpool **out, unsigned max) {
  *out = NULL;
  if (max < 1 || max > WORKPOOL_MAX)
    return -EINVAL;
  workpool *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (p->efd < 0) {
    int r = -errno;
    free(p);
    return r;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  pthread_cond_init(&p->exited, NULL);
  p->max = max;
  p->refs = 1;
  *out = p;
  return 0;
}

int workpool_fd(const workpool *p) { return p->efd; }

int workpool_submit(workpool *p, workpool_job *j) {
  int r = 0;
  j->next = NULL;
  j->state = JOB_QUEUED;
  pthread_mutex_lock(&p->mu);
  if (p->tail)
    p->tail->next = j;
  else
    p->head = j;
  p->tail = j;
  p->queued++;
  if (p->queued > p->nthreads - p->busy && p->nthreads < p->max)
    r = start_thread(p);
  if (r < 0 && p->nthreads > 0)
    r = 0; /* the threads there are will get to it */
  if (r < 0)
    take(p); /* j is the only job: no thread ever ran */
  else
    pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return r;
}

/* The list newest first, reversed: oldest first. */
static workpool_job *reversed(workpool_job *j) {
  workpool_job *out = NULL;
  while (j) {
    workpool_job *next = j->next;
    j->next = out;
    out = j;
    j = next;
  }
  return out;
}

unsigned workpool_drain(workpool *p, void (*deliver)(workpool_job *j, void *arg), void *arg) {
  uint64_t count;
  pthread_mutex_lock(&p->mu);
  if (read(p->efd, &count, sizeof count) < 0) {
    /* EAGAIN: nothing was written since the last drain */
  }
  workpool_job *j = reversed(p->done);
  p->done = NULL;
  pthread_mutex_unlock(&p->mu);
  unsigned n = 0;
  while (j) {
    workpool_job *next = j->next;
    j->next = NULL;
    j->state = JOB_DELIVERED;
    deliver(j, arg);
    j = next;
    n++;
  }
  return n;
}

/* Under the lock: takes j out of the list at *head; 1 if it was there. */
static int unlink_job(workpool_job **head, workpool_job *j) {
  for (workpool_job **pp = head; *pp; pp = &(*pp)->next)
    if (*pp == j) {
      *pp = j->next;
      j->next = NULL;
      return 1;
    }
  return 0;
}

void workpool_cancel(workpool *p, workpool_job *j) {
  int release = 0;
  pthread_mutex_lock(&p->mu);
  if (j->state == JOB_QUEUED && unlink_job(&p->head, j)) {
    p->tail = NULL;
    for (workpool_job *t = p->head; t; t = t->next)
      p->tail = t;
    p->queued--;
    release = 1;
  } else if (j->state == JOB_RUNNING) {
    j->state = JOB_ABANDONED;
  } else if (j->state == JOB_FINISHED) {
    release = unlink_job(&p->done, j);
  }
  pthread_mutex_unlock(&p->mu);
  if (release)
    j->release(j);
}

/* Under the lock: the jobs no thread runs, off their lists, to release;
 * running jobs are given up, for their threads to release. */
static workpool_job *stop(workpool *p) {
  workpool_job *all = p->done;
  p->done = NULL;
  while (p->head) {
    workpool_job *j = take(p);
    j->next = all;
    all = j;
  }
  for (unsigned i = 0; i < p->nthreads; i++)
    if (p->workers[i].current)
      p->workers[i].current->state = JOB_ABANDONED;
  p->stopping = 1;
  pthread_cond_broadcast(&p->cv);
  return all;
}

/* Waits, under the lock, until every thread has left its loop or the
 * deadline (CLOCK_REALTIME, as pthread_cond_timedwait) passes. */
static void wait_exits(workpool *p, const struct timespec *until) {
  for (;;) {
    unsigned left = 0;
    for (unsigned i = 0; i < p->nthreads; i++)
      left += !p->workers[i].done;
    if (!left || pthread_cond_timedwait(&p->exited, &p->mu, until) == ETIMEDOUT)
      return;
  }
}

static struct timespec after(double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ns = ts.tv_nsec + (long long)(seconds * 1e9);
  ts.tv_sec += (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  return ts;
}

/* A thread that has left its loop is joined (it is about to return); one
 * that has not is detached: it holds a reference of its own. */
void workpool_free(workpool *p, double grace) {
  pthread_mutex_lock(&p->mu);
  workpool_job *j = stop(p);
  close(p->efd); /* under the lock: no thread writes it once stopping */
  p->efd = -1;
  struct timespec until = after(grace > 0 ? grace : 0);
  wait_exits(p, &until);
  unsigned n = p->nthreads;
  int done[WORKPOOL_MAX];
  for (unsigned i = 0; i < n; i++)
    done[i] = p->workers[i].done;
  pthread_mutex_unlock(&p->mu);
  while (j) {
    workpool_job *next = j->next;
    j->release(j);
    j = next;
  }
  for (unsigned i = 0; i < n; i++) {
    if (done[i])
      pthread_join(p->workers[i].tid, NULL);
    else
      pthread_detach(p->workers[i].tid);
  }
  drop_ref(p);
}
