/* SPDX-License-Identifier: MIT */
/* The restore job (snapshot-restore.c). */
#ifndef SBUMLD_SNAPSHOT_RESTORE_H
#define SBUMLD_SNAPSHOT_RESTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot-job.h"
#include "snapshot-restore-prepare.h"

/*
 * Restore the snapshot named snapshot (a name or a path) as the new machine
 * name, owned by the caller, running (cont) or paused; lazy: its memory
 * filled while it runs, by a pager (snapshot-pager.h), where the kernel
 * and host can (else eagerly, the result says why).  Everything is
 * checked before anything is created, the caller's rights included (the
 * kernel it would run, the machine directory, the base images).  cb->done
 * gets the machine object or the error (at once if nothing starts).  net:
 * what becomes of a saved NIC (NULL: a new identity without published
 * ports; doc/restore.md).
 */
void	snapshot_restore_start(const char *snapshot, const char *name,
	    bool cont, bool lazy, const struct snapshot_restore_net *net,
	    const struct snapshot_caller *caller,
	    const struct snapshot_job_cb *cb);

#endif
