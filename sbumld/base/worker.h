/* SPDX-License-Identifier: MIT */
/*
 * Work off the event loop: one bounded pool for every blocking job (the
 * save's storing phase, the restore's materialising, snapshot export,
 * import, verify, list, delete and store.gc).  A job's function runs in a
 * thread of its own and its completion is called back on the event loop
 * once it has returned (Redis's bio threads, with a queue and caps in front).
 * The function must not touch anything the event loop owns; the completion
 * may (the thread is joined before it runs).
 *
 * Bounds (doc/rpc.md, "Limits"): at most WORKER_MAX_THREADS clients' jobs
 * run at once, the rest wait in one FIFO queue; the daemon's own jobs
 * (a save's storing, a restore's materialising: one per machine at most)
 * are not held behind them.  Jobs a client asked for are
 * admitted only while that client has fewer than WORKER_MAX_CLIENT_JOBS and
 * all clients together fewer than WORKER_MAX_JOBS queued or running; the
 * caller answers LimitExceeded otherwise.  A client that goes away cancels
 * its jobs: each has a cancel fd (an eventfd) that becomes readable, which
 * the job's blocking reads and writes on the client's descriptors poll
 * together with them.
 *
 * The chunk store's rule (store.h) is kept by the scheduler too: an
 * exclusive job (store.gc) never runs while a job touching the store runs,
 * and no store job starts while an exclusive one runs.
 */
#ifndef SBUMLD_WORKER_H
#define SBUMLD_WORKER_H

#include <stdbool.h>

#define WORKER_MAX_THREADS	8
#define WORKER_MAX_JOBS		32	/* clients' jobs, queued or running */
#define WORKER_MAX_CLIENT_JOBS	4	/* one client's, queued or running */

/* In the worker thread. */
typedef void (*worker_fn)(void *arg);
/* On the event loop, after fn returned and its thread was joined. */
typedef void (*worker_done_fn)(void *arg);

enum worker_store {
	WORKER_STORE_NONE,	/* does not touch the chunk store */
	WORKER_STORE_SHARED,	/* reads or adds chunks, registers snapshots */
	WORKER_STORE_EXCLUSIVE,	/* store.gc: alone with the store */
};

struct worker_opts {
	const void		*owner;	/* the client, or NULL: uncapped, never cancelled */
	enum worker_store	 store;
};

/*
 * Queue fn(arg); done(arg) follows on daemon_base.  0, or -errno (nothing
 * runs, neither fn nor done): -EAGAIN when the owner or all clients are at
 * their cap.  If ret_cancel_fd is not NULL it is set to the job's cancel fd
 * (owned by the pool, valid while fn runs) or -1 without an owner.  A
 * daemon that exits meanwhile never calls done.
 */
int	worker_submit(const struct worker_opts *o, worker_fn fn,
	    worker_done_fn done, void *arg, int *ret_cancel_fd);
/* worker_submit without an owner, a job that touches the store. */
int	worker_start(worker_fn fn, worker_done_fn done, void *arg);

/* Cancel every job of owner (its client went away): their cancel fds fire. */
void	worker_cancel_owner(const void *owner);
/*
 * Run one task in n shares at once: fn(arg, i, n) for every i < n, share 0
 * in the calling thread, and return when all have returned.  For a job
 * that is itself running in the pool (the save's storing, the restore's
 * materialising) and wants more cores on one large file.
 *
 * The rule that keeps it from deadlocking: shares never queue.  Each
 * other share gets a helper thread of its own at once, counted against
 * WORKER_MAX_HELPERS (all worker_parallel calls together, not the jobs'
 * caps); a share that finds no helper (the cap reached, or no thread could
 * be made) runs in the calling thread after share 0.  So a caller never
 * waits for a thread another caller holds, and the work gets done with
 * however many threads there are.  Any thread may call it; fn must not
 * touch what the event loop owns.
 */
#define WORKER_MAX_HELPERS	8
typedef void (*worker_share_fn)(void *arg, unsigned int share,
    unsigned int nshares);
void	worker_parallel(unsigned int n, worker_share_fn fn, void *arg);

/* True if a job touching the store or an exclusive one is queued or running. */
bool	worker_store_busy(void);
/* Queued or running jobs of owner (NULL: all clients' jobs). */
unsigned	worker_jobs(const void *owner);

#endif
