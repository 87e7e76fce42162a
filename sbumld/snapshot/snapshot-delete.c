/* SPDX-License-Identifier: MIT */
/*
 * The delete job and the store's garbage collection (snapshot-delete.h),
 * both in the worker pool.  A path snapshot lives in
 * a directory the client named, which may be anything: only a directory that
 * provably holds an sbuml snapshot is touched, and only the files a save or
 * an import creates in it are removed, each by name from a directory fd
 * opened without following symlinks.  Anything else in the directory makes
 * the delete refuse before a single file is removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "snapshot-chunks.h"
#include "snapshot-delete.h"
#include "snapshot-job.h"
#include "snapshot-owner.h"
#include "store.h"
#include "util.h"
#include "worker.h"

/* Same bound as the manifest loader's. */
#define DELETE_MANIFEST_MAX	(64 * 1024 * 1024)

/* Read manifest.json from dfd: a regular file, never through a symlink or a FIFO. */
static int
read_manifest(int dfd, char **ret_buf, char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 got = 0;
	int		 fd, r = 0;

	if ((fd = openat(dfd, SNAPSHOT_MANIFEST, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errlen, "no readable %s (%s)", SNAPSHOT_MANIFEST,
		    strerror(-r));
		return r == -ENOENT || r == -ELOOP ? -EBADMSG : r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > DELETE_MANIFEST_MAX) {
		snprintf(err, errlen, "%s is not a regular file of at most %d bytes",
		    SNAPSHOT_MANIFEST, DELETE_MANIFEST_MAX);
		(void)close(fd);
		return -EBADMSG;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EBADMSG;
			break;
		}
		got += (size_t)n;
	}
	(void)close(fd);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", SNAPSHOT_MANIFEST,
		    strerror(-r));
		free(buf);
		return r;
	}
	buf[got] = '\0';
	*ret_buf = buf;
	return 0;
}

/* "capture/<name>" with one plain component: the name, else NULL. */
static const char *
capture_name(struct json_object *entry)
{
	struct json_object	*p;
	const char		*rel, *name;
	size_t			 plen = strlen(SNAPSHOT_CAPTURE "/");

	if (!json_object_is_type(entry, json_type_object) ||
	    !json_object_object_get_ex(entry, "path", &p) ||
	    !json_object_is_type(p, json_type_string))
		return NULL;
	rel = json_object_get_string(p);
	if (strncmp(rel, SNAPSHOT_CAPTURE "/", plen) != 0)
		return NULL;
	name = rel + plen;
	if (name[0] == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return NULL;
	return name;
}

/*
 * The manifest is an sbuml snapshot's: the format, a known version and a
 * well-formed file list (each a capture/<name>), as the manifest loader
 * requires; its files need not be there (a broken snapshot can be deleted).
 */
static int
check_manifest(struct json_object *m, int *ret_version, struct json_object **ret_files,
    char *err, size_t errlen)
{
	struct json_object	*v, *files;

	if (m == NULL || !json_object_is_type(m, json_type_object) ||
	    !json_object_object_get_ex(m, "format", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), SNAPSHOT_FORMAT) != 0 ||
	    !json_object_object_get_ex(m, "version", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    (json_object_get_int(v) != SNAPSHOT_VERSION &&
	    json_object_get_int(v) != SNAPSHOT_VERSION_RAW) ||
	    !json_object_object_get_ex(m, "files", &files) ||
	    !json_object_is_type(files, json_type_array)) {
		snprintf(err, errlen, "its %s is not an sbuml snapshot manifest",
		    SNAPSHOT_MANIFEST);
		return -EBADMSG;
	}
	for (size_t i = 0; i < json_object_array_length(files); i++)
		if (capture_name(json_object_array_get_idx(files, i)) == NULL) {
			snprintf(err, errlen, "its %s lists a file outside %s/",
			    SNAPSHOT_MANIFEST, SNAPSHOT_CAPTURE);
			return -EBADMSG;
		}
	*ret_version = json_object_get_int(v);
	*ret_files = files;
	return 0;
}

static bool
listed(struct json_object *files, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(files); i++)
		if (strcmp(capture_name(json_object_array_get_idx(files, i)), name) == 0)
			return true;
	return false;
}

