/* SPDX-License-Identifier: MIT */
/*
 * The jobs that read snapshots (snapshot-query.h): info, list, verify and
 * check.  Each loads and reads in a worker of the pool (worker.h), never
 * on the event loop, and reports through its done callback.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz.h"
#include "hostfacts.h"
#include "log.h"
#include "snapshot.h"
#include "snapshot-chunks.h"
#include "snapshot-job.h"
#include "snapshot-kernel.h"
#include "snapshot-owner.h"
#include "snapshot-query.h"
#include "store.h"
#include "util.h"
#include "worker.h"

/* The snapshot object with its owner: a named snapshot's record (path ones have none). */
static struct json_object *
snapshot_object(const char *name, const char *dir, struct json_object *man)
{
	struct json_object *o = snapshot_to_json(name, dir, man);

	if (strchr(name, '/') == NULL)
		json_object_object_add(o, "owner", json_object_new_int64(
		    (int64_t)snapshot_owner_read(dir)));
	return o;
}

/*
 * Add the chunk store figures of a format 2 snapshot to its object o:
 * "stored_bytes" (compressed chunks it uses) and "freeable_bytes" (those
 * no other snapshot uses: what deleting it frees).
 */
static void
add_store_usage(struct json_object *o, const char *dir)
{
	struct store	*s;
	char		*root = snapshot_store_root(), *named = snapshot_named_root();
	char		 err[1024];
	uint64_t	 stored = 0, freeable = 0;

	s = store_open(root, err, sizeof(err));
	if (s != NULL && store_usage(s, named, dir, snapshot_dir_hashes, &stored,
	    &freeable, err, sizeof(err)) == 0) {
		json_object_object_add(o, "stored_bytes", json_object_new_int64((int64_t)stored));
		json_object_object_add(o, "freeable_bytes", json_object_new_int64((int64_t)freeable));
	} else
		log_warnx("snapshot %s: cannot measure its chunks: %s, ignoring", dir, err);
	store_free(s);
	free(root);
	free(named);
}

static void
info_worker(void *arg)
{
	struct snapshot_pool_job *job = arg;
	struct json_object	*man;

	if ((man = snapshot_pool_job_manifest(job)) == NULL)
		return;
	job->res = snapshot_object(job->name, job->dir, man);
	if (snapshot_manifest_version(man) == SNAPSHOT_VERSION)
		add_store_usage(job->res, job->dir);
	json_object_put(man);
}

/* qsort comparator for snapshot objects by "snapshot" member. */
static int
cmp_snapshot(const void *a, const void *b)
{
	struct json_object *const *x = a, *const *y = b, *vx, *vy;

	json_object_object_get_ex(*x, "snapshot", &vx);
	json_object_object_get_ex(*y, "snapshot", &vy);
	return strcmp(json_object_get_string(vx), json_object_get_string(vy));
}

static void
list_worker(void *arg)
{
	struct snapshot_pool_job *job = arg;
	struct json_object	*arr = json_object_new_array();
	char			*root = snapshot_named_root();
	DIR			*d;
	struct dirent		*de;

	if ((d = opendir(root)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			struct json_object	*man;
			char			 err[512], *dir;

			if (de->d_name[0] == '.')
				continue;	/* also skips half-written saves */
			dir = xasprintf("%s/%s", root, de->d_name);
			if (!authz_may(snapshot_caller_cred(&job->caller), AUTHZ_VIEW,
			    snapshot_owner_read(dir))) {
				free(dir);
				continue;
			}
			if (snapshot_manifest_load(dir, &man, err, sizeof(err)) == 0) {
				json_object_array_add(arr, snapshot_object(de->d_name, dir, man));
				json_object_put(man);
			}
			free(dir);
		}
		closedir(d);
	}
	free(root);
	json_object_array_sort(arr, cmp_snapshot);
	job->res = json_object_new_object();
	json_object_object_add(job->res, "snapshots", arr);
}

