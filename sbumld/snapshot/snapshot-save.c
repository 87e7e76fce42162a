/* SPDX-License-Identifier: MIT */
/*
 * The save job: one per machine.  The patched kernel does the capture
 * (mconsole "sbuml save DIR [stop] [cow]", doc/kernel.md); this job gives it a
 * hidden temporary directory beside the snapshot's final place, reports
 * progress while the kernel's writer runs, and on success writes the
 * manifest and renames the directory into place, so a snapshot appears
 * whole or not at all.  A failed save removes the temporary directory.
 *
 * A save into the chunk store (format 2, "store": true) has one more phase,
 * "storing": once the capture is complete the machine's job slot is given
 * back and a worker thread cuts every captured file (and the kernel binary)
 * into chunks in the per-host store (store.c), fsyncs them, and deletes the
 * raw capture; then the manifest lists the chunks.  The thread only touches
 * the job's own manifest object and its own store handle; the worker pool
 * calls the job back on the event loop when it is done.  The job reports
 * its progress and its end through the callbacks it was started with
 * (snapshot-job.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "context.h"
#include "fsutil.h"
#include "hostfacts.h"
#include "jail.h"
#include "log.h"
#include "net.h"
#include "machine.h"
#include "snapshot.h"
#include "snapshot-job.h"
#include "snapshot-owner.h"
#include "snapshot-save.h"
#include "store.h"
#include "uml.h"
#include "util.h"
#include "worker.h"

struct save_job {
	struct machine_job	 slot;
	struct machine		*m;		/* NULL once the slot is given back */
	char			*mname;
	struct snapshot_job_cb	 cb;
	char			*name;		/* as the user will see it */
	char			*dir;		/* final directory */
	char			*tmp;		/* hidden work directory */
	bool			 cont;		/* continue after the capture */
	bool			 cow_asked;	/* the caller asked for "cow" */
	bool			 cow_sent;	/* "cow" is in the command */
	enum machine_state	 before;
	struct event		*progress;
	struct event		*delay;		/* test knob timer, retry timer */
	unsigned int		 retries;	/* of a transient refusal */
	uint64_t		 started_us;
	bool			 mc_pending;	/* "sbuml save" sent, no answer yet */
	bool			 died;		/* the UML process went away */
	bool			 finished;
	/* The storing phase (format 2). */
	bool			 store;		/* save into the chunk store */
	bool			 storing;	/* the worker thread runs */
	bool			 writer;	/* counted by store_writer_begin */
	const char		*phase;		/* for progress notifications */
	char			*kernel;	/* binary to store with the snapshot */
	struct json_object	*manifest;	/* owned by the worker while storing */
	_Atomic uint64_t	 stored_bytes;	/* progress */
	int			 store_r;	/* the worker's result */
	char			 store_err[1024];
};

static void	save_finish(struct save_job *job, int code, struct json_object *data,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Release everything the job holds; the machine's job slot included. */
static void
save_job_free(struct save_job *job)
{
	if (job->progress != NULL)
		event_free(job->progress);
	if (job->delay != NULL)
		event_free(job->delay);
	if (job->m != NULL)
		machine_job_end(job->m, &job->slot);
	json_object_put(job->manifest);
	free(job->mname);
	free(job->kernel);
	free(job->name);
	free(job->dir);
	free(job->tmp);
	free(job);
}

/* Free a job that never got the machine's job slot. */
static void
save_job_abandon(struct save_job *job)
{
	job->m = NULL;
	save_job_free(job);
}

/* Report the job's progress (a job.progress notification's params). */
static void
save_notify_progress(struct save_job *job, const char *phase)
{
	struct json_object	*p = json_object_new_object();
	uint64_t		 bytes = 0;

	if (job->storing)
		bytes = atomic_load(&job->stored_bytes);
	else
		(void)fs_tree_usage(job->tmp, &bytes);
	json_object_object_add(p, "job", json_object_new_string("save"));
	json_object_object_add(p, "machine", json_object_new_string(job->mname));
	json_object_object_add(p, "snapshot", json_object_new_string(job->name));
	json_object_object_add(p, "phase", json_object_new_string(phase));
	json_object_object_add(p, "bytes", json_object_new_int64((int64_t)bytes));
	if (job->cb.progress != NULL)
		job->cb.progress(job->cb.ctx, p);
	else
		json_object_put(p);
}

/* Timer: the kernel's writer is filling the directory. */
static void
save_progress_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	save_notify_progress(arg, ((struct save_job *)arg)->phase);
}