/*
 * Every entry of the directory fd is one sbuml made: in the snapshot
 * directory manifest.json, owner.json (snapshot-owner.h) and capture/ (a
 * real directory), in capture/ the
 * files the manifest lists.  Takes fd (closed).  0, or -ENOTEMPTY naming the
 * first stranger in err.
 */
static int
check_entries(int fd, struct json_object *files, bool top, char *err, size_t errlen)
{
	DIR		*d = fdopendir(fd);
	struct dirent	*de;
	int		 r = 0;

	if (d == NULL) {
		r = -errno;
		(void)close(fd);
		snprintf(err, errlen, "cannot read it: %s", strerror(-r));
		return r;
	}
	while (r == 0 && (errno = 0, de = readdir(d)) != NULL) {
		const char	*n = de->d_name;
		struct stat	 st;
		bool		 ours;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			ours = false;
		else if (top)
			ours = ((strcmp(n, SNAPSHOT_MANIFEST) == 0 ||
			    strcmp(n, SNAPSHOT_OWNER_FILE) == 0) && S_ISREG(st.st_mode)) ||
			    (strcmp(n, SNAPSHOT_CAPTURE) == 0 && S_ISDIR(st.st_mode));
		else
			ours = S_ISREG(st.st_mode) && listed(files, n);
		if (!ours) {
			snprintf(err, errlen, "it holds %s%s, which no sbuml save "
			    "created", top ? "" : SNAPSHOT_CAPTURE "/", n);
			r = -ENOTEMPTY;
		}
	}
	if (r == 0 && errno != 0) {
		r = -errno;
		snprintf(err, errlen, "cannot read it: %s", strerror(-r));
	}
	closedir(d);
	return r;
}

/* Remove the listed capture files and capture/ itself (missing ones are fine). */
static int
remove_capture(int dfd, struct json_object *files, char *err, size_t errlen)
{
	int cfd, r = 0;

	if ((cfd = openat(dfd, SNAPSHOT_CAPTURE, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, errlen, "cannot open %s/: %s", SNAPSHOT_CAPTURE,
		    strerror(-r));
		return r;
	}
	for (size_t i = 0; r == 0 && i < json_object_array_length(files); i++) {
		const char *n = capture_name(json_object_array_get_idx(files, i));

		if (unlinkat(cfd, n, 0) < 0 && errno != ENOENT) {
			r = -errno;
			snprintf(err, errlen, "cannot remove %s/%s: %s",
			    SNAPSHOT_CAPTURE, n, strerror(-r));
		}
	}
	(void)close(cfd);
	if (r == 0 && unlinkat(dfd, SNAPSHOT_CAPTURE, AT_REMOVEDIR) < 0 &&
	    errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "cannot remove %s/: %s", SNAPSHOT_CAPTURE,
		    strerror(-r));
	}
	return r;
}

int
snapshot_delete_check(const char *dir, int *ret_dfd, struct json_object **ret_man,
    char *err, size_t errlen)
{
	struct json_object	*m, *files;
	char			*buf = NULL;
	int			 dfd, fd, version, r;

	/* version: both formats are deleted the same way (format 2 has no capture/ left). */

	*ret_dfd = -1;
	*ret_man = NULL;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errlen, "no snapshot at %s%s", dir, r == -ENOENT ? "" :
		    r == -ENOTDIR || r == -ELOOP ? " (not a directory)" : "");
		return r == -ENOTDIR || r == -ELOOP ? -ENOENT : r;
	}
	if ((r = read_manifest(dfd, &buf, err, errlen)) < 0)
		goto fail;
	m = json_tokener_parse(buf);
	free(buf);
	if ((r = check_manifest(m, &version, &files, err, errlen)) < 0) {
		json_object_put(m);
		goto fail;
	}
	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot read it: %s", strerror(-r));
	} else
		r = check_entries(fd, files, true, err, errlen);
	if (r == 0 && (fd = openat(dfd, SNAPSHOT_CAPTURE, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) >= 0)
		r = check_entries(fd, files, false, err, errlen);
	if (r < 0) {
		json_object_put(m);
		goto fail;
	}
	*ret_dfd = dfd;
	*ret_man = m;
	return 0;
fail:
	(void)close(dfd);
	return r;
}

