/* SPDX-License-Identifier: MIT */
/*
 * The owner of a named snapshot: <dir>/owner.json, {"uid": N}, written by
 * the daemon into the work directory of a save or import before it is
 * committed, so the snapshot appears with its owner
 * (doc/snapshot-format.md).  Only named snapshots (in the root-owned state
 * directory) have a trusted owner; a snapshot without the file is root's.
 * A path snapshot's owner.json is never trusted: who may use a path
 * snapshot is decided by who can open it (asuser.h).
 */
#ifndef SBUMLD_SNAPSHOT_OWNER_H
#define SBUMLD_SNAPSHOT_OWNER_H

#include <sys/types.h>

#define SNAPSHOT_OWNER_FILE	"owner.json"

/* Write dir/owner.json.  0 or -errno. */
int	snapshot_owner_write(const char *dir, uid_t uid);
/* The owner recorded in dir: 0 (root) when there is none or it is malformed. */
uid_t	snapshot_owner_read(const char *dir);

#endif
