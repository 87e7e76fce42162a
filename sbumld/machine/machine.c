/* SPDX-License-Identifier: MIT */
/*
 * Machines: the registry, the state machine of doc/rpc.md, supervision of
 * the UML process, and re-adoption of running machines after a daemon
 * restart.  The on-disk layout is described in doc/machine-layout.md.
 *
 * Supervision: every live machine has a pidfd with a read event (works for
 * our children and for re-adopted processes alike).  Our own children are
 * also registered with child.c, whose SIGCHLD loop reaps them and reports
 * the exit status; a pidfd event on our own child just runs that loop.
 * A re-adopted process is not our child: its exit status is unknown.
 *
 * Whatever ends a UML process, its host helpers (the ubd I/O thread and
 * ptrace stubs are separate processes) are swept with uml_kill_tree, so a
 * dead machine never leaves a stray process holding its files and sockets.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "context.h"
#include "events.h"
#include "fsat.h"
#include "jail.h"
#include "log.h"
#include "machine-config.h"
#include "machine.h"
#include "util.h"

#define MACHINE_PROBE_MS	250	/* boot: how often to try mconsole */
#define MACHINE_PROBE_TIMEOUT_MS 2000
#define MACHINE_RESTORE_NOTIFY_MS 3000	/* restore: probe anyway after this */
#define MACHINE_TAIL_MAX_BYTES	(4 * 1024 * 1024)

enum machine_wait {
	MACHINE_WAIT_RUNNING,		/* boot finished (or failed) */
	MACHINE_WAIT_EXIT,		/* the process is gone */
};

struct machine_waiter {
	enum machine_wait	 kind;
	machine_done_cb		 cb;
	void			*arg;
};

/* A pause or resume waiting for its mconsole answer. */
struct machine_op {
	struct machine		*m;
	enum machine_state	 target;
	machine_done_cb		 cb;
	void			*arg;
};

struct machine {
	char			*name;		/* plain name or absolute path */
	char			*dir;
	/*
	 * Where machine.json and run.json that sbumld trusts live: dir for a
	 * named machine, <state-dir>/paths/<hash> for a path machine (whose
	 * directory a user may write).
	 */
	char			*rec;
	struct fs_id		 dir_id;	/* what dir named when created */
	/*
	 * While live: the directory the UML process runs in, whatever its
	 * path is now (a user may rename it): killing sweeps processes by
	 * their cwd, which must be that directory's current path.
	 */
	int			 live_dfd;
	bool			 is_path;
	struct machine_config	 cfg;
	enum machine_state	 state;

	/* The live process. */
	pid_t			 pid;		/* 0 when not live */
	uint64_t		 starttime;
	bool			 is_child;	/* ours: exit status known */
	int			 pidfd;
	struct event		*ev_pidfd;
	char			 started[32];
	struct mconsole		*mc;
	struct mconsole_notifier *notifier;
	bool			 savable;

	/* How it ended. */
	bool			 has_exit;
	bool			 status_known, signal_known;
	int			 status, signal;
	bool			 expect_exit;	/* halt or kill asked for it */
	bool			 panicked;
	bool			 boot_timed_out;

	/* Boot, halt, pause/resume in progress. */
	struct event		*ev_boot;	/* boot deadline */
	struct event		*ev_probe;	/* readiness probe while booting */
	bool			 probing;
	/*
	 * A restore is starting: the restored kernel binds its mconsole before
	 * its interrupts are re-armed, so requests wait for its "sbuml restored"
	 * notify (or, should that be lost, this deadline).
	 */
	uint64_t		 restore_wait_until;
	struct event		*ev_halt;	/* next halt escalation */
	struct event		*ev_cad;	/* repeats cad while halting */
	int			 halt_stage;
	bool			 op_pending;

	struct machine_waiter	 waiters[MACHINE_MAX_WAITERS];
	size_t			 nwaiters;
	const struct machine_job *job;
};

static struct machine	*machines[MACHINE_MAX];
static size_t		 nmachines;

static const char *const machine_state_names[_MACHINE_STATE_MAX] = {
	[MACHINE_BOOTING] = "booting",
	[MACHINE_RUNNING] = "running",
	[MACHINE_PAUSED] = "paused",
	[MACHINE_HALTING] = "halting",
	[MACHINE_STOPPED] = "stopped",
	[MACHINE_CRASHED] = "crashed",
};

static void	machine_exited(struct machine *, bool, int);
static void	machine_probe(struct machine *);
static bool	machine_umid_gone(const struct machine *);

/* Name of a state; "unknown" for a bad value. */
const char *
machine_state_to_string(enum machine_state state)
{
	if ((unsigned int)state >= _MACHINE_STATE_MAX)
		return ("unknown");
	return (machine_state_names[state]);
}

/* The state named s; -EINVAL if there is none. */
int
machine_state_from_string(const char *s, enum machine_state *ret)
{
	for (int i = 0; i < _MACHINE_STATE_MAX; i++) {
		if (strcmp(s, machine_state_names[i]) == 0) {
			*ret = (enum machine_state)i;
			return (0);
		}
	}
	return (-EINVAL);
}

/* True for the states in which a UML process exists. */
bool
machine_state_is_live(enum machine_state state)
{
	return (state == MACHINE_BOOTING || state == MACHINE_RUNNING ||
	    state == MACHINE_PAUSED || state == MACHINE_HALTING);
}

/* The name the machine was created with (a name or a path). */
const char *
machine_name(const struct machine *m)
{
	return (m->name);
}

/* The machine directory. */
const char *
machine_dir(const struct machine *m)
{
	return (m->dir);
}

/* Whether the machine is named by a path. */
bool
machine_is_path(const struct machine *m)
{
	return (m->is_path);
}

/* The current state. */
enum machine_state
machine_state(const struct machine *m)
{
	return (m->state);
}

/* The UML pid, 0 when not live. */
pid_t
machine_pid(const struct machine *m)
{
	return (m->pid);
}

/* Whether the kernel can save (answered the probe at boot). */
bool
machine_savable(const struct machine *m)
{
	return (m->savable);
}

/* The saved configuration. */
const struct machine_config *
machine_config(const struct machine *m)
{
	return (&m->cfg);
}

/* Whether a pause/resume is waiting for mconsole. */
bool
machine_op_pending(const struct machine *m)
{
	return (m->op_pending);
}

/* The machine named name, or NULL. */
struct machine *
machine_lookup(const char *name)
{
	for (size_t i = 0; i < nmachines; i++) {
		if (strcmp(machines[i]->name, name) == 0)
			return (machines[i]);
	}
	return (NULL);
}

/* Number of registered machines. */
size_t
machine_count(void)
{
	return (nmachines);
}

/* qsort comparator by name. */
static int
machine_cmp(const void *a, const void *b)
{
	const struct machine *const *ma = a, *const *mb = b;

	return (strcmp((*ma)->name, (*mb)->name));
}

/* Every machine sorted by name; see machine.h. */
struct machine **
machine_list(size_t *ret_n)
{
	struct machine	**list;

	list = xcalloc(nmachines + 1, sizeof(*list));
	memcpy(list, machines, nmachines * sizeof(*list));
	qsort(list, nmachines, sizeof(*list), machine_cmp);
	*ret_n = nmachines;
	return (list);
}

/* Path of a file in the machine directory (caller frees). */
static char *
machine_path(const struct machine *m, const char *file)
{
	return (xasprintf("%s/%s", m->dir, file));
}

/*
 * Open the machine directory, refusing it if the path now names another
 * directory than the one the machine was created in (a user renamed it
 * and put another there).  An fd or -errno.
 */
static int
machine_dir_open(const struct machine *m)
{
	int	fd;

	if ((fd = fs_open_dir(m->dir, &m->dir_id, NULL)) == -ESTALE)
		log_warnx("%s: %s now names another directory, not touching it",
		    m->name, m->dir);
	return (fd);
}

/*
 * The current path of the directory the live UML runs in (buf), or the
 * machine's path if that is unknown.
 */
static const char *
machine_live_dir(const struct machine *m, char *buf, size_t len)
{
	char	link[64];
	ssize_t	n;

	if (m->live_dfd < 0)
		return (m->dir);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", m->live_dfd);
	if ((n = readlink(link, buf, len - 1)) <= 0 || buf[0] != '/')
		return (m->dir);
	buf[n] = '\0';
	return (buf);
}

