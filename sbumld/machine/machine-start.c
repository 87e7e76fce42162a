/* SPDX-License-Identifier: MIT */
/*
 * Starting a stopped machine's UML process, to boot or to restore a
 * snapshot: the checks of what a user could have planted in its
 * directory, the launch, the record in run.json, and handing the process
 * to supervision (machine-supervise.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "jail.h"
#include "log.h"
#include "machine-int.h"
#include "util.h"

#define MACHINE_RESTORE_NOTIFY_MS 3000	/* restore: probe anyway after this */

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
	memcpy(run.tap, m->tap, sizeof(run.tap));
	run.uffd = m->uffd;
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

/*
 * The /dev/userfaultfd descriptor for a launch of kernel (uml_launch.uffd_fd),
 * or -1: refused by --no-userfaultfd, a kernel that does not take it
 * (uml_kernel_takes_uffd), or a host that does not let us open the device
 * (no such device before Linux 6.1, or a policy refusing it), which is
 * logged once and the machine runs without it.
 */
static int
machine_uffd_open(const char *kernel)
{
	static atomic_bool	 logged;
	int			 fd;

	if (daemon_config.no_userfaultfd)
		return (-1);
	if (!uml_kernel_takes_uffd(kernel)) {
		log_debug("%s does not take sbuml_uffd_dev=: launched without "
		    "/dev/userfaultfd", kernel);
		return (-1);
	}
	if ((fd = uml_uffd_open()) < 0) {
		if (!atomic_exchange(&logged, true))
			log_info("/dev/userfaultfd: %s; machines run without it "
			    "(no copy-on-write saves, no lazy restores)%s",
			    strerror(-fd), fd == -ENOENT ?
			    " (the device needs Linux 6.1 or later)" : "");
		return (-1);
	}
	return (fd);
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
    int pager_fd, const char *saved_mac, machine_done_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct uml_launch	l;
	pid_t			pid;
	bool			uffd;
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
	if ((r = machine_nic_start(m, err, errlen)) < 0) {
		m->notifier = mconsole_notifier_free(m->notifier);
		goto out;
	}
	if (m->tap[0] != '\0') {
		l.net_tap = m->tap;
		/* A restore keeping the saved MAC names none (doc/kernel.md). */
		l.net_mac = capture != NULL && saved_mac != NULL &&
		    strcmp(saved_mac, m->cfg.nic.mac) == 0 ? NULL :
		    m->cfg.nic.mac;
	}
	l.uffd_fd = machine_uffd_open(l.kernel);
	uffd = l.uffd_fd > 0;
	/* A lazy restore needs the device (the restore job checked it could). */
	if (pager_fd > 0 && !uffd) {
		snprintf(err, errlen, "a lazy restore needs /dev/userfaultfd, "
		    "which cannot be opened now");
		machine_nic_release(m);
		m->notifier = mconsole_notifier_free(m->notifier);
		r = -ENODEV;
		goto out;
	}
	l.pager_fd = pager_fd;
	r = uml_spawn(&l, &pid, err, errlen);
	/* The child has its own copy, as UML_UFFD_FD. */
	closefd(&l.uffd_fd);
	if (r < 0) {
		machine_nic_release(m);
		m->notifier = mconsole_notifier_free(m->notifier);
		goto out;
	}
	m->uffd = uffd;
	free(m->failure);
	m->failure = NULL;
	if ((r = machine_record_start(m, pid, err, errlen)) < 0) {
		log_warnx("%s", err);
		machine_abort_start(m, pid);
		machine_nic_release(m);
		m->notifier = mconsole_notifier_free(m->notifier);
		goto out;
	}

	machine_watch_child(m, pid, dfd);
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
	/* A boot brings no memory from a snapshot: no fill to show. */
	m->memory = NULL;
	free(m->memory_reason);
	m->memory_reason = NULL;
	m->fill = machine_fill_put(m->fill);
	return (machine_start(m, NULL, 0, 0, NULL, cb, arg, err, errlen));
}

/* Bring a new machine to life from a snapshot's capture; see machine.h. */
int
machine_restore(struct machine *m, const char *capture, int physmem_fd,
    int pager_fd, const char *saved_mac, machine_done_cb cb, void *arg,
    char *err, size_t errlen)
{
	return (machine_start(m, capture, physmem_fd, pager_fd, saved_mac, cb,
	    arg, err, errlen));
}
