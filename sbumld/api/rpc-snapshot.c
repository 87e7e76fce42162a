/* SPDX-License-Identifier: MIT */
/* The snapshot.* RPC handlers (doc/rpc.md "Snapshots"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"
#include "rpc-authz.h"
#include "rpc-job.h"
#include "rpc-methods.h"
#include "snapshot.h"
#include "snapshot-delete.h"
#include "snapshot-query.h"
#include "snapshot-restore.h"
#include "snapshot-save.h"
#include "util.h"

/* Answer -32602 for a bad parameter (a snapshot name, ...), naming it. */
static void
bad_name(struct rpc_call *call, const char *param, const char *msg)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "param", json_object_new_string(param));
	rpc_error_data(call, RPC_INVALID_PARAMS, d, "%s: %s", param, msg);
}

/*
 * Resolve the machine param of a snapshot call, a machine the caller may
 * control; answers the call on failure.
 */
static struct machine *
lookup_machine(struct rpc_call *call, const char *name)
{
	struct machine *m = machine_lookup(name);

	if (m == NULL)
		rpc_error(call, RPC_E_NO_SUCH_MACHINE, "no machine named %s "
		    "(see machine.list)", name);
	else if (!rpc_authz_machine(call, m, AUTHZ_CONTROL))
		return NULL;
	return m;
}

struct save_params {
	const char	*machine;
	const char	*snapshot;
	const char	*prefix;
	bool		 cont;
	bool		 store;
	const char	*capture;
};

int
rpc_snapshot_save(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = {
		{ "machine", RPC_PARAM_STRING, offsetof(struct save_params, machine), RPC_PARAM_REQUIRED, 0, 0 },
		{ "snapshot", RPC_PARAM_STRING, offsetof(struct save_params, snapshot), 0, 0, 0 },
		{ "prefix", RPC_PARAM_STRING, offsetof(struct save_params, prefix), 0, 0, 0 },
		{ "continue", RPC_PARAM_BOOL, offsetof(struct save_params, cont), 0, 0, 0 },
		{ "store", RPC_PARAM_BOOL, offsetof(struct save_params, store), 0, 0, 0 },
		{ "capture", RPC_PARAM_STRING, offsetof(struct save_params, capture), 0, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 },
	};
	struct save_params	 p = { .cont = true, .store = true };
	struct snapshot_caller	 caller;
	struct snapshot_job_cb	 cb;
	struct machine		*m;
	char			 err[512], *dir = NULL, *name = NULL;
	enum machine_state	 st;
	int			 r;

	if (rpc_parse_params(call, params, table, &p) < 0)
		return 0;
	if (p.capture != NULL && strcmp(p.capture, "staged") != 0 &&
	    strcmp(p.capture, "cow") != 0) {
		bad_name(call, "capture", "must be \"staged\" (the default) or "
		    "\"cow\" (copy-on-write)");
		return 0;
	}
	if (p.snapshot != NULL && p.prefix != NULL) {
		bad_name(call, "prefix", "give either snapshot or prefix, not both");
		return 0;
	}
	if ((m = lookup_machine(call, p.machine)) == NULL)
		return 0;
	st = machine_state(m);
	if (st != MACHINE_RUNNING && st != MACHINE_PAUSED) {
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "state",
		    json_object_new_string(machine_state_to_string(st)));
		rpc_error_data(call, RPC_E_BAD_STATE, d, "%s is %s: only a running "
		    "or paused machine can be saved", p.machine,
		    machine_state_to_string(st));
		return 0;
	}
	if (!machine_savable(m)) {
		rpc_error_data(call, RPC_E_NOT_SUPPORTED, rpc_reason("the kernel "
		    "has no sbuml save support"), "%s runs a kernel without "
		    "sbuml save support (%s); boot it with the sbuml kernel",
		    p.machine, machine_config(m)->kernel);
		return 0;
	}
	if (p.snapshot != NULL) {
		if ((r = snapshot_resolve(p.snapshot, &dir, err, sizeof(err))) < 0) {
			bad_name(call, "snapshot", err);
			return 0;
		}
		name = xstrdup(p.snapshot);
	} else {
		const char *prefix = p.prefix;
		char *base = NULL;

		if (prefix == NULL) {
			/* Default: named after the machine (its last path component). */
			const char *slash = strrchr(machine_name(m), '/');

			base = xstrdup(slash ? slash + 1 : machine_name(m));
			prefix = base;
		}
		r = snapshot_unique_name(prefix, &name, &dir, err, sizeof(err));
		free(base);
		if (r == -EINVAL) {
			bad_name(call, "prefix", err);
			return 0;
		}
		if (r < 0) {
			rpc_error(call, RPC_E_SNAPSHOT_EXISTS, "%s", err);
			return 0;
		}
	}
	/*
	 * A path snapshot would be the daemon's files (root's, 0700) in the
	 * caller's directory, which it could then neither read nor remove.
	 */
	if (strchr(name, '/') != NULL && !rpc_authz_admin(call, "save a "
	    "snapshot into a path (it would be root's files there); save a "
	    "named snapshot")) {
		free(name);
		free(dir);
		return 0;
	}
	rpc_job_caller(call, &caller);
	rpc_job_cb(call, &cb);
	snapshot_save_start(m, name, dir, p.cont, p.store,
	    p.capture != NULL && strcmp(p.capture, "cow") == 0, &caller, &cb);
	free(name);
	free(dir);
	return RPC_DEFERRED;
}

