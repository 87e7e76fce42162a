/* SPDX-License-Identifier: MIT */
/*
 * The export and import jobs (snapshot-transfer.h).  The event loop checks
 * the parameters and the snapshots involved, then a worker of the pool
 * (worker.h) does the blocking part (packs, the stream's fd, fsyncs); back
 * on the loop the job reports through its done callback.  The worker
 * touches no daemon state, and logs nothing: the loop reports what it did.
 * The export's work is here, the import's in snapshot-import.c.
 *
 * An import writes chunks that nothing refers to until its manifest is in
 * place, so, like a save, it holds the store's writer mark from start to end
 * (store.gc waits).  A failed import removes its uncommitted pack; chunks it
 * had committed are left for the next gc.  An export's worker reads packs
 * that a gc could delete or rewrite under it, so it holds the store's reader
 * mark (store.gc waits for that too).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "context.h"
#include "fsutil.h"
#include "log.h"
#include "recover.h"
#include "snapshot.h"
#include "snapshot-chunks.h"
#include "snapshot-job.h"
#include "snapshot-oci.h"
#include "snapshot-stream.h"
#include "snapshot-transfer.h"
#include "snapshot-transfer-int.h"
#include "store.h"
#include "util.h"
#include "worker.h"

struct chunk_ref {
	char	hex[STORE_HEX_LEN + 1];
	size_t	len;
};

void
snapshot_xfer_job_free(struct xfer_job *job)
{
	closefd(&job->fd);
	if (job->file_tmp != NULL) {
		(void)unlink(job->file_tmp);
		(void)recover_journal_drop(job->file_tmp);
		free(job->file_tmp);
	}
	if (job->workdir != NULL) {
		(void)snapshot_workdir_remove(job->workdir);
		free(job->workdir);
	}
	if (job->writer)
		store_writer_end();
	if (job->reader)
		store_reader_end();
	json_object_put(job->manifest);
	json_object_put(job->base_manifest);
	free(job->name);
	free(job->dir);
	free(job->base_name);
	free(job->man_text);
	free(job->file);
	free(job->url);
	free(job->stream_base_name);
	snapshot_oci_free(job->oci);
	free(job);
}

int
snapshot_transfer_fail(struct xfer_job *job, int r, int code, const char *fmt, ...)
{
	va_list ap;

	if (job->code == 0) {
		job->code = code;
		va_start(ap, fmt);
		vsnprintf(job->err, sizeof(job->err), fmt, ap);
		va_end(ap);
	}
	return r;
}


int
snapshot_transfer_cancel_fd(const struct xfer_job *job)
{
	return job->file == NULL ? job->cancel_fd : -1;
}


/* --- Export --- */

/* The chunks to send: each distinct one once, minus the base's. */
struct collect {
	struct store_hashset	*seen, *skip;
	struct chunk_ref	*refs;
	size_t			 n, cap;
	uint64_t		 skipped;
};

static void
collect_chunk(const char *hex, size_t len, void *arg)
{
	struct collect *c = arg;

	if (!store_hashset_add(c->seen, hex))
		return;
	if (c->skip != NULL && store_hashset_has(c->skip, hex)) {
		c->skipped++;
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->refs = xrealloc(c->refs, c->cap * sizeof(*c->refs));
	}
	memcpy(c->refs[c->n].hex, hex, STORE_HEX_LEN + 1);
	c->refs[c->n++].len = len;
}

void
snapshot_transfer_add_hash(const char *hex, void *arg)
{
	store_hashset_add(arg, hex);
}

