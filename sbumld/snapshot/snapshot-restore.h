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

/* Where snapshot_kernel_find() found the kernel binary. */
enum snapshot_kernel_source {
	SNAPSHOT_KERNEL_INSTALLED,	/* the saved path or the daemon's kernel */
	SNAPSHOT_KERNEL_STORE,		/* <store>/kernels/<build-id>, from the chunks */
	SNAPSHOT_KERNEL_CHUNKS,		/* not materialised yet: the snapshot's
					   chunks hold that build (checked) */
};

/*
 * The kernel binary a restore of the snapshot with manifest man runs: the
 * one the machine used, or the daemon's, whichever has the build-id the
 * capture was written by; else the one stored with a format 2 snapshot,
 * which materialise writes to <store>/kernels/<build-id> (a restore) and
 * !materialise only checks (snapshot.check: *ret is then the path a restore
 * would write).  0 and *ret (caller frees) and *ret_src (may be NULL);
 * -EBADMSG (malformed manifest, corrupt chunks), -ENOEXEC (no kernel of
 * that build here) or another -errno, message in err.
 */
int	snapshot_kernel_find(struct json_object *man, bool materialise,
	    char **ret, enum snapshot_kernel_source *ret_src, char *err,
	    size_t errlen);

#endif
