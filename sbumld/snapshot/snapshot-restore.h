/* SPDX-License-Identifier: MIT */
/* The restore job (snapshot-restore.c). */
#ifndef SBUMLD_SNAPSHOT_RESTORE_H
#define SBUMLD_SNAPSHOT_RESTORE_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct rpc_call;

/*
 * Restore the snapshot named snapshot (a name or a path) as the new machine
 * name.  Everything is checked before anything is created.  Answers the call
 * itself: returns 0 when it already has, RPC_DEFERRED when the job runs.
 */
int	snapshot_restore_start(struct rpc_call *call, const char *snapshot,
	    const char *name, bool cont);

#endif
