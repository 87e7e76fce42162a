/* SPDX-License-Identifier: MIT */
/* Finding the kernel binary a snapshot restores with (snapshot-kernel.c). */
#ifndef SBUMLD_SNAPSHOT_KERNEL_H
#define SBUMLD_SNAPSHOT_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

/* Where snapshot_kernel_find() found the kernel binary. */
enum snapshot_kernel_source {
	SNAPSHOT_KERNEL_INSTALLED,	/* the saved path or the daemon's kernel */
	SNAPSHOT_KERNEL_STORE,		/* <store>/kernels/<build-id>, from the chunks */
	SNAPSHOT_KERNEL_CHUNKS,		/* not materialised yet: the snapshot's
					   chunks hold that build (checked by
					   SNAPSHOT_KERNEL_CHECK only) */
};

/* How much snapshot_kernel_find() may do about a kernel kept in chunks. */
enum snapshot_kernel_mode {
	SNAPSHOT_KERNEL_LOCATE,		/* name the path only: reads no chunk
					   (the event loop's share of a restore) */
	SNAPSHOT_KERNEL_CHECK,		/* decompress and check, write nothing
					   (snapshot.check) */
	SNAPSHOT_KERNEL_MATERIALISE,	/* write <store>/kernels/<build-id>
					   (a restore's worker) */
};

/*
 * The kernel binary a restore of the snapshot with manifest man runs: the
 * one the machine used, or the daemon's, whichever has the build-id the
 * capture was written by; else the one stored with a format 2 snapshot at
 * <store>/kernels/<build-id>, which mode says whether to write, check or
 * only name (*ret is then the path a restore writes).  Only
 * SNAPSHOT_KERNEL_LOCATE is bounded and cheap enough for the event loop.
 * 0 and *ret (caller frees) and *ret_src (may be NULL);
 * -EBADMSG (malformed manifest, corrupt chunks), -ENOEXEC (no kernel of
 * that build here) or another -errno, message in err.
 */
int	snapshot_kernel_find(struct json_object *man, enum snapshot_kernel_mode mode,
	    char **ret, enum snapshot_kernel_source *ret_src, char *err,
	    size_t errlen);

struct ucred;
struct authz_refusal;

/*
 * May cred run kernel (authz_path_kernel, with this daemon's store of
 * kernels)?  0, or -EACCES with ref filled in.
 */
int	snapshot_kernel_authz(const struct ucred *cred, const char *kernel,
	    struct authz_refusal *ref);

#endif