/*
 * Parse the kernel's "saved k=v k=v ..." reply into timings/sizes objects.
 * Unknown keys are kept in "kernel_report" so nothing measured is lost.
 */
static struct json_object *
parse_report(const char *text)
{
	struct json_object	*rep = json_object_new_object();
	char			*copy = xstrdup(text), *save = NULL, *tok;

	for (tok = strtok_r(copy, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		char	*eq = strchr(tok, '='), *end;
		long long v;

		if (eq == NULL)
			continue;
		*eq = '\0';
		errno = 0;
		v = strtoll(eq + 1, &end, 10);
		if (eq[1] != '\0' && *end == '\0' && errno == 0)
			json_object_object_add(rep, tok, json_object_new_int64(v));
		else
			json_object_object_add(rep, tok, json_object_new_string(eq + 1));
	}
	free(copy);
	return rep;
}

/* Copy integer member key of src into dst as name (if present). */
static void
copy_int(struct json_object *dst, const char *name, struct json_object *src,
    const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(src, key, &v) &&
	    json_object_is_type(v, json_type_int))
		json_object_object_add(dst, name, json_object_new_int64(json_object_get_int64(v)));
}

/* A manifest member and the kernel report's key it comes from. */
struct report_key {
	const char	*name;
	const char	*key;
};

/* The kernel's save report (doc/kernel.md §3) in the manifest. */
static const struct report_key timing_keys[] = {
	{ "pause_us", "pause_us" }, { "quiesce_us", "quiesce_us" },
	{ "capture_us", "capture_us" }, { "copy_us", "copy_us" },
	{ "disk_us", "disk_us" }, { "fork_us", "fork_us" },
	{ "write_us", "write_us" }, { "total_us", "total_us" },
};
static const struct report_key size_keys[] = {
	{ "physmem", "physmem_bytes" }, { "private", "private_bytes" },
	{ "disk", "disk_bytes" },
};
static const struct report_key cow_keys[] = {
	{ "wp_us", "wp_us" }, { "protect_us", "protect_us" },
	{ "cow_us", "cow_us" }, { "faults", "cow_faults" },
	{ "pages", "cow_pages" }, { "sync_us", "sync_us" },
};

/* copy_int of every pair of keys (n of them). */
static void
copy_ints(struct json_object *dst, struct json_object *src,
    const struct report_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		copy_int(dst, keys[i].name, src, keys[i].key);
}

/*
 * The manifest's "capture" (doc/snapshot-format.md): which capture the
 * kernel ran and which was asked for; why not cow when cow was asked and
 * staged ran; the cow capture's own timings and counts.  A kernel report
 * without "capture=" (before patch 0024) means the staged copy.
 */
static struct json_object *
capture_section(struct save_job *job, struct json_object *report)
{
	struct json_object	*o = json_object_new_object(), *v;
	const char		*method = "staged";

	if (json_object_object_get_ex(report, "capture", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), "cow") == 0)
		method = "cow";
	json_object_object_add(o, "method", json_object_new_string(method));
	json_object_object_add(o, "asked",
	    json_object_new_string(job->cow_asked ? "cow" : "staged"));
	if (job->cow_asked && strcmp(method, "staged") == 0) {
		const char *why = "the kernel has no copy-on-write capture";

		/* The kernel's one word, as a string even if it looks numeric. */
		if (job->cow_sent &&
		    json_object_object_get_ex(report, "cow_fallback", &v))
			why = json_object_get_string(v);
		else if (job->cow_sent)
			why = "the kernel did not say why";
		/* Cut to what a manifest may hold (snapshot-check.c). */
		json_object_object_add(o, "fallback", json_object_new_string_len(why,
		    (int)strnlen(why, SNAPSHOT_CAPTURE_FALLBACK_MAX)));
	}
	if (strcmp(method, "cow") == 0)
		copy_ints(o, report, cow_keys, NITEMS(cow_keys));
	return o;
}

