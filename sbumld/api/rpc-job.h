/* SPDX-License-Identifier: MIT */
/*
 * Snapshot jobs (snapshot-job.h) run for a JSON-RPC call: who the caller
 * is, and the callbacks that answer the call when the job is done and send
 * it job.progress notifications meanwhile.  The one place where a job's
 * errors become JSON-RPC error codes (doc/rpc.md).
 */
#ifndef SBUMLD_RPC_JOB_H
#define SBUMLD_RPC_JOB_H

#include "rpc.h"
#include "snapshot-job.h"

/* The caller of call, as a job sees it. */
void	rpc_job_caller(struct rpc_call *call, struct snapshot_caller *ret);
/*
 * Callbacks that answer call (a reference is held until done) and send
 * progress to its client.
 */
void	rpc_job_cb(struct rpc_call *call, struct snapshot_job_cb *ret);
/* Answer call as a job ended (snapshot_job_done_fn's arguments; takes obj). */
void	rpc_job_answer(struct rpc_call *call, int err, struct json_object *obj,
	    const char *msg);

#endif