static void
verify_worker(void *arg)
{
	struct snapshot_pool_job *job = arg;
	struct json_object	*man, *files, *v;
	struct store		*s = NULL;
	char			 err[1024], *root;
	int64_t			 bytes = 0;
	int			 r = 0;

	if ((man = snapshot_pool_job_manifest(job)) == NULL)
		return;
	test_knob_sleep("SBUMLD_TEST_VERIFY_DELAY_MS");
	json_object_object_get_ex(man, "files", &files);
	if (snapshot_manifest_version(man) == SNAPSHOT_VERSION) {
		root = snapshot_store_root();
		s = store_open(root, err, sizeof(err));
		free(root);
		/* Each distinct chunk once: the work is the chunks, not the declared sizes. */
		r = s == NULL ? -EIO : snapshot_manifest_check_chunks(s, man, err, sizeof(err));
		for (size_t i = 0; r == 0 && i < json_object_array_length(files); i++) {
			json_object_object_get_ex(json_object_array_get_idx(files, i),
			    "size", &v);
			bytes += json_object_get_int64(v);
		}
		s = store_free(s);
	} else {
		/* Format 1 has no hashes: the sizes were checked when loading. */
		for (size_t i = 0; i < json_object_array_length(files); i++) {
			json_object_object_get_ex(json_object_array_get_idx(files, i),
			    "size", &v);
			bytes += json_object_get_int64(v);
		}
	}
	if (r < 0) {
		snapshot_pool_job_fail_load(job, r == -ENOENT ? -EBADMSG : r, err);
		json_object_put(man);
		return;
	}
	job->res = json_object_new_object();
	json_object_object_add(job->res, "snapshot", json_object_new_string(job->name));
	json_object_object_add(job->res, "version", json_object_new_int(
	    snapshot_manifest_version(man)));
	json_object_object_add(job->res, "hashes_checked", json_object_new_boolean(
	    snapshot_manifest_version(man) == SNAPSHOT_VERSION));
	json_object_object_add(job->res, "files", json_object_new_int(
	    (int)json_object_array_length(files)));
	json_object_object_add(job->res, "bytes", json_object_new_int64(bytes));
	json_object_put(man);
}

static void
verify_done(void *arg)
{
	struct snapshot_pool_job *job = arg;

	if (job->res == NULL && job->err != SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT)
		log_warnx("snapshot %s: verify failed: %s", job->dir, job->msg);
	snapshot_pool_job_end(job);
}

/*
 * Append {"check": name, "ok": ok, "detail": detail} to checks; a failed
 * check makes the snapshot not restorable.
 */
static void
add_check(struct json_object *checks, bool *restorable, const char *name,
    bool ok, const char *detail)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "check", json_object_new_string(name));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	json_object_array_add(checks, o);
	if (!ok)
		*restorable = false;
}

/*
 * The kernel check: a kernel binary of the manifest's build-id is here
 * (the restore's own lookup, without materialising anything).
 */
static bool
check_kernel(struct json_object *man, char *detail, size_t len)
{
	enum snapshot_kernel_source	 src;
	struct json_object		*k, *v;
	const char			*id = "?";
	char				 err[1024], *path = NULL;
	int				 r;

	if (json_object_object_get_ex(man, "kernel", &k) &&
	    json_object_object_get_ex(k, "build_id", &v))
		id = json_object_get_string(v);
	if ((r = snapshot_kernel_find(man, SNAPSHOT_KERNEL_CHECK, &path, &src, err,
	    sizeof(err))) < 0) {
		snprintf(detail, len, "%s", err);
		return false;
	}
	if (src == SNAPSHOT_KERNEL_INSTALLED)
		snprintf(detail, len, "build %s: %s", id, path);
	else if (src == SNAPSHOT_KERNEL_STORE)
		snprintf(detail, len, "build %s: %s (rebuilt earlier from the "
		    "snapshot's chunks)", id, path);
	else
		snprintf(detail, len, "build %s: not installed here; the restore "
		    "rebuilds it from the snapshot's chunks (checked) as %s", id, path);
	free(path);
	return true;
}

/*
 * The base_images check: the disk overlays refer to their base images by
 * path, so each must be readable here (as the restore requires).
 */