/* Append every regular file under dir/rel to files as {path, size}. */
static int
list_files(const char *root, const char *rel, struct json_object *files)
{
	char		*path = xasprintf("%s/%s", root, rel);
	DIR		*d = opendir(path);
	struct dirent	*de;
	int		 r = 0;

	if (d == NULL) {
		r = -errno;
		free(path);
		return r;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat	 st;
		char		*sub, *full;

		if (de->d_name[0] == '.')
			continue;
		sub = xasprintf("%s/%s", rel, de->d_name);
		full = xasprintf("%s/%s", root, sub);
		if (lstat(full, &st) < 0)
			r = -errno;
		else if (S_ISDIR(st.st_mode))
			r = list_files(root, sub, files);
		else if (S_ISREG(st.st_mode)) {
			struct json_object *f = json_object_new_object();

			json_object_object_add(f, "path", json_object_new_string(sub));
			json_object_object_add(f, "size", json_object_new_int64(st.st_size));
			json_object_array_add(files, f);
		}
		free(sub);
		free(full);
		if (r < 0)
			break;
	}
	closedir(d);
	free(path);
	return r;
}

/* The machine's configuration as recorded in the manifest. */
static struct json_object *
machine_section(struct machine *m)
{
	const struct machine_config	*cfg = machine_config(m);
	struct json_object		*o = json_object_new_object();
	struct json_object		*disks = json_object_new_array();

	json_object_object_add(o, "machine", json_object_new_string(machine_name(m)));
	json_object_object_add(o, "image", json_object_new_string(cfg->image));
	json_object_object_add(o, "kernel", json_object_new_string(cfg->kernel));
	json_object_object_add(o, "mem_mb", json_object_new_int(cfg->mem_mb));
	json_object_object_add(o, "cmdline", json_object_new_string(cfg->cmdline ? cfg->cmdline : ""));
	for (size_t i = 0; i < cfg->ndisks; i++)
		json_object_array_add(disks, json_object_new_string(cfg->disks[i]));
	json_object_object_add(o, "disks", disks);
	/* The NIC (doc/snapshot-format.md): network, MAC, address, ports. */
	if (cfg->nic.network[0] != '\0')
		json_object_object_add(o, "net", net_nic_config_json(&cfg->nic));
	return o;
}