static struct json_object *
export_head(struct xfer_job *job, uint64_t chunks)
{
	struct json_object	*h = json_object_new_object(), *b;
	char			 now[32];
	const char		*slash = strrchr(job->name, '/');

	iso8601_utc(time(NULL), now, sizeof(now));
	json_object_object_add(h, "format", json_object_new_string(EXPORT_FORMAT));
	json_object_object_add(h, "version", json_object_new_int(EXPORT_VERSION));
	json_object_object_add(h, "snapshot", json_object_new_string(
	    slash ? slash + 1 : job->name));
	json_object_object_add(h, "id", json_object_new_string(job->id));
	json_object_object_add(h, "created", json_object_new_string(now));
	json_object_object_add(h, "chunks", json_object_new_int64((int64_t)chunks));
	if (job->base_name != NULL) {
		slash = strrchr(job->base_name, '/');
		b = json_object_new_object();
		json_object_object_add(b, "snapshot", json_object_new_string(
		    slash ? slash + 1 : job->base_name));
		json_object_object_add(b, "id", json_object_new_string(job->base_id));
		json_object_object_add(h, "base", b);
	} else
		json_object_object_add(h, "base", NULL);
	return h;
}

/*
 * Open the export file's temporary sibling; job->fd is then the stream.
 * It is born 0600 (O_EXCL, never through a symlink) and journaled, so a
 * daemon killed meanwhile removes it at start-up (recover.h).  An existing
 * file is refused here, before any work, unless the client asked to
 * overwrite it (the rename checks again).
 */
static int
export_open_file(struct xfer_job *job)
{
	char		*d = xstrdup(job->file), *b = xstrdup(job->file);
	struct stat	 st;
	int		 r;

	if (!job->overwrite && lstat(job->file, &st) == 0) {
		free(d);
		free(b);
		return snapshot_transfer_fail(job, -EEXIST, SNAPSHOT_JOB_E_IO, "%s exists: not "
		    "replacing it (pass \"overwrite\": true to replace it)",
		    job->file);
	}
	job->file_tmp = xasprintf("%s/.%s.partial-XXXXXX", dirname(d), basename(b));
	free(d);
	free(b);
	if ((r = recover_journal_mkstemp(job->file_tmp, &job->fd)) < 0) {
		free(job->file_tmp);
		job->file_tmp = NULL;
		return snapshot_transfer_fail(job, r, SNAPSHOT_JOB_E_IO, "cannot create a file beside "
		    "%s: %s", job->file, strerror(-r));
	}
	return 0;
}

