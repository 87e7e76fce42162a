/* SPDX-License-Identifier: MIT */
/* Starting and reporting pushes and pulls (snapshot-oci.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "context.h"
#include "log.h"
#include "oci-client.h"
#include "snapshot.h"
#include "snapshot-oci.h"
#include "snapshot-transfer-int.h"
#include "util.h"

#define PROGRESS_INTERVAL_MS	250
#define RECENT_MAX		32

/*
 * The repository of a registry each caller last pushed to or pulled from
 * (on the loop only): where a push to another repository of that registry
 * mounts blobs from.  The registry checks the caller's rights there.
 */
static struct recent_repo {
	uid_t	uid;
	char	host[OCI_HOST_MAX + 1];
	char	repo[OCI_REPO_MAX + 1];
} recent[RECENT_MAX];
static size_t nrecent, recent_next;

static struct recent_repo *
recent_find(uid_t uid, const char *host)
{
	for (size_t i = 0; i < nrecent; i++)
		if (recent[i].uid == uid && strcmp(recent[i].host, host) == 0)
			return &recent[i];
	return NULL;
}

static void
recent_remember(uid_t uid, const struct oci_ref *ref)
{
	struct recent_repo *r = recent_find(uid, ref->host);

	if (r == NULL) {
		r = &recent[recent_next];
		recent_next = (recent_next + 1) % RECENT_MAX;
		if (nrecent < RECENT_MAX)
			nrecent++;
	}
	r->uid = uid;
	memcpy(r->host, ref->host, sizeof(r->host));
	memcpy(r->repo, ref->repo, sizeof(r->repo));
}

void
snapshot_oci_free(struct xfer_oci *o)
{
	if (o == NULL)
		return;
	if (o->timer != NULL)
		event_free(o->timer);
	free(o->basic);
	free(o->mount_from);
	free(o);
}

int
snapshot_oci_run(struct xfer_job *job)
{
	return job->oci->push ? snapshot_push_run(job) : snapshot_pull_run(job);
}

const char *
snapshot_oci_what(const struct xfer_job *job)
{
	return job->oci->push ? "push" : "pull";
}

static void
notify_progress(struct xfer_job *job, const char *phase)
{
	struct xfer_oci		*o = job->oci;
	struct json_object	*p = json_object_new_object();

	json_object_object_add(p, "job", json_object_new_string(snapshot_oci_what(job)));
	json_object_object_add(p, "snapshot", json_object_new_string(job->name ? job->name : ""));
	json_object_object_add(p, "phase", json_object_new_string(phase));
	json_object_object_add(p, "bytes", json_object_new_int64((int64_t)atomic_load(&o->bytes)));
	json_object_object_add(p, "total_bytes",
	    json_object_new_int64((int64_t)atomic_load(&o->bytes_total)));
	json_object_object_add(p, "blobs", json_object_new_int64((int64_t)atomic_load(&o->blobs_done)));
	json_object_object_add(p, "total_blobs",
	    json_object_new_int64((int64_t)atomic_load(&o->blobs_total)));
	if (job->cb.progress != NULL)
		job->cb.progress(job->cb.ctx, p);
	else
		json_object_put(p);
}

static void
progress_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	notify_progress(arg, "transferring");
}

void
snapshot_oci_stop_progress(struct xfer_job *job)
{
	if (job->oci->timer == NULL)
		return;
	event_free(job->oci->timer);
	job->oci->timer = NULL;
	if (job->code == 0)
		notify_progress(job, "done");
}

void
snapshot_oci_log(const struct xfer_job *job)
{
	const struct xfer_oci *o = job->oci;

	log_info("snapshot %s %s %s/%s:%s: %llu bytes, %llu blobs moved, %llu "
	    "mounted, %llu there already", job->name, o->push ? "pushed to" :
	    "pulled from", o->ref.host, o->ref.repo, o->ref.tag,
	    (unsigned long long)atomic_load(&o->bytes), (unsigned long long)o->blobs_moved,
	    (unsigned long long)o->blobs_mounted, (unsigned long long)o->blobs_present);
	recent_remember(job->owner, &o->ref);
}