/* SIGKILL the live instance and all its helpers (uml_kill_tree). */
static void
machine_kill_tree(struct machine *m)
{
	char	buf[PATH_MAX];

	(void)uml_kill_tree(m->pid, machine_live_dir(m, buf, sizeof(buf)));
}

/* Write run to the machine's record. 0 or -errno. */
static int
machine_write_run(const struct machine *m, const struct machine_run *run)
{
	int	fd, r;

	if ((fd = fs_open_dir(m->rec, NULL, NULL)) < 0)
		return (fd);
	r = machine_run_write(fd, run);
	(void)close(fd);
	return (r);
}

/* Persist run.json; failures are logged, the daemon goes on. */
static int
machine_save_run(struct machine *m)
{
	struct machine_run	run;
	int			r;

	memset(&run, 0, sizeof(run));
	run.state = m->state;
	run.pid = m->pid;
	run.starttime = m->starttime;
	memcpy(run.started, m->started, sizeof(run.started));
	run.has_exit = m->has_exit;
	run.status_known = m->status_known;
	run.status = m->status;
	run.signal_known = m->signal_known;
	run.signal = m->signal;
	run.savable = m->savable;
	if ((r = machine_write_run(m, &run)) < 0)
		log_warnx("%s: cannot write %s: %s", m->name, MACHINE_RUN_FILE,
		    strerror(-r));
	return (r);
}

/* Add the exit object ({"status": N|null, "signal": N|null}) to obj. */
static void
machine_add_exit(const struct machine *m, struct json_object *obj)
{
	struct json_object	*exit;

	exit = json_object_new_object();
	json_object_object_add(exit, "status", m->status_known ?
	    json_object_new_int(m->status) : NULL);
	json_object_object_add(exit, "signal", m->signal_known ?
	    json_object_new_int(m->signal) : NULL);
	json_object_object_add(obj, "exit", exit);
}

/* Add console_tail to obj; an unreadable console gives an empty list. */
static void
machine_add_tail(const struct machine *m, struct json_object *obj)
{
	struct json_object	*tail;

	if ((tail = machine_console_tail(m, MACHINE_CONSOLE_TAIL)) == NULL)
		tail = json_object_new_array();
	json_object_object_add(obj, "console_tail", tail);
}

/* The machine object of doc/rpc.md. */
struct json_object *
machine_to_json(const struct machine *m)
{
	struct json_object	*obj, *disks;

	obj = json_object_new_object();
	json_object_object_add(obj, "machine", json_object_new_string(m->name));
	json_object_object_add(obj, "dir", json_object_new_string(m->dir));
	json_object_object_add(obj, "state",
	    json_object_new_string(machine_state_to_string(m->state)));
	if (m->pid > 0)
		json_object_object_add(obj, "pid", json_object_new_int64(m->pid));
	json_object_object_add(obj, "mem_mb",
	    json_object_new_int64(m->cfg.mem_mb));
	json_object_object_add(obj, "image", json_object_new_string(m->cfg.image));
	json_object_object_add(obj, "kernel",
	    json_object_new_string(m->cfg.kernel));
	json_object_object_add(obj, "savable",
	    json_object_new_boolean(m->savable));
	json_object_object_add(obj, "cmdline",
	    json_object_new_string(m->cfg.cmdline));
	disks = json_object_new_array();
	for (size_t i = 0; i < m->cfg.ndisks; i++)
		json_object_array_add(disks,
		    json_object_new_string(m->cfg.disks[i]));
	json_object_object_add(obj, "disks", disks);
	json_object_object_add(obj, "created",
	    json_object_new_string(m->cfg.created));
	json_object_object_add(obj, "owner",
	    json_object_new_int64((int64_t)m->cfg.owner));
	if (m->started[0] != '\0')
		json_object_object_add(obj, "started",
		    json_object_new_string(m->started));
	if (!machine_state_is_live(m->state) && m->has_exit)
		machine_add_exit(m, obj);
	if (m->state == MACHINE_CRASHED)
		machine_add_tail(m, obj);
	return (obj);
}

/* Move to state, persist it and tell every subscriber; see machine.h. */
void
machine_set_state(struct machine *m, enum machine_state state)
{
	struct json_object	*ev;
	enum machine_state	 previous = m->state;

	if (state == previous)
		return;
	m->state = state;
	machine_save_run(m);
	if (state == MACHINE_CRASHED)
		log_warnx("%s: crashed (was %s)", m->name,
		    machine_state_to_string(previous));
	else
		log_info("%s: %s -> %s", m->name,
		    machine_state_to_string(previous),
		    machine_state_to_string(state));

	ev = json_object_new_object();
	json_object_object_add(ev, "machine", json_object_new_string(m->name));
	json_object_object_add(ev, "state",
	    json_object_new_string(machine_state_to_string(state)));
	json_object_object_add(ev, "previous",
	    json_object_new_string(machine_state_to_string(previous)));
	if (m->pid > 0)
		json_object_object_add(ev, "pid", json_object_new_int64(m->pid));
	if (!machine_state_is_live(state)) {
		machine_add_exit(m, ev);
		if (state == MACHINE_CRASHED)
			machine_add_tail(m, ev);
	}
	/* Only to those who may see the machine (doc/rpc.md "Who may call what"). */
	events_broadcast_owned("machine.state", ev, m->cfg.owner);
}

/* Append one console line to arr, made valid UTF-8 without control bytes. */
static void
machine_tail_add_line(struct json_object *arr, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			*out;
	size_t			 i = 0, o = 0, need, k;

	out = xmalloc(len + 1);
	while (i < len) {
		unsigned char c = p[i];

		if (c < 0x80) {
			if (c == '\r') {
				i++;
				continue;
			}
			out[o++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' :
			    (char)c;
			i++;
			continue;
		}
		/* A well-formed multi-byte sequence is copied, anything else is '?'. */
		need = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 :
		    c >= 0xc2 && c <= 0xdf ? 1 : 0;
		if (c >= 0xf5)
			need = 0;
		for (k = 1; need != 0 && k <= need; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				need = 0;
		}
		/* Reject overlongs and surrogates. */
		if ((need == 2 && ((c == 0xe0 && p[i + 1] < 0xa0) ||
		    (c == 0xed && p[i + 1] >= 0xa0))) ||
		    (need == 3 && ((c == 0xf0 && p[i + 1] < 0x90) ||
		    (c == 0xf4 && p[i + 1] >= 0x90))))
			need = 0;
		if (need == 0) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, p + i, need + 1);
		o += need + 1;
		i += need + 1;
	}
	out[o] = '\0';
	json_object_array_add(arr, json_object_new_string_len(out, (int)o));
	free(out);
}

/* The last n console lines; see machine.h. */
struct json_object *
machine_console_tail(const struct machine *m, size_t n)
{
	struct json_object	*arr;
	struct stat		 st;
	char			*buf, *start, *end, *nl;
	size_t			 cap, off, chunk, lines = 0, total;
	off_t			 pos;
	ssize_t			 r;
	bool			 partial_first;
	int			 fd, dfd;

	/* A user may have put a symlink, FIFO or hard link there: refused. */
	if ((dfd = machine_dir_open(m)) < 0) {
		errno = -dfd;
		return (NULL);
	}
	fd = fs_openat_file(dfd, "console.log", O_RDONLY, 0);
	(void)close(dfd);
	if (fd < 0) {
		if (fd == -ENOENT)
			return (json_object_new_array());
		errno = -fd;
		return (NULL);
	}
	if (fstat(fd, &st) == -1) {
		(void)close(fd);
		return (NULL);
	}
	pos = st.st_size;
	cap = (size_t)pos < MACHINE_TAIL_MAX_BYTES ? (size_t)pos :
	    MACHINE_TAIL_MAX_BYTES;
	buf = xmalloc(cap + 1);
	off = cap;
	/* Read backwards until n complete lines (plus the one before) are in. */
	while (off > 0 && pos > 0 && lines <= n) {
		chunk = off < 65536 ? off : 65536;
		if ((off_t)chunk > pos)
			chunk = (size_t)pos;
		r = pread(fd, buf + off - chunk, chunk, pos - (off_t)chunk);
		if (r != (ssize_t)chunk) {
			free(buf);
			(void)close(fd);
			errno = EIO;
			return (NULL);
		}
		for (size_t i = 0; i < chunk; i++) {
			if (buf[off - chunk + i] == '\n')
				lines++;
		}
		/* The newline ending the file does not start a line. */
		if (off == cap && chunk > 0 && buf[cap - 1] == '\n')
			lines--;
		off -= chunk;
		pos -= (off_t)chunk;
	}
	(void)close(fd);
	start = buf + off;
	end = buf + cap;
	if (end > start && end[-1] == '\n')
		end--;
	*end = '\0';
	/* Unless we reached the start of the file, the first piece is partial. */
	partial_first = pos > 0;
	total = 0;
	for (char *p = start; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		total++;
	}
	arr = json_object_new_array();
	if (start < end || (!partial_first && cap > 0)) {
		size_t idx = 0, skip;

		skip = total > n ? total - n : 0;
		if (partial_first && skip == 0 && total > 0)
			skip = 1;
		for (char *p = start; p <= end; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			if (idx++ >= skip)
				machine_tail_add_line(arr, p, (size_t)(nl - p));
			if (nl == end)
				break;
		}
	}
	free(buf);
	return (arr);
}

