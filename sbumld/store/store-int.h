/* SPDX-License-Identifier: MIT */
/*
 * Internals of the chunk store shared by store.c (handles, packs, reading
 * and writing chunks, references) and store-gc.c (marking, usage, garbage
 * collection).  Nothing outside those two files includes this.
 */
#ifndef SBUMLD_STORE_INT_H
#define SBUMLD_STORE_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <zstd.h>

#include "store.h"

#define MANIFEST_MAX	(64 * 1024 * 1024)

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
#define PACK_FDS_MAX	64			/* open pack descriptors per handle */
#define PENDING		(-1)			/* loc.pack of an unsynced chunk */
#define PACK_FLUSH_STEP	(8u * 1024 * 1024)	/* start writeback every 8 MiB */

/* Where a chunk is: the frame at off (len bytes) in pack (or PENDING). */
struct loc {
	unsigned char	hash[STORE_HASH_LEN];
	uint64_t	off;
	uint32_t	len;		/* 0: empty slot */
	int32_t		pack;
};

/* Open addressing hash -> loc; the hash is uniform, its first bytes index. */
struct index {
	struct loc	*slots;
	size_t		 cap, used;
};

struct pack {
	char		 id[PACK_ID_LEN + 1];
	int		 fd;		/* -1 until read */
	struct loc	*ents;		/* its index, in file order */
	size_t		 n;
	uint64_t	 idx_bytes;	/* size of its .idx */
};

struct store {
	char		*root;
	char		*packdir;
	ZSTD_CCtx	*cctx;
	ZSTD_DCtx	*dctx;
	unsigned char	*buf;		/* one uncompressed chunk */
	unsigned char	*rec;		/* one record: REC_HDR, then zbuf */
	unsigned char	*zbuf;		/* one compressed chunk (in rec) */
	size_t		 zcap;
	/* Committed packs, loaded by load_index() at the first lookup. */
	bool		 loaded;
	bool		 loose;		/* chunks/ has chunk directories */
	struct index	 idx;
	struct pack	*packs;
	size_t		 npacks;
	int		 nfds;
	char		 idx_err[PATH_MAX + 64];	/* first unreadable index */
	bool		 trust_frame_sums;	/* store_trust_frame_checksums() */
	/* The pack being written: its chunks wait for store_sync(). */
	int		 wfd;
	char		*wtmp;
	uint64_t	 woff;
	uint64_t	 wflushed;	/* writeback started up to here */
	struct index	 pend;
	struct loc	*plist;
	size_t		 npend, cappend;
};

/* Hex names: 64 lower-case digits; conversions (input checked). */
bool	valid_hex(const char *hex);
void	from_hex(const char *hex, unsigned char *out);
void	to_hex(const unsigned char *in, size_t n, char *out);

/* Pack files: <packdir>/<id><ext>; is name "<id><ext>" with a valid id? */
char	*pack_path(const struct store *s, const char *id, const char *ext);
bool	pack_name(const char *name, const char *ext);
/* The file name of committed pack number no, for messages (caller frees). */
char	*pack_name_of(const struct store *s, int32_t no);

/* The in-memory index of committed packs (loaded at the first lookup). */
void	load_index(struct store *s);
void	unload_index(struct store *s);
const struct loc *index_get(const struct index *ix, const unsigned char *hash);

/*
 * Writing: append a checked frame to the handle's pending pack; commit it
 * (flush, index, renames: store_sync's work) or drop it.  0 or -errno.
 */
int	pack_append(struct store *s, const char *hex, const void *frame,
	    size_t flen, struct store_stats *st);
int	commit_pack(struct store *s);
void	drop_pending(struct store *s);

/*
 * Read the record of l (header and frame, into s->rec) and check that it is
 * the record of l's chunk hex; pack names the pack for messages.  0, or
 * -EBADMSG with what is wrong in err.
 */
int	read_record(struct store *s, const struct loc *l, const char *hex,
	    const char *pack, char *err, size_t errlen);

#endif
