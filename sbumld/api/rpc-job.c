/* SPDX-License-Identifier: MIT */
/* Snapshot jobs answered over JSON-RPC; see rpc-job.h. */
#include "events.h"
#include "rpc-authz.h"
#include "rpc-job.h"

/* The JSON-RPC code of a job error (doc/rpc.md). */
static int
rpc_job_code(int err)
{
	switch (err) {
	case SNAPSHOT_JOB_E_INVALID_PARAMS:	return RPC_INVALID_PARAMS;
	case SNAPSHOT_JOB_E_LIMIT_EXCEEDED:
	case SNAPSHOT_JOB_E_LIMIT_JOBS:		return RPC_E_LIMIT_EXCEEDED;
	case SNAPSHOT_JOB_E_MACHINE_EXISTS:	return RPC_E_MACHINE_EXISTS;
	case SNAPSHOT_JOB_E_BAD_STATE:		return RPC_E_BAD_STATE;
	case SNAPSHOT_JOB_E_BOOT_FAILED:	return RPC_E_BOOT_FAILED;
	case SNAPSHOT_JOB_E_TIMEOUT:		return RPC_E_TIMEOUT;
	case SNAPSHOT_JOB_E_NOT_SUPPORTED:	return RPC_E_NOT_SUPPORTED;
	case SNAPSHOT_JOB_E_SAVE_IN_PROGRESS:	return RPC_E_SAVE_IN_PROGRESS;
	case SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT:	return RPC_E_NO_SUCH_SNAPSHOT;
	case SNAPSHOT_JOB_E_SNAPSHOT_EXISTS:	return RPC_E_SNAPSHOT_EXISTS;
	case SNAPSHOT_JOB_E_BAD_SNAPSHOT:	return RPC_E_BAD_SNAPSHOT;
	case SNAPSHOT_JOB_E_INCOMPATIBLE:	return RPC_E_INCOMPATIBLE;
	case SNAPSHOT_JOB_E_IO:			return RPC_E_IO_ERROR;
	case SNAPSHOT_JOB_E_PERMISSION_DENIED:	return RPC_E_PERMISSION_DENIED;
	case SNAPSHOT_JOB_E_INTERNAL:
	default:				return RPC_INTERNAL_ERROR;
	}
}

void
rpc_job_answer(struct rpc_call *call, int err, struct json_object *obj,
    const char *msg)
{
	if (err == 0)
		rpc_reply(call, obj);
	else if (err == SNAPSHOT_JOB_E_LIMIT_JOBS) {
		json_object_put(obj);
		rpc_error_limit_jobs(call);
	} else
		rpc_error_data(call, rpc_job_code(err), obj, "%s", msg);
}

void
rpc_job_caller(struct rpc_call *call, struct snapshot_caller *ret)
{
	const struct ucred *cred = rpc_caller(call);

	ret->known = cred != NULL;
	ret->cred = cred != NULL ? *cred : (struct ucred){ 0, (uid_t)-1, (gid_t)-1 };
}

static void
rpc_job_done(int err, struct json_object *obj, const char *msg, void *ctx)
{
	struct rpc_call *call = ctx;

	rpc_job_answer(call, err, obj, msg);
	rpc_call_unref(call);
}

static void
rpc_job_progress(void *ctx, struct json_object *p)
{
	events_notify(rpc_call_client(ctx), "job.progress", p);
}

static const void *
rpc_job_owner(void *ctx)
{
	return rpc_call_client(ctx);
}

void
rpc_job_cb(struct rpc_call *call, struct snapshot_job_cb *ret)
{
	ret->done = rpc_job_done;
	ret->progress = rpc_job_progress;
	ret->owner = rpc_job_owner;
	ret->ctx = rpc_call_ref(call);
}