/* Free a timer/event pointer if set. */
static void
machine_event_free(struct event **ev)
{
	if (*ev != NULL) {
		event_free(*ev);
		*ev = NULL;
	}
}

/* Add a waiter; -ENOSPC if the machine has too many. */
static int
machine_add_waiter(struct machine *m, enum machine_wait kind,
    machine_done_cb cb, void *arg)
{
	if (cb == NULL)
		return (0);
	if (m->nwaiters >= MACHINE_MAX_WAITERS)
		return (-ENOSPC);
	m->waiters[m->nwaiters].kind = kind;
	m->waiters[m->nwaiters].cb = cb;
	m->waiters[m->nwaiters].arg = arg;
	m->nwaiters++;
	return (0);
}

/*
 * Run and remove every waiter of kind (or all kinds if all).  The list is
 * detached first: callbacks may add new waiters.
 */
static void
machine_wake(struct machine *m, bool all, enum machine_wait kind, int err,
    const char *msg)
{
	struct machine_waiter	 run[MACHINE_MAX_WAITERS];
	size_t			 nrun = 0, keep = 0;

	for (size_t i = 0; i < m->nwaiters; i++) {
		if (all || m->waiters[i].kind == kind)
			run[nrun++] = m->waiters[i];
		else
			m->waiters[keep++] = m->waiters[i];
	}
	m->nwaiters = keep;
	for (size_t i = 0; i < nrun; i++)
		run[i].cb(m, err, msg, run[i].arg);
}

/* Arm a one-shot timer of ms milliseconds, creating the event if needed. */
static void
machine_timer(struct machine *m, struct event **ev, event_callback_fn fn,
    unsigned int ms, bool persist)
{
	struct timeval	tv;

	if (*ev == NULL) {
		*ev = event_new(daemon_base, -1, persist ? EV_PERSIST : 0, fn, m);
		if (*ev == NULL)
			fatalx("%s: cannot create a timer", m->name);
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (event_add(*ev, &tv) == -1)
		fatalx("%s: cannot arm a timer", m->name);
}

/* Remove m from the registry and free it, without events (no waiters left). */
static void
machine_free(struct machine *m)
{
	for (size_t i = 0; i < nmachines; i++) {
		if (machines[i] == m) {
			machines[i] = machines[--nmachines];
			machines[nmachines] = NULL;
			break;
		}
	}
	if (m->is_child && m->pid > 0)
		child_unwatch(m->pid);
	machine_event_free(&m->ev_pidfd);
	closefd(&m->pidfd);
	closefd(&m->live_dfd);
	machine_event_free(&m->ev_boot);
	machine_event_free(&m->ev_probe);
	machine_event_free(&m->ev_halt);
	machine_event_free(&m->ev_cad);
	m->mc = mconsole_free(m->mc);
	m->notifier = mconsole_notifier_free(m->notifier);
	machine_config_clear(&m->cfg);
	free(m->name);
	free(m->dir);
	free(m->rec);
	free(m);
}

/*
 * A new, unregistered machine (state stopped) in dir (identity id) with
 * its record in rec.  Takes cfg's strings.
 */
static struct machine *
machine_new(const char *name, const char *dir, const char *rec, bool is_path,
    const struct fs_id *id, struct machine_config *cfg)
{
	struct machine	*m;

	m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(name);
	m->dir = xstrdup(dir);
	m->rec = xstrdup(rec);
	m->dir_id = *id;
	m->is_path = is_path;
	m->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	m->state = MACHINE_STOPPED;
	m->pidfd = -1;
	m->live_dfd = -1;
	return (m);
}

/* Put m into the registry (the caller checked the limit). */
static void
machine_register(struct machine *m)
{
	machines[nmachines++] = m;
}

/* The pidfd became readable: the process is gone. */
static void
machine_pidfd_cb(evutil_socket_t fd, short events, void *arg)
{
	struct machine	*m = arg;

	(void)fd;
	(void)events;
	if (m->is_child) {
		/*
		 * Ours: reap it with its status through the same path as
		 * SIGCHLD, which calls machine_child_exit_cb.
		 */
		child_reap();
		if (m->pid == 0)
			return;
	}
	machine_exited(m, false, 0);
}

/* child.c reaped our UML process. */
static void
machine_child_exit_cb(pid_t pid, int status, void *arg)
{
	struct machine	*m = arg;

	if (m->pid != pid)
		return;
	m->is_child = false;	/* already unwatched by child.c */
	machine_exited(m, true, status);
}

/* Notification from the UML kernel on DIR/notify.sock. */
static void
machine_notify_cb(enum mconsole_notify_type type, const char *data, size_t len,
    void *arg)
{
	struct machine	*m = arg;

	switch (type) {
	case MCONSOLE_NOTIFY_SOCKET:
		log_debug("%s: mconsole up at %s", m->name, data);
		if (m->state == MACHINE_BOOTING && m->restore_wait_until == 0)
			machine_probe(m);
		break;
	case MCONSOLE_NOTIFY_PANIC:
		m->panicked = true;
		log_warnx("%s: kernel panic: %.*s", m->name, (int)len, data);
		break;
	case MCONSOLE_NOTIFY_HANG:
		log_warnx("%s: kernel reports a hang", m->name);
		break;
	case MCONSOLE_NOTIFY_USER:
		if (m->state == MACHINE_BOOTING && m->restore_wait_until != 0 &&
		    strncmp(data, "sbuml restored", 14) == 0) {
			log_debug("%s: %.*s", m->name, (int)len, data);
			m->restore_wait_until = 0;
			machine_probe(m);
		} else if (m->job != NULL && m->job->on_notify != NULL)
			m->job->on_notify(m, data, len, m->job->arg);
		else
			log_debug("%s: notify: %.*s", m->name, (int)len, data);
		break;
	default:
		break;
	}
}

/* Open the mconsole client for a live machine. */
static void
machine_open_mconsole(struct machine *m)
{
	char	*path = machine_path(m, "uml/mconsole");

	if ((m->mc = mconsole_new(daemon_base, path, m->name)) == NULL)
		log_warn("%s: mconsole client", m->name);
	free(path);
}

/* Bind DIR/notify.sock; a failure only costs the notifications. */
static int
machine_open_notifier(struct machine *m)
{
	char	*path = machine_path(m, "notify.sock");
	int	 r = 0;

	m->notifier = mconsole_notifier_new(daemon_base, path,
	    machine_notify_cb, m);
	if (m->notifier == NULL)
		r = -errno;
	free(path);
	return (r);
}

/* Start watching pid through a pidfd. 0 or -errno. */
static int
machine_watch_pid(struct machine *m, pid_t pid)
{
	int	fd;

	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd == -1)
		return (-errno);
	m->pidfd = fd;
	m->ev_pidfd = event_new(daemon_base, fd, EV_READ, machine_pidfd_cb, m);
	if (m->ev_pidfd == NULL || event_add(m->ev_pidfd, NULL) == -1) {
		machine_event_free(&m->ev_pidfd);
		closefd(&m->pidfd);
		return (-ENOMEM);
	}
	return (0);
}

/*
 * The UML process is gone (status known for our children).  Sweep its
 * helpers, close its channels, decide stopped or crashed, wake waiters.
 */
