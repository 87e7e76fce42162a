/* SPDX-License-Identifier: MIT */
/*
 * The restore job: check the snapshot (manifest, files, kernel build-id),
 * create the new machine with the saved configuration, give it its own
 * copies of the saved disks (reflinked where the filesystem can), and start
 * the kernel in restore mode.  The guest then carries on exactly where it
 * was saved.  A restore the kernel refuses leaves no machine behind.
 *
 * Everything that reads or writes snapshot data runs in a worker thread
 * (the daemon answers other calls meanwhile; the new machine's job slot is
 * held so that nobody boots or deletes it).  A format 2 snapshot is
 * materialised from the chunk store, every chunk's hash checked on the way:
 * the guest memory (physmem) into a memfd that the kernel adopts as its own
 * physmem file (sbuml_physmem_fd=, no copy; a kernel without that option
 * gets it as a file in the capture), the capture's private, meta and DONE
 * into a hidden directory <state-dir>/store/tmp/restore-XXXXXX (zero runs
 * become holes), each disk<N> straight to the new machine's disk<N>.cow.
 * The kernel reads the capture only while it starts (phase B reads private;
 * doc/kernel.md §5), so the directory is removed once the restored kernel
 * answers, or fails.  If no installed kernel has the snapshot's build-id,
 * the kernel binary stored with the snapshot is materialised (and checked)
 * into <state-dir>/store/kernels/<build-id> first; the event loop only
 * names that path.  A format 1 snapshot's disks (and, for the jailed
 * kernel, its capture) are copied into the machine's directory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "context.h"
#include "buildid.h"
#include "fsutil.h"
#include "hostfacts.h"
#include "jail.h"
#include "log.h"
#include "machine.h"
#include "machine-config.h"
#include "snapshot.h"
#include "snapshot-physmem.h"
#include "snapshot-pager.h"
#include "snapshot-job.h"
#include "snapshot-kernel.h"
#include "snapshot-restore.h"
#include "snapshot-restore-prepare.h"
#include "uml.h"
#include "store.h"
#include "util.h"
#include "worker.h"

struct restore_job {
	struct snapshot_job_cb	 cb;
	struct machine		*m;	/* NULL: the daemon shut down under us */
	struct machine_job	 slot;	/* held while materialising */
	char			*snapshot;
	char			*dir;	/* the snapshot directory */
	char			*capdir; /* the capture the kernel reads (a copy), or NULL */
	char			*marker; /* <machine dir>/restoring */
	bool			 saved_paused;	/* the capture is in UML's stop loop */
	bool			 cont;
	/* Preparing the files, in the worker: inputs, then results. */
	struct json_object	*man;
	char			*mdir;
	bool			 chunked;	/* format 2: from the store */
	size_t			 ndisks;	/* format 1: disks to copy */
	bool			 kernel_from_chunks;	/* write the kernel first */
	char			*kernel;	/* the binary the machine runs */
	char			*saved_mac;	/* the saved NIC's MAC, NULL: none */
	bool			 adopt;	/* physmem into a memfd the kernel adopts */
	int			 physmem_fd;	/* -1, or that memfd */
	/* A lazy restore (doc/restore.md): asked for, done, why not. */
	bool			 lazy_wanted;
	bool			 lazy;
	bool			 fallback;	/* the kernel refused it: eager now */
	char			 lazy_reason[768];
	struct json_object	*pm_entry;	/* physmem's store entry (lazy) */
	char			*pm_name;
	int			 r;
	uint64_t		 us;
	char			 err[1024];
};

/* Free the job (the machine stays, registered or deleted by the caller). */
static void
restore_job_free(struct restore_job *job)
{
	if (job->capdir != NULL)
		(void)fs_remove_tree(job->capdir);
	closefd(&job->physmem_fd);
	json_object_put(job->man);
	json_object_put(job->pm_entry);
	free(job->pm_name);
	free(job->capdir);
	free(job->marker);
	free(job->mdir);
	free(job->kernel);
	free(job->saved_mac);
	free(job->dir);
	free(job->snapshot);
	free(job);
}

/* Fail with an error whose data.reason is its message. */
static void
fail_reason(const struct snapshot_job_cb *cb, int code, const char *reason)
{
	snapshot_job_fail(cb, code, snapshot_job_reason(reason), "%s", reason);
}

