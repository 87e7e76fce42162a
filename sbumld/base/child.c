/* SPDX-License-Identifier: MIT */
/*
 * SIGCHLD: reap every exited child and dispatch by pid.  The set of watched
 * children is small (one per live machine), so it is a fixed array
 * searched linearly.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"

#define CHILD_MAX	256

struct child {
	pid_t		 pid;		/* 0: free slot */
	child_exit_cb	 cb;
	void		*arg;
};

static struct child	 children[CHILD_MAX];
static struct event	*ev_sigchld;

/* The watch slot of pid, or NULL. */
static struct child *
child_find(pid_t pid)
{
	for (size_t i = 0; i < CHILD_MAX; i++) {
		if (children[i].pid == pid)
			return (&children[i]);
	}
	return (NULL);
}

/* Watch pid; see child.h. */
int
child_watch(pid_t pid, child_exit_cb cb, void *arg)
{
	struct child	*c;

	if (pid <= 0)
		return (-EINVAL);
	if (child_find(pid) != NULL)
		return (-EEXIST);
	if ((c = child_find(0)) == NULL)
		return (-ENOSPC);
	c->pid = pid;
	c->cb = cb;
	c->arg = arg;
	return (0);
}

/* Forget pid; see child.h. */
void
child_unwatch(pid_t pid)
{
	struct child	*c;

	if (pid > 0 && (c = child_find(pid)) != NULL)
		memset(c, 0, sizeof(*c));
}

/* Describe a wait status for the log. */
static void
child_log_status(pid_t pid, int status)
{
	if (WIFEXITED(status))
		log_debug("child %ld exited %d", (long)pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_debug("child %ld killed by signal %d", (long)pid,
		    WTERMSIG(status));
}

/* Reap every child that has exited; see child.h. */
void
child_reap(void)
{
	struct child	 saved;
	struct child	*c;
	pid_t		 pid;
	int		 status;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0)
			return;
		if (pid == -1) {
			if (errno == EINTR)
				continue;
			/* ECHILD: nothing left to reap. */
			return;
		}
		child_log_status(pid, status);
		if ((c = child_find(pid)) == NULL) {
			log_debug("child %ld was not watched, reaped", (long)pid);
			continue;
		}
		/* Free the slot first: the callback may watch a new child. */
		saved = *c;
		memset(c, 0, sizeof(*c));
		saved.cb(pid, status, saved.arg);
	}
}

/* The SIGCHLD event. */
static void
child_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	(void)sig;
	(void)events;
	(void)arg;
	child_reap();
}

/* Install the SIGCHLD event; see child.h. */
int
child_init(struct event_base *base)
{
	if (ev_sigchld != NULL)
		return (0);
	ev_sigchld = evsignal_new(base, SIGCHLD, child_signal_cb, NULL);
	if (ev_sigchld == NULL)
		return (-ENOMEM);
	if (evsignal_add(ev_sigchld, NULL) == -1) {
		event_free(ev_sigchld);
		ev_sigchld = NULL;
		return (-EINVAL);
	}
	/* Children that exited before the event existed. */
	child_reap();
	return (0);
}

/* Remove the SIGCHLD event; see child.h. */
void
child_shutdown(void)
{
	if (ev_sigchld != NULL) {
		event_free(ev_sigchld);
		ev_sigchld = NULL;
	}
	memset(children, 0, sizeof(children));
}