static void
machine_exited(struct machine *m, bool known, int status)
{
	enum machine_state	 next;
	pid_t			 pid = m->pid;
	bool			 clean;

	if (pid == 0)
		return;
	if (m->is_child)
		child_unwatch(pid);
	m->is_child = false;
	machine_event_free(&m->ev_pidfd);
	closefd(&m->pidfd);
	machine_event_free(&m->ev_boot);
	machine_event_free(&m->ev_probe);
	machine_event_free(&m->ev_halt);
	machine_event_free(&m->ev_cad);
	m->probing = false;
	/* The kernel process is gone (maybe reaped): sweep its session only. */
	{
		char	buf[PATH_MAX];

		(void)uml_kill_session(pid, machine_live_dir(m, buf,
		    sizeof(buf)));
	}
	closefd(&m->live_dfd);
	m->pid = 0;
	m->starttime = 0;

	m->has_exit = true;
	m->status_known = m->signal_known = false;
	if (known && WIFEXITED(status)) {
		m->status_known = m->signal_known = true;
		m->status = WEXITSTATUS(status);
		m->signal = 0;
		clean = m->status == 0;
	} else if (known && WIFSIGNALED(status)) {
		m->signal_known = true;
		m->signal = WTERMSIG(status);
		clean = false;
	} else {
		/*
		 * Not our child.  UML removes its umid dir (DIR/uml) when it
		 * exits on its own; a killed one leaves it behind.
		 */
		clean = machine_umid_gone(m);
	}
	if (m->expect_exit)
		next = MACHINE_STOPPED;
	else if (m->state == MACHINE_BOOTING || m->panicked || !clean)
		next = MACHINE_CRASHED;
	else
		next = MACHINE_STOPPED;
	m->expect_exit = false;
	m->op_pending = false;

	if (known)
		log_debug("%s: pid %ld ended (status 0x%x)", m->name, (long)pid,
		    (unsigned int)status);
	else
		log_debug("%s: pid %ld ended (status unknown)", m->name,
		    (long)pid);
	machine_set_state(m, next);

	/* Pending mconsole requests now fail; the state says why. */
	m->mc = mconsole_free(m->mc);
	m->notifier = mconsole_notifier_free(m->notifier);
	if (m->job != NULL && m->job->on_exit != NULL)
		m->job->on_exit(m, m->job->arg);

	if (m->boot_timed_out)
		machine_wake(m, false, MACHINE_WAIT_RUNNING, -ETIMEDOUT,
		    "the machine did not come up in time and was killed");
	else
		machine_wake(m, false, MACHINE_WAIT_RUNNING, -ECHILD,
		    "the UML process died while booting");
	m->boot_timed_out = false;
	machine_wake(m, false, MACHINE_WAIT_EXIT, 0, "");
}

/* Boot finished: mconsole answers. */
static void
machine_boot_done(struct machine *m)
{
	machine_event_free(&m->ev_boot);
	machine_event_free(&m->ev_probe);
	machine_set_state(m, MACHINE_RUNNING);
	machine_wake(m, false, MACHINE_WAIT_RUNNING, 0, "");
}

/* Answer of the savable probe; the machine is up either way. */
static void
machine_savable_cb(int err, const char *text, void *arg)
{
	struct machine	*m = arg;

	(void)text;
	m->probing = false;
	if (err == -ECANCELED || m->state != MACHINE_BOOTING)
		return;
	m->savable = err == 0;
	machine_boot_done(m);
}

/* Answer of the "version" readiness probe. */
static void
machine_version_cb(int err, const char *text, void *arg)
{
	struct machine	*m = arg;

	if (err == -ECANCELED || m->state != MACHINE_BOOTING) {
		m->probing = false;
		return;
	}
	if (err != 0) {
		/* Not listening yet (-ENOENT, -ECONNREFUSED): the timer retries. */
		m->probing = false;
		return;
	}
	log_debug("%s: mconsole: %s", m->name, text);
	if (mconsole_send(m->mc, MACHINE_SAVABLE_PROBE, MACHINE_PROBE_TIMEOUT_MS,
	    machine_savable_cb, m) < 0) {
		m->probing = false;
		machine_boot_done(m);
	}
}

/* Ask mconsole for its version, unless a probe is already out. */
static void
machine_probe(struct machine *m)
{
	if (m->probing || m->mc == NULL)
		return;
	if (mconsole_send(m->mc, "version", MACHINE_PROBE_TIMEOUT_MS,
	    machine_version_cb, m) == 0)
		m->probing = true;
}

/* Periodic readiness probe while booting (the notify may be lost). */
static void
machine_probe_cb(evutil_socket_t fd, short events, void *arg)
{
	struct machine	*m = arg;
	char		*sock;

	(void)fd;
	(void)events;
	if (m->state != MACHINE_BOOTING)
		return;
	if (m->restore_wait_until != 0 && now_usec() < m->restore_wait_until)
		return;
	sock = machine_path(m, "uml/mconsole");
	if (access(sock, F_OK) == 0)
		machine_probe(m);
	free(sock);
}

/* The boot deadline passed: kill it; machine_exited reports the timeout. */
static void
machine_boot_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct machine	*m = arg;

	(void)fd;
	(void)events;
	if (m->state != MACHINE_BOOTING || m->pid == 0)
		return;
	log_warnx("%s: no mconsole answer after %d s, killing it", m->name,
	    MACHINE_BOOT_TIMEOUT_S);
	m->boot_timed_out = true;
	machine_kill_tree(m);
}

/* Arm the boot deadline and readiness probe for a booting machine. */
static void
machine_boot_watch(struct machine *m)
{
	machine_timer(m, &m->ev_boot, machine_boot_timeout_cb,
	    MACHINE_BOOT_TIMEOUT_S * 1000, false);
	machine_timer(m, &m->ev_probe, machine_probe_cb, MACHINE_PROBE_MS, true);
}

/*
 * Remove the umid dir of a dead instance, so UML never finds a stale pid
 * file.  Relative to the checked dir fd: a uml that is a symlink is
 * removed itself, never followed into another directory.
 */
static void
machine_remove_umid(struct machine *m, int dfd)
{
	struct stat	st;
	int		ufd;

	if (fstatat(dfd, "uml", &st, AT_SYMLINK_NOFOLLOW) == -1)
		return;
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s: %s/uml is not a directory, removing it", m->name,
		    m->dir);
		(void)fs_unlink_at(dfd, "uml");
		return;
	}
	ufd = openat(dfd, "uml", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (ufd >= 0) {
		(void)fs_unlink_at(ufd, "pid");
		(void)fs_unlink_at(ufd, "mconsole");
		(void)close(ufd);
	}
	if (unlinkat(dfd, "uml", AT_REMOVEDIR) == -1 && errno != ENOENT)
		log_debug("%s: rmdir %s/uml: %s", m->name, m->dir,
		    strerror(errno));
}

/* True if UML removed its umid dir (a clean exit), as seen through the dir fd. */
static bool
machine_umid_gone(const struct machine *m)
{
	struct stat	st;
	bool		gone;
	int		dfd;

	if ((dfd = machine_dir_open(m)) < 0)
		return (false);
	gone = fstatat(dfd, "uml", &st, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno == ENOENT;
	(void)close(dfd);
	return (gone);
}

/*
 * Whether an overlay owned by uid can be sbumld's: made by the daemon (a
 * restore's copy) or by a UML it started.  UML runs as the daemon's uid
 * today; a UML run under a uid of its own must be accepted here as well.
 */
static bool
machine_overlay_owner_ok(uid_t uid)
{
	return (uid == geteuid() || (jail_active() && uid == jail_uid()));
}

/*
 * UML creates and writes disk<N>.cow by path: one a user planted (a
 * symlink into a root-only directory, a FIFO, a hard link, a crafted COW
 * file naming another backing file) would be written or trusted as root.
 * An existing overlay must be a regular file with one link that sbumld
 * (or UML started by it) made.  0, or -EPERM with a message in err.
 */
static int
machine_check_overlays(const struct machine *m, int dfd, char *err,
    size_t errlen)
{
	struct stat	st;
	char		name[32];
	const char	*what;

	for (size_t i = 0; i <= UML_MAX_DISKS; i++) {
		snprintf(name, sizeof(name), "disk%zu.cow", i);
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno == ENOENT)
				continue;
			snprintf(err, errlen, "%s/%s: %s", m->dir, name,
			    strerror(errno));
			return (-errno);
		}
		if (S_ISLNK(st.st_mode))
			what = "is a symlink";
		else if (!S_ISREG(st.st_mode))
			what = "is not a regular file";
		else if (st.st_nlink != 1)
			what = "has other hard links";
		else if (!machine_overlay_owner_ok(st.st_uid))
			what = "was not made by sbumld";
		else
			continue;
		snprintf(err, errlen, "%s/%s %s: refusing to start the machine "
		    "on it", m->dir, name, what);
		return (-EPERM);
	}
	return (0);
}

