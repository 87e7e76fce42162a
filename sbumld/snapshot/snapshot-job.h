/* SPDX-License-Identifier: MIT */
/*
 * What every snapshot job (save, restore, export, import, info, list,
 * check, verify, delete, store gc) shares with whoever started it: who
 * asked (struct snapshot_caller, filled by the transport), and how the job
 * reports back (struct snapshot_job_cb).  Jobs know nothing of JSON-RPC:
 * they end with done(err, obj, msg, ctx), err one of enum snapshot_job_error,
 * and the transport maps that to its own codes in one place
 * (api/rpc-job.c for JSON-RPC, doc/rpc.md).
 */
#ifndef SBUMLD_SNAPSHOT_JOB_H
#define SBUMLD_SNAPSHOT_JOB_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <json-c/json.h>

#include "worker.h"

/* Why a job failed (doc/rpc.md names the error each stands for). */
enum snapshot_job_error {
	SNAPSHOT_JOB_OK = 0,
	SNAPSHOT_JOB_E_INVALID_PARAMS,	/* a parameter is malformed */
	SNAPSHOT_JOB_E_INTERNAL,
	SNAPSHOT_JOB_E_LIMIT_EXCEEDED,	/* out of space, too many machines */
	SNAPSHOT_JOB_E_LIMIT_JOBS,	/* the worker pool's caps (worker.h); no msg */
	SNAPSHOT_JOB_E_MACHINE_EXISTS,
	SNAPSHOT_JOB_E_BAD_STATE,
	SNAPSHOT_JOB_E_BOOT_FAILED,
	SNAPSHOT_JOB_E_TIMEOUT,
	SNAPSHOT_JOB_E_NOT_SUPPORTED,
	SNAPSHOT_JOB_E_SAVE_IN_PROGRESS,
	SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT,
	SNAPSHOT_JOB_E_SNAPSHOT_EXISTS,
	SNAPSHOT_JOB_E_BAD_SNAPSHOT,
	SNAPSHOT_JOB_E_INCOMPATIBLE,
	SNAPSHOT_JOB_E_IO,
	SNAPSHOT_JOB_E_PERMISSION_DENIED,
};

/*
 * The end of a job, on the event loop, called exactly once (possibly before
 * the start function returns): err 0 and obj the result, or err an enum
 * snapshot_job_error with obj the error's extra data (may be NULL) and msg
 * the message.  done takes obj.
 */
typedef void (*snapshot_job_done_fn)(int err, struct json_object *obj,
	    const char *msg, void *ctx);
/* A progress report (a job.progress notification's params); takes p. */
typedef void (*snapshot_job_progress_fn)(void *ctx, struct json_object *p);

/*
 * Whom the job's work in the worker pool counts against and is cancelled
 * with (worker.h's owner: the client), asked each time work is queued;
 * NULL once it has gone.
 */
typedef const void *(*snapshot_job_owner_fn)(void *ctx);

struct snapshot_job_cb {
	snapshot_job_done_fn	 done;
	snapshot_job_progress_fn progress;	/* may be NULL */
	snapshot_job_owner_fn	 owner;		/* may be NULL: uncapped */
	void			*ctx;
};

/* Who started a job. */
struct snapshot_caller {
	bool		 known;	/* false: its credentials are gone; it may do nothing */
	struct ucred	 cred;
};

/* The worker pool owner for the job's work now (cb->owner), or NULL. */
const void *snapshot_job_owner(const struct snapshot_job_cb *cb);

/* The caller's credentials, or NULL if unknown (for authz.h). */
const struct ucred *snapshot_caller_cred(const struct snapshot_caller *c);
/* The uid to record as the owner of what the job creates (0 if unknown). */
uid_t	snapshot_caller_uid(const struct snapshot_caller *c);

/* {"reason": reason}: the error data of a failure whose cause is text. */
struct json_object *snapshot_job_reason(const char *reason);
/* done(err, data, msg formatted) through cb. */
void	snapshot_job_fail(const struct snapshot_job_cb *cb, int err,
	    struct json_object *data, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/*
 * A failed snapshot_manifest_load (r, message msg): NoSuchSnapshot for
 * -ENOENT, else BadSnapshot with data.reason.
 */
void	snapshot_job_fail_load(const struct snapshot_job_cb *cb, int r,
	    const char *msg);
/*
 * A host operation failed with errno err: the message gets ": strerror"
 * and the data {"errno": name}.
 */
void	snapshot_job_fail_errno(const struct snapshot_job_cb *cb, int code,
	    int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* {"param": param}: the data of an invalid parameter. */
struct json_object *snapshot_job_param(const char *param);

/*
 * For the jobs' own files: a job whose work runs in the worker pool
 * (worker.h).  The start function checks what it can on the loop, the
 * worker function sets res, or err, data and msg, and
 * snapshot_pool_job_end reports that through done on the loop.
 */
struct snapshot_pool_job {
	struct snapshot_job_cb	 cb;
	struct snapshot_caller	 caller;
	char			*name;		/* as the client named it, or NULL */
	char			*dir;		/* resolved, or NULL */
	struct json_object	*res;		/* the result, or NULL: */
	int			 err;		/* the error */
	struct json_object	*data;		/* its data (may be NULL) */
	char			 msg[1536];
	bool			 chunked;	/* delete: a format 2 snapshot went */
};

/* A new job (copies name and dir, both may be NULL). */
struct snapshot_pool_job *snapshot_pool_job_new(const struct snapshot_caller *caller,
	    const char *name, const char *dir, const struct snapshot_job_cb *cb);
/* In the worker: fail with err, data (taken, may be NULL) and a message. */
void	snapshot_pool_job_fail(struct snapshot_pool_job *job, int err,
	    struct json_object *data, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/* In the worker: a manifest load failure, as snapshot_job_fail_load words it. */
void	snapshot_pool_job_fail_load(struct snapshot_pool_job *job, int r,
	    const char *msg);
/* In the worker: the job's manifest, or NULL after failing the job. */
struct json_object *snapshot_pool_job_manifest(struct snapshot_pool_job *job);
/* On the loop (a worker_done_fn): report what the worker left, free the job. */
void	snapshot_pool_job_end(void *job);
/*
 * Queue fn(job) in the pool for the caller (store: how it uses the chunk
 * store); end(job) follows and must end with snapshot_pool_job_end.  If
 * the pool refuses, the job ends at once (LIMIT_JOBS or IO).  Takes job.
 */
void	snapshot_pool_job_submit(struct snapshot_pool_job *job, enum worker_store store,
	    void (*fn)(void *), void (*end)(void *));

#endif