/* N for a captured file name "disk<N>", else -1. */
static int
disk_index(const char *base)
{
	char		*end;
	unsigned long	 n;

	if (strncmp(base, "disk", 4) != 0 || base[4] < '0' || base[4] > '9')
		return -1;
	n = strtoul(base + 4, &end, 10);
	return *end == '\0' && n <= UML_MAX_DISKS ? (int)n : -1;
}

/*
 * A new directory <parent>/restore-XXXXXX for a capture the jailed kernel
 * reads (root:JAIL 0750, jail.h).  0 and *ret (caller removes and frees),
 * or -errno with a message in err.
 */
static int
make_capdir(const char *parent, char **ret, char *err, size_t errlen)
{
	char	*capdir;
	int	 r;

	capdir = xasprintf("%s/restore-XXXXXX", parent);
	if (((r = mkdir_p(parent, 0700)) < 0 && r != -EEXIST) ||
	    mkdtemp(capdir) == NULL) {
		r = r < 0 && r != -EEXIST ? r : -errno;
		snprintf(err, errlen, "cannot create %s: %s", capdir, strerror(-r));
	} else if ((r = jail_lend_dir(capdir)) < 0) {
		snprintf(err, errlen, "cannot open %s to user %s: %s", capdir,
		    JAIL_USER, strerror(-r));
		(void)fs_remove_tree(capdir);
	}
	if (r == 0)
		*ret = capdir;
	else
		free(capdir);
	return r < 0 ? r : 0;
}

/*
 * A format 1 snapshot for a jailed kernel: its capture/ belongs to root
 * (and maybe to a user) and stays so; the kernel reads a copy of every
 * file but the disks (reflinked where the file system can) in a new
 * make_capdir() directory in the new machine's directory mdir, where its
 * disks go too (not in the state dir: a full state disk must not stop the
 * restore of a snapshot kept elsewhere), *ret_capdir.  0 or -errno,
 * message in err.
 */
static int
copy_capture(const char *snapdir, const char *mdir, char **ret_capdir,
    char *err, size_t errlen)
{
	struct dirent	*de;
	char		*src = xasprintf("%s/%s", snapdir, SNAPSHOT_CAPTURE), *capdir;
	DIR		*d;
	int		 r;

	if ((r = make_capdir(mdir, &capdir, err, errlen)) < 0) {
		free(src);
		return r;
	}
	if ((d = opendir(src)) == NULL) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", src, strerror(-r));
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		char *from, *to;

		if (de->d_name[0] == '.' || disk_index(de->d_name) >= 0)
			continue;
		from = xasprintf("%s/%s", src, de->d_name);
		to = xasprintf("%s/%s", capdir, de->d_name);
		if ((r = fs_copy_file(from, to, 0640)) == 0 &&
		    lchown(to, (uid_t)-1, jail_gid()) == -1)
			r = -errno;
		if (r < 0)
			snprintf(err, errlen, "cannot copy %s to %s: %s", from, to,
			    strerror(-r));
		free(from);
		free(to);
	}
	if (d != NULL)
		(void)closedir(d);
	if (r < 0) {
		(void)fs_remove_tree(capdir);
		free(capdir);
	} else
		*ret_capdir = capdir;
	free(src);
	return r;
}

/*
 * Materialise a format 2 snapshot: capture files into a new hidden directory
 * (*ret_capdir, caller removes and frees), disk<N> into mdir/disk<N>.cow,
 * and, if ret_physmem is not NULL, physmem into a new memfd (*ret_physmem,
 * caller closes) instead of the directory.  Every chunk is checked.  0, or
 * -EBADMSG naming the file and chunk, or another -errno; message in err.
 * On failure nothing is left (the directory is removed, the memfd closed).
 */
