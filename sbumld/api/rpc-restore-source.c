/* SPDX-License-Identifier: MIT */
/*
 * snapshot.restore with "source" (doc/rpc.md): a registry reference is
 * pulled (snapshot.pull's job) or an http(s) URL imported (snapshot.import's
 * job) into the local store, its job.progress going to the caller, then
 * the snapshot that made is restored (snapshot.restore's job).  One call,
 * one answer: the machine object with "source" the pull's or import's
 * result, or the first error.  The snapshot stays in the store (a second
 * restore of it needs no download).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "oci-ref.h"
#include "rpc-authz.h"
#include "rpc-job.h"
#include "rpc-methods.h"
#include "snapshot.h"
#include "snapshot-oci.h"
#include "snapshot-restore.h"
#include "snapshot-transfer.h"
#include "util.h"

struct restore_source {
	struct rpc_call			*call;
	struct snapshot_caller		 caller;
	char				*machine;
	bool				 cont;
	struct snapshot_restore_net	 net;
	struct json_object		*fetched;	/* the pull's or import's result */
};

static void
source_free(struct restore_source *rs)
{
	rpc_call_unref(rs->call);
	json_object_put(rs->fetched);
	free(rs->machine);
	free(rs);
}

static void
source_progress(void *ctx, struct json_object *p)
{
	struct restore_source *rs = ctx;

	events_notify(rpc_call_client(rs->call), "job.progress", p);
}

static const void *
source_owner(void *ctx)
{
	struct restore_source *rs = ctx;

	return rpc_call_client(rs->call);
}

static void
restored(int err, struct json_object *obj, const char *msg, void *ctx)
{
	struct restore_source *rs = ctx;

	if (err == 0 && json_object_is_type(obj, json_type_object))
		json_object_object_add(obj, "source", json_object_get(rs->fetched));
	rpc_job_answer(rs->call, err, obj, msg);
	source_free(rs);
}

/* The pull or import ended: restore what it made. */
static void
fetched(int err, struct json_object *obj, const char *msg, void *ctx)
{
	struct restore_source		*rs = ctx;
	struct snapshot_job_cb		 cb = { restored, source_progress, source_owner, rs };
	struct snapshot_restore_net	 net = rs->net;
	struct json_object		*v;
	char				*name, *dir, e[1024];
	bool				 cont = rs->cont, ok = true;

	if (err != 0 || !json_object_object_get_ex(obj, "snapshot", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		rpc_job_answer(rs->call, err, obj, msg);
		source_free(rs);
		return;
	}
	rs->fetched = obj;
	/* Its owner is the caller; checked as a plain restore checks it. */
	name = xstrdup(json_object_get_string(v));
	if (snapshot_resolve(name, &dir, e, sizeof(e)) == 0) {
		ok = rpc_authz_snapshot(rs->call, name, dir, AUTHZ_CONTROL, false);
		free(dir);
	}
	if (!ok)
		source_free(rs);
	else {
		char *machine = xstrdup(rs->machine);

		/* done may come before this returns, and frees rs. */
		snapshot_restore_start(name, machine, cont, false, &net, &rs->caller, &cb);
		free(machine);
	}
	free(name);
}

static bool
is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Start the pull or import of source; 0, or -1 once the call is answered. */
static int
source_fetch(struct restore_source *rs, const char *source, const char *snapshot,
    bool insecure, const char *auth_file)
{
	struct snapshot_job_cb	 cb = { fetched, source_progress, source_owner, rs };
	struct oci_ref		 ref;
	char			 err[512], msg[640], *basic = NULL;

	if (is_url(source)) {
		struct transfer_target t = { .fd = -1, .url = source, .insecure = insecure };

		if (auth_file != NULL) {
			rpc_bad_param(rs->call, "auth_file", "only a registry source "
			    "takes credentials");
			return -1;
		}
		snapshot_import_start(snapshot, NULL, &t, &rs->caller, &cb);
		return 0;
	}
	if (oci_ref_parse(source, &ref, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "source: neither an http(s) URL nor a "
		    "registry reference: %s", err);
		rpc_bad_param(rs->call, "source", msg);
		return -1;
	}
	if (rpc_registry_credentials(rs->call, source, auth_file, &basic) < 0)
		return -1;
	{
		struct snapshot_oci_target t = { source, basic, insecure, NULL };

		snapshot_pull_start(&t, snapshot, &rs->caller, &cb);
	}
	free(basic);
	return 0;
}

int
rpc_restore_source(struct rpc_call *call, const char *source,
    const char *snapshot, const char *machine, bool cont,
    const struct snapshot_restore_net *net, bool insecure,
    const char *auth_file)
{
	struct restore_source *rs;

	/* As snapshot.pull and snapshot.import: a path's files would be root's. */
	if (snapshot != NULL && strchr(snapshot, '/') != NULL &&
	    !rpc_authz_admin(call, "restore through a snapshot at a path (it "
	    "would be root's files there); name the snapshot"))
		return 0;
	rs = xcalloc(1, sizeof(*rs));
	rs->call = rpc_call_ref(call);
	rpc_job_caller(call, &rs->caller);
	rs->machine = xstrdup(machine);
	rs->cont = cont;
	rs->net = *net;
	if (source_fetch(rs, source, snapshot, insecure, auth_file) < 0) {
		source_free(rs);
		return 0;
	}
	return RPC_DEFERRED;
}
