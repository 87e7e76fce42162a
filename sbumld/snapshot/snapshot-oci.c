/* SPDX-License-Identifier: MIT */
/* Starting and reporting pushes, pulls and tag lists (snapshot-oci.h). */
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
#include "worker.h"

#define PROGRESS_INTERVAL_MS	250

void
snapshot_oci_free(struct xfer_oci *o)
{
	if (o == NULL)
		return;
	if (o->timer != NULL)
		event_free(o->timer);
	free(o->basic);
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
	    "there already", job->name, o->push ? "pushed to" : "pulled from",
	    o->ref.host, o->ref.repo, o->ref.tag, (unsigned long long)atomic_load(&o->bytes),
	    (unsigned long long)o->blobs_moved, (unsigned long long)o->blobs_present);
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
	free(ref);
	return res;
}

/* The push or pull part of a job for t; reports a bad reference and returns NULL. */
static struct xfer_oci *
oci_new(const struct snapshot_oci_target *t, bool push, const struct snapshot_job_cb *cb)
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
	o->push = push;
	o->basic = t->basic ? xstrdup(t->basic) : NULL;
	o->insecure = t->insecure;
	return o;
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
	struct xfer_oci *o = oci_new(t, true, cb);

	if (o == NULL)
		return;
	job = snapshot_xfer_job_new(false, NULL, caller, cb);
	job->oci = o;
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
	struct xfer_oci	*o = oci_new(t, false, cb);
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

/* --- snapshot.tags: blocking HTTP in the pool, no store --- */

struct tags_job {
	struct snapshot_job_cb	 cb;
	struct xfer_oci		*o;
	int			 cancel_fd;
	struct json_object	*tags;
	int			 code;
	char			 err[1024];
};

static void
tags_work(void *arg)
{
	struct tags_job		*tj = arg;
	struct oci_client_opts	 co = { tj->o->basic, tj->o->insecure, false,
				    tj->cancel_fd, NULL };
	struct oci_client	*c = oci_client_new(&tj->o->ref, &co);
	int			 r;

	if (c == NULL) {
		tj->code = SNAPSHOT_JOB_E_INTERNAL;
		snprintf(tj->err, sizeof(tj->err), "out of memory");
	} else if ((r = oci_client_tags(c, &tj->tags, tj->err, sizeof(tj->err))) < 0)
		tj->code = r == -ENOENT ? SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT :
		    r == -EACCES ? SNAPSHOT_JOB_E_PERMISSION_DENIED : SNAPSHOT_JOB_E_IO;
	oci_client_free(c);
}

static void
tags_free(struct tags_job *tj)
{
	json_object_put(tj->tags);
	snapshot_oci_free(tj->o);
	free(tj);
}

static void
tags_done(void *arg)
{
	struct tags_job		*tj = arg;
	struct json_object	*res;
	char			*ref;

	if (tj->code != 0) {
		snapshot_job_fail(&tj->cb, tj->code, snapshot_job_reason(tj->err),
		    "%s", tj->err);
	} else {
		res = json_object_new_object();
		ref = xasprintf("%s/%s", tj->o->ref.host, tj->o->ref.repo);
		json_object_object_add(res, "ref", json_object_new_string(ref));
		json_object_object_add(res, "tags", tj->tags);
		tj->tags = NULL;
		free(ref);
		tj->cb.done(0, res, NULL, tj->cb.ctx);
	}
	tags_free(tj);
}

void
snapshot_tags_start(const struct snapshot_oci_target *t,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb)
{
	struct tags_job		*tj;
	struct worker_opts	 wo = { snapshot_job_owner(cb), WORKER_STORE_NONE };
	int			 r;

	(void)caller;
	tj = xcalloc(1, sizeof(*tj));
	tj->cb = *cb;
	tj->cancel_fd = -1;
	if ((tj->o = oci_new(t, false, cb)) == NULL) {
		free(tj);
		return;
	}
	if ((r = worker_submit(&wo, tags_work, tags_done, tj, &tj->cancel_fd)) < 0) {
		if (r == -EAGAIN)
			cb->done(SNAPSHOT_JOB_E_LIMIT_JOBS, NULL, "", cb->ctx);
		else
			snapshot_job_fail_errno(cb, SNAPSHOT_JOB_E_IO, r,
			    "cannot start a worker");
		tags_free(tj);
	}
}