/* Build manifest.json for the finished capture. Caller owns the result. */
static struct json_object *
build_manifest(struct save_job *job, struct json_object *report, int *ret_err)
{
	struct json_object	*man = json_object_new_object();
	struct json_object	*timings = json_object_new_object();
	struct json_object	*sizes = json_object_new_object();
	struct json_object	*kernel = json_object_new_object();
	struct json_object	*files = json_object_new_array(), *v;
	struct hostfacts	 hf;
	char			 now[32];
	int			 r;

	iso8601_utc(time(NULL), now, sizeof(now));
	json_object_object_add(man, "format", json_object_new_string(SNAPSHOT_FORMAT));
	json_object_object_add(man, "version", json_object_new_int(job->store ?
	    SNAPSHOT_VERSION : SNAPSHOT_VERSION_RAW));
	json_object_object_add(man, "created", json_object_new_string(now));
	json_object_object_add(man, "machine", machine_section(job->m));
	json_object_object_add(man, "state", json_object_new_string(
	    job->before == MACHINE_PAUSED || !job->cont ? "paused" : "running"));
	if (json_object_object_get_ex(report, "build_id", &v))
		json_object_object_add(kernel, "build_id", json_object_get(v));
	json_object_object_add(man, "kernel", kernel);
	/*
	 * The facts the kernel's restore checks compare (CPU features, xstate),
	 * read here since the kernel ran on this host: snapshot.check judges
	 * another host with them before anyone tries a restore.
	 */
	if ((r = hostfacts_read(&hf)) == 0)
		json_object_object_add(man, "host", hostfacts_to_json(&hf));
	else
		log_warnx("%s: cannot read the host facts: %s; the snapshot will "
		    "not record them", job->mname, strerror(-r));

	copy_ints(timings, report, timing_keys, NITEMS(timing_keys));
	json_object_object_add(timings, "job_us",
	    json_object_new_int64((int64_t)(now_usec() - job->started_us)));
	json_object_object_add(man, "timings", timings);

	copy_ints(sizes, report, size_keys, NITEMS(size_keys));
	json_object_object_add(man, "sizes", sizes);
	json_object_object_add(man, "capture", capture_section(job, report));
	json_object_object_add(man, "kernel_report", json_object_get(report));

	*ret_err = list_files(job->tmp, SNAPSHOT_CAPTURE, files);
	json_object_object_add(man, "files", files);
	return man;
}

/* Write the manifest man and move the directory into its final place. */
static int
save_commit(struct save_job *job, struct json_object *man, char *err,
    size_t errlen)
{
	const char *text = json_object_to_json_string_ext(man, JSON_C_TO_STRING_PRETTY);

	return snapshot_workdir_commit(job->tmp, job->dir, text, strlen(text),
	    job->store, err, errlen);
}

/* Report an error, clean up the half snapshot, free the job. */
static void
save_finish(struct save_job *job, int code, struct json_object *data,
    const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;
	int	r;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (job->finished)
		return;
	job->finished = true;
	if ((r = snapshot_workdir_remove(job->tmp)) < 0)
		log_warnx("%s: cannot remove %s: %s", job->mname, job->tmp,
		    strerror(-r));
	if (job->writer)
		store_writer_end();
	job->writer = false;
	log_warnx("%s: save failed: %s", job->mname, msg);
	job->cb.done(code, data, msg, job->cb.ctx);
	save_job_free(job);
}

static void	save_on_exit(struct machine *m, void *arg);

/* The snapshot is in place: report the snapshot object, free the job. */
static void
save_succeed(struct save_job *job)
{
	struct json_object	*manifest, *result;
	char			 msg[1024];

	job->finished = true;
	job->storing = false;
	save_notify_progress(job, "done");
	if (snapshot_manifest_load(job->dir, &manifest, msg, sizeof(msg)) < 0) {
		job->cb.done(SNAPSHOT_JOB_E_INTERNAL, NULL, msg, job->cb.ctx);
		save_job_free(job);
		return;
	}
	result = snapshot_to_json(job->name, job->dir, manifest);
	json_object_put(manifest);
	log_info("%s: saved to %s", job->mname, job->dir);
	job->cb.done(0, result, NULL, job->cb.ctx);
	save_job_free(job);
}

/*
 * The worker thread: store every captured file and the kernel binary as
 * chunks, rewrite the manifest's "files" and "kernel" with their chunk
 * lists, make the chunks durable, then delete the raw capture.
 */
