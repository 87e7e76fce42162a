/* SPDX-License-Identifier: MIT */
/* The save job (snapshot-save.c). */
#ifndef SBUMLD_SNAPSHOT_SAVE_H
#define SBUMLD_SNAPSHOT_SAVE_H

#include <stdbool.h>

struct machine;
struct rpc_call;

/*
 * Start saving machine m (running or paused, savable) into the snapshot
 * directory dir, shown to the user as name; store: format 2 (chunk store)
 * instead of the raw capture.  Answers the call itself: returns 0 when it
 * already has (an error), RPC_DEFERRED when the job runs.
 */
int	snapshot_save_start(struct rpc_call *call, struct machine *m,
	    const char *name, const char *dir, bool cont, bool store);

#endif