static int
materialise(struct json_object *man, const char *mdir, int *ret_physmem,
    bool lazy, struct json_object **ret_pm_entry, char **ret_pm_name,
    char **ret_capdir, char *err, size_t errlen)
{
	struct json_object	*files, *v;
	struct store		*s;
	char			*root = snapshot_store_root(), *capdir = NULL;
	char			*tmpdir;
	int			 r = 0, pfd = -1;

	if ((s = store_open(root, err, errlen)) == NULL) {
		free(root);
		return -EIO;
	}
	store_trust_frame_checksums(s);
	tmpdir = xasprintf("%s/tmp", root);
	r = make_capdir(tmpdir, &capdir, err, errlen);
	free(tmpdir);
	if (r < 0)
		goto out;
	json_object_object_get_ex(man, "files", &files);
	for (size_t i = 0; i < json_object_array_length(files) && r == 0; i++) {
		struct json_object	*f = json_object_array_get_idx(files, i);
		const char		*rel, *base;
		char			*dst;
		int			 fd, n;

		json_object_object_get_ex(f, "path", &v);
		rel = json_object_get_string(v);
		base = strrchr(rel, '/') + 1;	/* checked by snapshot_manifest_load */
		n = disk_index(base);
		if (ret_physmem != NULL && strcmp(base, "physmem") == 0) {
			if (!lazy) {
				r = snapshot_physmem_fill(s, rel, f, &pfd, err, errlen);
				continue;
			}
			/* Lazy: an empty memfd; its pager reads the chunks later. */
			json_object_object_get_ex(f, "size", &v);
			r = snapshot_physmem_empty((uint64_t)json_object_get_int64(v),
			    &pfd, err, errlen);
			*ret_pm_entry = json_object_get(f);
			*ret_pm_name = xstrdup(rel);
			continue;
		}
		dst = n >= 0 ? xasprintf("%s/disk%d.cow", mdir, n) :
		    xasprintf("%s/%s", capdir, base);
		if ((fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", dst, strerror(-r));
			free(dst);
			break;
		}
		r = n >= 0 ? 0 : jail_share_fd(fd, 0640);
		if (r < 0)
			snprintf(err, errlen, "%s: %s", dst, strerror(-r));
		else
			r = store_read_entry(s, rel, f, fd, err, errlen);
		/*
		 * The guest takes what its disk held at the save as durable
		 * (it flushed it then): so must the copy be, before it runs.
		 */
		if (r == 0 && n >= 0 && fsync(fd) < 0) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", dst, strerror(-r));
		}
		close(fd);
		free(dst);
	}
out:
	if (r < 0) {
		if (capdir != NULL)
			(void)fs_remove_tree(capdir);
		closefd(&pfd);
	} else {
		*ret_capdir = capdir;
		capdir = NULL;
		if (ret_physmem != NULL)
			*ret_physmem = pfd;
	}
	free(capdir);
	free(root);
	store_free(s);
	return r;
}

/* The kernel's own words on a refused restore, from the console log. */
static void
refusal_reason(struct machine *m, char *buf, size_t len)
{
	struct json_object *tail;

	snprintf(buf, len, "the restored kernel exited");
	if (machine_console_tail(m, 40, &tail) < 0)
		return;
	for (size_t i = 0; i < json_object_array_length(tail); i++) {
		const char *l = json_object_get_string(json_object_array_get_idx(tail, i));
		const char *p = strstr(l, "sbuml restore:");

		if (p != NULL)
			snprintf(buf, len, "%s", p);
	}
	json_object_put(tail);
}

/* The result: the machine object. */
static void
restore_reply(struct restore_job *job)
{
	log_info("%s: restored from %s", machine_name(job->m), job->snapshot);
	job->cb.done(0, machine_to_json(job->m), NULL, job->cb.ctx);
	restore_job_free(job);
}

/* A pause/resume to put the restored machine into the state asked for. */
static void
restore_settle_cb(struct machine *m, int err, const char *msg, void *arg)
{
	struct restore_job *job = arg;

	if (err < 0) {
		snapshot_job_fail(&job->cb, SNAPSHOT_JOB_E_BOOT_FAILED, NULL, "%s "
		    "was restored, but %s "
		    "failed: %s", machine_name(m), job->cont ? "resuming" : "pausing", msg);
		restore_job_free(job);
		return;
	}
	restore_reply(job);
}

static void	restore_materialise_start(struct restore_job *job);