static void
save_store_worker(void *arg)
{
	struct save_job		*job = arg;
	struct store_stats	 stats = { 0 };
	struct json_object	*files, *kernel, *entry, *v, *st;
	struct store		*s;
	char			*root = snapshot_store_root(), *path;
	uint64_t		 t0 = now_usec();	/* manifest store.store_us */
	int			 r = 0;

	/* Hashing and compressing is CPU-bound: store_put_file uses threads. */
	s = store_open(root, job->store_err, sizeof(job->store_err));
	free(root);
	if (s == NULL) {
		r = -EIO;
		goto out;
	}
	json_object_object_get_ex(job->manifest, "files", &files);
	for (size_t i = 0; i < json_object_array_length(files) && r == 0; i++) {
		struct json_object	*f = json_object_array_get_idx(files, i);
		const char		*rel;

		json_object_object_get_ex(f, "path", &v);
		rel = json_object_get_string(v);
		path = xasprintf("%s/%s", job->tmp, rel);
		r = store_put_file(s, path, &entry, &stats, job->store_err,
		    sizeof(job->store_err));
		free(path);
		if (r < 0)
			break;
		json_object_object_add(entry, "path", json_object_new_string(rel));
		json_object_array_put_idx(files, i, entry);
		atomic_store(&job->stored_bytes, stats.data_bytes);
		/* Once chunks are written: a test kills the daemon mid-store. */
		if (stats.new_chunks > 0)
			test_knob_sleep("SBUMLD_TEST_STORE_DELAY_MS");
	}
	if (r == 0 && job->kernel != NULL) {
		struct store_stats kstats = { 0 };

		/* The kernel binary: a snapshot restores where no such kernel is installed. */
		r = store_put_file(s, job->kernel, &entry, &kstats, job->store_err,
		    sizeof(job->store_err));
		if (r == 0) {
			json_object_object_get_ex(job->manifest, "kernel", &kernel);
			json_object_object_foreach(entry, key, val)
				json_object_object_add(kernel, key, json_object_get(val));
			json_object_put(entry);
			stats.new_chunks += kstats.new_chunks;
			stats.new_bytes += kstats.new_bytes;
		}
	}
	if (r == 0 && (r = store_sync(s)) < 0)
		snprintf(job->store_err, sizeof(job->store_err), "cannot sync the "
		    "chunk store: %s", strerror(-r));
	if (r == 0) {
		/* Everything is in the store now: drop the raw capture. */
		path = xasprintf("%s/%s", job->tmp, SNAPSHOT_CAPTURE);
		if ((r = fs_remove_tree(path)) < 0)
			snprintf(job->store_err, sizeof(job->store_err), "cannot remove "
			    "%s: %s", path, strerror(-r));
		free(path);
	}
	if (r == 0) {
		st = json_object_new_object();
		json_object_object_add(st, "chunk_size", json_object_new_int(STORE_CHUNK_SIZE));
		json_object_object_add(st, "chunks", json_object_new_int64((int64_t)stats.chunks));
		json_object_object_add(st, "zero_chunks", json_object_new_int64((int64_t)stats.zero_chunks));
		json_object_object_add(st, "dedup_chunks", json_object_new_int64((int64_t)stats.dedup_chunks));
		json_object_object_add(st, "new_chunks", json_object_new_int64((int64_t)stats.new_chunks));
		json_object_object_add(st, "new_bytes", json_object_new_int64((int64_t)stats.new_bytes));
		/* Wall time of this worker up to here (chunking, hashing, zstd, fsyncs). */
		json_object_object_add(st, "store_us",
		    json_object_new_int64((int64_t)(now_usec() - t0)));
		json_object_object_add(job->manifest, "store", st);
	}
out:
	store_free(s);
	job->store_r = r;
}

/* The worker is done: commit the snapshot or fail the save. */
static void
save_store_done(void *arg)
{
	struct save_job	*job = arg;
	char		 msg[1024];
	int		 r;

	job->storing = false;
	if (job->store_r < 0) {
		save_finish(job, SNAPSHOT_JOB_E_IO, NULL, "%s: storing the snapshot "
		    "failed: %s", job->mname, job->store_err);
		return;
	}
	r = save_commit(job, job->manifest, msg, sizeof(msg));
	if (r < 0) {
		save_finish(job, SNAPSHOT_JOB_E_IO, NULL, "%s", msg);
		return;
	}
	/* Referenced by a manifest in place: the store may be collected again. */
	store_writer_end();
	job->writer = false;
	save_succeed(job);
}

