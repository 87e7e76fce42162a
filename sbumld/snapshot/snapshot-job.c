/* SPDX-License-Identifier: MIT */
/* What the snapshot jobs share: callers, failures, pool jobs (snapshot-job.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snapshot.h"
#include "snapshot-job.h"
#include "util.h"

/* vasprintf or die, as every allocation here. */
static char *
job_vasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) == -1)
		fatal("vasprintf");
	return s;
}

const struct ucred *
snapshot_caller_cred(const struct snapshot_caller *c)
{
	return c != NULL && c->known ? &c->cred : NULL;
}

uid_t
snapshot_caller_uid(const struct snapshot_caller *c)
{
	return c != NULL && c->known ? c->cred.uid : 0;
}

const void *
snapshot_job_owner(const struct snapshot_job_cb *cb)
{
	return cb->owner != NULL ? cb->owner(cb->ctx) : NULL;
}

struct json_object *
snapshot_job_reason(const char *reason)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "reason", json_object_new_string(reason));
	return d;
}

struct json_object *
snapshot_job_param(const char *param)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "param", json_object_new_string(param));
	return d;
}

void
snapshot_job_fail(const struct snapshot_job_cb *cb, int err,
    struct json_object *data, const char *fmt, ...)
{
	char	*msg;
	va_list	 ap;

	va_start(ap, fmt);
	msg = job_vasprintf(fmt, ap);
	va_end(ap);
	cb->done(err, data, msg, cb->ctx);
	free(msg);
}

void
snapshot_job_fail_load(const struct snapshot_job_cb *cb, int r, const char *msg)
{
	if (r == -ENOENT)
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT, NULL, "%s", msg);
	else
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_BAD_SNAPSHOT,
		    snapshot_job_reason(msg), "%s", msg);
}

void
snapshot_job_fail_errno(const struct snapshot_job_cb *cb, int code, int err,
    const char *fmt, ...)
{
	struct json_object	*data = json_object_new_object();
	const char		*name;
	char			*msg;
	va_list			 ap;

	err = err < 0 ? -err : err;
	va_start(ap, fmt);
	msg = job_vasprintf(fmt, ap);
	va_end(ap);
	if ((name = strerrorname_np(err)) != NULL)
		json_object_object_add(data, "errno", json_object_new_string(name));
	snapshot_job_fail(cb, code, data, "%s: %s", msg, strerror(err));
	free(msg);
}

struct snapshot_pool_job *
snapshot_pool_job_new(const struct snapshot_caller *caller, const char *name,
    const char *dir, const struct snapshot_job_cb *cb)
{
	struct snapshot_pool_job *job = xcalloc(1, sizeof(*job));

	job->cb = *cb;
	job->caller = *caller;
	job->name = name != NULL ? xstrdup(name) : NULL;
	job->dir = dir != NULL ? xstrdup(dir) : NULL;
	return job;
}

static void
snapshot_pool_job_free(struct snapshot_pool_job *job)
{
	json_object_put(job->res);
	json_object_put(job->data);
	free(job->name);
	free(job->dir);
	free(job);
}

void
snapshot_pool_job_fail(struct snapshot_pool_job *job, int err,
    struct json_object *data, const char *fmt, ...)
{
	va_list ap;

	job->err = err;
	json_object_put(job->data);
	job->data = data;
	va_start(ap, fmt);
	vsnprintf(job->msg, sizeof(job->msg), fmt, ap);
	va_end(ap);
}

void
snapshot_pool_job_fail_load(struct snapshot_pool_job *job, int r, const char *msg)
{
	if (r == -ENOENT)
		snapshot_pool_job_fail(job, SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT, NULL,
		    "%s", msg);
	else
		snapshot_pool_job_fail(job, SNAPSHOT_JOB_E_BAD_SNAPSHOT,
		    snapshot_job_reason(msg), "%s", msg);
}

struct json_object *
snapshot_pool_job_manifest(struct snapshot_pool_job *job)
{
	struct json_object	*man;
	char			 err[1024];
	int			 r;

	if ((r = snapshot_manifest_load(job->dir, &man, err, sizeof(err))) < 0) {
		snapshot_pool_job_fail_load(job, r, err);
		return NULL;
	}
	return man;
}

void
snapshot_pool_job_end(void *arg)
{
	struct snapshot_pool_job *job = arg;

	if (job->res != NULL) {
		job->cb.done(0, job->res, NULL, job->cb.ctx);
		job->res = NULL;
	} else {
		job->cb.done(job->err, job->data, job->msg, job->cb.ctx);
		job->data = NULL;
	}
	snapshot_pool_job_free(job);
}

void
snapshot_pool_job_submit(struct snapshot_pool_job *job, enum worker_store store,
    void (*fn)(void *), void (*end)(void *))
{
	struct worker_opts	o = { snapshot_job_owner(&job->cb), store };
	int			r;

	if ((r = worker_submit(&o, fn, end, job, NULL)) == 0)
		return;
	if (r == -EAGAIN)
		job->cb.done(SNAPSHOT_JOB_E_LIMIT_JOBS, NULL, "", job->cb.ctx);
	else
		snapshot_job_fail_errno(&job->cb, SNAPSHOT_JOB_E_IO, r,
		    "cannot start a worker");
	snapshot_pool_job_free(job);
}
