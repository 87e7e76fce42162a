/* SPDX-License-Identifier: MIT */
/*
 * The per-host chunk store (doc/snapshot-format.md, "Chunk store"): files cut
 * into fixed 64 KiB chunks, each named by the SHA-256 of its content and kept
 * once, zstd-compressed, in pack files <root>/packs/<id>.pack with their
 * index <id>.idx (older stores: also loose <root>/chunks/<aa>/<hash>.zst,
 * read but never written).  All-zero chunks
 * and holes are never stored (zero runs in the chunk list).  Snapshots that
 * use the store register a reference in <root>/refs/ so that store_gc()
 * (mark and sweep) knows every chunk in use.  The store knows files and
 * chunks, not snapshots: what chunks a snapshot uses, its caller tells it
 * (store_snapshot_walk_fn).
 */
#ifndef SBUMLD_STORE_H
#define SBUMLD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#define STORE_CHUNK_SIZE	(64 * 1024)
#define STORE_HASH_LEN		32			/* SHA-256 */
#define STORE_HEX_LEN		(2 * STORE_HASH_LEN)
#define STORE_ZSTD_LEVEL	3
/* Largest file an entry may describe (a sparse disk overlay's size). */
#define STORE_FILE_MAX		((uint64_t)1 << 40)

struct store;

/* What store_put_file() did, added up over calls. */
struct store_stats {
	uint64_t	chunks;		/* data chunks referenced */
	uint64_t	zero_chunks;	/* holes and all-zero chunks (not stored) */
	uint64_t	new_chunks;	/* chunks written by this call */
	uint64_t	new_bytes;	/* compressed bytes written by this call */
	uint64_t	dedup_chunks;	/* chunks already in the store */
	uint64_t	data_bytes;	/* uncompressed bytes of data chunks */
};

/*
 * Open (creating if needed) the store under root.  A handle belongs to one
 * thread at a time; store_put_file and store_read_entry_into spread one
 * file over more threads themselves (worker_parallel), each with a context
 * of its own.  Returns the handle (caller frees with store_free) or NULL
 * with a message in err.
 */
struct store	*store_open(const char *root, char *err, size_t errlen);
/* Free a handle; accepts NULL; returns NULL. */
struct store	*store_free(struct store *s);
/* The store's root directory (borrowed). */
const char	*store_root(const struct store *s);

/*
 * Cut the file at path into chunks, append the chunks the store lacks to
 * this handle's pending pack and describe the file: *ret_entry = {"size",
 * "chunks": [hex | zero-run count, ...]} (caller owns).  A large file is
 * hashed and compressed by two threads (worker_parallel), taking 1 MiB
 * stripes in turn.  stats may be NULL.  The chunks become visible and
 * durable in store_sync(), which must run before anything refers to them.
 * 0 or -errno with a message in err.
 */
int	store_put_file(struct store *s, const char *path,
	    struct json_object **ret_entry, struct store_stats *stats,
	    char *err, size_t errlen);
/*
 * Commit the pending pack: fsync it, write its index (tmp, fsync), rename
 * pack then index, fsync packs/.  0 or -errno (the pending chunks are then
 * dropped).
 */
int	store_sync(struct store *s);

/*
 * Check one file entry (of a manifest: messages say "manifest: <name>: "):
 * "size" an integer 0..max_size, "sha256" absent or 64 hex digits,
 * "chunks" an array of chunk hashes and zero-run counts 1..(chunks left)
 * adding up to exactly ceil(size / STORE_CHUNK_SIZE).  Pure: no store
 * needed.  0 or -EBADMSG with what is wrong in err.
 */
int	store_entry_check(const char *name, struct json_object *entry,
	    uint64_t max_size, char *err, size_t errlen);
/*
 * Check a file entry's shape (store_entry_check up to STORE_FILE_MAX) and,
 * if check_chunks, that every chunk is in the store.  name is the file's
 * name for messages.  0 or -EBADMSG with a message in err.
 */
int	store_check_entry(struct store *s, const char *name,
	    struct json_object *entry, bool check_chunks, char *err, size_t errlen);
/*
 * Read every chunk of entry, decompress it and check its size and hash.
 * If fd >= 0, write the content there (zero runs stay holes: the file is
 * truncated to its size first).  The entry's whole-file "sha256" (older
 * saves) is not checked: the chunk hashes fix every byte, and hashing the
 * zero runs would cost the size the entry declares.  Returns 0, -EBADMSG
 * naming the file (name) and the chunk in err, or another -errno.
 */
int	store_read_entry(struct store *s, const char *name,
	    struct json_object *entry, int fd, char *err, size_t errlen);

/*
 * Check every data chunk of entry (decompressed size and hash), each
 * distinct full chunk once: checked holds those already checked (across
 * calls).  No whole-file hash: the work is bounded by the distinct chunks,
 * not by the size the entry declares (an import's check).  0, -EBADMSG
 * naming the file and the chunk in err.
 */
struct store_hashset;
int	store_check_chunks(struct store *s, const char *name,
	    struct json_object *entry, struct store_hashset *checked, char *err,
	    size_t errlen);

/*
 * From now on, reads through s check a chunk by its zstd frame's content
 * checksum (XXH64, checked by the decompression) where the frame has one,
 * instead of hashing the content with SHA-256 again: for the restore, whose
 * critical path this is.  Catches corruption on disk, not a store written
 * wrong on purpose; snapshot.verify, import and export keep hashing.
 * Frames written before checksums were added are always hashed.
 */
void	store_trust_frame_checksums(struct store *s);