/*
 * The capture is complete: give the machine's job slot back (the rest does
 * not touch the machine) and store the capture in a worker thread.  Takes
 * the manifest.
 */
static void
save_store_start(struct save_job *job, struct json_object *manifest)
{
	int r;

	machine_job_end(job->m, &job->slot);
	job->m = NULL;
	job->manifest = manifest;
	job->phase = "storing";
	/* From here until the manifest is in place, store_gc() must wait. */
	store_writer_begin();
	job->writer = true;
	job->storing = true;
	save_notify_progress(job, "storing");
	if ((r = worker_start(save_store_worker, save_store_done, job)) < 0) {
		job->storing = false;
		save_finish(job, SNAPSHOT_JOB_E_IO, NULL, "%s: cannot start the store "
		    "worker: %s", job->mname, strerror(-r));
	}
}

/* The work directory and capture/ back to root only, before reading them. */
static int
save_take_back(struct save_job *job)
{
	char	*cap = xasprintf("%s/%s", job->tmp, SNAPSHOT_CAPTURE);
	int	 r;

	r = jail_take_back_dir(cap);
	if (r == 0 && jail_active() && chmod(job->tmp, 0700) == -1)
		r = -errno;
	free(cap);
	return r;
}

static void	save_delay_cb(evutil_socket_t fd, short what, void *arg);

/*
 * The kernel refuses a save while its process has a second host task.
 * UML itself makes none (only CLONE_VM helpers, which are children), yet
 * now and then, seconds after a boot, the check sees one; the cause is not
 * found.  The refusal comes before the capture touches the work directory,
 * so asking again is safe: up to SAVE_RETRIES times, SAVE_RETRY_MS apart,
 * each logged.  Any other refusal is final.
 */
#define SAVE_RETRIES	20
#define SAVE_RETRY_MS	100

static bool
save_retry_transient(struct save_job *job, const char *text)
{
	const struct timeval tv = { 0, SAVE_RETRY_MS * 1000 };

	if (strstr(text, "the UML process has host threads") == NULL ||
	    job->retries >= SAVE_RETRIES)
		return (false);
	if (job->delay == NULL &&
	    (job->delay = evtimer_new(daemon_base, save_delay_cb, job)) == NULL)
		return (false);
	job->retries++;
	log_warnx("%s: the kernel refused the save (%s); asking again (%u of %d)",
	    machine_name(job->m), text + 9, job->retries, SAVE_RETRIES);
	evtimer_add(job->delay, &tv);
	return (true);
}

/* The kernel answered "sbuml save": the capture is complete, or failed. */
static void
save_done_cb(int err, const char *text, void *arg)
{
	struct save_job		*job = arg;
	struct json_object	*report, *manifest;
	char			 msg[1024];
	int			 r;

	job->mc_pending = false;
	if (job->finished)
		return;
	if (job->died) {
		save_on_exit(job->m, job);
		return;
	}
	if (err == -EREMOTEIO && strncmp(text, "refused:", 8) == 0) {
		if (save_retry_transient(job, text))
			return;
		save_finish(job, SNAPSHOT_JOB_E_NOT_SUPPORTED, snapshot_job_reason(text + 9),
		    "%s: cannot be saved: %s",
		    machine_name(job->m), text + 9);
		return;
	}
	if (err == -EREMOTEIO) {
		/* The kernel names the failed step and its errno. */
		save_finish(job, SNAPSHOT_JOB_E_IO, NULL, "%s: the kernel failed to save: "
		    "%s", machine_name(job->m), text);
		return;
	}
	if (err == -ETIMEDOUT) {
		save_finish(job, SNAPSHOT_JOB_E_TIMEOUT, NULL, "%s: the save did not finish "
		    "within %d s", machine_name(job->m), SNAPSHOT_SAVE_TIMEOUT_MS / 1000);
		return;
	}
	if (err < 0) {
		save_finish(job, SNAPSHOT_JOB_E_BAD_STATE, NULL, "%s: the machine died or went "
		    "away during the save (%s); no snapshot was written",
		    machine_name(job->m), strerror(-err));
		return;
	}

	/* The capture is the daemon's now: the UML loses its hold (jail.h). */
	if ((r = save_take_back(job)) < 0) {
		save_finish(job, SNAPSHOT_JOB_E_IO, NULL, "%s: cannot take the capture "
		    "back from user %s: %s", job->tmp, JAIL_USER, strerror(-r));
		return;
	}
	report = parse_report(text);
	manifest = build_manifest(job, report, &r);
	json_object_put(report);
	if (r < 0) {
		json_object_put(manifest);
		save_finish(job, SNAPSHOT_JOB_E_IO, NULL, "%s: cannot list the capture: %s",
		    job->tmp, strerror(-r));
		return;
	}
	if (!job->cont && job->before == MACHINE_RUNNING)
		machine_set_state(job->m, MACHINE_PAUSED);
	if (job->store) {
		save_store_start(job, manifest);
		return;
	}
	r = save_commit(job, manifest, msg, sizeof(msg));
	json_object_put(manifest);
	if (r < 0) {
		save_finish(job, SNAPSHOT_JOB_E_IO, NULL, "%s", msg);
		return;
	}
	save_succeed(job);
}

