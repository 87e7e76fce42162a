/* SPDX-License-Identifier: MIT */
/* The snapshot.export and snapshot.import RPC handlers (doc/rpc.md "Moving snapshots"). */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "rpc-methods.h"
#include "server.h"
#include "snapshot-transfer.h"
#include "util.h"

struct transfer_params {
	const char	*snapshot;
	const char	*base;
	const char	*file;
	bool		 fd;
	bool		 overwrite;
};

/*
 * Where the stream goes: exactly one of "file" (a path on the daemon's host)
 * and "fd": true (the descriptor passed with this request, SCM_RIGHTS).
 * Answers the call and returns -1 when neither or both are given.
 */
static int
transfer_target(struct rpc_call *call, struct transfer_params *p,
    struct transfer_target *t)
{
	struct client *c = rpc_call_client(call);

	t->fd = -1;
	t->file = NULL;
	t->overwrite = p->overwrite;
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
		t->file = p->file;
		return 0;
	}
	if ((t->fd = client_take_fd(c)) < 0) {
		rpc_error(call, RPC_INVALID_PARAMS, "fd: no file descriptor came with "
		    "this request (pass one with SCM_RIGHTS on the same sendmsg)");
		return -1;
	}
	return 0;
}

static const struct rpc_param transfer_table[] = {
	{ "snapshot", RPC_PARAM_STRING, offsetof(struct transfer_params, snapshot), 0, 0, 0 },
	{ "base", RPC_PARAM_STRING, offsetof(struct transfer_params, base), 0, 0, 0 },
	{ "file", RPC_PARAM_STRING, offsetof(struct transfer_params, file), 0, 0, 0 },
	{ "fd", RPC_PARAM_BOOL, offsetof(struct transfer_params, fd), 0, 0, 0 },
	{ "overwrite", RPC_PARAM_BOOL, offsetof(struct transfer_params, overwrite), 0, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 },
};

int
rpc_snapshot_export(struct rpc_call *call, struct json_object *params)
{
	struct transfer_params	p = { 0 };
	struct transfer_target	t;
	int			r;

	if (rpc_parse_params(call, params, transfer_table, &p) < 0)
		return 0;
	if (p.snapshot == NULL) {
		struct json_object *d = json_object_new_object();

		/* As rpc_parse_params words it: the table is shared with import. */
		json_object_object_add(d, "param", json_object_new_string("snapshot"));
		rpc_error_data(call, RPC_INVALID_PARAMS, d,
		    "Missing parameter \"snapshot\"");
		return 0;
	}
	if (transfer_target(call, &p, &t) < 0)
		return 0;
	r = snapshot_export_start(call, p.snapshot, p.base, &t);
	closefd(&t.fd);
	return r;
}

int
rpc_snapshot_import(struct rpc_call *call, struct json_object *params)
{
	struct transfer_params	p = { 0 };
	struct transfer_target	t;
	int			r;

	if (rpc_parse_params(call, params, transfer_table, &p) < 0)
		return 0;
	if (p.overwrite) {
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "param", json_object_new_string("overwrite"));
		rpc_error_data(call, RPC_INVALID_PARAMS, d, "Unknown parameter "
		    "\"overwrite\" (only snapshot.export writes a file)");
		return 0;
	}
	if (transfer_target(call, &p, &t) < 0)
		return 0;
	r = snapshot_import_start(call, p.snapshot, p.base, &t);
	closefd(&t.fd);
	return r;
}
