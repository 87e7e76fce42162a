/* SPDX-License-Identifier: MIT */
/*
 * Validation of untrusted snapshot metadata (doc/snapshot-format.md,
 * "Limits and validation"): an export stream's HEAD record, manifest.json
 * (read back from a directory a user may write, or arriving in a stream)
 * and its file entries' chunk lists.  Every field is type-checked before
 * it is used; sizes are checked against real limits and sums for overflow,
 * so what a manifest makes the daemon do is bounded by those limits.  Pure
 * functions of their input (no daemon state, no I/O): the fuzz harnesses
 * call them directly (test/fuzz/).
 */
#ifndef SBUMLD_SNAPSHOT_CHECK_H
#define SBUMLD_SNAPSHOT_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "machine.h"
#include "store.h"

/* Files a manifest may list (the capture's few files plus up to 8 disks). */
#define SNAPSHOT_FILES_MAX	64
/*
 * Largest captured file but a disk: physmem is the guest's memory (at most
 * MACHINE_MEM_MAX MiB) plus the kernel's shared mappings; the others are
 * far smaller.
 */
#define SNAPSHOT_MEM_FILE_MAX	((uint64_t)(MACHINE_MEM_MAX + 1024) << 20)
/* Largest disk overlay (a sparse COW file as large as its base image). */
#define SNAPSHOT_DISK_FILE_MAX	STORE_FILE_MAX
/* Largest kernel binary carried in a snapshot. */
#define SNAPSHOT_KERNEL_FILE_MAX ((uint64_t)256 << 20)

/* What a HEAD record says (export stream, version 1). */
struct stream_head {
	char	snapshot[64 + 1];		/* the name on the sending host */
	char	id[STORE_HEX_LEN + 1];		/* SHA-256 of manifest.json */
	char	base_snapshot[64 + 1];		/* "" if no base */
	char	base_id[STORE_HEX_LEN + 1];	/* "" if no base */
};

/*
 * Parse and check a HEAD record's JSON text (len bytes).  0 and *h, or
 * -EBADMSG with the first bad field and what was expected in err.
 */
int	stream_head_parse(const char *text, size_t len, struct stream_head *h,
	    char *err, size_t errlen);

/*
 * Parse manifest.json text (len bytes) and check it with
 * snapshot_manifest_validate.  0 and *ret (caller owns), or -EBADMSG with
 * err.
 */
int	snapshot_manifest_parse(const char *text, size_t len,
	    struct json_object **ret, char *err, size_t errlen);
/*
 * Check a parsed manifest field by field: format, version 1 or 2, the
 * types of every known member, the files (paths, sizes within the limits
 * of their kind, chunk lists for version 2) and the kernel's entry.  0 or
 * -EBADMSG naming the field and what was expected in err.
 */
int	snapshot_manifest_validate(struct json_object *m, char *err, size_t errlen);
/* A file entry's checks are the store's: store_entry_check (store.h). */
/* The size limit of the captured file at path ("capture/<name>"). */
uint64_t snapshot_file_max(const char *path);

#endif
