/* SPDX-License-Identifier: MIT */
/*
 * One thread per job, woken back onto the event loop through a pipe: the
 * thread writes one byte when its function has returned, the loop's read
 * event joins it and runs the completion.  See worker.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "util.h"
#include "worker.h"

struct worker {
	pthread_t	 thread;
	int		 pipe[2];
	struct event	*ev;
	worker_fn	 fn;
	worker_done_fn	 done;
	void		*arg;
};

static void
worker_free(struct worker *w)
{
	if (w->ev != NULL)
		event_free(w->ev);
	closefd(&w->pipe[0]);
	closefd(&w->pipe[1]);
	free(w);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	w->fn(w->arg);
	/* A full pipe is impossible: one byte, written once. */
	(void)!write(w->pipe[1], "x", 1);
	return NULL;
}

static void
worker_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	worker_done_fn	 done = w->done;
	void		*done_arg = w->arg;
	char		 c;

	(void)what;
	(void)!read(fd, &c, 1);
	pthread_join(w->thread, NULL);
	worker_free(w);
	done(done_arg);
}

int
worker_start(worker_fn fn, worker_done_fn done, void *arg)
{
	struct worker	*w = xcalloc(1, sizeof(*w));
	int		 r;

	w->pipe[0] = w->pipe[1] = -1;
	w->fn = fn;
	w->done = done;
	w->arg = arg;
	if (pipe2(w->pipe, O_CLOEXEC) < 0) {
		r = -errno;
		worker_free(w);
		return r;
	}
	if ((w->ev = event_new(daemon_base, w->pipe[0], EV_READ, worker_done_cb,
	    w)) == NULL || event_add(w->ev, NULL) < 0) {
		worker_free(w);
		return -ENOMEM;
	}
	if ((r = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
		worker_free(w);
		return -r;
	}
	return 0;
}
