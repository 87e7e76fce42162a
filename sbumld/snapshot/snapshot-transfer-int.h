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
	char			*url;		/* import from a web server */
	bool			 insecure;	/* url: plain http allowed */
	char			*file_tmp;	/* export by path: written here first */
	bool			 overwrite;	/* export by path: may replace file */
	char			*workdir;	/* import: the hidden work directory */
	bool			 writer;	/* holds the store's writer mark */
	bool			 reader;	/* holds the store's reader mark */
	uid_t			 owner;		/* import: the caller (snapshot-owner.h) */
	struct xfer_oci		*oci;		/* push or pull (snapshot-oci.h), else NULL */

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
/*
 * Parts of it a pull shares (snapshot-import.c), in the worker: name the
 * snapshot name (as the sender named it) unless the caller did; check the
 * manifest text against job->id and the loader and keep it; and, once
 * every chunk is in s, sync, check them all and register the snapshot.
 */
int	snapshot_import_name(struct xfer_job *job, const char *name);
int	snapshot_import_manifest(struct xfer_job *job, const unsigned char *text,
	    size_t len);
int	snapshot_import_finish(struct xfer_job *job, struct store *s);

/* The job's life on the loop (snapshot-transfer.c), for push and pull too. */
struct transfer_target;
struct xfer_job *snapshot_xfer_job_new(bool import, struct transfer_target *t,
	    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb);
void	snapshot_xfer_job_free(struct xfer_job *job);
/* Queue the job in the worker pool; reports a failure to start.  Takes job. */
void	snapshot_xfer_start(struct xfer_job *job);
/*
 * Resolve and load a format 2 snapshot on the loop: its directory (ret_dir
 * may be NULL), manifest, id and, if ret_text, its manifest.json.  Reports
 * a failure through cb (param names the parameter) and returns -1.
 */
int	snapshot_xfer_load_chunked(const struct snapshot_job_cb *cb,
	    const char *param, const char *name, char **ret_dir,
	    struct json_object **ret_man, char id[STORE_HEX_LEN + 1],
	    char **ret_text, size_t *ret_len);

#endif
