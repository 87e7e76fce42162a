/* SPDX-License-Identifier: MIT */
/*
 * The pager of one lazy restore (doc/restore.md, "Lazy restore";
 * protocol: doc/kernel.md §5 "Lazy restore (sbuml_pager=)").  The restored
 * kernel runs before its memory is in: it sends a hello with its
 * userfaultfd on a socket, and the pager, on a thread of its own, answers
 * its page faults from the chunk store (decompressed and checked) ahead of
 * a background fill of every data chunk, sends PROGRESS and DONE, and
 * serves faults until the kernel closes the socket.
 */
#ifndef SBUMLD_SNAPSHOT_PAGER_H
#define SBUMLD_SNAPSHOT_PAGER_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "machine.h"

#define PAGER_HELLO_LEN		40
#define PAGER_VMA_LEN		24
#define PAGER_PAGE		4096
/* More mappings than any kernel has (it sends a few dozen at most). */
#define PAGER_MAX_VMAS		4096
#define PAGER_MSG_MAX		(PAGER_HELLO_LEN + PAGER_MAX_VMAS * PAGER_VMA_LEN)

/* One physmem mapping of the kernel: address start + k is file offset off + k. */
struct pager_vma {
	uint64_t	start, end, off;
};

/* The hello's header fields. */
struct pager_hello {
	uint32_t	version, nvmas;
	uint64_t	physmem_size, page_size;
	int32_t		pid;
	uint32_t	flags;
};

/*
 * Parse and check the hello (len bytes at buf, hostile input) of a kernel
 * whose physmem file is physmem_size bytes: magic, version 1, page size,
 * flags, exactly the header and nvmas (1..PAGER_MAX_VMAS) triples, every
 * mapping page-aligned, non-empty and within the file (no overflow).
 * 0 with *h and *ret_vmas (caller frees), or -EBADMSG with why in err.
 */
int	snapshot_pager_parse_hello(const void *buf, size_t len,
	    uint64_t physmem_size, struct pager_hello *h,
	    struct pager_vma **ret_vmas, char *err, size_t errlen);

struct snapshot_pager;
/*
 * Called on the event loop once the pager's thread has ended (the kernel
 * closed the socket, or the pager gave up); the pager is freed after it.
 */
typedef void (*snapshot_pager_done_fn)(void *arg);

/*
 * Start the pager of a lazy restore on a thread of its own: entry is the
 * checked store entry of the snapshot's physmem (name for messages), sock
 * the pager's end of the socket pair (taken, closed by the pager), fill
 * the status it keeps up to date (it takes a reference).  The pager holds
 * a store reader (store_reader_begin) until it ends.  0, or -errno with a
 * message in err (sock is closed then too).  Event loop only.
 */
int	snapshot_pager_start(const char *name, struct json_object *entry,
	    int sock, struct machine_fill *fill, snapshot_pager_done_fn done,
	    void *arg, char *err, size_t errlen);

#endif
