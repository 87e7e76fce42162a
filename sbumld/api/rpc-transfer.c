/* SPDX-License-Identifier: MIT */
/* The snapshot.export and snapshot.import RPC handlers (doc/rpc.md "Moving snapshots"). */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "rpc-authz.h"
#include "rpc-job.h"
#include "rpc-methods.h"
#include "snapshot.h"
#include "server.h"
#include "snapshot-transfer.h"
#include "util.h"

struct transfer_params {
	const char	*snapshot;
	const char	*base;
	const char	*file;
	const char	*url;
	bool		 fd;
	bool		 overwrite;
	bool		 insecure;
};

/*
 * Where the stream goes: exactly one of "file" (a path on the daemon's host)
 * and "fd": true (the descriptor passed with this request, SCM_RIGHTS).
 * A non-root caller's file is opened here with its rights (export: created,
 * 0600, never over an existing file) and goes on as a descriptor.
 * Answers the call and returns -1 when neither or both are given, or the
 * caller cannot open the file.
 */
static int
transfer_target(struct rpc_call *call, struct transfer_params *p,
    struct transfer_target *t, bool write)
{
	struct client *c = rpc_call_client(call);

	t->fd = -1;
	t->file = NULL;
	t->overwrite = p->overwrite;
	t->url = NULL;
	t->insecure = p->insecure;
	if (p->url != NULL) {
		if (write || p->file != NULL || p->fd) {
			rpc_error(call, RPC_INVALID_PARAMS, write ? "url: only "
			    "snapshot.import reads from a URL" : "give one of \"file\", "
			    "\"fd\": true and \"url\"");
			return -1;
		}
		t->url = p->url;
		return 0;
	}
	if ((p->file != NULL) == p->fd) {
		rpc_error(call, RPC_INVALID_PARAMS, "give either \"file\" (a path) or "
		    "\"fd\": true (a descriptor passed with the request)");
		return -1;
	}
	if (p->file != NULL) {
		if (p->file[0] != '/') {
			rpc_error(call, RPC_INVALID_PARAMS, "file: must be an absolute path");
			return -1;
		}
		if (!rpc_caller_is_root(call))
			return (t->fd = rpc_authz_open_stream(call, p->file,
			    write)) < 0 ? -1 : 0;
		t->file = p->file;
		return 0;
	}
	if ((t->fd = server_client_take_fd(c)) < 0) {
		rpc_error(call, RPC_INVALID_PARAMS, "fd: no file descriptor came with "
		    "this request (pass one with SCM_RIGHTS on the same sendmsg)");
		return -1;
	}
	return 0;
}

/*
 * A refused request drops the descriptor passed with it (if "fd": true),
 * so the client's next request cannot pick it up by mistake.
 */
static void
transfer_refused(struct rpc_call *call, const struct transfer_params *p)
{
	int fd;

	if (p->fd && (fd = server_client_take_fd(rpc_call_client(call))) >= 0)
		closefd(&fd);
}

/*
 * May the caller do action to the snapshot name?  A malformed name passes:
 * the job answers it as before.  Answers PermissionDenied and returns false.
 */
static bool
transfer_authz(struct rpc_call *call, const struct transfer_params *p,
    const char *name, enum authz_action action)
{
	char	 err[1024], *dir;
	bool	 ok;

	if (name == NULL || snapshot_resolve(name, &dir, err, sizeof(err)) < 0)
		return true;
	ok = rpc_authz_snapshot(call, name, dir, action, false);
	free(dir);
	if (!ok)
		transfer_refused(call, p);
	return ok;
}

/*
 * An import into a path is root's: the snapshot would be the daemon's files
 * (root's, 0700) in the caller's directory (see snapshot.save).
 */
static bool
transfer_authz_path(struct rpc_call *call, const struct transfer_params *p,
    const char *name)
{
	if (name == NULL || strchr(name, '/') == NULL ||
	    rpc_authz_admin(call, "import a snapshot into a path (it would be "
	    "root's files there); import a named snapshot"))
		return true;
	transfer_refused(call, p);
	return false;
}

static const struct rpc_param transfer_table[] = {
	{ "snapshot", RPC_PARAM_STRING, offsetof(struct transfer_params, snapshot), 0, 0, 0 },
	{ "base", RPC_PARAM_STRING, offsetof(struct transfer_params, base), 0, 0, 0 },
	{ "file", RPC_PARAM_STRING, offsetof(struct transfer_params, file), 0, 0, 0 },
	{ "fd", RPC_PARAM_BOOL, offsetof(struct transfer_params, fd), 0, 0, 0 },
	{ "overwrite", RPC_PARAM_BOOL, offsetof(struct transfer_params, overwrite), 0, 0, 0 },
	{ "url", RPC_PARAM_STRING, offsetof(struct transfer_params, url), 0, 0, 0 },
	{ "insecure", RPC_PARAM_BOOL, offsetof(struct transfer_params, insecure), 0, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 },
};

typedef void (*transfer_start_fn)(const char *snapshot, const char *base,
    struct transfer_target *t, const struct snapshot_caller *caller,
    const struct snapshot_job_cb *cb);

/* Start the export or import job; the call is answered by its done. */
static int
transfer_run(struct rpc_call *call, const struct transfer_params *p,
    struct transfer_target *t, transfer_start_fn start)
{
	struct snapshot_caller	caller;
	struct snapshot_job_cb	cb;

	rpc_job_caller(call, &caller);
	rpc_job_cb(call, &cb);
	start(p->snapshot, p->base, t, &caller, &cb);
	closefd(&t->fd);
	return RPC_DEFERRED;
}

/* A missing or misplaced parameter, with data.param naming it. */
static void
transfer_param_error(struct rpc_call *call, const char *param, const char *msg)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "param", json_object_new_string(param));
	rpc_error_data(call, RPC_INVALID_PARAMS, d, "%s", msg);
}

int
rpc_snapshot_export(struct rpc_call *call, struct json_object *params)
{
	struct transfer_params	p = { 0 };
	struct transfer_target	t;

	if (rpc_parse_params(call, params, transfer_table, &p) < 0)
		return 0;
	if (p.url != NULL || p.insecure) {
		transfer_param_error(call, p.url ? "url" : "insecure", "Unknown "
		    "parameter (only snapshot.import reads from a URL)");
		transfer_refused(call, &p);
		return 0;
	}
	if (p.snapshot == NULL) {
		/* As rpc_parse_params words it: the table is shared with import. */
		transfer_param_error(call, "snapshot",
		    "Missing parameter \"snapshot\"");
		return 0;
	}
	if (!transfer_authz(call, &p, p.snapshot, AUTHZ_CONTROL) ||
	    !transfer_authz(call, &p, p.base, AUTHZ_VIEW) ||
	    transfer_target(call, &p, &t, true) < 0)
		return 0;
	return transfer_run(call, &p, &t, snapshot_export_start);
}

int
rpc_snapshot_import(struct rpc_call *call, struct json_object *params)
{
	struct transfer_params	p = { 0 };
	struct transfer_target	t;

	if (rpc_parse_params(call, params, transfer_table, &p) < 0)
		return 0;
	if (p.overwrite) {
		transfer_param_error(call, "overwrite", "Unknown parameter "
		    "\"overwrite\" (only snapshot.export writes a file)");
		transfer_refused(call, &p);
		return 0;
	}
	if (!transfer_authz(call, &p, p.base, AUTHZ_VIEW) ||
	    !transfer_authz_path(call, &p, p.snapshot) ||
	    transfer_target(call, &p, &t, false) < 0)
		return 0;
	return transfer_run(call, &p, &t, snapshot_import_start);
}