int
snapshot_delete_files(const char *dir, int dfd, struct json_object *man,
    char *err, size_t errlen)
{
	struct json_object	*files;
	char			*d = xstrdup(dir);
	int			 r;

	json_object_object_get_ex(man, "files", &files);
	if ((r = remove_capture(dfd, files, err, errlen)) < 0)
		goto out;
	if (unlinkat(dfd, SNAPSHOT_MANIFEST, 0) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", SNAPSHOT_MANIFEST,
		    strerror(-r));
		goto out;
	}
	if (unlinkat(dfd, SNAPSHOT_OWNER_FILE, 0) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", SNAPSHOT_OWNER_FILE,
		    strerror(-r));
		goto out;
	}
	/* rmdir: a file that appeared meanwhile keeps the directory. */
	if (rmdir(dir) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", dir, strerror(-r));
		goto out;
	}
	(void)fsync_dir(dirname(d));
out:
	free(d);
	return r;
}

/* --- The delete and gc jobs --- */

/*
 * Mark and sweep the chunk store.  Sets *ret (caller owns) to the result
 * object {"chunks", "bytes"} or {"deferred": reason}.  0 or -errno, message
 * in err.
 */
static int
collect_garbage(struct json_object **ret, char *err, size_t errlen)
{
	struct store	*s;
	char		*root = snapshot_store_root(), *named = snapshot_named_root();
	uint64_t	 chunks = 0, bytes = 0;
	int		 r;

	*ret = json_object_new_object();
	s = store_open(root, err, errlen);
	r = s == NULL ? -EIO : store_gc(s, named, snapshot_dir_hashes, &chunks,
	    &bytes, err, errlen);
	if (r == 0) {
		json_object_object_add(*ret, "chunks", json_object_new_int64((int64_t)chunks));
		json_object_object_add(*ret, "bytes", json_object_new_int64((int64_t)bytes));
		log_info("store: %llu chunks (%llu bytes) freed",
		    (unsigned long long)chunks, (unsigned long long)bytes);
	} else if (r == -EBUSY)
		json_object_object_add(*ret, "deferred", json_object_new_string(err));
	store_free(s);
	free(root);
	free(named);
	return r;
}

/*
 * In the worker: remove the snapshot if it provably is one, and only the
 * files sbuml made in it (snapshot-delete.h); unregister a format 2 one
 * from the store first (a crash after that leaves chunks for the next gc).
 */
static void
delete_worker(void *arg)
{
	struct snapshot_pool_job *job = arg;
	struct json_object	*man;
	struct store		*s;
	char			 err[1024], *root;
	int			 dfd, r;

	if ((r = snapshot_delete_check(job->dir, &dfd, &man, err, sizeof(err))) < 0) {
		if (r == -ENOENT)
			snapshot_pool_job_fail(job, SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT,
			    NULL, "%s", err);
		else if (r == -EBADMSG || r == -ENOTEMPTY)
			snapshot_pool_job_fail(job, SNAPSHOT_JOB_E_BAD_SNAPSHOT,
			    snapshot_job_reason(err), "%s is not an sbuml snapshot: "
			    "%s; not deleting it", job->dir, err);
		else
			snapshot_pool_job_fail(job, SNAPSHOT_JOB_E_IO,
			    snapshot_job_reason(err), "%s: %s", job->dir, err);
		return;
	}
	job->chunked = snapshot_manifest_version(man) == SNAPSHOT_VERSION;
	if (job->chunked) {
		root = snapshot_store_root();
		if ((s = store_open(root, err, sizeof(err))) != NULL) {
			(void)store_ref_del(s, job->dir);
			s = store_free(s);
		}
		free(root);
	}
	r = snapshot_delete_files(job->dir, dfd, man, err, sizeof(err));
	(void)close(dfd);
	json_object_put(man);
	if (r < 0) {
		snapshot_pool_job_fail(job, SNAPSHOT_JOB_E_IO,
		    snapshot_job_reason(err), "cannot remove %s: %s", job->dir, err);
		return;
	}
	job->res = json_object_new_object();
	json_object_object_add(job->res, "deleted", json_object_new_string(job->name));
}

