/* SPDX-License-Identifier: MIT */
/*
 * Work off the event loop: run a function in a thread of its own and call
 * a completion back on the event loop once it has returned (Redis's bio
 * threads, reduced to one job per thread).  The function must not touch
 * anything the event loop owns; the completion may (the thread is joined
 * before it runs).  Used by the save's storing phase, snapshot export and
 * import, and the restore's materialising.
 */
#ifndef SBUMLD_WORKER_H
#define SBUMLD_WORKER_H

/* In the worker thread. */
typedef void (*worker_fn)(void *arg);
/* On the event loop, after fn returned and its thread was joined. */
typedef void (*worker_done_fn)(void *arg);

/*
 * Start fn(arg) in a new thread; done(arg) follows on daemon_base.  0, or
 * -errno (nothing runs, neither fn nor done).  The worker frees itself
 * after done.  A daemon that exits meanwhile never calls done.
 */
int	worker_start(worker_fn fn, worker_done_fn done, void *arg);

#endif
