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

struct rpc_call;

/*
 * Where the stream goes or comes from: a file descriptor the client passed
 * (fd >= 0, taken over: the job closes it), else a file path on this host
 * (export: written beside it, mode 0600, then renamed to it; an existing
 * file is replaced only with overwrite).
 */
struct transfer_target {
	int		 fd;
	const char	*file;
	bool		 overwrite;
};

/*
 * Export snapshot (a name or path) to the target; base (may be NULL) is a
 * snapshot whose chunks are left out.  Answers the call: returns 0 when it
 * already has, RPC_DEFERRED while the job runs.
 */
int	snapshot_export_start(struct rpc_call *call, const char *snapshot,
	    const char *base, struct transfer_target *to);
/*
 * Import the stream of the target as snapshot (may be NULL: the name the
 * stream carries); base (may be NULL) is the snapshot the stream must have
 * been made against, if it is a delta.  Answers the call as above.
 */
int	snapshot_import_start(struct rpc_call *call, const char *snapshot,
	    const char *base, struct transfer_target *from);

#endif
