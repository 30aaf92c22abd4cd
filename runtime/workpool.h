/* A small pool of worker threads for calls that block and cannot be polled
 * (getaddrinfo, NSS lookups): jobs in, finished jobs out, completion told
 * through one eventfd the owner's loop watches. No Lua here: the threads
 * never see a lua_State, only the jobs they are given. */
#ifndef LUDS_WORKPOOL_H
#define LUDS_WORKPOOL_H

#define WORKPOOL_MAX 16 /* threads one pool may start at most */

typedef struct workpool workpool;
typedef struct workpool_job workpool_job;
typedef void workpool_fn(workpool_job *j);

/* Embedded first in a job of the caller's. The pool owns a submitted job
 * until workpool_drain hands it back, or until workpool_cancel, after which
 * the pool frees it (release) as soon as no thread runs it any more. */
struct workpool_job {
  workpool_fn *work;    /* on a worker thread, all signals blocked */
  workpool_fn *release; /* frees the job; any thread may call it */
  void *owner;          /* the submitter's: the pool never touches it */
  workpool_job *next;   /* the pool's from here on */
  int state;
};

/* A pool of at most max threads (1 to WORKPOOL_MAX), none started yet, and
 * its eventfd (NONBLOCK, CLOEXEC). 0 or -errno. */
int workpool_new(workpool **p, unsigned max);
/* Readable while finished jobs wait for workpool_drain. */
int workpool_fd(const workpool *p);
/* Queues j, starting a thread when every running one is busy and fewer
 * than max run. 0 or -errno: no thread runs and none could be started, and
 * j is still the caller's. */
int workpool_submit(workpool *p, workpool_job *j);
/* On the owner's thread: hands each finished job (its work done, not
 * given up) to deliver, in the order they finished, and the job back to
 * the caller. Returns how many. */
unsigned workpool_drain(workpool *p, void (*deliver)(workpool_job *j, void *arg), void *arg);
/* The owner gives up on j, submitted and not yet handed back: it is never
 * delivered; a job not started, or finished, is released at once, a
 * running one by its thread when the work returns. */
void workpool_cancel(workpool *p, workpool_job *j);
/* Stops the pool and closes its fd: jobs not started and finished jobs not
 * drained are released, running ones given up. Threads are joined for at
 * most grace seconds; one still inside a job then (a getaddrinfo waiting
 * for a DNS server that does not answer) is detached, and frees its job and
 * the pool's last memory when the call returns, touching nothing else. */
void workpool_free(workpool *p, double grace);

#endif