struct snap_params {
	const char	*snapshot;
};

static const struct rpc_param snap_table[] = {
	{ "snapshot", RPC_PARAM_STRING, offsetof(struct snap_params, snapshot), RPC_PARAM_REQUIRED, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 },
};

/* A job on one snapshot: (name, dir, caller, cb); snapshot-query.h. */
typedef void (*snap_job_start_fn)(const char *, const char *,
    const struct snapshot_caller *, const struct snapshot_job_cb *);

/*
 * Parse {"snapshot": name}, resolve it, check the caller may do action to
 * it (may_remove: snapshot.delete) and start the job.  Returns 0 after
 * answering a bad parameter or a refusal, else RPC_DEFERRED.
 */
static int
snap_job_run(struct rpc_call *call, struct json_object *params,
    enum authz_action action, bool may_remove, snap_job_start_fn start)
{
	struct snap_params	 p = { 0 };
	struct snapshot_caller	 caller;
	struct snapshot_job_cb	 cb;
	char			 err[1024], *dir;

	if (rpc_parse_params(call, params, snap_table, &p) < 0)
		return 0;
	if (snapshot_resolve(p.snapshot, &dir, err, sizeof(err)) < 0) {
		bad_name(call, "snapshot", err);
		return 0;
	}
	if (!rpc_authz_snapshot(call, p.snapshot, dir, action, may_remove)) {
		free(dir);
		return 0;
	}
	rpc_job_caller(call, &caller);
	rpc_job_cb(call, &cb);
	start(p.snapshot, dir, &caller, &cb);
	free(dir);
	return RPC_DEFERRED;
}

/* A job on no snapshot in particular (list, gc). */
static int
snap_job_run_any(struct rpc_call *call,
    void (*start)(const struct snapshot_caller *, const struct snapshot_job_cb *))
{
	struct snapshot_caller	 caller;
	struct snapshot_job_cb	 cb;

	rpc_job_caller(call, &caller);
	rpc_job_cb(call, &cb);
	start(&caller, &cb);
	return RPC_DEFERRED;
}

int
rpc_snapshot_info(struct rpc_call *call, struct json_object *params)
{
	return snap_job_run(call, params, AUTHZ_VIEW, false, snapshot_info_start);
}

int
rpc_snapshot_list(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = { { NULL, 0, 0, 0, 0, 0 } };
	char dummy;

	if (rpc_parse_params(call, params, table, &dummy) < 0)
		return 0;
	return snap_job_run_any(call, snapshot_list_start);
}

int
rpc_snapshot_delete(struct rpc_call *call, struct json_object *params)
{
	return snap_job_run(call, params, AUTHZ_CONTROL, true, snapshot_delete_start);
}

struct restore_params {
	const char		*snapshot;
	const char		*machine;
	bool			 cont;
	bool			 same_identity;
	struct json_object	*publish;
	const char		*source;
	bool			 insecure;
	const char		*auth_file;
	const char		*memory;
};

