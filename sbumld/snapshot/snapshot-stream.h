/* SPDX-License-Identifier: MIT */
/*
 * The export stream (doc/snapshot-format.md, "Export stream"): one
 * self-contained byte stream carrying a snapshot's manifest and chunks from
 * one host's store to another's.  This module only frames records and keeps
 * the running SHA-256 that the end record seals; what the records mean is
 * snapshot-transfer.c's business.  Blocking I/O: use it from a worker thread.
 *
 *   stream  = magic "SBUMLXS1", record*, end record
 *   record  = type (4 ASCII bytes), 4 zero bytes, length (u64 little endian), payload
 *   end     = type "END.", length 32, payload = SHA-256 of every byte before it
 */
#ifndef SBUMLD_SNAPSHOT_STREAM_H
#define SBUMLD_SNAPSHOT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STREAM_MAGIC		"SBUMLXS1"
#define STREAM_MAGIC_LEN	8
#define STREAM_HDR_LEN		16

/* The HEAD record's "format" and "version" (doc/snapshot-format.md). */
#define EXPORT_FORMAT	"sbuml-export"
#define EXPORT_VERSION	1

/* Record types. */
#define STREAM_HEAD	"HEAD"	/* JSON: what the stream is (first record) */
#define STREAM_MANI	"MANI"	/* the snapshot's manifest.json, byte for byte */
#define STREAM_CHNK	"CHNK"	/* 32-byte SHA-256 of the content, then its zstd frame */
#define STREAM_END	"END."	/* SHA-256 of the whole stream before this record */

/* Largest payload accepted per record type when reading. */
#define STREAM_MAX_HEAD		(1024 * 1024)
#define STREAM_MAX_MANI		(64 * 1024 * 1024)

struct stream;

/*
 * Start writing a stream to fd (not closed by the stream; non-blocking fds
 * are waited on): writes the magic.  0 and *ret, or -errno.
 */
int	stream_write_open(int fd, struct stream **ret);
/*
 * The same, giving up waiting on fd once cancel_fd (an eventfd: the
 * worker pool's, worker.h) is readable: every read and write, this one's
 * magic included, then fails with -ECANCELED.  cancel_fd -1: never.
 */
int	stream_write_open_cancel(int fd, int cancel_fd, struct stream **ret);
/* Write one record whose payload is a (alen bytes) followed by b (blen). 0 or -errno. */
int	stream_put(struct stream *st, const char *type, const void *a, size_t alen,
	    const void *b, size_t blen);
/* Write the end record.  0 or -errno. */
int	stream_write_end(struct stream *st);

/*
 * Start reading a stream from fd: checks the magic.  0 and *ret; -EBADMSG
 * (not a stream) with a message in err, or another -errno.
 */
int	stream_read_open(int fd, struct stream **ret, char *err, size_t errlen);
/* The same with a cancel fd, as stream_write_open_cancel. */
int	stream_read_open_cancel(int fd, int cancel_fd, struct stream **ret,
	    char *err, size_t errlen);
/*
 * Read the next record: *type (NUL-terminated), *payload (valid until the
 * next call; NUL-terminated for convenience), *len.  An end record is
 * checked against the running hash, and then that nothing follows it.
 * 0; -EBADMSG (truncated, corrupt, oversized) with err; another -errno.
 */
int	stream_get(struct stream *st, char type[5], const unsigned char **payload,
	    size_t *len, char *err, size_t errlen);

/* Bytes written or read so far. */
uint64_t stream_bytes(const struct stream *st);
/* Free the stream (not its fd); accepts NULL; returns NULL. */
struct stream *stream_free(struct stream *st);

#endif
