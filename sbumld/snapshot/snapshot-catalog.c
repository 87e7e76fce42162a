/* SPDX-License-Identifier: MIT */
/*
 * snapshot.tags and snapshot.search (snapshot-oci.h): questions to a
 * registry that touch no store, blocking HTTP in the worker pool.  What
 * the registry answers is bounded and checked in oci-client.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci-client.h"
#include "snapshot-oci.h"
#include "util.h"
#include "worker.h"

struct query_job {
	struct snapshot_job_cb	 cb;
	struct xfer_oci		*o;
	int			 cancel_fd;
	bool			 search, with_tags;
	char			 prefix[OCI_REPO_MAX + 1];
	struct json_object	*answer;	/* tags: strings; search: repositories */
	bool			 truncated;
	int			 code;
	char			 err[1024];
};

static int
query_code(int r, bool search)
{
	return r == -ENOENT ? (search ? SNAPSHOT_JOB_E_NOT_SUPPORTED :
	    SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT) : r == -EACCES ?
	    SNAPSHOT_JOB_E_PERMISSION_DENIED : SNAPSHOT_JOB_E_IO;
}

/* The tags of repo, or NULL where the registry would not list them. */
static struct json_object *
repo_tags(struct query_job *q, const struct oci_client_opts *co, const char *repo)
{
	struct oci_ref		 ref = q->o->ref;
	struct oci_client	*c;
	struct json_object	*tags = NULL;
	char			 err[512];

	memcpy(ref.repo, repo, strlen(repo) + 1);
	if ((c = oci_client_new(&ref, co)) != NULL &&
	    oci_client_tags(c, &tags, err, sizeof(err)) < 0)
		tags = NULL;
	oci_client_free(c);
	return tags;
}

/* The catalog, as {"name", "tags"?} objects. */
static int
search(struct query_job *q, struct oci_client *c, const struct oci_client_opts *co)
{
	struct json_object	*names;
	int			 r;

	r = oci_client_catalog(c, q->prefix, SNAPSHOT_SEARCH_MAX, &names,
	    &q->truncated, q->err, sizeof(q->err));
	if (r < 0)
		return r;
	q->answer = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		struct json_object	*e = json_object_new_object();
		const char		*name = json_object_get_string(
					    json_object_array_get_idx(names, i));

		json_object_object_add(e, "name", json_object_new_string(name));
		if (q->with_tags && i < SNAPSHOT_SEARCH_TAGS_MAX)
			json_object_object_add(e, "tags", repo_tags(q, co, name));
		json_object_array_add(q->answer, e);
	}
	json_object_put(names);
	return 0;
}

static void
query_work(void *arg)
{
	struct query_job	*q = arg;
	struct oci_client_opts	 co = { q->o->basic, q->o->insecure, false,
				    q->cancel_fd, NULL, NULL };
	struct oci_client	*c = oci_client_new(&q->o->ref, &co);
	int			 r;

	if (c == NULL) {
		q->code = SNAPSHOT_JOB_E_INTERNAL;
		snprintf(q->err, sizeof(q->err), "out of memory");
	} else if ((r = q->search ? search(q, c, &co) :
	    oci_client_tags(c, &q->answer, q->err, sizeof(q->err))) < 0)
		q->code = query_code(r, q->search);
	oci_client_free(c);
}

static void
query_free(struct query_job *q)
{
	json_object_put(q->answer);
	snapshot_oci_free(q->o);
	free(q);
}

static struct json_object *
query_result(struct query_job *q)
{
	struct json_object	*res = json_object_new_object();
	char			*ref = xasprintf("%s/%s", q->o->ref.host, q->o->ref.repo);

	if (q->search) {
		json_object_object_add(res, "registry", json_object_new_string(q->o->ref.host));
		json_object_object_add(res, "prefix", json_object_new_string(q->prefix));
		json_object_object_add(res, "repositories", q->answer);
		json_object_object_add(res, "truncated", json_object_new_boolean(q->truncated));
	} else {
		json_object_object_add(res, "ref", json_object_new_string(ref));
		json_object_object_add(res, "tags", q->answer);
	}
	q->answer = NULL;
	free(ref);
	return res;
}

static void
query_done(void *arg)
{
	struct query_job *q = arg;

	if (q->code != 0)
		snapshot_job_fail(&q->cb, q->code, snapshot_job_reason(q->err),
		    "%s", q->err);
	else
		q->cb.done(0, query_result(q), NULL, q->cb.ctx);
	query_free(q);
}

static void
query_submit(struct query_job *q)
{
	struct worker_opts	wo = { snapshot_job_owner(&q->cb), WORKER_STORE_NONE };
	int			r;

	if ((r = worker_submit(&wo, query_work, query_done, q, &q->cancel_fd)) < 0) {
		if (r == -EAGAIN)
			q->cb.done(SNAPSHOT_JOB_E_LIMIT_JOBS, NULL, "", q->cb.ctx);
		else
			snapshot_job_fail_errno(&q->cb, SNAPSHOT_JOB_E_IO, r,
			    "cannot start a worker");
		query_free(q);
	}
}

void
snapshot_tags_start(const struct snapshot_oci_target *t,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb)
{
	struct query_job *q;

	(void)caller;
	q = xcalloc(1, sizeof(*q));
	q->cb = *cb;
	q->cancel_fd = -1;
	if ((q->o = snapshot_oci_new(t, false, cb)) == NULL) {
		free(q);
		return;
	}
	query_submit(q);
}

void
snapshot_search_start(const struct snapshot_oci_target *t, bool tags,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb)
{
	struct query_job	*q;
	char			 err[512];

	(void)caller;
	q = xcalloc(1, sizeof(*q));
	q->cb = *cb;
	q->cancel_fd = -1;
	q->search = true;
	q->with_tags = tags;
	q->o = xcalloc(1, sizeof(*q->o));
	if (t->ref == NULL || oci_registry_parse(t->ref, &q->o->ref, q->prefix, err,
	    sizeof(err)) < 0) {
		snapshot_job_fail(cb, SNAPSHOT_JOB_E_INVALID_PARAMS,
		    snapshot_job_param("registry"), "registry: %s",
		    t->ref ? err : "missing");
		query_free(q);
		return;
	}
	q->o->basic = t->basic ? xstrdup(t->basic) : NULL;
	q->o->insecure = t->insecure;
	query_submit(q);
}