static bool
check_base_images(struct json_object *man, char *detail, size_t len)
{
	struct json_object	*mach, *img, *disks = NULL;
	size_t			 n;

	if (!json_object_object_get_ex(man, "machine", &mach) ||
	    !json_object_object_get_ex(mach, "image", &img) ||
	    !json_object_is_type(img, json_type_string) ||
	    (json_object_object_get_ex(mach, "disks", &disks) &&
	    !json_object_is_type(disks, json_type_array))) {
		snprintf(detail, len, "the manifest's machine section is malformed");
		return false;
	}
	n = disks != NULL ? json_object_array_length(disks) : 0;
	for (size_t i = 0; i <= n; i++) {
		const char *p = i == 0 ? json_object_get_string(img) :
		    json_object_get_string(json_object_array_get_idx(disks, i - 1));

		if (p == NULL || access(p, R_OK) < 0) {
			snprintf(detail, len, "base image %s of the snapshot is not "
			    "readable here: %s", p != NULL ? p : "(null)",
			    p != NULL ? strerror(errno) : "not a path");
			return false;
		}
	}
	snprintf(detail, len, "%s%s readable", json_object_get_string(img),
	    n == 0 ? " is" : n == 1 ? " and 1 disk are" : " and the disks are");
	return true;
}

static void
check_worker(void *arg)
{
	struct snapshot_pool_job *job = arg;
	struct json_object	*man, *checks, *host, *hc;
	struct hostfacts	 here;
	char			 detail[1024];
	bool			 restorable = true, ok;
	int			 r;

	/* A missing or corrupt snapshot is an error, as for snapshot.info. */
	if ((man = snapshot_pool_job_manifest(job)) == NULL)
		return;
	if ((r = hostfacts_read(&here)) < 0) {
		snapshot_pool_job_fail(job, SNAPSHOT_JOB_E_INTERNAL, NULL, "cannot "
		    "read this host's facts: %s", strerror(-r));
		json_object_put(man);
		return;
	}
	checks = json_object_new_array();
	if (snapshot_manifest_version(man) == SNAPSHOT_VERSION)
		add_check(checks, &restorable, "format", true, "format 2 (chunk "
		    "store): every chunk it lists is in this host's store "
		    "(snapshot.verify checks their content)");
	else
		add_check(checks, &restorable, "format", true, "format 1: every "
		    "captured file is there with its size");
	ok = check_kernel(man, detail, sizeof(detail));
	add_check(checks, &restorable, "kernel", ok, detail);
	/* arch, cpu, xstate, host_kernel: the kernel's own refusal rules. */
	if (!json_object_object_get_ex(man, "host", &host))
		host = NULL;
	hc = hostfacts_checks(host, &here);
	for (size_t i = 0; i < json_object_array_length(hc); i++) {
		struct json_object *c = json_object_array_get_idx(hc, i), *v;

		json_object_object_get_ex(c, "ok", &v);
		if (!json_object_get_boolean(v))
			restorable = false;
		json_object_array_add(checks, json_object_get(c));
	}
	json_object_put(hc);
	ok = check_base_images(man, detail, sizeof(detail));
	add_check(checks, &restorable, "base_images", ok, detail);

	job->res = json_object_new_object();
	json_object_object_add(job->res, "snapshot", json_object_new_string(job->name));
	json_object_object_add(job->res, "restorable", json_object_new_boolean(restorable));
	json_object_object_add(job->res, "checks", checks);
	json_object_put(man);
}

void
snapshot_info_start(const char *name, const char *dir,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb)
{
	snapshot_pool_job_submit(snapshot_pool_job_new(caller, name, dir, cb),
	    WORKER_STORE_SHARED, info_worker, snapshot_pool_job_end);
}

void
snapshot_list_start(const struct snapshot_caller *caller,
    const struct snapshot_job_cb *cb)
{
	snapshot_pool_job_submit(snapshot_pool_job_new(caller, NULL, NULL, cb),
	    WORKER_STORE_SHARED, list_worker, snapshot_pool_job_end);
}

void
snapshot_verify_start(const char *name, const char *dir,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb)
{
	snapshot_pool_job_submit(snapshot_pool_job_new(caller, name, dir, cb),
	    WORKER_STORE_SHARED, verify_worker, verify_done);
}

void
snapshot_check_start(const char *name, const char *dir,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb)
{
	snapshot_pool_job_submit(snapshot_pool_job_new(caller, name, dir, cb),
	    WORKER_STORE_SHARED, check_worker, snapshot_pool_job_end);
}
