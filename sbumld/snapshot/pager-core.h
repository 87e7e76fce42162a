/* SPDX-License-Identifier: MIT */
/*
 * The pager of one lazy restore (doc/restore.md, "Lazy restore";
 * protocol: doc/kernel.md §5 "Lazy restore (sbuml_pager=)").  The restored
 * kernel runs before its memory is in: it sends a hello with its
 * userfaultfd on a socket, and the pager answers its page faults from the
 * chunk store (decompressed and checked) ahead of a background fill of
 * every data chunk, sends PROGRESS and DONE, and serves faults until the
 * kernel closes the socket.  This is the work itself, run by sbuml-pager
 * (pager-main.c), a process of its own per restore that sbumld spawns
 * (snapshot-pager.h) and that outlives a daemon restart.
 */
#ifndef SBUMLD_PAGER_CORE_H
#define SBUMLD_PAGER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "machine.h"
#include "store.h"

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

/*
 * sbuml-pager's descriptors (pager-main.c; set up by snapshot-pager.c):
 * the chunk store's directory, a memfd with the physmem store entry
 * (JSON), the kernel's socket (the pager's end), the status channel (a
 * pipe to sbumld, records of struct pager_status) and the machine's record
 * directory, where it keeps MACHINE_FILL_FILE.
 */
#define PAGER_FD_STORE		3
#define PAGER_FD_ENTRY		4
#define PAGER_FD_KERNEL		5
#define PAGER_FD_STATUS		6
#define PAGER_FD_RECORD		7
#define PAGER_NFDS		5

/* One record on the status channel: a snapshot of the fill. */
struct pager_status {
	uint32_t	state;		/* enum machine_fill_state */
	uint32_t	zero;
	uint64_t	filled, total, chunks, faults;
	char		reason[512];	/* NUL-terminated; FAILED only */
};

struct pager;
/* Called at every change of the fill's state and every progress report. */
typedef void (*pager_report_fn)(struct pager *p, void *arg);

struct pager {
	char			*name;		/* the physmem file, for messages */
	char			*root;		/* the store */
	uint64_t		 size;		/* of physmem */
	uint64_t		 nchunks;
	char			(*hex)[STORE_HEX_LEN + 1];	/* "" for a hole */
	unsigned char		*filled;	/* per chunk: 1 once in */
	uint64_t		 next;		/* the background fill's next chunk */
	uint64_t		 left;		/* data chunks not filled yet */
	struct pager_vma	*vmas;
	uint32_t		 nvmas;
	int32_t			 kernel_pid;	/* the hello's */
	int			 sock, uffd, kernel_pidfd;
	bool			 stopped;	/* the kernel's mm is gone: fill no more */
	struct store		*s;
	unsigned char		*buf;		/* one chunk */
	struct machine_fill	*fill;		/* the state and counters it keeps */
	pager_report_fn		 report;
	void			*report_arg;
};

/*
 * Set p up for the physmem entry (a store entry, checked here; name for
 * messages) of the store at root, the kernel socket sock (taken) and fill
 * (it takes a reference).  0, or -errno with a message in err.
 */
int	pager_init(struct pager *p, const char *name, const char *root,
	    struct json_object *entry, int sock, struct machine_fill *fill,
	    char *err, size_t errlen);
/*
 * Serve the kernel until it closes the socket, it ends, or the pager gives
 * up (fill FAILED, with the reason); then close the socket (the kernel
 * sees end of file: status 97 unless DONE was sent).
 */
void	pager_run(struct pager *p);
void	pager_fini(struct pager *p);

#endif