/* Give the finished file its name: never over an existing one unless asked. */
static int
export_rename(struct xfer_job *job)
{
	if (job->overwrite)
		return rename(job->file_tmp, job->file) < 0 ? -errno : 0;
	if (renameat2(AT_FDCWD, job->file_tmp, AT_FDCWD, job->file,
	    RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* A file system without RENAME_NOREPLACE: link fails on an existing name too. */
	if (link(job->file_tmp, job->file) < 0)
		return -errno;
	return unlink(job->file_tmp) < 0 ? -errno : 0;
}

/* Make the finished export file durable and give it its name (mode 0600 kept). */
static int
export_commit_file(struct xfer_job *job)
{
	char	*d;
	int	 r = 0;

	if (fsync(job->fd) < 0 || close(job->fd) < 0)
		r = -errno;
	job->fd = -1;
	if (r == 0)
		r = export_rename(job);
	if (r < 0)
		return snapshot_transfer_fail(job, r, SNAPSHOT_JOB_E_IO, "cannot write %s: %s%s",
		    job->file, strerror(-r), r == -EEXIST ? " (it appeared "
		    "meanwhile; pass \"overwrite\": true to replace it)" : "");
	(void)recover_journal_drop(job->file_tmp);
	free(job->file_tmp);
	job->file_tmp = NULL;
	d = xstrdup(job->file);
	(void)fsync_dir(dirname(d));
	free(d);
	return 0;
}

static int
export_run(struct xfer_job *job)
{
	struct collect		 c = { 0 };
	struct store		*s;
	struct stream		*st = NULL;
	struct json_object	*head;
	const char		*text;
	char			*root = snapshot_store_root(), err[1024];
	int			 r;

	s = store_open(root, err, sizeof(err));
	free(root);
	if (s == NULL)
		return snapshot_transfer_fail(job, -EIO, SNAPSHOT_JOB_E_IO, "%s", err);
	c.seen = store_hashset_new();
	if (job->base_manifest != NULL) {
		c.skip = store_hashset_new();
		(void)snapshot_manifest_hashes(job->base_manifest, snapshot_transfer_add_hash, c.skip);
	}
	if (snapshot_manifest_chunks(job->manifest, collect_chunk, &c) < 0) {
		r = snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "%s: malformed chunk "
		    "list in its manifest", job->name);
		goto out;
	}
	job->chunks_skipped = c.skipped;
	if (job->file != NULL && (r = export_open_file(job)) < 0)
		goto out;
	/* Tests stop here to kill the daemon with the temporary file made. */
	test_knob_sleep("SBUMLD_TEST_EXPORT_DELAY_MS");
	head = export_head(job, c.n);
	text = json_object_to_json_string_ext(head, JSON_C_TO_STRING_PLAIN);
	r = stream_write_open_cancel(job->fd, snapshot_transfer_cancel_fd(job), &st);
	if (r == 0)
		r = stream_put(st, STREAM_HEAD, text, strlen(text), NULL, 0);
	json_object_put(head);
	if (r == 0)
		r = stream_put(st, STREAM_MANI, job->man_text, job->man_len, NULL, 0);
	for (size_t i = 0; r == 0 && i < c.n; i++) {
		const void	*frame;
		size_t		 flen;

		/* Every chunk is checked on the way out: never ship a corrupt one. */
		if ((r = store_chunk_frame(s, c.refs[i].hex, c.refs[i].len, &frame,
		    &flen, err, sizeof(err))) < 0) {
			snapshot_transfer_fail(job, r, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "%s: %s", job->name, err);
			goto out;
		}
		r = stream_put(st, STREAM_CHNK, c.refs[i].hex, STORE_HEX_LEN, frame, flen);
		job->chunks_sent++;
	}
	if (r == 0)
		r = stream_write_end(st);
	if (r < 0) {
		snapshot_transfer_fail(job, r, SNAPSHOT_JOB_E_IO, "cannot write the stream: %s",
		    strerror(-r));
		goto out;
	}
	job->bytes = stream_bytes(st);
	if (job->file != NULL)
		r = export_commit_file(job);
out:
	stream_free(st);
	store_hashset_free(c.seen);
	store_hashset_free(c.skip);
	free(c.refs);
	store_free(s);
	return r;
}

/* --- The job on the event loop --- */

static void
xfer_worker(void *arg)
{
	struct xfer_job *job = arg;

	if (job->oci != NULL)
		(void)snapshot_oci_run(job);
	else if (job->import)
		(void)snapshot_import_run(job);
	else
		(void)export_run(job);
	/* The stream is done either way: let its reader see the end now. */
	closefd(&job->fd);
}

/* {"snapshot": name, "id": id} of a base, or NULL if name is. */
static struct json_object *
base_json(const char *name, const char *id)
{
	struct json_object *b;

	if (name == NULL)
		return NULL;
	b = json_object_new_object();
	json_object_object_add(b, "snapshot", json_object_new_string(name));
	json_object_object_add(b, "id", json_object_new_string(id));
	return b;
}

static struct json_object *
export_result(struct xfer_job *job)
{
	struct json_object *res = json_object_new_object();

	json_object_object_add(res, "snapshot", json_object_new_string(job->name));
	json_object_object_add(res, "id", json_object_new_string(job->id));
	json_object_object_add(res, "base", base_json(job->base_name, job->base_id));
	if (job->file != NULL)
		json_object_object_add(res, "file", json_object_new_string(job->file));
	json_object_object_add(res, "bytes", json_object_new_int64((int64_t)job->bytes));
	json_object_object_add(res, "chunks", json_object_new_int64((int64_t)job->chunks_sent));
	json_object_object_add(res, "skipped_chunks",
	    json_object_new_int64((int64_t)job->chunks_skipped));
	return res;
}

static struct json_object *
import_result(struct xfer_job *job)
{
	struct json_object *res = json_object_new_object();

	json_object_object_add(res, "snapshot", json_object_new_string(job->name));
	json_object_object_add(res, "path", json_object_new_string(job->dir));
	json_object_object_add(res, "id", json_object_new_string(job->id));
	json_object_object_add(res, "base", job->stream_base_id[0] == '\0' ? NULL :
	    base_json(job->stream_base_name, job->stream_base_id));
	json_object_object_add(res, "bytes", json_object_new_int64((int64_t)job->bytes));
	json_object_object_add(res, "chunks", json_object_new_int64((int64_t)job->stats.chunks));
	json_object_object_add(res, "new_chunks", json_object_new_int64((int64_t)job->stats.new_chunks));
	json_object_object_add(res, "new_bytes", json_object_new_int64((int64_t)job->stats.new_bytes));
	json_object_object_add(res, "dedup_chunks", json_object_new_int64((int64_t)job->stats.dedup_chunks));
	return res;
}

static void
xfer_done(void *arg)
{
	struct xfer_job	*job = arg;
	const char	*what_job = job->oci ? snapshot_oci_what(job) :
			    job->import ? "import" : "export";

	if (job->oci != NULL)
		snapshot_oci_stop_progress(job);
	if (job->code != 0) {
		log_warnx("snapshot %s: %s failed: %s", job->name ? job->name : "?",
		    what_job, job->err);
		snapshot_job_fail(&job->cb, job->code, snapshot_job_reason(job->err),
		    "%s of %s failed: %s", what_job,
		    job->name ? job->name : "a snapshot", job->err);
	} else if (job->oci != NULL) {
		snapshot_oci_log(job);
		job->cb.done(0, snapshot_oci_result(job), NULL, job->cb.ctx);
	} else if (job->import) {
		log_info("snapshot %s imported into %s: %llu bytes, %llu new chunks",
		    job->name, job->dir, (unsigned long long)job->bytes,
		    (unsigned long long)job->stats.new_chunks);
		job->cb.done(0, import_result(job), NULL, job->cb.ctx);
	} else {
		log_info("snapshot %s exported: %llu bytes, %llu chunks (%llu left "
		    "out)", job->name, (unsigned long long)job->bytes,
		    (unsigned long long)job->chunks_sent,
		    (unsigned long long)job->chunks_skipped);
		job->cb.done(0, export_result(job), NULL, job->cb.ctx);
	}
	snapshot_xfer_job_free(job);
}

/*
 * Queue the job in the worker pool, counted against the client's caps; its
 * stream gives up once the client goes away.  Reports a failure to start.
 * Takes the job.
 */
void
snapshot_xfer_start(struct xfer_job *job)
{
	struct worker_opts	o = { snapshot_job_owner(&job->cb),
				    WORKER_STORE_SHARED };
	int			r;

	if (job->import) {
		/* Its chunks are referenced by nothing until the manifest is in place. */
		store_writer_begin();
		job->writer = true;
	} else {
		/* Its worker reads packs that a gc could delete or rewrite. */
		store_reader_begin();
		job->reader = true;
	}
	if ((r = worker_submit(&o, xfer_worker, xfer_done, job, &job->cancel_fd)) < 0) {
		if (r == -EAGAIN)
			job->cb.done(SNAPSHOT_JOB_E_LIMIT_JOBS, NULL, "", job->cb.ctx);
		else
			snapshot_job_fail_errno(&job->cb, SNAPSHOT_JOB_E_IO, r,
			    "cannot start a worker");
		snapshot_xfer_job_free(job);
	}
}

struct xfer_job *
snapshot_xfer_job_new(bool import, struct transfer_target *t,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb)
{
	struct xfer_job *job = xcalloc(1, sizeof(*job));

	job->cb = *cb;
	job->cancel_fd = -1;
	job->import = import;
	job->owner = snapshot_caller_uid(caller);
	job->fd = -1;
	if (t == NULL)
		return job;
	job->fd = t->fd;
	t->fd = -1;
	if (t->file != NULL)
		job->file = xstrdup(t->file);
	job->overwrite = t->overwrite;
	if (t->url != NULL)
		job->url = xstrdup(t->url);
	job->insecure = t->insecure;
	return job;
}

/*
 * Resolve and load a format 2 snapshot for the loop-side checks: its
 * directory (ret_dir may be NULL), manifest, id and, if ret_text, its raw
 * manifest.json.  Reports the failure (param names the parameter) and
 * returns -1.
 */
int
snapshot_xfer_load_chunked(const struct snapshot_job_cb *cb, const char *param,
    const char *name, char **ret_dir, struct json_object **ret_man,
    char id[STORE_HEX_LEN + 1], char **ret_text, size_t *ret_len)
{
	char			 err[1024], *dir, *text = NULL;
	size_t			 len;
	int			 r;

	if (snapshot_resolve(name, &dir, err, sizeof(err)) < 0) {
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_INVALID_PARAMS,
		    snapshot_job_param(param), "%s: %s", param, err);
		return -1;
	}
	if ((r = snapshot_manifest_read(dir, ret_man, &text, &len, err,
	    sizeof(err))) < 0) {
		snapshot_job_fail_load(cb, r, err);
		free(dir);
		return -1;
	}
	if (snapshot_manifest_version(*ret_man) != SNAPSHOT_VERSION) {
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_NOT_SUPPORTED, NULL, "%s is a "
		    "format 1 (raw) snapshot; only snapshots in the chunk store "
		    "(format 2) can be exported or serve as a base: save it again "
		    "without --raw, or copy its directory with tar", name);
		goto fail;
	}
	store_sha256_hex(text, len, id);
	if (ret_dir != NULL)
		*ret_dir = dir;
	else
		free(dir);
	if (ret_text != NULL) {
		*ret_text = text;
		*ret_len = len;
	} else
		free(text);
	return 0;