/*
 * The UML process died while the job held the slot.  If the kernel still
 * owes us the answer to "sbuml save", its callback (which always runs, with
 * -ECANCELED once the machine's mconsole is dropped) finishes the job:
 * freeing it here would leave that callback a dangling pointer.
 */
static void
save_on_exit(struct machine *m, void *arg)
{
	struct save_job *job = arg;

	job->died = true;
	if (job->mc_pending)
		return;
	save_finish(job, SNAPSHOT_JOB_E_BAD_STATE, NULL, "%s: the machine died during the "
	    "save; no snapshot was written", machine_name(m));
}

/*
 * Make the work directory beside dir, with the capture/ the kernel (process
 * pid) writes into.
 */
static int
make_tmp_dir(const char *dir, pid_t pid, char **ret_tmp, char *err,
    size_t errlen)
{
	char	*tmp, *cap;
	int	 r;

	if ((r = snapshot_workdir_make(dir, &tmp, err, errlen)) < 0)
		return r;
	cap = xasprintf("%s/%s", tmp, SNAPSHOT_CAPTURE);
	/* The kernel's writer runs in the jailed UML: capture/ is its own. */
	if (mkdir(cap, 0700) < 0 || (r = jail_share_dir(tmp)) < 0 ||
	    (r = jail_give_dir(cap, pid)) < 0) {
		r = r < 0 ? r : -errno;
		snprintf(err, errlen, "%s: %s", cap, strerror(-r));
		(void)snapshot_workdir_remove(tmp);
		free(tmp);
	} else
		*ret_tmp = tmp;
	free(cap);
	return r;
}

/*
 * A named snapshot appears with its owner, the caller (snapshot-owner.h).
 * On failure the work directory is removed.
 */
static int
save_record_owner(struct save_job *job, uid_t owner, char *err, size_t errlen)
{
	int	r;

	if (strchr(job->name, '/') != NULL)
		return 0;
	if ((r = snapshot_owner_write(job->tmp, owner)) < 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s", job->tmp,
		    SNAPSHOT_OWNER_FILE, strerror(-r));
		(void)snapshot_workdir_remove(job->tmp);
		free(job->tmp);
		job->tmp = NULL;
	}
	return r;
}