struct json_object *
snapshot_oci_result(const struct xfer_job *job)
{
	const struct xfer_oci	*o = job->oci;
	struct json_object	*res = json_object_new_object();
	char			*ref = xasprintf("%s/%s:%s", o->ref.host, o->ref.repo, o->ref.tag);

	json_object_object_add(res, "snapshot", json_object_new_string(job->name));
	if (!o->push)
		json_object_object_add(res, "path", json_object_new_string(job->dir));
	json_object_object_add(res, "id", json_object_new_string(job->id));
	json_object_object_add(res, "ref", json_object_new_string(ref));
	json_object_object_add(res, "digest", json_object_new_string(o->digest));
	json_object_object_add(res, "bytes", json_object_new_int64((int64_t)job->bytes));
	json_object_object_add(res, "blobs", json_object_new_int64((int64_t)atomic_load(&o->blobs_total)));
	json_object_object_add(res, o->push ? "uploaded_blobs" : "fetched_blobs",
	    json_object_new_int64((int64_t)o->blobs_moved));
	json_object_object_add(res, "present_blobs", json_object_new_int64((int64_t)o->blobs_present));
	if (o->push) {
		json_object_object_add(res, "mounted_blobs",
		    json_object_new_int64((int64_t)o->blobs_mounted));
		json_object_object_add(res, "mounted_from", o->mount_from ?
		    json_object_new_string(o->mount_from) : NULL);
	}
	free(ref);
	return res;
}

struct xfer_oci *
snapshot_oci_new(const struct snapshot_oci_target *t, bool push, const struct snapshot_job_cb *cb)
{
	struct xfer_oci	*o = xcalloc(1, sizeof(*o));
	char		 err[512];

	if (t->ref == NULL || oci_ref_parse(t->ref, &o->ref, err, sizeof(err)) < 0) {
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_INVALID_PARAMS, snapshot_job_param("ref"),
		    "ref: %s", t->ref ? err : "missing");
		free(o);
		return NULL;
	}
	if (push && o->ref.digest[0] != '\0') {
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_INVALID_PARAMS, snapshot_job_param("ref"),
		    "ref: a push names a tag, not a digest");
		free(o);
		return NULL;
	}
	if (t->from != NULL && (!push || !oci_repo_valid(t->from))) {
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_INVALID_PARAMS, snapshot_job_param("from"),
		    "from: %s", push ? "not a repository name (a/b/c: lower-case "
		    "letters, digits, separators)" : "only a push mounts blobs");
		free(o);
		return NULL;
	}
	o->push = push;
	o->basic = t->basic ? xstrdup(t->basic) : NULL;
	o->insecure = t->insecure;
	return o;
}

/* A push's repository to mount from: t->from, else the caller's last one there. */
static void
oci_mount_from(struct xfer_oci *o, const struct snapshot_oci_target *t, uid_t uid)
{
	const struct recent_repo *r = recent_find(uid, o->ref.host);
	const char *from = t->from ? t->from : r ? r->repo : NULL;

	if (from != NULL && strcmp(from, o->ref.repo) != 0)
		o->mount_from = xstrdup(from);
}

static void
oci_start(struct xfer_job *job)
{
	struct timeval tv = { 0, PROGRESS_INTERVAL_MS * 1000 };

	job->oci->timer = event_new(daemon_base, -1, EV_PERSIST, progress_cb, job);
	if (job->oci->timer != NULL)
		event_add(job->oci->timer, &tv);
	snapshot_xfer_start(job);
}

void
snapshot_push_start(const char *snapshot, const struct snapshot_oci_target *t,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb)
{
	struct xfer_job *job;
	struct xfer_oci *o = snapshot_oci_new(t, true, cb);

	if (o == NULL)
		return;
	job = snapshot_xfer_job_new(false, NULL, caller, cb);
	job->oci = o;
	oci_mount_from(o, t, job->owner);
	job->name = xstrdup(snapshot);
	if (snapshot_xfer_load_chunked(cb, "snapshot", snapshot, &job->dir,
	    &job->manifest, job->id, &job->man_text, &job->man_len) < 0) {
		snapshot_xfer_job_free(job);
		return;
	}
	oci_start(job);
}

void
snapshot_pull_start(const struct snapshot_oci_target *t, const char *snapshot,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb)
{
	struct xfer_job	*job;
	struct xfer_oci	*o = snapshot_oci_new(t, false, cb);
	char		 err[1024];

	if (o == NULL)
		return;
	job = snapshot_xfer_job_new(true, NULL, caller, cb);
	job->oci = o;
	if (snapshot != NULL) {
		if (snapshot_resolve(snapshot, &job->dir, err, sizeof(err)) < 0) {
			snapshot_job_fail(cb, SNAPSHOT_JOB_E_INVALID_PARAMS,
			    snapshot_job_param("snapshot"), "snapshot: %s", err);
			snapshot_xfer_job_free(job);
			return;
		}
		job->name = xstrdup(snapshot);
		if (access(job->dir, F_OK) == 0) {
			snapshot_job_fail(cb, SNAPSHOT_JOB_E_SNAPSHOT_EXISTS, NULL,
			    "snapshot %s exists already (at %s)", snapshot, job->dir);
			snapshot_xfer_job_free(job);
			return;
		}
	}
	oci_start(job);
}
