/* SPDX-License-Identifier: MIT */
/*
 * Inside the export and import jobs (snapshot-transfer.c, snapshot-import.c):
 * the job both share, and what the worker of either calls.
 */
#ifndef SBUMLD_SNAPSHOT_TRANSFER_INT_H
#define SBUMLD_SNAPSHOT_TRANSFER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>

#include "snapshot-job.h"
#include "store.h"

/* An export or an import: set up on the loop, run in a worker. */
struct xfer_job {
	struct snapshot_job_cb	 cb;
	bool			 import;
	char			*name;		/* the snapshot as the user named it */
	char			*dir;		/* its directory (import: once known) */
	char			*base_name;	/* may be NULL */
	char			 base_id[STORE_HEX_LEN + 1];	/* "" if no base */
	struct json_object	*manifest;	/* export: the snapshot's */
	struct json_object	*base_manifest;	/* export: the base's */
	char			*man_text;	/* manifest.json, byte for byte */
	size_t			 man_len;
	int			 fd;		/* the stream */
	int			 cancel_fd;	/* the pool's: the client went away */
	char			*file;		/* export/import by path */
	char			*file_tmp;	/* export by path: written here first */
	bool			 overwrite;	/* export by path: may replace file */
	char			*workdir;	/* import: the hidden work directory */
	bool			 writer;	/* holds the store's writer mark */
	bool			 reader;	/* holds the store's reader mark */
	uid_t			 owner;		/* import: the caller (snapshot-owner.h) */

	/* Set by the worker. */
	int			 code;		/* 0, or the job error (snapshot-job.h) */
	char			 err[1536];
	char			 id[STORE_HEX_LEN + 1];
	char			 stream_base_id[STORE_HEX_LEN + 1];
	char			*stream_base_name;
	uint64_t		 bytes;
	struct store_stats	 stats;		/* import: what arrived */
	uint64_t		 chunks_sent, chunks_skipped;
};

/*
 * In the worker: set the job's error, code an enum snapshot_job_error
 * (the first one wins).  Returns r.
 */
int	snapshot_transfer_fail(struct xfer_job *job, int r, int code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * The fd that cancels the stream: the pool's once the client has gone if
 * the stream is the client's own descriptor (a pipe or socket it may never
 * serve); -1 for a file of ours, written or read to the end as every other
 * job runs to its end.
 */
int	snapshot_transfer_cancel_fd(const struct xfer_job *job);
/* snapshot_manifest_hashes callback: add hex to the hash set arg. */
void	snapshot_transfer_add_hash(const char *hex, void *arg);
/* The import's work, in the worker (snapshot-import.c).  0 or -errno. */
int	snapshot_import_run(struct xfer_job *job);

#endif
