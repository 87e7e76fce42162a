/* SPDX-License-Identifier: MIT */
/*
 * The pager of a lazy restore, seen from sbumld (snapshot-pager.h).
 *
 * sbuml-pager is exec'ed (posix_spawn: the daemon is multithreaded, a bare
 * fork of it would copy locks held by other threads) in a session of its
 * own, with exactly PAGER_NFDS descriptors at fixed numbers (pager-core.h).
 * The daemon reads its status channel on the event loop and copies each
 * record into the machine's fill.  When the daemon stops, the channel's
 * read end goes with it: the pager carries on (it ignores SIGPIPE) and
 * keeps fill.json up to date for the next daemon.  Pagers this daemon
 * started stay on a list until their channel ends and their process is
 * reaped, so none is freed while either event may still come.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "context.h"
#include "log.h"
#include "snapshot.h"
#include "snapshot-pager.h"
#include "store.h"
#include "util.h"

extern char **environ;

struct pager_proc {
	struct pager_proc	*next;
	char			*name;
	pid_t			 pid;		/* 0 once reaped */
	int			 status_fd;	/* -1 once it ended */
	struct event		*ev;
	struct machine_fill	*fill;
};

/* Every pager this daemon started and has not fully seen end. */
static struct pager_proc *pagers;

char *
snapshot_pager_path(void)
{
	char	self[PATH_MAX], *slash, *p;
	ssize_t	n;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			p = xasprintf("%s/%s", self, PAGER_PROGRAM);
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return xasprintf("%s/%s", SBUML_LIBEXECDIR, PAGER_PROGRAM);
}

static void
pager_proc_maybe_free(struct pager_proc *pp)
{
	struct pager_proc	**pq;

	if (pp->pid != 0 || pp->status_fd >= 0)
		return;
	for (pq = &pagers; *pq != NULL; pq = &(*pq)->next)
		if (*pq == pp) {
			*pq = pp->next;
			break;
		}
	pp->fill = machine_fill_put(pp->fill);
	free(pp->name);
	free(pp);
}

/* A record into the fill; the state last (release), after its reason. */
static void
pager_proc_apply(struct pager_proc *pp, const struct pager_status *st)
{
	struct machine_fill	*f = pp->fill;

	if (st->state > MACHINE_FILL_FAILED)
		return;	/* not a record the pager writes: ignore it */
	atomic_store(&f->filled, st->filled);
	atomic_store(&f->total, st->total);
	atomic_store(&f->chunks, st->chunks);
	atomic_store(&f->faults, st->faults);
	if (st->state == MACHINE_FILL_FAILED &&
	    atomic_load(&f->state) != MACHINE_FILL_FAILED)
		snprintf(f->reason, sizeof(f->reason), "%.*s",
		    (int)sizeof(st->reason), st->reason);
	atomic_store_explicit(&f->state, (int)st->state, memory_order_release);
}

/* The status channel: records, then end of file once the pager ends. */
static void
pager_proc_status_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pager_proc	*pp = arg;
	struct pager_status	 st;
	ssize_t			 n;
	int			 state;

	(void)what;
	for (;;) {
		n = read(fd, &st, sizeof(st));
		if (n == (ssize_t)sizeof(st)) {
			pager_proc_apply(pp, &st);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		break;	/* end of file, an error, or a short record: it is over */
	}
	if (n < 0 || n > 0)
		log_warnx("%s: pager status channel: %s", pp->name,
		    n < 0 ? strerror(errno) : "short record");
	state = atomic_load(&pp->fill->state);
	/* A pager gone without a last word left the kernel without a pager. */
	if (state == MACHINE_FILL_WAITING || state == MACHINE_FILL_FILLING)
		atomic_store(&pp->fill->state, MACHINE_FILL_LOST);
	state = atomic_load(&pp->fill->state);
	if (state == MACHINE_FILL_FAILED)
		log_warnx("%s: lazy restore pager: %s", pp->name,
		    pp->fill->reason);
	else
		log_debug("%s: lazy restore pager ended: fill %s, %llu pages, "
		    "%llu faults", pp->name, machine_fill_state_name(state),
		    (unsigned long long)atomic_load(&pp->fill->filled),
		    (unsigned long long)atomic_load(&pp->fill->faults));
	event_free(pp->ev);
	pp->ev = NULL;
	closefd(&pp->status_fd);
	store_reader_end();
	pager_proc_maybe_free(pp);
}

static void
pager_proc_exit_cb(pid_t pid, int status, void *arg)
{
	struct pager_proc	*pp = arg;

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		log_warnx("%s: pager %ld ended with status 0x%x", pp->name,
		    (long)pid, (unsigned int)status);
	pp->pid = 0;
	pager_proc_maybe_free(pp);
}

/*
 * Spawn path with src[i] as fd PAGER_FD_STORE + i.  The sources are first
 * copied above every target (close-on-exec), so that placing one never
 * overwrites another still to be placed.  0 and *ret_pid, or -errno.
 */