fail:
	json_object_put(*ret_man);
	*ret_man = NULL;
	free(text);
	free(dir);
	return -1;
}

/* The base parameter of either job: a format 2 snapshot here. */
static int
load_base(struct xfer_job *job, const char *base)
{
	job->base_name = xstrdup(base);
	return snapshot_xfer_load_chunked(&job->cb, "base", base, NULL, &job->base_manifest,
	    job->base_id, NULL, NULL);
}

void
snapshot_export_start(const char *snapshot, const char *base,
    struct transfer_target *to, const struct snapshot_caller *caller,
    const struct snapshot_job_cb *cb)
{
	struct xfer_job *job = snapshot_xfer_job_new(false, to, caller, cb);

	job->name = xstrdup(snapshot);
	if (snapshot_xfer_load_chunked(cb, "snapshot", snapshot, &job->dir, &job->manifest,
	    job->id, &job->man_text, &job->man_len) < 0 ||
	    (base != NULL && load_base(job, base) < 0)) {
		snapshot_xfer_job_free(job);
		return;
	}
	snapshot_xfer_start(job);
}

void
snapshot_import_start(const char *snapshot, const char *base,
    struct transfer_target *from, const struct snapshot_caller *caller,
    const struct snapshot_job_cb *cb)
{
	struct xfer_job	*job = snapshot_xfer_job_new(true, from, caller, cb);
	char		 err[1024];

	if (snapshot != NULL) {
		if (snapshot_resolve(snapshot, &job->dir, err, sizeof(err)) < 0) {
			snapshot_job_fail(cb, SNAPSHOT_JOB_E_INVALID_PARAMS,
			    snapshot_job_param("snapshot"), "snapshot: %s", err);
			goto fail;
		}
		job->name = xstrdup(snapshot);
		if (access(job->dir, F_OK) == 0) {
			snapshot_job_fail(cb, SNAPSHOT_JOB_E_SNAPSHOT_EXISTS, NULL,
			    "snapshot %s exists already (at %s)", snapshot, job->dir);
			goto fail;
		}
	}
	if (base != NULL && load_base(job, base) < 0)
		goto fail;
	snapshot_xfer_start(job);
	return;
fail:
	snapshot_xfer_job_free(job);
}