/* The restored kernel answered on its new mconsole, or died trying. */
static void
restore_started_cb(struct machine *m, int err, const char *msg, void *arg)
{
	struct restore_job	*job = arg;
	char			 reason[512], derr[256];
	int			 r;

	if (err < 0 && job->lazy && !machine_state_is_live(machine_state(m)) &&
	    machine_exit_status(m) == 2) {
		/*
		 * A lazy restore the kernel refused (status 2 before it ran;
		 * e.g. it could not make its userfaultfd): restore eagerly
		 * instead, from the same prepared files, and say why.
		 */
		refusal_reason(m, reason, sizeof(reason));
		log_info("%s: lazy restore refused (%s); restoring eagerly",
		    machine_name(m), reason);
		snprintf(job->lazy_reason, sizeof(job->lazy_reason), "the kernel "
		    "refused the lazy restore: %s", reason);
		job->lazy = false;
		job->fallback = true;
		closefd(&job->physmem_fd);
		restore_materialise_start(job);
		return;
	}
	/* The kernel has read the capture (or given up): drop the copy. */
	if (job->capdir != NULL) {
		(void)fs_remove_tree(job->capdir);
		free(job->capdir);
		job->capdir = NULL;
	}

	if (err < 0) {
		refusal_reason(m, reason, sizeof(reason));
		if (machine_failure(m) != NULL)
			snprintf(reason, sizeof(reason), "%s", machine_failure(m));
		log_warnx("%s: restore failed: %s (%s)", machine_name(m), reason, msg);
		if (machine_state_is_live(machine_state(m))) {
			/* Answered, then died: keep it for the post-mortem. */
			snapshot_job_fail(&job->cb, SNAPSHOT_JOB_E_BOOT_FAILED, NULL,
			    "%s: %s", machine_name(m), reason);
		} else {
			if ((r = machine_delete(m, derr, sizeof(derr))) < 0)
				log_warnx("restore: cannot remove the failed machine: %s", derr);
			fail_reason(&job->cb, strstr(reason, "refused") ?
			    SNAPSHOT_JOB_E_INCOMPATIBLE : SNAPSHOT_JOB_E_BOOT_FAILED,
			    reason);
		}
		restore_job_free(job);
		return;
	}
	/* The saved state: a stop-mode capture wakes up in UML's stop loop. */
	if (job->saved_paused)
		machine_set_state(m, MACHINE_PAUSED);
	if (job->saved_paused && job->cont)
		r = machine_resume(m, restore_settle_cb, job);
	else if (!job->saved_paused && !job->cont)
		r = machine_pause(m, restore_settle_cb, job);
	else {
		restore_reply(job);
		return;
	}
	if (r < 0) {
		snapshot_job_fail(&job->cb, SNAPSHOT_JOB_E_BOOT_FAILED, NULL, "%s "
		    "was restored but cannot be "
		    "%s: %s", machine_name(m), job->cont ? "resumed" : "paused",
		    strerror(-r));
		restore_job_free(job);
	}
}

