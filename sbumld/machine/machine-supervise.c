/* SPDX-License-Identifier: MIT */
/*
 * Supervision of a machine's UML process: its exit, the readiness probe
 * while it boots, halt escalation, kill, and re-adoption of a running
 * process after a daemon restart.
 *
 * Every live machine has a pidfd with a read event (works for our
 * children and for re-adopted processes alike).  Our own children are
 * also registered with child.c, whose SIGCHLD loop reaps them and reports
 * the exit status; a pidfd event on our own child just runs that loop.
 * A re-adopted process is not our child: its exit status is unknown.
 *
 * Whatever ends a UML process, its host helpers (the ubd I/O thread and
 * ptrace stubs are separate processes) are swept with uml_kill_tree, so a
 * dead machine never leaves a stray process holding its files and sockets.
 */
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "context.h"
#include "log.h"
#include "machine-int.h"
#include "util.h"

#define MACHINE_PROBE_MS	250	/* boot: how often to try mconsole */
#define MACHINE_PROBE_TIMEOUT_MS 2000

static void	machine_exited(struct machine *, bool, int);
static void	machine_probe(struct machine *);
static bool	machine_umid_gone(const struct machine *);

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

/* The pidfd became readable: the process is gone. */
static void
machine_pidfd_cb(evutil_socket_t fd, short events, void *arg)
{
	struct machine	*m = arg;
	char		*name;
	bool		 gone;

	(void)fd;
	(void)events;
	if (m->is_child) {
		/*
		 * Ours: reap it with its status through the same path as
		 * SIGCHLD, which calls machine_child_exit_cb.  That may delete
		 * m (a restore that failed removes its half-made machine).
		 */
		name = xstrdup(m->name);
		child_reap();
		gone = machine_lookup(name) != m;
		free(name);
		if (gone || m->pid == 0)
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
int
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

/* Supervise our new UML child pid, running in the directory dfd; see machine-int.h. */
void
machine_watch_child(struct machine *m, pid_t pid, int dfd)
{
	int	r;

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
}

/*
 * A lazily restored kernel ended with status 97: its pager went away
 * before every page was in (doc/kernel.md §5).  Memory it never got is
 * lost, and disk writes of its last moment may have taken zeroes from
 * unfilled pages: its disk copies are thrown away (it cannot be booted
 * again), and the machine says why.
 */
static void
machine_pager_lost(struct machine *m)
{
	char	path[PATH_MAX];
	int	fill = atomic_load(&m->fill->state);

	free(m->failure);
	m->failure = xasprintf("lazy restore: the pager was lost before the "
	    "memory was filled (fill %s%s%s): the machine is gone and its "
	    "disk copies were discarded", machine_fill_state_name(fill),
	    fill == MACHINE_FILL_FAILED ? ": " : "",
	    fill == MACHINE_FILL_FAILED ? m->fill->reason : "");
	for (size_t i = 0; i <= m->cfg.ndisks; i++) {
		snprintf(path, sizeof(path), "%s/disk%zu.cow", m->dir, i);
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("%s: cannot discard %s", m->name, path);
	}
	log_warnx("%s: %s", m->name, m->failure);
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
	bool			 clean, timed_out;
	char			*name;

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
	m->uffd = false;
	machine_fill_unwatch(m);

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
	if (known && WIFEXITED(status) && m->status == 97 && m->fill != NULL)
		machine_pager_lost(m);
	if (m->expect_exit)
		next = MACHINE_STOPPED;
	else if (m->state == MACHINE_BOOTING || m->panicked || !clean)
		next = MACHINE_CRASHED;
	else
		next = MACHINE_STOPPED;
	m->expect_exit = false;
	m->op_pending = false;
	machine_nic_release(m);

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

	/*
	 * A waiter may delete m (a restore whose kernel died before it
	 * answered removes the half-made machine): nothing of m is touched
	 * after a wake unless it is still registered.
	 */
	timed_out = m->boot_timed_out;
	m->boot_timed_out = false;
	name = xstrdup(m->name);
	if (timed_out)
		machine_wake(m, false, MACHINE_WAIT_RUNNING, -ETIMEDOUT,
		    "the machine did not come up in time and was killed");
	else
		machine_wake(m, false, MACHINE_WAIT_RUNNING, -ECHILD,
		    "the UML process died while booting");
	if (machine_lookup(name) == m)
		machine_wake(m, false, MACHINE_WAIT_EXIT, 0, "");
	free(name);
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
void
machine_boot_watch(struct machine *m)
{
	machine_timer(m, &m->ev_boot, machine_boot_timeout_cb,
	    MACHINE_BOOT_TIMEOUT_S * 1000, false);
	machine_timer(m, &m->ev_probe, machine_probe_cb, MACHINE_PROBE_MS, true);
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

/*
 * Re-adopt a machine whose run.json names a process: it must be alive, be
 * the same process (start time) and live in the machine dir.  Otherwise
 * the machine died while no daemon watched it.
 */
void
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
		if (run->tap[0] != '\0')
			net_nic_stop(m->name, run->tap);
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
	m->uffd = run->uffd;
	machine_nic_readopt(m, run->tap);
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