/*
 * As store_read_entry, into memory: decompress and check every data chunk
 * of entry into map (the file's size bytes, zero where the file has no
 * chunk: e.g. a fresh mapping of a file truncated to size), on two threads
 * (worker_parallel) taking the data chunks in turn.  0, or -EBADMSG naming
 * the chunk in err.
 */
int	store_read_entry_into(struct store *s, const char *name,
	    struct json_object *entry, unsigned char *map, char *err,
	    size_t errlen);

/*
 * Register / unregister snapshot directory dir (absolute) as a root for the
 * garbage collector.  0 or -errno.
 */
int	store_ref_add(struct store *s, const char *dir);
int	store_ref_del(struct store *s, const char *dir);

/*
 * Writers in this process that may be writing chunks nobody refers to yet:
 * store_gc() refuses (-EBUSY) while any is active.  Event loop only.
 */
void	store_writer_begin(void);
void	store_writer_end(void);
bool	store_writers_active(void);
/*
 * Readers (exports, restores): store_gc() refuses (-EBUSY) while any is
 * active, because it deletes and rewrites packs that a reader's handle may
 * be about to read.  The worker pool keeps store jobs and gc apart too
 * (worker.h).  Event loop only.
 */
void	store_reader_begin(void);
void	store_reader_end(void);
bool	store_readers_active(void);

/* Compressed bytes of one chunk by hex name; -1 if missing. */
int64_t	store_chunk_bytes(struct store *s, const char *hex);


/* True if hex is a chunk's name: 64 lower-case hex digits (false for NULL). */
bool	store_valid_hex(const char *hex);

/* The SHA-256 of len bytes at buf as lower-case hex (a chunk's name). */
void	store_sha256_hex(const void *buf, size_t len,
	    char out[STORE_HEX_LEN + 1]);

/* A set of chunk hashes (hex), over base/hashset.h. */
struct store_hashset;
struct store_hashset	*store_hashset_new(void);
/* Accepts NULL; returns NULL. */
struct store_hashset	*store_hashset_free(struct store_hashset *h);
/* Add hex; true if it was not in the set yet (false also for a malformed hex). */
bool	store_hashset_add(struct store_hashset *h, const char *hex);
bool	store_hashset_has(struct store_hashset *h, const char *hex);
size_t	store_hashset_count(const struct store_hashset *h);

/* True if chunk hex is in the store. */
bool	store_has_chunk(struct store *s, const char *hex);
/*
 * The stored zstd frame of chunk hex, checked to decompress to exactly len
 * bytes that hash to hex: *ret_frame points into the handle (valid until its
 * next use), *ret_flen its size.  0, or -EBADMSG with what is wrong in err.
 */
int	store_chunk_frame(struct store *s, const char *hex, size_t len,
	    const void **ret_frame, size_t *ret_flen, char *err, size_t errlen);
/*
 * Add a chunk that arrived as a zstd frame (flen bytes): it must decompress
 * to 1..STORE_CHUNK_SIZE bytes whose SHA-256 is hex; then it is appended as
 * is to the pending pack unless the store has it (store_sync() before use).
 * *ret_len = its uncompressed length.  0, -EBADMSG with err, or -errno.
 */
int	store_put_frame(struct store *s, const char *hex, const void *frame,
	    size_t flen, size_t *ret_len, struct store_stats *st, char *err,
	    size_t errlen);

/*
 * Load chunk hex into out (len bytes: its uncompressed length), checked
 * to decompress to exactly len bytes whose hash is hex (or, after
 * store_trust_frame_checksums, its frame's checksum): one chunk of a lazy
 * restore's fill.  0, or -EBADMSG with what is wrong in err.
 */
int	store_read_chunk(struct store *s, const char *hex, size_t len,
	    unsigned char *out, char *err, size_t errlen);

/* Called with each chunk hash (hex) a snapshot uses. */
typedef void (*store_hash_fn)(const char *hex, void *arg);
/*
 * What the store asks of its caller about a snapshot directory dir (a
 * canonical path): call fn(hex, arg) for every chunk it uses (a chunk may
 * come more than once).  0; -ENOENT if dir holds no snapshot; else -errno.
 * err says why in every failure (it reaches gc's caller as it is).
 */
typedef int (*store_snapshot_walk_fn)(const char *dir, store_hash_fn fn,
	    void *arg, char *err, size_t errlen);

/*
 * Usage of the snapshot in dir (its chunks from walk): *ret_stored the
 * compressed bytes of the distinct chunks it uses, *ret_freeable those no
 * other snapshot (registered, or in snapdirs, may be NULL) uses: what
 * deleting it frees.  0 or -errno with a message in err.
 */
int	store_usage(struct store *s, const char *snapdirs, const char *dir,
	    store_snapshot_walk_fn walk, uint64_t *ret_stored,
	    uint64_t *ret_freeable, char *err, size_t errlen);

/*
 * Mark and sweep: drop every chunk no registered snapshot (and no snapshot
 * in snapdirs, a directory of snapshot directories, may be NULL) refers to;
 * walk tells which chunks a snapshot directory's snapshot uses.
 * A pack whose chunks are all dead is deleted (index, then pack); one with
 * some dead chunks is rewritten with its live ones (new pack and index
 * committed before the old index goes).  Also removes temporaries and packs
 * without an index.  Drops references whose directory is gone.  Refuses
 * (-EBUSY) while a writer or a reader is active, and stops without
 * deleting anything if walk fails for a registered snapshot.  0 or -errno
 * with a message in err.
 */
int	store_gc(struct store *s, const char *snapdirs, store_snapshot_walk_fn walk,
	    uint64_t *ret_chunks, uint64_t *ret_bytes, char *err, size_t errlen);

#endif
