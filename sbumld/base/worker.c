/* SPDX-License-Identifier: MIT */
/*
 * The worker pool (worker.h): a FIFO queue of jobs, at most
 * WORKER_MAX_THREADS of the clients' ones running, each in a thread of its own that
 * signals an eventfd when its function has returned; the loop's read event
 * joins it, runs the completion and starts what may start next.  All of the
 * pool's state is the event loop's: threads see only their own job's fn and
 * arg.  worker_parallel's helper threads are counted apart, by an atomic
 * counter any thread may use.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "context.h"
#include "log.h"
#include "util.h"
#include "worker.h"

struct worker {
	pthread_t		 thread;
	bool			 running;
	int			 done_fd;	/* eventfd: fn returned */
	int			 cancel_fd;	/* eventfd: the owner went away, or -1 */
	struct event		*ev;
	const void		*owner;
	enum worker_store	 store;
	worker_fn		 fn;
	worker_done_fn		 done;
	void			*arg;
	TAILQ_ENTRY(worker)	 entry;
};
TAILQ_HEAD(worker_list, worker);

static struct worker_list	queue = TAILQ_HEAD_INITIALIZER(queue);
static struct worker_list	running = TAILQ_HEAD_INITIALIZER(running);
static unsigned			nowned;	/* running jobs with an owner */
static _Atomic unsigned		nhelpers;	/* worker_parallel's threads */

static void
worker_free(struct worker *w)
{
	if (w->ev != NULL)
		event_free(w->ev);
	closefd(&w->done_fd);
	closefd(&w->cancel_fd);
	free(w);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	uint64_t	 one = 1;

	w->fn(w->arg);
	/* An eventfd write of 1 cannot block or fail here. */
	(void)!write(w->done_fd, &one, sizeof(one));
	return NULL;
}

static void	worker_run_ready(void);

static void
worker_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	worker_done_fn	 done = w->done;
	void		*done_arg = w->arg;
	uint64_t	 v;

	(void)what;
	(void)!read(fd, &v, sizeof(v));
	pthread_join(w->thread, NULL);
	TAILQ_REMOVE(&running, w, entry);
	if (w->owner != NULL)
		nowned--;
	worker_free(w);
	done(done_arg);
	worker_run_ready();
}

/* Start w's thread.  0 or -errno (w stays queued). */
static int
worker_launch(struct worker *w)
{
	int r;

	if ((w->done_fd = eventfd(0, EFD_CLOEXEC)) < 0)
		return -errno;
	if ((w->ev = event_new(daemon_base, w->done_fd, EV_READ, worker_done_cb,
	    w)) == NULL || event_add(w->ev, NULL) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = -pthread_create(&w->thread, NULL, worker_main, w)) < 0)
		goto fail;
	return 0;
fail:
	if (w->ev != NULL)
		event_free(w->ev);
	w->ev = NULL;
	closefd(&w->done_fd);
	return r;
}

/* Counts of running jobs by store class. */
static bool
running_store(enum worker_store kind)
{
	struct worker *w;

	TAILQ_FOREACH(w, &running, entry)
		if (w->store == kind)
			return true;
	return false;
}

/*
 * Start queued jobs in order.  Clients' jobs take at most
 * WORKER_MAX_THREADS threads; the daemon's own (saves, restores: one per
 * machine at most) are not held behind them.  A store job waits while an
 * exclusive one runs or is queued before it; an exclusive one waits until
 * no store job runs.
 */
static void
worker_run_ready(void)
{
	struct worker	*w, *next;
	bool		 excl_ahead = false;
	int		 r;

	for (w = TAILQ_FIRST(&queue); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->owner != NULL && nowned >= WORKER_MAX_THREADS)
			continue;
		if (w->store == WORKER_STORE_EXCLUSIVE) {
			if (excl_ahead || running_store(WORKER_STORE_SHARED) ||
			    running_store(WORKER_STORE_EXCLUSIVE)) {
				excl_ahead = true;
				continue;
			}
		} else if (w->store == WORKER_STORE_SHARED &&
		    (excl_ahead || running_store(WORKER_STORE_EXCLUSIVE)))
			continue;
		if ((r = worker_launch(w)) < 0) {
			/* Retried when the next job ends or is queued. */
			log_warnx("cannot start a worker thread: %s", strerror(-r));
			return;
		}
		TAILQ_REMOVE(&queue, w, entry);
		TAILQ_INSERT_TAIL(&running, w, entry);
		w->running = true;
		if (w->owner != NULL)
			nowned++;
		if (w->store == WORKER_STORE_EXCLUSIVE)
			excl_ahead = true;
	}
}

