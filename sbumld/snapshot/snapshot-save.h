/* SPDX-License-Identifier: MIT */
/* The save job (snapshot-save.c). */
#ifndef SBUMLD_SNAPSHOT_SAVE_H
#define SBUMLD_SNAPSHOT_SAVE_H

#include <stdbool.h>

#include "snapshot-job.h"

struct machine;

/*
 * Start saving machine m (running or paused, savable) into the snapshot
 * directory dir, shown to the user as name; store: format 2 (chunk store)
 * instead of the raw capture; cow: ask the kernel for the copy-on-write
 * capture (patch 0024; a kernel without it, or one that cannot, runs the
 * staged copy, and the manifest's "capture" says which ran and why); a
 * named snapshot is recorded as the caller's.
 * Progress goes to cb->progress ({"job": "save", "machine", "snapshot",
 * "phase", "bytes"}), and cb->done gets the snapshot object or the error
 * (at once if the save cannot start).
 */
void	snapshot_save_start(struct machine *m, const char *name, const char *dir,
	    bool cont, bool store, bool cow, const struct snapshot_caller *caller,
	    const struct snapshot_job_cb *cb);

#endif
