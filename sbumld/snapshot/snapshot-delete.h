/* SPDX-License-Identifier: MIT */
/*
 * Deleting a snapshot (snapshot-delete.c): only from a directory that
 * provably holds an sbuml snapshot, only the files sbuml created there; and
 * collecting the chunk store's garbage.  The work runs in the worker pool.
 */
#ifndef SBUMLD_SNAPSHOT_DELETE_H
#define SBUMLD_SNAPSHOT_DELETE_H

#include <stddef.h>
#include <json-c/json.h>

#include "snapshot-job.h"

/*
 * The delete job: the snapshot name (as the caller gave it) resolved to dir
 * and authorised.  Removes it (unregistering a format 2 one from the store
 * first), then collects the store's garbage if it can: cb->done gets
 * {"deleted": name, "freed": {"chunks", "bytes"} or {"deferred": why}}.
 */
void	snapshot_delete_start(const char *name, const char *dir,
	    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb);
/*
 * The store's garbage collection (mark and sweep, alone with the store):
 * {"chunks", "bytes"} freed, or BadState at once while another job uses
 * the store.
 */
void	snapshot_gc_start(const struct snapshot_caller *caller,
	    const struct snapshot_job_cb *cb);

/*
 * Open dir (no symlink) and check that it is an sbuml snapshot: its
 * manifest.json is a regular file with an sbuml snapshot manifest (format,
 * version, a file list of capture/<name> entries), and it holds nothing but
 * manifest.json, owner.json and capture/ with the files the manifest lists.  0 with
 * *ret_dfd (caller closes) and *ret_man (caller puts), or -errno with a
 * message in err: -ENOENT (no such directory), -EBADMSG (not an sbuml
 * snapshot), -ENOTEMPTY (it holds files sbuml did not create).
 */
int	snapshot_delete_check(const char *dir, int *ret_dfd,
	    struct json_object **ret_man, char *err, size_t errlen);
/*
 * Remove what snapshot_delete_check found: the listed capture files,
 * capture/, manifest.json, owner.json, then the directory (rmdir: a file that appeared
 * meanwhile keeps it).  0 or -errno with a message in err.
 */
int	snapshot_delete_files(const char *dir, int dfd, struct json_object *man,
	    char *err, size_t errlen);

#endif