/*
 * Record the new UML process (pid, start time) in run.json before anyone
 * relies on it: a daemon restarted later finds and re-adopts it from this
 * record, so a process that cannot be recorded must not run.
 */
static int
machine_record_start(struct machine *m, pid_t pid, char *err, size_t errlen)
{
	struct machine_run	run;
	int			r;

	memset(&run, 0, sizeof(run));
	run.state = MACHINE_BOOTING;
	run.pid = pid;
	if ((r = uml_proc_starttime(pid, &run.starttime)) == 0) {
		iso8601_utc(time(NULL), run.started, sizeof(run.started));
		r = machine_write_run(m, &run);
	}
	if (r < 0)
		snprintf(err, errlen, "cannot record the UML process of %s in "
		    "%s/%s: %s; it was killed", m->name, m->rec,
		    MACHINE_RUN_FILE, strerror(-r));
	return (r);
}

/* Kill and reap a UML process that must not run (nothing watches it yet). */
static void
machine_abort_start(struct machine *m, pid_t pid)
{
	int	status;

	(void)uml_kill_tree(pid, m->dir);
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
}

/* Start the UML process of a stopped machine: a boot, or a restore from capture. */
static int
machine_start(struct machine *m, const char *capture, int physmem_fd,
    machine_done_cb cb, void *arg, char *err, size_t errlen)
{
	struct uml_launch	l;
	pid_t			pid;
	int			r, dfd = -1;

	if (machine_state_is_live(m->state)) {
		snprintf(err, errlen, "machine %s is %s", m->name,
		    machine_state_to_string(m->state));
		return (-EBUSY);
	}
	if (m->job != NULL) {
		snprintf(err, errlen, "machine %s is busy: a %s is running on it",
		    m->name, m->job->kind);
		return (-EBUSY);
	}
	if (m->nwaiters >= MACHINE_MAX_WAITERS) {
		snprintf(err, errlen, "too many pending calls on %s", m->name);
		return (-ENOSPC);
	}
	if ((dfd = machine_dir_open(m)) < 0) {
		snprintf(err, errlen, "machine directory %s: %s", m->dir,
		    dfd == -ENOTDIR ? "not a directory (or a symlink)" :
		    fs_strerror(dfd));
		return (dfd);
	}
	if ((r = machine_check_overlays(m, dfd, err, errlen)) < 0)
		goto out;
	/* Leftovers of the previous instance (killed helpers, stale files). */
	machine_remove_umid(m, dfd);
	/* The jailed UML creates its overlays and uml/ here (jail.h). */
	if ((r = jail_machine_dir(dfd)) < 0) {
		snprintf(err, errlen, "cannot open %s to user %s: %s", m->dir,
		    JAIL_USER, strerror(-r));
		goto out;
	}
	if ((r = machine_open_notifier(m)) < 0) {
		snprintf(err, errlen, "cannot bind %s/notify.sock: %s", m->dir,
		    strerror(-r));
		goto out;
	}

	memset(&l, 0, sizeof(l));
	l.dir = m->dir;
	l.dir_fd = dfd;
	l.kernel = m->cfg.kernel;
	l.image = m->cfg.image;
	l.mem_mb = m->cfg.mem_mb;
	l.cmdline = m->cfg.cmdline;
	for (size_t i = 0; i < m->cfg.ndisks; i++)
		l.disks[i] = m->cfg.disks[i];
	l.ndisks = m->cfg.ndisks;
	l.restore = capture;
	l.physmem_fd = physmem_fd;
	if ((r = uml_spawn(&l, &pid, err, errlen)) < 0) {
		m->notifier = mconsole_notifier_free(m->notifier);
		goto out;
	}
	if ((r = machine_record_start(m, pid, err, errlen)) < 0) {
		log_warnx("%s", err);
		machine_abort_start(m, pid);
		m->notifier = mconsole_notifier_free(m->notifier);
		goto out;
	}

	m->pid = pid;
	m->is_child = true;
	m->live_dfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	if ((r = child_watch(pid, machine_child_exit_cb, m)) < 0)
		log_warnx("%s: cannot watch pid %ld: %s", m->name, (long)pid,
		    strerror(-r));
	if ((r = machine_watch_pid(m, pid)) < 0)
		log_warnx("%s: pidfd_open(%ld): %s", m->name, (long)pid,
		    strerror(-r));
	if ((r = uml_proc_starttime(pid, &m->starttime)) < 0)
		log_warnx("%s: start time of %ld: %s", m->name, (long)pid,
		    strerror(-r));
	machine_open_mconsole(m);
	iso8601_utc(time(NULL), m->started, sizeof(m->started));
	m->has_exit = false;
	m->status_known = m->signal_known = false;
	m->expect_exit = m->panicked = m->boot_timed_out = false;
	m->savable = false;
	m->halt_stage = 0;
	m->restore_wait_until = capture != NULL ?
	    now_usec() + MACHINE_RESTORE_NOTIFY_MS * 1000 : 0;
	(void)machine_add_waiter(m, MACHINE_WAIT_RUNNING, cb, arg);
	machine_set_state(m, MACHINE_BOOTING);
	machine_boot_watch(m);
	r = 0;
out:
	closefd(&dfd);
	return (r);
}

/* Boot a stopped/crashed machine; see machine.h. */
int
machine_boot(struct machine *m, machine_done_cb cb, void *arg, char *err,
    size_t errlen)
{
	return (machine_start(m, NULL, 0, cb, arg, err, errlen));
}

/* Bring a new machine to life from a snapshot's capture; see machine.h. */
int
machine_restore(struct machine *m, const char *capture, int physmem_fd,
    machine_done_cb cb, void *arg, char *err, size_t errlen)
{
	return (machine_start(m, capture, physmem_fd, cb, arg, err, errlen));
}

/* mconsole answer of a pause or resume. */
static void
machine_op_cb(int err, const char *text, void *arg)
{
	struct machine_op	*op = arg;
	struct machine		*m = op->m;
	const char		*msg = text;

	m->op_pending = false;
	if (err == 0) {
		/* A halt or death meanwhile wins over the pause/resume. */
		if (m->state == MACHINE_RUNNING || m->state == MACHINE_PAUSED)
			machine_set_state(m, op->target);
	} else if (err == -ECANCELED && !machine_state_is_live(m->state)) {
		err = -ECHILD;
		msg = "the machine exited";
	} else if (err == -ETIMEDOUT) {
		msg = "the machine's mconsole did not answer in time";
	} else if (err != -EREMOTEIO) {
		msg = strerror(-err);
	}
	op->cb(m, err, msg, op->arg);
	free(op);
}

/* Send stop or go and move to target on success. */
static int
machine_stop_go(struct machine *m, const char *cmd, enum machine_state need,
    enum machine_state target, machine_done_cb cb, void *arg)
{
	struct machine_op	*op;
	int			 r;

	if (m->state != need)
		return (-EINVAL);
	if (m->op_pending || m->job != NULL)
		return (-EBUSY);
	if (m->mc == NULL)
		return (-ENOTCONN);
	op = xcalloc(1, sizeof(*op));
	op->m = m;
	op->target = target;
	op->cb = cb;
	op->arg = arg;
	if ((r = mconsole_send(m->mc, cmd, MCONSOLE_TIMEOUT_MS, machine_op_cb,
	    op)) < 0) {
		free(op);
		return (r);
	}
	m->op_pending = true;
	return (0);
}

/* Pause: mconsole stop; see machine.h. */
int
machine_pause(struct machine *m, machine_done_cb cb, void *arg)
{
	return (machine_stop_go(m, "stop", MACHINE_RUNNING, MACHINE_PAUSED,
	    cb, arg));
}

/* Resume: mconsole go; see machine.h. */
int
machine_resume(struct machine *m, machine_done_cb cb, void *arg)
{
	return (machine_stop_go(m, "go", MACHINE_PAUSED, MACHINE_RUNNING,
	    cb, arg));
}

/* An mconsole answer during halt: only worth a debug line. */
static void
machine_halt_mc_cb(int err, const char *text, void *arg)
{
	struct machine	*m = arg;

	if (err != 0 && err != -ECANCELED)
		log_debug("%s: halt: mconsole: %s %s", m->name, strerror(-err),
		    text);
}

