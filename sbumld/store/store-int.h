/* SPDX-License-Identifier: MIT */
/*
 * Internals of the chunk store, shared by its files: store.c (handles,
 * per-thread contexts, references), store-codec.c (hex names, digests,
 * little-endian fields, positioned I/O), store-index.c (the in-memory
 * index of committed packs), store-pack.c (writing, committing and
 * reading pack records), store-chunker.c (cutting files into chunks),
 * store-entry.c (file entries: checking and reading them back) and
 * store-gc.c (marking, usage, garbage collection).  Nothing outside
 * store/ includes this.
 */
#ifndef SBUMLD_STORE_INT_H
#define SBUMLD_STORE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <zstd.h>

#include "hashset.h"
#include "store.h"

/*
 * Pack and index formats (little-endian).  A pack: PACK_MAGIC, u32 version,
 * u32 0, then records {hash[32], u32 frame length, frame}.  An index:
 * IDX_MAGIC, u32 version, u32 count, then count entries {hash[32], u64
 * offset of the frame in the pack, u32 frame length, u32 0}, sorted by hash.
 */
#define PACK_MAGIC	"SBUMLPAK"
#define IDX_MAGIC	"SBUMLIDX"
#define PACK_VERSION	1
#define PACK_HDR	16
#define REC_HDR		(STORE_HASH_LEN + 4)
#define IDX_HDR		16
#define IDX_ENT		48
#define IDX_MAX		(1024u * 1024 * 1024)	/* 22 M chunks: a sanity bound */
#define FRAME_MAX	(1024 * 1024)		/* a sane zstd frame of <= 64 KiB */
#define PACK_ID_LEN	32			/* hex digits: 128 bits */
#define PACK_FDS_MAX	64			/* open pack descriptors per context */
#define PENDING		(-1)			/* loc.pack of an unsynced chunk */
#define PACK_FLUSH_STEP	(8u * 1024 * 1024)	/* start writeback every 8 MiB */

/* Where a chunk is: the frame at off (len bytes) in pack (or PENDING). */
struct loc {
	unsigned char	hash[STORE_HASH_LEN];	/* first: the hash set's key */
	uint64_t	off;
	uint32_t	len;
	int32_t		pack;
};

struct pack {
	char		 id[PACK_ID_LEN + 1];
	struct loc	*ents;		/* its index, in file order */
	size_t		 n;
	uint64_t	 idx_bytes;	/* size of its .idx */
};

/*
 * What one thread needs to read and write chunks of a store: codec
 * contexts, buffers and its own pack descriptors (pread on a descriptor
 * another thread may close would read whatever file reuses its number).
 * The handle has one (s->ctx) for its own thread; the shares of a
 * parallel put or read make theirs with store_ctx_init.
 */
struct store_ctx {
	struct store	*s;
	ZSTD_CCtx	*cctx;
	ZSTD_DCtx	*dctx;
	unsigned char	*buf;		/* one uncompressed chunk */
	unsigned char	*rec;		/* one record: REC_HDR, then zbuf */
	unsigned char	*zbuf;		/* one compressed chunk (in rec) */
	size_t		 zcap;
	int		*fds;		/* per committed pack, -1 until read */
	size_t		 nfdslots;
	int		 nfds;
};

struct store {
	char		*root;
	char		*packdir;
	struct store_ctx ctx;		/* this handle's thread's */
	/*
	 * Committed packs, loaded by store_index_load() at the first lookup
	 * (or before any share of a parallel put or read starts): only read
	 * while shares run.
	 */
	bool		 loaded;
	bool		 loose;		/* chunks/ has chunk directories */
	struct hashset	 idx;		/* of struct loc */
	struct pack	*packs;
	size_t		 npacks;
	char		 idx_err[PATH_MAX + 64];	/* first unreadable index */
	bool		 trust_frame_sums;	/* store_trust_frame_checksums() */
	/*
	 * The pack being written: its chunks wait for store_sync().  The
	 * shares of a parallel put append to it together, under lock.
	 */
	pthread_mutex_t	 lock;
	int		 wfd;
	char		*wtmp;
	uint64_t	 woff;
	uint64_t	 wflushed;	/* writeback started up to here */
	struct hashset	 pend;		/* of struct loc */
	struct loc	*plist;
	size_t		 npend, cappend;
};