/* Remove the half-made machine and report the error. */
static void
restore_fail(struct restore_job *job, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
restore_fail(struct restore_job *job, int code, const char *fmt, ...)
{
	char	msg[1536], derr[256];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (job->m != NULL && machine_delete(job->m, derr, sizeof(derr)) < 0)
		log_warnx("restore: cannot remove the failed machine: %s", derr);
	if (code == SNAPSHOT_JOB_E_BAD_SNAPSHOT ||
	    code == SNAPSHOT_JOB_E_INCOMPATIBLE)
		fail_reason(&job->cb, code, msg);
	else
		snapshot_job_fail(&job->cb, code, NULL, "%s", msg);
	restore_job_free(job);
}

/*
 * A lazy launch: the socket pair, the pager on one end (it starts waiting
 * for the kernel's hello), the kernel with the other, the empty memfd and
 * the device.  0 or -errno with a message in err.
 */
static int
restore_launch_lazy(struct restore_job *job, const char *capture, char *err,
    size_t errlen)
{
	struct machine_fill	*fill;
	int			 sv[2], r, nul;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		snprintf(err, errlen, "socket pair for the pager: %s", strerror(-r));
		return r;
	}
	fill = machine_fill_new();
	/* If the launch fails, the pager sees end of file and ends by itself. */
	if ((r = snapshot_pager_start(job->m, job->pm_name, job->pm_entry, sv[0],
	    fill, err, errlen)) < 0) {
		(void)close(sv[1]);
		machine_fill_put(fill);
		return r;
	}
	machine_set_memory(job->m, true, NULL, fill);
	machine_fill_put(fill);
	/*
	 * Tests only: the kernel gets /dev/null as its pager socket, which it
	 * refuses (status 2), so that the eager fallback runs.
	 */
	if (test_knob_ms("SBUMLD_TEST_PAGER_REFUSE") > 0 &&
	    (nul = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		(void)close(sv[1]);
		sv[1] = nul;
	}
	r = machine_restore(job->m, capture, job->physmem_fd, sv[1],
	    job->saved_mac, restore_started_cb, job, err, errlen);
	/* The kernel has its own copy (UML_PAGER_FD). */
	(void)close(sv[1]);
	return r;
}

/* Start the kernel in restore mode on the machine's prepared files. */
static void
restore_launch(struct restore_job *job)
{
	char	 err[1024], *capture;
	int	 r;

	/* A NIC on a kernel that cannot move it to a new tap: say so, do not start. */
	if (job->saved_mac != NULL && !uml_kernel_restores_net(job->kernel)) {
		restore_fail(job, SNAPSHOT_JOB_E_INCOMPATIBLE, "the snapshot's "
		    "machine has a network interface and kernel %s cannot give "
		    "it a new tap (no sbuml_net= support)", job->kernel);
		return;
	}
	capture = job->capdir != NULL ? xstrdup(job->capdir) :
	    xasprintf("%s/%s", job->dir, SNAPSHOT_CAPTURE);
	if (job->lazy) {
		r = restore_launch_lazy(job, capture, err, sizeof(err));
	} else {
		machine_set_memory(job->m, false, job->lazy_wanted ?
		    job->lazy_reason : NULL, NULL);
		r = machine_restore(job->m, capture, job->physmem_fd, -1,
		    job->saved_mac, restore_started_cb, job, err, sizeof(err));
	}
	free(capture);
	if (r < 0) {
		restore_fail(job, SNAPSHOT_JOB_E_BOOT_FAILED, "%s", err);
		return;
	}
	/* The kernel has its own descriptor of the guest memory now. */
	closefd(&job->physmem_fd);
	(void)unlink(job->marker);
	log_info("%s: restoring from %s", machine_name(job->m), job->dir);
}

/*
 * Whether this restore can be lazy (in the worker, once the kernel binary
 * is there): a kernel that adopts a physmem file and takes a pager and
 * the device, and a device we may open.  If not, why, in lazy_reason.
 */
static bool
restore_can_be_lazy(struct restore_job *job)
{
	const char	*why = NULL;
	int		 fd;

	if (!job->adopt)
		why = "cannot adopt a physmem file (no sbuml_physmem_fd=)";
	else if (!uml_kernel_takes_pager(job->kernel))
		why = "has no lazy restore (no sbuml_pager=)";
	else if (!uml_kernel_takes_uffd(job->kernel))
		why = "takes no userfaultfd device (no sbuml_uffd_dev=)";
	if (why != NULL) {
		snprintf(job->lazy_reason, sizeof(job->lazy_reason), "kernel %s %s",
		    job->kernel, why);
		return false;
	}
	if (daemon_config.no_userfaultfd) {
		snprintf(job->lazy_reason, sizeof(job->lazy_reason), "sbumld runs "
		    "with --no-userfaultfd: no userfaultfd device for a pager");
		return false;
	}
	if ((fd = uml_uffd_open()) < 0) {
		snprintf(job->lazy_reason, sizeof(job->lazy_reason),
		    "/dev/userfaultfd: %s", strerror(-fd));
		return false;
	}
	(void)close(fd);
	return true;
}

/* A refused lazy restore's fallback: the guest memory into a memfd. */
static int
restore_fill_eager(struct restore_job *job)
{
	struct store	*s;
	char		*root = snapshot_store_root();
	int		 r;

	if ((s = store_open(root, job->err, sizeof(job->err))) == NULL) {
		free(root);
		return -EIO;
	}
	free(root);
	store_trust_frame_checksums(s);
	r = snapshot_physmem_fill(s, job->pm_name, job->pm_entry,
	    &job->physmem_fd, job->err, sizeof(job->err));
	store_free(s);
	return r;
}

/*
 * The kernel binary of a format 2 snapshot if this host does not have it
 * yet, then the machine's files: from the store (format 2), or copies of
 * the capture's disks (and, for the jailed kernel, of the capture).
 */
static int
restore_prepare_files(struct restore_job *job)
{
	char	*kernel = NULL;
	int	 r;

	if (job->fallback)
		return restore_fill_eager(job);
	if (job->kernel_from_chunks) {
		r = snapshot_kernel_find(job->man, SNAPSHOT_KERNEL_MATERIALISE,
		    &kernel, NULL, job->err, sizeof(job->err));
		free(kernel);
		if (r < 0)
			return r;
	}
	if (job->chunked) {
		/* Read once the binary is there (it may have just been written). */
		job->adopt = uml_kernel_adopts_physmem(job->kernel);
		job->lazy = job->lazy_wanted && restore_can_be_lazy(job);
		return materialise(job->man, job->mdir, job->adopt ?
		    &job->physmem_fd : NULL, job->lazy, &job->pm_entry,
		    &job->pm_name, &job->capdir, job->err, sizeof(job->err));
	}
	if ((r = snapshot_restore_copy_disks(job->dir, job->mdir, job->ndisks,
	    job->err, sizeof(job->err))) < 0 || !jail_active())
		return r;
	return copy_capture(job->dir, job->mdir, &job->capdir, job->err,
	    sizeof(job->err));
}

/* Worker thread: the machine's files, off the event loop. */
static void
restore_materialise_worker(void *arg)
{
	struct restore_job	*job = arg;
	uint64_t		 t0 = now_usec();

	job->r = restore_prepare_files(job);
	job->us = now_usec() - t0;
	/* Materialised, kernel not started: a test kills the daemon here. */
	test_knob_sleep("SBUMLD_TEST_RESTORE_DELAY_MS");
}

/* Back on the event loop: launch the kernel, or fail. */
static void
restore_materialised(void *arg)
{
	struct restore_job *job = arg;

	store_reader_end();
	if (job->m == NULL) {
		/* The daemon is shutting down; start-up recovery tidies up. */
		restore_job_free(job);
		return;
	}
	machine_job_end(job->m, &job->slot);
	log_debug("%s: snapshot materialised %s in %llu us%s",
	    machine_name(job->m), job->chunked ? "from the store" :
	    "from its capture", (unsigned long long)job->us,
	    job->lazy ? " (guest memory left to the pager)" :
	    job->adopt ? " (guest memory in a memfd)" : "");
	if (job->r < 0) {
		restore_fail(job, job->r == -EBADMSG ? SNAPSHOT_JOB_E_BAD_SNAPSHOT :
		    job->r == -ENOSPC ? SNAPSHOT_JOB_E_LIMIT_EXCEEDED : SNAPSHOT_JOB_E_IO,
		    "%s", job->err);
		return;
	}
	restore_launch(job);
}

/* The machine goes away under the materialising (daemon shutdown). */
static void
restore_slot_exit(struct machine *m, void *arg)
{
	struct restore_job *job = arg;

	(void)m;
	job->m = NULL;
}

/* Materialise in a worker, holding the machine's job slot meanwhile. */
static void
restore_materialise_start(struct restore_job *job)
{
	int r;

	job->slot.kind = "restore";
	job->slot.on_exit = restore_slot_exit;
	job->slot.arg = job;
	if ((r = machine_job_reserve(job->m, &job->slot)) < 0) {
		restore_fail(job, SNAPSHOT_JOB_E_BAD_STATE, "%s is busy: %s",
		    machine_name(job->m), strerror(-r));
		return;
	}
	/* Its worker reads packs that a gc could delete or rewrite. */
	store_reader_begin();
	if ((r = worker_start(restore_materialise_worker, restore_materialised,
	    job)) < 0) {
		store_reader_end();
		machine_job_end(job->m, &job->slot);
		restore_fail(job, SNAPSHOT_JOB_E_IO, "cannot start a worker: %s",
		    strerror(-r));
	}
}

void
snapshot_restore_start(const char *snapshot, const char *name, bool cont,
    bool lazy, const struct snapshot_restore_net *net, const struct snapshot_caller *caller,
    const struct snapshot_job_cb *cb)
{
	struct json_object	*man = NULL, *host;
	struct machine_config	 cfg;
	struct restore_job	*job;
	struct machine		*m;
	const char		*state;
	char			 err[1024], *dir = NULL, *mdir = NULL;
	char			*kernel = NULL, *saved_mac = NULL;
	enum snapshot_kernel_source ksrc = SNAPSHOT_KERNEL_INSTALLED;
	bool			 chunked;
	bool			 is_path;
	int			 r;

	/* Check everything before creating anything. */
	if (snapshot_resolve(snapshot, &dir, err, sizeof(err)) < 0) {
		fail_reason(cb, SNAPSHOT_JOB_E_INVALID_PARAMS, err);
		return;
	}
	if ((r = machine_name_resolve(name, &mdir, &is_path, err, sizeof(err))) < 0) {
		fail_reason(cb, SNAPSHOT_JOB_E_INVALID_PARAMS, err);
		goto out;
	}
	if (machine_lookup(name) != NULL) {
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_MACHINE_EXISTS, NULL, "machine "
		    "%s already exists: restore into a new name or path", name);
		goto out;
	}
	if ((r = snapshot_manifest_load(dir, &man, err, sizeof(err))) < 0) {
		snapshot_job_fail_load(cb, r, err);
		goto out;
	}
	if ((r = snapshot_kernel_find(man, SNAPSHOT_KERNEL_LOCATE, &kernel, &ksrc,
	    err, sizeof(err))) < 0) {
		fail_reason(cb, r == -EBADMSG ? SNAPSHOT_JOB_E_BAD_SNAPSHOT :
		    SNAPSHOT_JOB_E_INCOMPATIBLE, err);
		goto out;
	}
	if (snapshot_restore_authz_kernel(caller, kernel, cb) < 0)
		goto out;
	/* What the kernel would refuse (CPU features, xstate), said now. */
	if (!json_object_object_get_ex(man, "host", &host))
		host = NULL;
	if ((r = hostfacts_restorable(host, err, sizeof(err))) < 0) {
		fail_reason(cb, r == -ENOTSUP ? SNAPSHOT_JOB_E_INCOMPATIBLE :
		    SNAPSHOT_JOB_E_INTERNAL, err);
		goto out;
	}
	chunked = snapshot_manifest_version(man) == SNAPSHOT_VERSION;
	if ((r = snapshot_restore_config(man, kernel, &cfg, err, sizeof(err))) < 0) {
		fail_reason(cb, r == -EBADMSG ? SNAPSHOT_JOB_E_BAD_SNAPSHOT :
		    SNAPSHOT_JOB_E_INCOMPATIBLE, err);
		goto out;
	}
	if ((r = snapshot_restore_nic(man, name, net, &cfg, &saved_mac, err,
	    sizeof(err))) != 0) {
		machine_config_clear(&cfg);
		fail_reason(cb, r, err);
		goto out;
	}
	state = snapshot_json_str(man, "state");
	cfg.owner = snapshot_caller_uid(caller);
	if (snapshot_restore_authz_files(caller, mdir, is_path, &cfg, cb) < 0) {
		machine_config_clear(&cfg);
		goto out;
	}

	if ((r = machine_create(name, &cfg, &m, err, sizeof(err))) < 0) {
		machine_config_clear(&cfg);
		snapshot_job_fail(cb, r == -EEXIST ? SNAPSHOT_JOB_E_MACHINE_EXISTS :
		    r == -ENOSPC ? SNAPSHOT_JOB_E_LIMIT_EXCEEDED : SNAPSHOT_JOB_E_IO,
		    NULL, "%s", err);
		goto out;
	}
	job = xcalloc(1, sizeof(*job));
	job->cb = *cb;
	job->m = m;
	job->snapshot = xstrdup(snapshot);
	job->saved_mac = saved_mac;
	saved_mac = NULL;
	job->dir = dir;
	dir = NULL;
	job->cont = cont;
	job->lazy_wanted = lazy;
	if (lazy && !chunked)
		snprintf(job->lazy_reason, sizeof(job->lazy_reason), "a raw "
		    "snapshot (format 1) has no chunk store to page from");
	job->saved_paused = state != NULL && strcmp(state, "paused") == 0;
	job->physmem_fd = -1;
	/*
	 * Until its kernel runs, the machine is half made (disks being
	 * written): if sbumld dies now, start-up recovery removes it.
	 */
	job->marker = xasprintf("%s/%s", machine_dir(m), MACHINE_RESTORING_FILE);
	if ((r = write_file_atomic(job->marker, "", 0, 0600)) < 0) {
		restore_fail(job, SNAPSHOT_JOB_E_IO, "cannot write %s: %s", job->marker,
		    strerror(-r));
	} else {
		job->man = json_object_get(man);
		job->mdir = xstrdup(machine_dir(m));
		job->chunked = chunked;
		job->kernel_from_chunks = ksrc == SNAPSHOT_KERNEL_CHUNKS;
		job->ndisks = machine_config(m)->ndisks;
		job->kernel = xstrdup(machine_config(m)->kernel);
		restore_materialise_start(job);
	}
out:
	json_object_put(man);
	free(saved_mac);
	free(kernel);
	free(mdir);
	free(dir);
}