static unsigned
count_jobs(const struct worker_list *l, const void *owner)
{
	struct worker	*w;
	unsigned	 n = 0;

	TAILQ_FOREACH(w, l, entry)
		if (owner == NULL ? w->owner != NULL : w->owner == owner)
			n++;
	return n;
}

unsigned
worker_jobs(const void *owner)
{
	return count_jobs(&queue, owner) + count_jobs(&running, owner);
}

bool
worker_store_busy(void)
{
	struct worker *w;

	TAILQ_FOREACH(w, &queue, entry)
		if (w->store != WORKER_STORE_NONE)
			return true;
	TAILQ_FOREACH(w, &running, entry)
		if (w->store != WORKER_STORE_NONE)
			return true;
	return false;
}

int
worker_submit(const struct worker_opts *o, worker_fn fn, worker_done_fn done,
    void *arg, int *ret_cancel_fd)
{
	struct worker *w;

	if (o->owner != NULL && (worker_jobs(o->owner) >= WORKER_MAX_CLIENT_JOBS ||
	    worker_jobs(NULL) >= WORKER_MAX_JOBS))
		return -EAGAIN;
	w = xcalloc(1, sizeof(*w));
	w->done_fd = w->cancel_fd = -1;
	w->owner = o->owner;
	w->store = o->store;
	w->fn = fn;
	w->done = done;
	w->arg = arg;
	if (o->owner != NULL &&
	    (w->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		int r = -errno;

		worker_free(w);
		return r;
	}
	if (ret_cancel_fd != NULL)
		*ret_cancel_fd = w->cancel_fd;
	TAILQ_INSERT_TAIL(&queue, w, entry);
	worker_run_ready();
	return 0;
}

int
worker_start(worker_fn fn, worker_done_fn done, void *arg)
{
	static const struct worker_opts o = { NULL, WORKER_STORE_SHARED };

	return worker_submit(&o, fn, done, arg, NULL);
}

static void
cancel_list(struct worker_list *l, const void *owner)
{
	struct worker	*w;
	uint64_t	 one = 1;

	TAILQ_FOREACH(w, l, entry)
		if (w->owner == owner && w->cancel_fd >= 0 &&
		    write(w->cancel_fd, &one, sizeof(one)) < 0)
			log_warn("cannot cancel a job");
}

void
worker_cancel_owner(const void *owner)
{
	if (owner == NULL)
		return;
	cancel_list(&queue, owner);
	cancel_list(&running, owner);
}

/* One share of a worker_parallel call, on a helper thread. */
struct worker_share {
	worker_share_fn	 fn;
	void		*arg;
	unsigned int	 share, nshares;
	pthread_t	 thread;
	bool		 threaded;
};

static void *
worker_share_main(void *arg)
{
	struct worker_share *sh = arg;

	sh->fn(sh->arg, sh->share, sh->nshares);
	return NULL;
}

/* Take a helper slot if one is free (never waits).  True if taken. */
static bool
worker_helper_take(void)
{
	unsigned n = nhelpers;

	while (n < WORKER_MAX_HELPERS)
		if (atomic_compare_exchange_weak(&nhelpers, &n, n + 1))
			return true;
	return false;
}

void
worker_parallel(unsigned int n, worker_share_fn fn, void *arg)
{
	struct worker_share *sh;

	if (n <= 1) {
		fn(arg, 0, 1);
		return;
	}
	sh = xcalloc(n, sizeof(*sh));
	for (unsigned int i = 1; i < n; i++) {
		sh[i] = (struct worker_share){ fn, arg, i, n, 0, false };
		if (!worker_helper_take())
			continue;
		if (pthread_create(&sh[i].thread, NULL, worker_share_main,
		    &sh[i]) == 0)
			sh[i].threaded = true;
		else
			nhelpers--;
	}
	fn(arg, 0, n);
	/* Shares that found no helper: here, one after the other. */
	for (unsigned int i = 1; i < n; i++)
		if (!sh[i].threaded)
			fn(arg, i, n);
	for (unsigned int i = 1; i < n; i++)
		if (sh[i].threaded) {
			pthread_join(sh[i].thread, NULL);
			nhelpers--;
		}
	free(sh);
}
