/* SPDX-License-Identifier: MIT */
/*
 * The guest memory of a restore (doc/restore.md): decompressed from the
 * chunk store straight into a memfd the restored kernel maps.
 */
#ifndef SBUMLD_SNAPSHOT_PHYSMEM_H
#define SBUMLD_SNAPSHOT_PHYSMEM_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "store.h"

/*
 * The guest memory (the checked file entry name) into a new memfd above
 * the standard descriptors, *ret_fd (caller closes): decompressed straight
 * into a shared mapping of it by store_read_entry_into's threads (hashing
 * and decompressing is the restore's critical path; chunks that are zero
 * runs are never touched and stay holes).  0, or -errno with a message in
 * err.
 */
int	snapshot_physmem_fill(struct store *s, const char *name,
	    struct json_object *entry, int *ret_fd, char *err, size_t errlen);

/*
 * An empty memfd of size bytes (a lazy restore's guest memory, which its
 * pager fills while the guest runs), above the standard descriptors.
 * 0 and *ret_fd, or -errno with a message in err.
 */
int	snapshot_physmem_empty(uint64_t size, int *ret_fd, char *err,
	    size_t errlen);

#endif