static int
pager_spawn(const char *path, char *const argv[], const int src[PAGER_NFDS],
    pid_t *ret_pid)
{
	posix_spawn_file_actions_t	fa;
	posix_spawnattr_t		attr;
	sigset_t			none, all;
	int				high[PAGER_NFDS], r = 0, i;

	for (i = 0; i < PAGER_NFDS; i++)
		high[i] = -1;
	for (i = 0; i < PAGER_NFDS && r == 0; i++)
		if ((high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 64)) < 0)
			r = -errno;
	if (r < 0)
		goto out;
	if ((r = -posix_spawn_file_actions_init(&fa)) < 0)
		goto out;
	if ((r = -posix_spawnattr_init(&attr)) < 0) {
		posix_spawn_file_actions_destroy(&fa);
		goto out;
	}
	/* dup2 clears close-on-exec on the target; the high copies close. */
	for (i = 0; i < PAGER_NFDS && r == 0; i++)
		r = -posix_spawn_file_actions_adddup2(&fa, high[i],
		    PAGER_FD_STORE + i);
	/* A session of its own, default signals, nothing blocked. */
	(void)sigemptyset(&none);
	(void)sigfillset(&all);
	if (r == 0)
		r = -posix_spawnattr_setsigmask(&attr, &none);
	if (r == 0)
		r = -posix_spawnattr_setsigdefault(&attr, &all);
	if (r == 0)
		r = -posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
		    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	if (r == 0)
		r = -posix_spawn(ret_pid, path, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
out:
	for (i = 0; i < PAGER_NFDS; i++)
		closefd(&high[i]);
	return r;
}

/* A memfd holding the entry's JSON. An fd, or -errno. */
static int
pager_entry_fd(struct json_object *entry)
{
	const char	*s = json_object_to_json_string_ext(entry,
			    JSON_C_TO_STRING_PLAIN);
	size_t		 len = strlen(s), off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = memfd_create("sbuml-pager-entry", MFD_CLOEXEC)) < 0)
		return -errno;
	while (off < len) {
		if ((n = write(fd, s + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			(void)close(fd);
			return (int)n;
		}
		off += (size_t)n;
	}
	return fd;
}

int
snapshot_pager_start(struct machine *m, const char *name,
    struct json_object *entry, int sock, struct machine_fill *fill,
    char *err, size_t errlen)
{
	struct pager_proc	*pp;
	char			*path = NULL, *root = NULL, level[16];
	char			 prog[] = PAGER_PROGRAM, *pname = NULL;
	char			*argv[4];
	int			 fds[PAGER_NFDS], pfd[2] = { -1, -1 }, r, i;
	pid_t			 pid;

	for (i = 0; i < PAGER_NFDS; i++)
		fds[i] = -1;
	fds[PAGER_FD_KERNEL - PAGER_FD_STORE] = sock;
	root = snapshot_store_root();
	if ((fds[PAGER_FD_STORE - PAGER_FD_STORE] = open(root, O_RDONLY |
	    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errlen, "the chunk store %s: %s", root,
		    strerror(-r));
		goto out;
	}
	if ((r = pager_entry_fd(entry)) < 0) {
		snprintf(err, errlen, "memfd for the pager: %s", strerror(-r));
		goto out;
	}
	fds[PAGER_FD_ENTRY - PAGER_FD_STORE] = r;
	if ((r = machine_record_open(m)) < 0) {
		snprintf(err, errlen, "the machine's record: %s", strerror(-r));
		goto out;
	}
	fds[PAGER_FD_RECORD - PAGER_FD_STORE] = r;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(err, errlen, "pipe for the pager: %s", strerror(-r));
		goto out;
	}
	fds[PAGER_FD_STATUS - PAGER_FD_STORE] = pfd[1];
	if (fcntl(pfd[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		snprintf(err, errlen, "pipe for the pager: %s", strerror(-r));
		goto out;
	}
	path = snapshot_pager_path();
	snprintf(level, sizeof(level), "%s", log_level_to_string(log_getlevel()));
	pname = xstrdup(name);
	argv[0] = prog;
	argv[1] = pname;
	argv[2] = level;
	argv[3] = NULL;
	if ((r = pager_spawn(path, argv, fds, &pid)) < 0) {
		snprintf(err, errlen, "cannot start the pager %s: %s", path,
		    strerror(-r));
		goto out;
	}
	pp = xcalloc(1, sizeof(*pp));
	pp->name = xstrdup(name);
	pp->pid = pid;
	pp->status_fd = pfd[0];
	pfd[0] = -1;
	pp->fill = machine_fill_ref(fill);
	pp->next = pagers;
	pagers = pp;
	if ((r = child_watch(pid, pager_proc_exit_cb, pp)) < 0) {
		/* Reaped and logged as a stranger then: no zombie either way. */
		log_warnx("%s: cannot watch pager %ld: %s", name, (long)pid,
		    strerror(-r));
		pp->pid = 0;
	}
	store_reader_begin();
	if ((pp->ev = event_new(daemon_base, pp->status_fd, EV_READ | EV_PERSIST,
	    pager_proc_status_cb, pp)) == NULL || event_add(pp->ev, NULL) < 0)
		fatalx("%s: cannot watch the pager's status", name);
	log_debug("%s: pager %ld started (%s)", name, (long)pid, path);
	r = 0;
out:
	for (i = 0; i < PAGER_NFDS; i++)
		closefd(&fds[i]);
	closefd(&pfd[0]);
	free(pname);
	free(path);
	free(root);
	return r;
}