/* Ask the kernel to capture into the work directory. */
static void
save_send(struct save_job *job)
{
	char	*cmd;
	int	 r;

	/*
	 * A paused machine stays in UML's stop loop, which runs the save
	 * inline.  "cow" only to a kernel that knows it (older ones refuse the
	 * word); the kernel itself falls back to the staged copy when it
	 * cannot (and says why).
	 */
	job->cow_sent = job->cow_asked &&
	    uml_kernel_saves_cow(machine_config(job->m)->kernel);
	cmd = xasprintf("sbuml save %s/%s%s%s", job->tmp, SNAPSHOT_CAPTURE,
	    !job->cont && job->before == MACHINE_RUNNING ? " stop" : "",
	    job->cow_sent ? " cow" : "");
	r = machine_mconsole_send(job->m, cmd, SNAPSHOT_SAVE_TIMEOUT_MS,
	    save_done_cb, job);
	free(cmd);
	job->mc_pending = r == 0;
	if (r < 0)
		save_finish(job, r == -EMSGSIZE ?
		    SNAPSHOT_JOB_E_INVALID_PARAMS : SNAPSHOT_JOB_E_BAD_STATE,
		    NULL, "%s: cannot ask the kernel to save: %s",
		    machine_name(job->m), strerror(-r));
}

/* The test knob's delay (SBUMLD_TEST_SAVE_DELAY_MS) or a retry's is over. */
static void
save_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	save_send(arg);
}

void
snapshot_save_start(struct machine *m, const char *name, const char *dir,
    bool cont, bool store, bool cow, const struct snapshot_caller *caller,
    const struct snapshot_job_cb *cb)
{
	struct save_job	*job;
	struct stat	 st;
	char		 err[512];
	const struct timeval tv = { 0, SNAPSHOT_PROGRESS_MS * 1000 };
	const struct machine_job *other;
	long		 delay_ms;
	int		 r;

	if (lstat(dir, &st) == 0) {
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_SNAPSHOT_EXISTS, NULL, "%s "
		    "already exists: choose another snapshot name or delete it "
		    "first", name);
		return;
	}
	if ((other = machine_job(m)) != NULL) {
		snapshot_job_fail(cb, strcmp(other->kind, "save") == 0 ?
		    SNAPSHOT_JOB_E_SAVE_IN_PROGRESS : SNAPSHOT_JOB_E_BAD_STATE, NULL,
		    "%s: a %s is already running; wait for it to finish",
		    machine_name(m), other->kind);
		return;
	}
	job = xcalloc(1, sizeof(*job));
	job->m = m;
	job->cb = *cb;
	job->mname = xstrdup(machine_name(m));
	job->store = store;
	job->phase = "writing";
	job->kernel = xstrdup(machine_config(m)->kernel);
	job->name = xstrdup(name);
	job->dir = xstrdup(dir);
	job->cont = cont;
	job->cow_asked = cow;
	job->before = machine_state(m);
	job->started_us = now_usec();
	job->slot.kind = "save";
	job->slot.on_exit = save_on_exit;
	job->slot.arg = job;
	if ((r = make_tmp_dir(dir, machine_pid(m), &job->tmp, err,
	    sizeof(err))) < 0 ||
	    (r = save_record_owner(job, snapshot_caller_uid(caller), err,
	    sizeof(err))) < 0) {
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_IO, NULL, "%s", err);
		save_job_abandon(job);
		return;
	}
	if ((r = machine_job_begin(m, &job->slot)) < 0) {
		(void)snapshot_workdir_remove(job->tmp);
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_BAD_STATE, NULL, "%s: cannot "
		    "start a save now (%s)", machine_name(m), strerror(-r));
		save_job_abandon(job);
		return;
	}
	job->progress = event_new(daemon_base, -1, EV_PERSIST, save_progress_cb, job);
	event_add(job->progress, &tv);
	save_notify_progress(job, "capturing");
	/* Hold every save before asking the kernel: tests race it. */
	delay_ms = test_knob_ms("SBUMLD_TEST_SAVE_DELAY_MS");
	if (delay_ms > 0) {
		const struct timeval dtv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };

		job->delay = evtimer_new(daemon_base, save_delay_cb, job);
		evtimer_add(job->delay, &dtv);
	} else
		save_send(job);
	log_info("%s: saving to %s", machine_name(m), dir);
}