/* Halt escalation: after timeout_s mconsole halt, 5 s later SIGKILL. */
static void
machine_halt_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct machine	*m = arg;

	(void)fd;
	(void)events;
	if (m->pid == 0)
		return;
	if (m->halt_stage == 0 && m->mc != NULL) {
		log_info("%s: guest did not power off, sending mconsole halt",
		    m->name);
		m->halt_stage = 1;
		machine_event_free(&m->ev_cad);
		(void)mconsole_send(m->mc, "halt", MCONSOLE_TIMEOUT_MS,
		    machine_halt_mc_cb, m);
		machine_timer(m, &m->ev_halt, machine_halt_timer_cb,
		    MACHINE_HALT_KILL_S * 1000, false);
		return;
	}
	log_warnx("%s: still alive after mconsole halt, killing it", m->name);
	machine_event_free(&m->ev_cad);
	m->halt_stage = 2;
	machine_kill_tree(m);
}

/*
 * Repeat the ctrl-alt-del while the guest has not reacted: mconsole answers
 * as soon as the kernel runs, and a cad that arrives before the guest's
 * init has installed its handler is lost.  The sbuml guest ignores repeats
 * once its shutdown has begun.
 */
static void
machine_cad_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct machine	*m = arg;

	(void)fd;
	(void)events;
	if (m->state != MACHINE_HALTING || m->halt_stage != 0 || m->mc == NULL)
		return;
	(void)mconsole_send(m->mc, "cad", MCONSOLE_TIMEOUT_MS,
	    machine_halt_mc_cb, m);
}

/* Graceful halt; see machine.h. */
int
machine_halt(struct machine *m, unsigned int timeout_s, machine_done_cb cb,
    void *arg)
{
	bool	paused = m->state == MACHINE_PAUSED;
	int	r;

	if (m->state != MACHINE_RUNNING && !paused)
		return (-EINVAL);
	if (m->op_pending || m->job != NULL)
		return (-EBUSY);
	if ((r = machine_add_waiter(m, MACHINE_WAIT_EXIT, cb, arg)) < 0)
		return (r);
	m->expect_exit = true;
	m->halt_stage = 0;
	machine_set_state(m, MACHINE_HALTING);
	if (m->mc != NULL) {
		/* A stopped kernel would not see the ctrl-alt-del. */
		if (paused)
			(void)mconsole_send(m->mc, "go", MCONSOLE_TIMEOUT_MS,
			    machine_halt_mc_cb, m);
		(void)mconsole_send(m->mc, "cad", MCONSOLE_TIMEOUT_MS,
		    machine_halt_mc_cb, m);
		machine_timer(m, &m->ev_cad, machine_cad_timer_cb,
		    MACHINE_CAD_REPEAT_S * 1000, true);
	} else {
		/* No mconsole: nothing to ask, go straight to the kill. */
		m->halt_stage = 1;
		timeout_s = 0;
	}
	machine_timer(m, &m->ev_halt, machine_halt_timer_cb,
	    timeout_s * 1000, false);
	return (0);
}

/* SIGKILL the instance; see machine.h. */
int
machine_kill(struct machine *m, machine_done_cb cb, void *arg)
{
	int	r;

	if (!machine_state_is_live(m->state) || m->pid == 0)
		return (-EINVAL);
	if ((r = machine_add_waiter(m, MACHINE_WAIT_EXIT, cb, arg)) < 0)
		return (r);
	m->expect_exit = true;
	machine_kill_tree(m);
	return (0);
}

/* Take the job slot; see machine.h. */
int
machine_job_begin(struct machine *m, const struct machine_job *job)
{
	if (m->job != NULL)
		return (-EBUSY);
	if (m->pid == 0 || !machine_state_is_live(m->state))
		return (-EINVAL);
	m->job = job;
	return (0);
}

/* Take the job slot of a machine that is not running; see machine.h. */
int
machine_job_reserve(struct machine *m, const struct machine_job *job)
{
	if (m->job != NULL)
		return (-EBUSY);
	if (machine_state_is_live(m->state))
		return (-EINVAL);
	m->job = job;
	return (0);
}

/* Release the job slot; see machine.h. */
void
machine_job_end(struct machine *m, const struct machine_job *job)
{
	if (m->job == job)
		m->job = NULL;
}

/* The job holding the slot. */
const struct machine_job *
machine_job(const struct machine *m)
{
	return (m->job);
}

/* Send an mconsole command for a job; see machine.h. */
int
machine_mconsole_send(struct machine *m, const char *cmd,
    unsigned int timeout_ms, mconsole_cb cb, void *arg)
{
	if (m->mc == NULL || !machine_state_is_live(m->state))
		return (-ENOTCONN);
	return (mconsole_send(m->mc, cmd, timeout_ms, cb, arg));
}

/* 1 if the directory dfd holds nothing, 0 if it holds something, -errno. */
static int
machine_dir_is_empty(int dfd)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, r = 1;

	if ((fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return (-errno);
	if ((d = fdopendir(fd)) == NULL) {
		r = -errno;
		(void)close(fd);
		return (r);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			r = 0;
			break;
		}
	}
	(void)closedir(d);
	return (r);
}

/*
 * Refuse a directory (dfd) that lies inside the state dir, however the
 * path reached it (a symlink, a bind mount): the state dir is sbumld's.
 * 0 or -EINVAL with a message in err.
 */
static int
machine_check_outside_state(int dfd, const char *dir, char *err, size_t errlen)
{
	struct fs_id	sid;
	int		r;

	if ((r = fs_id_of_path(daemon_config.state_dir, &sid)) < 0) {
		snprintf(err, errlen, "%s: %s", daemon_config.state_dir,
		    strerror(-r));
		return (r);
	}
	if ((r = fs_dir_is_within(dfd, &sid)) != 0) {
		if (r > 0)
			snprintf(err, errlen, "machine path %s is inside the "
			    "state directory %s", dir, daemon_config.state_dir);
		else
			snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return (r > 0 ? -EINVAL : r);
	}
	return (0);
}

/*
 * Make (or claim an empty) machine directory with mode 0700, relative to
 * its parent's fd so nothing is resolved twice.  An fd of the directory
 * (and its identity in *ret_id), or -errno with a message in err.
 */
static int
machine_make_dir(const char *dir, bool is_path, struct fs_id *ret_id,
    char *err, size_t errlen)
{
	struct stat	 st;
	const char	*base = strrchr(dir, '/') + 1;
	char		*parent;
	bool		 made = false;
	int		 pfd, fd = -1, r;

	parent = base - 1 == dir ? xstrdup("/") :
	    xasprintf("%.*s", (int)(base - 1 - dir), dir);
	if (!is_path && (r = mkdir_p(parent, 0700)) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", parent,
		    strerror(-r));
		free(parent);
		return (r);
	}
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd == -1) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s%s", dir, strerror(-r),
		    r == -ENOENT ? " (the parent directory must exist)" : "");
		free(parent);
		return (r);
	}
	free(parent);
	if (is_path && (r = machine_check_outside_state(pfd, dir, err,
	    errlen)) < 0)
		goto out;
	if (mkdirat(pfd, base, 0700) == 0)
		made = true;
	else if (errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-r));
		goto out;
	}
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		r = errno == ELOOP || errno == ENOTDIR ? -EEXIST : -errno;
		snprintf(err, errlen, "%s exists and is not a directory", dir);
		goto out;
	}
	if (!made && (r = machine_dir_is_empty(fd)) <= 0) {
		snprintf(err, errlen, "%s is not empty and holds no sbuml "
		    "machine", dir);
		r = r < 0 ? r : -EEXIST;
		goto out;
	}
	if (fchmod(fd, 0700) == -1) {
		r = -errno;
		snprintf(err, errlen, "chmod %s: %s", dir, strerror(-r));
		goto out;
	}
	ret_id->dev = st.st_dev;
	ret_id->ino = st.st_ino;
	(void)close(pfd);
	return (fd);
out:
	closefd(&fd);
	if (made)
		(void)unlinkat(pfd, base, AT_REMOVEDIR);
	(void)close(pfd);
	return (r);
}

/* Create a new stopped machine; see machine.h. */
int
machine_create(const char *name, struct machine_config *cfg,
    struct machine **ret, char *err, size_t errlen)
{
	struct machine	*m;
	struct fs_id	 id;
	char		*dir = NULL, *rec = NULL;
	bool		 is_path;
	int		 r, dfd = -1;