/* In the worker: mark and sweep; res gets "freed" (delete) or is the result (gc). */
static void
gc_worker(void *arg)
{
	struct snapshot_pool_job *job = arg;
	struct json_object	*gc;
	int			 r;

	r = collect_garbage(&gc, job->msg, sizeof(job->msg));
	if (job->res != NULL) {
		/* After a delete: a failed gc is only logged, the next one frees. */
		json_object_object_add(job->res, "freed", gc);
		job->err = r < 0 && r != -EBUSY ? -1 : 0;
		return;
	}
	if (r == 0) {
		job->res = gc;
		return;
	}
	json_object_put(gc);
	job->err = r == -EBUSY ? SNAPSHOT_JOB_E_BAD_STATE : SNAPSHOT_JOB_E_IO;
}

/* After a delete's gc: log its failure, report the delete. */
static void
delete_gc_done(void *arg)
{
	struct snapshot_pool_job *job = arg;

	if (job->err == -1)
		log_warnx("store: %s, ignoring", job->msg);
	job->err = 0;
	snapshot_pool_job_end(job);
}

/* Why a gc cannot run now, or NULL.  On the loop. */
static const char *
gc_blocked(void)
{
	if (store_writers_active())
		return "a save or an import is writing to the chunk store; collect "
		    "garbage after it";
	if (store_readers_active() || worker_store_busy())
		return "a job is reading the chunk store (an export, restore, "
		    "verify, info, check, list or delete); collect garbage after it";
	return NULL;
}

/* The delete is done: report, collecting garbage first for a format 2 one. */
static void
delete_done(void *arg)
{
	struct snapshot_pool_job *job = arg;
	struct worker_opts	 o = { snapshot_job_owner(&job->cb),
				       WORKER_STORE_EXCLUSIVE };
	struct json_object	*d;
	const char		*busy;

	if (job->res == NULL || !job->chunked) {
		if (job->res != NULL)
			log_info("snapshot %s deleted", job->dir);
		snapshot_pool_job_end(job);
		return;
	}
	log_info("snapshot %s deleted", job->dir);
	if ((busy = gc_blocked()) == NULL &&
	    worker_submit(&o, gc_worker, delete_gc_done, job, NULL) == 0)
		return;
	/* The snapshot is gone either way: the next delete or store.gc frees. */
	d = json_object_new_object();
	json_object_object_add(d, "deferred", json_object_new_string(busy != NULL ?
	    busy : "too many jobs; run store.gc later"));
	json_object_object_add(job->res, "freed", d);
	snapshot_pool_job_end(job);
}

void
snapshot_delete_start(const char *name, const char *dir,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb)
{
	snapshot_pool_job_submit(snapshot_pool_job_new(caller, name, dir, cb),
	    WORKER_STORE_SHARED, delete_worker, delete_done);
}

void
snapshot_gc_start(const struct snapshot_caller *caller,
    const struct snapshot_job_cb *cb)
{
	const char *busy;

	/* A gc never waits behind other store jobs: it is refused, as before. */
	if ((busy = gc_blocked()) != NULL) {
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_BAD_STATE, NULL, "%s", busy);
		return;
	}
	snapshot_pool_job_submit(snapshot_pool_job_new(caller, NULL, NULL, cb),
	    WORKER_STORE_EXCLUSIVE, gc_worker, snapshot_pool_job_end);
}