/* store.c: a thread's context (fatal if out of memory); its release. */
void	store_ctx_init(struct store_ctx *c, struct store *s);
void	store_ctx_fini(struct store_ctx *c);

/* store-codec.c: hex names of 64 lower-case digits (input checked first). */
void	store_from_hex(const char *hex, unsigned char *out);
void	store_to_hex(const unsigned char *in, size_t n, char *out);
/* Little-endian fields of packs and indexes. */
void	store_put_le32(unsigned char *p, uint32_t v);
void	store_put_le64(unsigned char *p, uint64_t v);
uint32_t store_get_le32(const unsigned char *p);
uint64_t store_get_le64(const unsigned char *p);
/* True if the len bytes at buf are all zero. */
bool	store_all_zero(const unsigned char *buf, size_t len);
/* Chunks a file of size bytes has; bytes of the chunk at off (the last may be short). */
uint64_t store_chunk_count(int64_t size);
size_t	store_chunk_len(int64_t size, off_t off);
/* Positioned I/O retrying EINTR and short transfers.  0 or -errno. */
int	store_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Exactly len bytes (-EIO if the file ends first). */
int	store_pread_all(int fd, void *buf, size_t len, off_t off);
/* Up to len bytes: the count read (short at the end of the file), or -errno. */
ssize_t	store_pread_some(int fd, void *buf, size_t len, off_t off);

/* store-index.c: pack files <packdir>/<id><ext>; is name "<id><ext>" with a valid id? */
char	*store_pack_path(const struct store *s, const char *id, const char *ext);
bool	store_pack_name(const char *name, const char *ext);
/* The file name of committed pack no (or the pending one), for messages (caller frees). */
char	*store_pack_name_of(const struct store *s, int32_t no);
/* The loose chunk file of hex (caller frees). */
char	*store_loose_path(const struct store *s, const char *hex);
/* The in-memory index of committed packs (loaded at the first lookup). */
void	store_index_load(struct store *s);
void	store_index_unload(struct store *s);
/* Append a committed pack (taking ents) and index its chunks.  Its number. */
int32_t	store_index_add_pack(struct store *s, const char *id, struct loc *ents,
	    size_t n, uint64_t idx_bytes);
/*
 * Where chunk hex is in a pack (pending or committed), or NULL; valid until
 * the next append.  Not while the shares of a parallel put append: they
 * use store_have_chunk.
 */
const struct loc *store_find_loc(struct store *s, const char *hex);
/* True if chunk hex is in the store (or pending); takes the lock. */
bool	store_have_chunk(struct store *s, const char *hex);
/* The loose chunk file of hex exists (its stat in *sb). */
bool	store_have_loose(struct store *s, const char *hex, struct stat *sb);
/* A descriptor of c's to read pack no (opened on demand).  fd or -errno. */
int	store_pack_fd(struct store_ctx *c, int32_t no);
/* Read pack no through fd from now on (c takes it: the pack just committed). */
void	store_ctx_adopt_fd(struct store_ctx *c, int32_t no, int fd);
/* Close c's pack descriptors. */
void	store_ctx_close_packs(struct store_ctx *c);

/*
 * store-pack.c: append a checked frame to the pending pack (under the
 * lock; a chunk some share appended meanwhile counts as deduplicated);
 * commit it (flush, index, renames: store_sync's work) or drop it.
 * 0 or -errno.
 */
int	store_pack_append(struct store *s, const char *hex, const void *frame,
	    size_t flen, struct store_stats *st);
int	store_pack_commit(struct store *s);
void	store_pack_drop(struct store *s);
/*
 * Read the record of l (header and frame, into c->rec) and check that it
 * is the record of l's chunk hex; pack names the pack for messages.  0, or
 * -EBADMSG with what is wrong in err.
 */
int	store_read_record(struct store_ctx *c, const struct loc *l,
	    const char *hex, const char *pack, char *err, size_t errlen);

#endif