	if ((r = machine_name_resolve(name, &dir, &is_path, err, errlen)) < 0)
		return (r);
	if (machine_lookup(name) != NULL) {
		snprintf(err, errlen, "machine %s already exists", name);
		r = -EEXIST;
		goto out;
	}
	if (nmachines >= MACHINE_MAX) {
		snprintf(err, errlen, "at most %d machines", MACHINE_MAX);
		r = -ENOSPC;
		goto out;
	}
	if ((dfd = machine_make_dir(dir, is_path, &id, err, errlen)) < 0) {
		r = dfd;
		goto out;
	}
	if (cfg->created[0] == '\0')
		iso8601_utc(time(NULL), cfg->created, sizeof(cfg->created));
	/* In a path machine's directory, machine.json is for the user to read. */
	if ((r = machine_config_write(dfd, name, cfg, NULL)) < 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s", dir,
		    MACHINE_CONFIG_FILE, strerror(-r));
		(void)rmdir(dir);
		goto out;
	}
	if (is_path && (r = machine_paths_add(dir, cfg, &id)) < 0) {
		snprintf(err, errlen, "cannot record %s in %s/paths: %s", dir,
		    daemon_config.state_dir, strerror(-r));
		(void)fs_unlink_at(dfd, MACHINE_CONFIG_FILE);
		(void)rmdir(dir);
		goto out;
	}
	rec = is_path ? machine_paths_link(dir) : xstrdup(dir);
	m = machine_new(name, dir, rec, is_path, &id, cfg);
	machine_register(m);
	log_info("%s: created in %s", name, dir);
	*ret = m;
	r = 0;
out:
	closefd(&dfd);
	free(rec);
	free(dir);
	return (r);
}

/*
 * Re-adopt a machine whose run.json names a process: it must be alive, be
 * the same process (start time) and live in the machine dir.  Otherwise
 * the machine died while no daemon watched it.
 */
