/* SPDX-License-Identifier: MIT */
/*
 * Snapshots through OCI registries (doc/snapshot-format.md "OCI
 * artifact", doc/rpc.md snapshot.push/pull/tags): a push sends a format 2
 * snapshot's manifest and the chunks the registry lacks; a pull fetches
 * the chunks this store lacks, verifies each, and registers the snapshot
 * only once all of it is here.  They are export and import jobs (the same
 * worker pool, store marks, caps, cancellation, reports) whose stream is
 * a registry: snapshot-transfer.c runs them, snapshot-push.c and
 * snapshot-pull.c do their work, this file starts and reports them.
 */
#ifndef SBUMLD_SNAPSHOT_OCI_H
#define SBUMLD_SNAPSHOT_OCI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "oci-ref.h"
#include "snapshot-job.h"

/* Where to: a registry reference and how to talk to it. */
struct snapshot_oci_target {
	const char	*ref;		/* HOST[:PORT]/REPO[:TAG][@DIGEST] */
	const char	*basic;		/* base64 user:password, or NULL */
	bool		 insecure;	/* plain http, no TLS verification */
	const char	*from;		/* push: a repository to mount blobs from, or NULL */
};

struct xfer_job;
struct event;

/* A push's or pull's part of an xfer_job. */
struct xfer_oci {
	bool			 push;
	struct oci_ref		 ref;
	char			*basic;
	bool			 insecure;
	struct event		*timer;		/* job.progress */
	_Atomic uint64_t	 bytes;		/* moved so far */
	_Atomic uint64_t	 blobs_done;	/* blobs checked, sent or fetched */
	_Atomic uint64_t	 blobs_total;
	_Atomic uint64_t	 bytes_total;	/* to move */
	uint64_t		 blobs_moved;	/* sent or fetched */
	uint64_t		 blobs_present;	/* already there */
	uint64_t		 blobs_mounted;	/* push: mounted from mount_from */
	char			*mount_from;	/* push: a repository of the registry, or NULL */
	char			 digest[OCI_DIGEST_LEN + 1];	/* the image manifest's */
};

/*
 * snapshot.push of snapshot (a name or path) to t.  Blobs the repository
 * lacks are mounted, where the registry allows it, from t->from, else from
 * the repository of that registry the caller last pushed to or pulled from
 * through this daemon (kept in memory).  Reports through cb.
 */
void	snapshot_push_start(const char *snapshot, const struct snapshot_oci_target *t,
	    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb);
/* snapshot.pull of t into snapshot (may be NULL: the artifact's name). */
void	snapshot_pull_start(const struct snapshot_oci_target *t, const char *snapshot,
	    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb);
/* snapshot.tags of t's repository: {"ref", "tags": [...]} (snapshot-catalog.c). */
void	snapshot_tags_start(const struct snapshot_oci_target *t,
	    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb);
/*
 * snapshot.search (snapshot-catalog.c): the repositories of the registry
 * t->ref ("HOST[:PORT][/PREFIX]") whose names start with PREFIX, and the
 * tags of the first SNAPSHOT_SEARCH_TAGS_MAX of them if tags:
 * {"registry", "prefix", "repositories": [{"name", "tags"?}], "truncated"}.
 */
#define SNAPSHOT_SEARCH_MAX		1000
#define SNAPSHOT_SEARCH_TAGS_MAX	100
void	snapshot_search_start(const struct snapshot_oci_target *t, bool tags,
	    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb);

/* The push or pull part of a job for t; reports a bad reference and returns NULL. */
struct xfer_oci *snapshot_oci_new(const struct snapshot_oci_target *t, bool push,
	    const struct snapshot_job_cb *cb);
/* For snapshot-transfer.c. */
void	snapshot_oci_free(struct xfer_oci *o);
int	snapshot_oci_run(struct xfer_job *job);		/* in the worker */
const char *snapshot_oci_what(const struct xfer_job *job);	/* "push", "pull" */
void	snapshot_oci_stop_progress(struct xfer_job *job);
void	snapshot_oci_log(const struct xfer_job *job);
struct json_object *snapshot_oci_result(const struct xfer_job *job);
/* The workers (snapshot-push.c, snapshot-pull.c).  0 or -errno, job's error set. */
int	snapshot_push_run(struct xfer_job *job);
int	snapshot_pull_run(struct xfer_job *job);

#endif
