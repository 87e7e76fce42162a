/* SPDX-License-Identifier: MIT */
/*
 * Moving snapshots between hosts (snapshot-transfer.c): snapshot.export
 * writes a format 2 snapshot as one export stream (snapshot-stream.h),
 * optionally leaving out the chunks of a base snapshot the receiver has;
 * snapshot.import reads a stream, checks every byte, adds the chunks to this
 * host's store and registers the snapshot.  Both run in a worker thread.
 */
#ifndef SBUMLD_SNAPSHOT_TRANSFER_H
#define SBUMLD_SNAPSHOT_TRANSFER_H

#include <stdbool.h>

#include "snapshot-job.h"

/*
 * Where the stream goes or comes from: a file descriptor the client passed
 * (fd >= 0, taken over: the job closes it), else a file path on this host
 * (export: written beside it, mode 0600, then renamed to it; an existing
 * file is replaced only with overwrite), else (import) a URL the daemon
 * downloads the stream from.
 */
struct transfer_target {
	int		 fd;
	const char	*file;
	bool		 overwrite;
	const char	*url;		/* import: an http(s) URL instead (oci-download.h) */
	bool		 insecure;	/* url: plain http allowed */
};

/*
 * Export snapshot (a name or path) to the target; base (may be NULL) is a
 * snapshot whose chunks are left out.  The job counts against the caller's
 * worker pool caps and gives up on the caller's own descriptor once the
 * caller goes away.  cb->done gets the result or the error (at once if
 * the job cannot start).
 */
void	snapshot_export_start(const char *snapshot, const char *base,
	    struct transfer_target *to, const struct snapshot_caller *caller,
	    const struct snapshot_job_cb *cb);
/*
 * Import the stream of the target as snapshot (may be NULL: the name the
 * stream carries), a named one owned by the caller; base (may be NULL) is
 * the snapshot the stream must have been made against, if it is a delta.
 * Reports as above.
 */
void	snapshot_import_start(const char *snapshot, const char *base,
	    struct transfer_target *from, const struct snapshot_caller *caller,
	    const struct snapshot_job_cb *cb);

#endif