static void
machine_adopt(struct machine *m, const struct machine_run *run)
{
	uint64_t	start;
	int		r;

	m->state = run->state;
	memcpy(m->started, run->started, sizeof(m->started));
	if ((r = machine_watch_pid(m, run->pid)) < 0 ||
	    uml_proc_starttime(run->pid, &start) < 0 ||
	    start != run->starttime ||
	    !uml_proc_cwd_is_id(run->pid, m->dir_id.dev, m->dir_id.ino)) {
		machine_event_free(&m->ev_pidfd);
		closefd(&m->pidfd);
		/* Its orphaned helpers, if any (safe on a reused pid). */
		(void)uml_kill_session(run->pid, m->dir);
		m->has_exit = true;
		m->status_known = m->signal_known = false;
		if (run->state == MACHINE_HALTING || machine_umid_gone(m))
			m->state = MACHINE_STOPPED;
		else
			m->state = MACHINE_CRASHED;
		log_info("%s: pid %ld is gone, %s", m->name, (long)run->pid,
		    machine_state_to_string(m->state));
		machine_save_run(m);
		return;
	}
	m->pid = run->pid;
	m->starttime = run->starttime;
	m->is_child = false;
	{
		char	cwd[64];

		snprintf(cwd, sizeof(cwd), "/proc/%ld/cwd", (long)m->pid);
		m->live_dfd = open(cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	m->savable = run->savable;
	/* Sockets only in the directory it was made in, not one swapped in. */
	if ((r = machine_dir_open(m)) >= 0) {
		(void)close(r);
		machine_open_mconsole(m);
		if ((r = machine_open_notifier(m)) < 0)
			log_warnx("%s: notify socket: %s, ignoring", m->name,
			    strerror(-r));
	}
	log_info("%s: re-adopted pid %ld (%s)", m->name, (long)m->pid,
	    machine_state_to_string(m->state));
	switch (m->state) {
	case MACHINE_BOOTING:
		machine_boot_watch(m);
		break;
	case MACHINE_HALTING:
		/* The halt was asked for: finish it without another grace period. */
		m->expect_exit = true;
		m->halt_stage = 0;
		machine_timer(m, &m->ev_halt, machine_halt_timer_cb, 0, false);
		break;
	default:
		break;
	}
}

/*
 * Load the machine in dir (named name) from its record rec (machine.json
 * and run.json that sbumld wrote) and register it.  0, or -errno (logged
 * by the caller; -ENOENT: the machine is gone).
 */
static int
machine_load(const char *dir, const char *name, const char *rec, bool is_path,
    struct machine **ret)
{
	struct machine_config	 cfg;
	struct machine_run	 run;
	struct machine		*m;
	struct fs_id		 id;
	char			*json_name = NULL, err[256];
	int			 r, rfd, dfd;

	if (nmachines >= MACHINE_MAX)
		return (-ENOSPC);
	if ((rfd = fs_open_dir(rec, NULL, NULL)) < 0)
		return (rfd);
	if ((r = machine_config_read(rfd, false, &cfg, &json_name, &id, err,
	    sizeof(err))) < 0) {
		if (r != -ENOENT)
			log_warnx("%s: %s/%s", name, rec, err);
		(void)close(rfd);
		return (r);
	}
	if (strcmp(json_name, name) != 0) {
		free(json_name);
		machine_config_clear(&cfg);
		(void)close(rfd);
		return (-EINVAL);
	}
	free(json_name);
	r = machine_run_read(rfd, &run);
	(void)close(rfd);
	/* A named machine's dir is in the state dir: its identity is now. */
	dfd = fs_open_dir(dir, is_path ? &id : NULL, is_path ? NULL : &id);
	if (dfd == -ENOENT && !(r == 0 && machine_state_is_live(run.state))) {
		machine_config_clear(&cfg);
		return (-ENOENT);
	}
	if (dfd < 0)
		log_warnx("%s: %s: %s; sbumld will not use it", name, dir,
		    fs_strerror(dfd));
	closefd(&dfd);
	m = machine_new(name, dir, rec, is_path, &id, &cfg);
	if (r == 0 && machine_state_is_live(run.state) && run.pid > 0) {
		machine_adopt(m, &run);
	} else if (r == 0) {
		m->state = machine_state_is_live(run.state) ? MACHINE_CRASHED :
		    run.state;
		memcpy(m->started, run.started, sizeof(m->started));
		m->has_exit = run.has_exit;
		m->status_known = run.status_known;
		m->status = run.status;
		m->signal_known = run.signal_known;
		m->signal = run.signal;
	} else if (r != -ENOENT) {
		log_warnx("%s: %s/%s: %s, treating the machine as stopped",
		    name, rec, MACHINE_RUN_FILE, strerror(-r));
	}
	machine_register(m);
	*ret = m;
	return (0);
}

/*
 * Record a path machine that sbumld has no record of (lost, or an older
 * daemon's symlink) from the files in its directory.  Only a machine.json
 * sbumld itself wrote (owned by its uid, one link) is believed: one a user
 * wrote must not choose what runs as root.  run.json is copied so a live
 * machine is re-adopted.  0 or -errno (-ENOENT: no machine there).
 */
static int
machine_record_path(const char *path)
{
	struct machine_config	 cfg;
	struct machine_run	 run;
	struct fs_id		 id;
	char			*json_name = NULL, *rec, err[256];
	int			 dfd, rfd, r;

	if ((dfd = fs_open_dir(path, NULL, &id)) < 0)
		return (dfd);
	if ((r = machine_check_outside_state(dfd, path, err, sizeof(err))) < 0 ||
	    (r = machine_config_read(dfd, true, &cfg, &json_name, NULL, err,
	    sizeof(err))) < 0) {
		if (r != -ENOENT)
			log_warnx("%s: %s, not loading it", path, err);
		(void)close(dfd);
		return (r);
	}
	r = strcmp(json_name, path) == 0 ? 0 : -EINVAL;
	free(json_name);
	if (r == 0)
		r = machine_paths_add(path, &cfg, &id);
	machine_config_clear(&cfg);
	if (r == 0 && machine_run_read(dfd, &run) == 0) {
		rec = machine_paths_link(path);
		if ((rfd = fs_open_dir(rec, NULL, NULL)) >= 0) {
			r = machine_run_write(rfd, &run);
			(void)close(rfd);
		}
		free(rec);
	}
	(void)close(dfd);
	return (r);
}

/* Load an unregistered path machine; see machine.h. */
int
machine_load_path(const char *path, struct machine **ret)
{
	char	*rec;
	int	 r;

	if ((r = machine_record_path(path)) < 0)
		return (r);
	rec = machine_paths_link(path);
	r = machine_load(path, path, rec, true, ret);
	free(rec);
	return (r);
}

/* Remove one file sbuml created in the machine dir; ENOENT is fine. */
static int
machine_unlink(struct machine *m, int dfd, const char *file, char *err,
    size_t errlen)
{
	int	r;

	if ((r = fs_unlink_at(dfd, file)) < 0)
		snprintf(err, errlen, "cannot remove %s/%s: %s", m->dir, file,
		    strerror(-r));
	return (r);
}

/* Remove the files sbuml created in the machine directory, then the directory. */
static int
machine_remove_files(struct machine *m, int dfd, char *err, size_t errlen)
{
	static const char *const files[] = { "notify.sock", "console.log",
	    MACHINE_RUN_FILE, MACHINE_RESTORING_FILE, MACHINE_CONFIG_FILE };
	char	 file[32];
	int	 r;

	machine_remove_umid(m, dfd);
	for (size_t i = 0; i <= UML_MAX_DISKS; i++) {
		snprintf(file, sizeof(file), "disk%zu.cow", i);
		if ((r = machine_unlink(m, dfd, file, err, errlen)) < 0)
			return (r);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((r = machine_unlink(m, dfd, files[i], err, errlen)) < 0)
			return (r);
	}
	if (rmdir(m->dir) == -1) {
		if (errno != ENOTEMPTY && errno != ENOENT) {
			r = -errno;
			snprintf(err, errlen, "cannot remove %s: %s", m->dir,
			    strerror(-r));
			return (r);
		}
		if (errno == ENOTEMPTY)
			log_info("%s: %s holds files sbuml did not create, "
			    "left in place", m->name, m->dir);
	}
	return (0);
}

/* Delete a dead machine; see machine.h. */
int
machine_delete(struct machine *m, char *err, size_t errlen)
{
	pid_t	 user;
	int	 r, dfd;

	if (m->job != NULL) {
		snprintf(err, errlen, "machine %s is busy: a %s is running on it",
		    m->name, m->job->kind);
		return (-EBUSY);
	}
	if (machine_state_is_live(m->state) || m->nwaiters > 0) {
		snprintf(err, errlen, "machine %s is %s", m->name,
		    machine_state_to_string(m->state));
		return (-EBUSY);
	}
	/*
	 * A process sbumld lost track of (its run.json could not be written,
	 * or was lost) may still run in the directory: never pull the files
	 * from under it.
	 */
	if ((user = uml_find_cwd_user(m->dir_id.dev, m->dir_id.ino)) > 0) {
		snprintf(err, errlen, "machine %s is %s, but process %ld still "
		    "runs in %s: kill it first", m->name,
		    machine_state_to_string(m->state), (long)user, m->dir);
		return (-EBUSY);
	}
	if ((dfd = machine_dir_open(m)) >= 0) {
		r = machine_remove_files(m, dfd, err, errlen);
		(void)close(dfd);
		if (r < 0)
			return (r);
	} else if (dfd != -ENOENT) {
		/* Re-pointed or replaced: forget the machine, touch nothing there. */
		log_warnx("%s: %s: %s, forgetting the machine without removing "
		    "files", m->name, m->dir, fs_strerror(dfd));
	}
	if (m->is_path && (r = machine_paths_remove(m->dir)) < 0)
		log_warnx("%s: cannot remove its record in %s/paths: %s, "
		    "ignoring", m->name, daemon_config.state_dir, strerror(-r));
	log_info("%s: deleted", m->name);
	machine_free(m);
	return (0);
}

/* Load every <state-dir>/machines/NAME. */
static void
machine_scan_names(void)
{
	struct machine	*m;
	struct dirent	*de;
	char		*base, *dir, err[256];
	bool		 is_path;
	DIR		*d;
	int		 r;

	base = xasprintf("%s/machines", daemon_config.state_dir);
	if ((d = opendir(base)) == NULL) {
		if (errno != ENOENT)
			log_warn("%s", base);
		free(base);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (machine_name_resolve(de->d_name, &dir, &is_path, err,
		    sizeof(err)) < 0) {
			log_warnx("%s/%s: %s, ignoring", base, de->d_name, err);
			continue;
		}
		if ((r = machine_load(dir, de->d_name, dir, false, &m)) < 0)
			log_warnx("%s: cannot load %s: %s, ignoring", de->d_name,
			    dir, strerror(-r));
		free(dir);
	}
	(void)closedir(d);
	free(base);
}

/*
 * The path a <state-dir>/paths entry stands for: an older daemon's
 * symlink names it as its target, a record names it in its machine.json.
 * NULL (logged) if the entry is not one of ours.
 */
static char *
machine_paths_entry(const char *link, bool *ret_legacy)
{
	struct machine_config	 cfg;
	struct stat		 st;
	char			 target[4096], *name = NULL, err[256];
	ssize_t			 n;
	int			 fd;

	if (lstat(link, &st) == -1)
		return (NULL);
	*ret_legacy = S_ISLNK(st.st_mode);
	if (*ret_legacy) {
		if ((n = readlink(link, target, sizeof(target) - 1)) < 0)
			return (NULL);
		target[n] = '\0';
		return (xstrdup(target));
	}
	if (!S_ISDIR(st.st_mode) || (fd = fs_open_dir(link, NULL, NULL)) < 0) {
		log_warnx("%s: not a record, ignoring", link);
		return (NULL);
	}
	if (machine_config_read(fd, false, &cfg, &name, NULL, err,
	    sizeof(err)) < 0)
		log_warnx("%s: %s, ignoring", link, err);
	else
		machine_config_clear(&cfg);
	(void)close(fd);
	return (name);
}

/* Load every path machine recorded in <state-dir>/paths. */
static void
machine_scan_paths(void)
{
	struct machine	*m;
	struct dirent	*de;
	char		*base, *link, *expect, *target, *dir, err[256];
	bool		 is_path, legacy;
	DIR		*d;
	int		 r;

	base = xasprintf("%s/paths", daemon_config.state_dir);
	if ((d = opendir(base)) == NULL) {
		if (errno != ENOENT)
			log_warn("%s", base);
		free(base);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		link = xasprintf("%s/%s", base, de->d_name);
		if ((target = machine_paths_entry(link, &legacy)) == NULL) {
			free(link);
			continue;
		}
		expect = machine_paths_link(target);
		if (strcmp(expect, link) != 0 ||
		    machine_name_resolve(target, &dir, &is_path, err,
		    sizeof(err)) < 0 || !is_path) {
			log_warnx("%s: bad record of %s, ignoring", link, target);
			free(expect);
			free(target);
			free(link);
			continue;
		}
		free(expect);
		r = 0;
		/* An older daemon's link: make the record from sbumld's own files. */
		if (legacy && machine_lookup(target) == NULL &&
		    (r = machine_record_path(target)) == -ENOENT) {
			log_info("%s: gone, forgetting it", target);
			if (unlink(link) == -1)
				log_warn("unlink %s", link);
		} else if (r < 0) {
			log_warnx("%s: cannot load: %s, ignoring", target,
			    strerror(-r));
		} else if (machine_lookup(target) == NULL &&
		    (r = machine_load(dir, target, link, true, &m)) < 0) {
			if (r == -ENOENT) {
				/* The directory is gone and nothing runs. */
				log_info("%s: gone, forgetting it", target);
				(void)machine_paths_remove(target);
			} else
				log_warnx("%s: cannot load: %s, ignoring",
				    target, strerror(-r));
		}
		free(dir);
		free(target);
		free(link);
	}
	(void)closedir(d);
	free(base);
}

/* Load and re-adopt every machine; see machine.h. */
int
machine_registry_init(void)
{
	char	*dir;
	int	 r;

	if ((r = child_init(daemon_base)) < 0)
		return (r);
	if ((r = mkdir_p(daemon_config.state_dir, 0700)) < 0)
		return (r);
	dir = xasprintf("%s/machines", daemon_config.state_dir);
	r = mkdir_p(dir, 0700);
	free(dir);
	if (r < 0)
		return (r);
	machine_scan_names();
	machine_scan_paths();
	log_info("%zu machine(s) known", nmachines);
	return (0);
}

/* Drop every machine (they keep running); see machine.h. */
void
machine_registry_shutdown(void)
{
	struct machine	*m;

	while (nmachines > 0) {
		m = machines[nmachines - 1];
		machine_wake(m, true, MACHINE_WAIT_EXIT, -ECANCELED,
		    "the daemon is shutting down");
		/* Cancels pause/resume calls (-ECANCELED) while m is still whole. */
		m->mc = mconsole_free(m->mc);
		/* A job must let go of m before it is freed. */
		if (m->job != NULL && m->job->on_exit != NULL)
			m->job->on_exit(m, m->job->arg);
		m->job = NULL;
		machine_free(m);
	}
	child_shutdown();
}