int
rpc_snapshot_restore(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = {
		{ "snapshot", RPC_PARAM_STRING, offsetof(struct restore_params, snapshot), 0, 0, 0 },
		{ "machine", RPC_PARAM_STRING, offsetof(struct restore_params, machine), RPC_PARAM_REQUIRED, 0, 0 },
		{ "continue", RPC_PARAM_BOOL, offsetof(struct restore_params, cont), 0, 0, 0 },
		{ "same_identity", RPC_PARAM_BOOL, offsetof(struct restore_params, same_identity), 0, 0, 0 },
		{ "publish", RPC_PARAM_ARRAY, offsetof(struct restore_params, publish), 0, 0, 0 },
		{ "source", RPC_PARAM_STRING, offsetof(struct restore_params, source), 0, 0, 0 },
		{ "insecure", RPC_PARAM_BOOL, offsetof(struct restore_params, insecure), 0, 0, 0 },
		{ "auth_file", RPC_PARAM_STRING, offsetof(struct restore_params, auth_file), 0, 0, 0 },
		{ "memory", RPC_PARAM_STRING, offsetof(struct restore_params, memory), 0, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 },
	};
	struct restore_params	 p = { .cont = true };
	bool			 lazy;
	struct snapshot_restore_net net = { 0 };
	struct snapshot_caller	 caller;
	struct snapshot_job_cb	 cb;
	char			 err[1024], *dir;
	bool			 ok;

	if (rpc_parse_params(call, params, table, &p) < 0)
		return 0;
	if (p.snapshot == NULL && p.source == NULL) {
		rpc_bad_param(call, "snapshot", "Missing parameter \"snapshot\" (or \"source\")");
		return 0;
	}
	if (p.source == NULL && (p.insecure || p.auth_file != NULL)) {
		rpc_bad_param(call, p.insecure ? "insecure" : "auth_file",
		    "only a restore from a \"source\" takes insecure and auth_file");
		return 0;
	}
	if (p.same_identity && p.publish != NULL) {
		rpc_bad_param(call, "publish", "a restore with the same identity "
		    "takes the saved published ports: publish is for a clone");
		return 0;
	}
	if (p.memory != NULL && strcmp(p.memory, "eager") != 0 &&
	    strcmp(p.memory, "lazy") != 0) {
		rpc_bad_param(call, "memory", "memory must be \"eager\" (the "
		    "default: all of it before the machine runs) or \"lazy\" "
		    "(filled while it runs)");
		return 0;
	}
	lazy = p.memory != NULL && strcmp(p.memory, "lazy") == 0;
	if (lazy && p.source != NULL) {
		rpc_bad_param(call, "memory", "a restore from a \"source\" is "
		    "always eager");
		return 0;
	}
	net.same_identity = p.same_identity;
	net.publish_given = p.publish != NULL;
	if (rpc_net_publish_parse(call, p.publish, &net.publish) < 0)
		return 0;
	if (p.source != NULL)
		return rpc_restore_source(call, p.source, p.snapshot, p.machine,
		    p.cont, &net, p.insecure, p.auth_file);
	/* A bad name is reported by snapshot_restore_start. */
	if (snapshot_resolve(p.snapshot, &dir, err, sizeof(err)) == 0) {
		ok = rpc_authz_snapshot(call, p.snapshot, dir, AUTHZ_CONTROL,
		    false);
		free(dir);
		if (!ok)
			return 0;
	}
	rpc_job_caller(call, &caller);
	rpc_job_cb(call, &cb);
	snapshot_restore_start(p.snapshot, p.machine, p.cont, lazy, &net,
	    &caller, &cb);
	return RPC_DEFERRED;
}

int
rpc_snapshot_verify(struct rpc_call *call, struct json_object *params)
{
	return snap_job_run(call, params, AUTHZ_VIEW, false, snapshot_verify_start);
}

int
rpc_snapshot_check(struct rpc_call *call, struct json_object *params)
{
	return snap_job_run(call, params, AUTHZ_VIEW, false, snapshot_check_start);
}

int
rpc_store_gc(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = { { NULL, 0, 0, 0, 0, 0 } };
	char dummy;

	if (rpc_parse_params(call, params, table, &dummy) < 0 ||
	    !rpc_authz_admin(call, "collect the chunk store's garbage"))
		return 0;
	return snap_job_run_any(call, snapshot_gc_start);
}
