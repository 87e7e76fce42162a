/* SPDX-License-Identifier: MIT */
/*
 * Pack files (doc/snapshot-format.md, "Chunk store"): the chunks a handle
 * adds between two store_sync() calls are appended to one
 * <root>/packs/.tmp-XXXXXX.pack; store_sync() flushes it, writes its index
 * (<id>.idx: hash -> offset, length, sorted), renames the pack and then the
 * index into place and fsyncs packs/.  The index is the commit point: a
 * pack without one is garbage and nothing reads it.  Creating one file per
 * save instead of one per 64 KiB chunk took ext4's inode allocation (~45 %
 * of a busy save) off the storing phase.  Also reading one record back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store-int.h"
#include "util.h"

/* Create the pending pack file with its header.  0 or -errno. */
static int
pack_create(struct store *s)
{
	unsigned char	hdr[PACK_HDR];
	int		r;

	s->wtmp = xasprintf("%s/.tmp-XXXXXX.pack", s->packdir);
	if ((s->wfd = mkostemps(s->wtmp, 5, O_CLOEXEC)) < 0) {
		r = -errno;
		free(s->wtmp);
		s->wtmp = NULL;
		return r;
	}
	memcpy(hdr, PACK_MAGIC, 8);
	store_put_le32(hdr + 8, PACK_VERSION);
	store_put_le32(hdr + 12, 0);
	s->woff = 0;
	if ((r = store_pwrite_all(s->wfd, hdr, PACK_HDR, 0)) < 0)
		return r;
	s->woff = PACK_HDR;
	return 0;
}

/*
 * Start writeback of what is written so far (no wait): the disk works
 * while we hash and compress, and store_sync()'s fsync finds little left
 * to do.  Only a hint: errors show in fsync.
 */
static void
pack_flush_start(struct store *s)
{
	if (s->woff - s->wflushed < PACK_FLUSH_STEP)
		return;
	if (sync_file_range(s->wfd, (off_t)s->wflushed,
	    (off_t)(s->woff - s->wflushed), SYNC_FILE_RANGE_WRITE) < 0)
		log_debug("store: sync_file_range %s: %s", s->wtmp,
		    strerror(errno));
	s->wflushed = s->woff;
}

/*
 * Append one record (hash, frame of flen bytes), creating the pack first.
 * No fsync here: store_sync() flushes the whole pack once.  A failed write
 * leaves the pack as it was (the partial record is cut off, or the pack
 * removed if it held nothing).  Called with s->lock held.
 */
static int
pack_append_locked(struct store *s, const char *hex, const void *frame,
    size_t flen, struct store_stats *st)
{
	unsigned char	 hdr[REC_HDR];
	struct loc	 l = { .pack = PENDING }, *slot;
	bool		 added;
	int		 r;

	store_from_hex(hex, l.hash);
	if (hashset_get(&s->pend, l.hash) != NULL) {
		/* Another share of this put stored it meanwhile. */
		st->dedup_chunks++;
		return 0;
	}
	if (s->wfd < 0 && (r = pack_create(s)) < 0)
		goto fail;
	memcpy(hdr, l.hash, STORE_HASH_LEN);
	store_put_le32(hdr + STORE_HASH_LEN, (uint32_t)flen);
	if ((r = store_pwrite_all(s->wfd, hdr, REC_HDR, (off_t)s->woff)) < 0 ||
	    (r = store_pwrite_all(s->wfd, frame, flen,
	    (off_t)(s->woff + REC_HDR))) < 0)
		goto fail;
	l.off = s->woff + REC_HDR;
	l.len = (uint32_t)flen;
	s->woff += REC_HDR + flen;
	pack_flush_start(s);
	if (s->npend == s->cappend) {
		s->cappend = s->cappend ? 2 * s->cappend : 256;
		s->plist = xrealloc(s->plist, s->cappend * sizeof(*s->plist));
	}
	s->plist[s->npend++] = l;
	slot = hashset_put(&s->pend, l.hash, &added);
	*slot = l;
	st->new_chunks++;
	st->new_bytes += flen;
	return 0;
fail:
	if (s->npend == 0)
		store_pack_drop(s);
	else if (ftruncate(s->wfd, (off_t)s->woff) < 0)
		log_debug("store: %s: %s (the tail is never indexed)", s->wtmp,
		    strerror(errno));
	return r;
}

int
store_pack_append(struct store *s, const char *hex, const void *frame,
    size_t flen, struct store_stats *st)
{
	int r;

	if (flen == 0 || flen > FRAME_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	r = pack_append_locked(s, hex, frame, flen, st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Forget the pending chunks, removing the pack being written (a failed save). */
void
store_pack_drop(struct store *s)
{
	closefd(&s->wfd);
	if (s->wtmp != NULL) {
		(void)unlink(s->wtmp);
		free(s->wtmp);
		s->wtmp = NULL;
	}
	free(s->plist);
	s->plist = NULL;
	s->npend = s->cappend = 0;
	s->woff = s->wflushed = 0;
	hashset_clear(&s->pend);
}

static int
cmp_loc(const void *a, const void *b)
{
	return memcmp(((const struct loc *)a)->hash, ((const struct loc *)b)->hash,
	    STORE_HASH_LEN);
}

/* The index of the pending chunks, sorted by hash (caller frees); its length. */
static unsigned char *
pack_index_bytes(struct store *s, size_t *ret_len)
{
	size_t		 ilen = IDX_HDR + s->npend * IDX_ENT;
	unsigned char	*ib;

	qsort(s->plist, s->npend, sizeof(*s->plist), cmp_loc);
	ib = xcalloc(1, ilen);
	memcpy(ib, IDX_MAGIC, 8);
	store_put_le32(ib + 8, PACK_VERSION);
	store_put_le32(ib + 12, (uint32_t)s->npend);
	for (size_t i = 0; i < s->npend; i++) {
		unsigned char *e = ib + IDX_HDR + i * IDX_ENT;

		memcpy(e, s->plist[i].hash, STORE_HASH_LEN);
		store_put_le64(e + 32, s->plist[i].off);
		store_put_le32(e + 40, s->plist[i].len);
	}
	*ret_len = ilen;
	return ib;
}

/*
 * Commit the pack being written: flush it, write its index (sorted; tmp,
 * fsync), rename the pack and then the index into place, fsync packs/.
 * The index's rename is the commit point: a crash before it leaves a pack
 * without an index (or .tmp- files), which nothing reads and gc and
 * start-up recovery remove.  The pack is named by its index's hash.  On
 * success its chunks join the committed index; else they are dropped.
 * 0 or -errno.
 */
int
store_pack_commit(struct store *s)
{
	unsigned char	*ib;
	size_t		 ilen;
	char		 id[STORE_HEX_LEN + 1], *itmp, *ppath = NULL, *ipath = NULL;
	int		 fd = -1, r;
	bool		 pack_named = false;
	int32_t		 no;

	store_index_load(s);	/* before the rename: the new pack is added once, below */
	if (fsync(s->wfd) < 0)
		return -errno;
	ib = pack_index_bytes(s, &ilen);
	store_sha256_hex(ib, ilen, id);
	id[PACK_ID_LEN] = '\0';
	itmp = xasprintf("%s/.tmp-XXXXXX.idx", s->packdir);
	if ((fd = mkostemps(itmp, 4, O_CLOEXEC)) < 0) {
		r = -errno;
		free(itmp);
		itmp = NULL;
		goto out;
	}
	if ((r = write_fd_all(fd, ib, ilen)) < 0)
		goto out;
	if (fsync(fd) < 0 || close(fd) < 0) {
		r = -errno;
		fd = -1;
		goto out;
	}
	fd = -1;
	ppath = store_pack_path(s, id, ".pack");
	ipath = store_pack_path(s, id, ".idx");
	if (rename(s->wtmp, ppath) < 0) {
		r = -errno;
		goto out;
	}
	pack_named = true;
	free(s->wtmp);
	s->wtmp = NULL;
	if (rename(itmp, ipath) < 0) {
		r = -errno;
		goto out;
	}
	free(itmp);
	itmp = NULL;
	if ((r = fsync_dir(s->packdir)) < 0) {
		/* Complete but maybe not durable: unreferenced, gc's to judge. */
		goto out;
	}
	no = store_index_add_pack(s, id, s->plist, s->npend, ilen);
	/* The handle keeps reading its own pack through the same descriptor. */
	store_ctx_adopt_fd(&s->ctx, no, s->wfd);
	s->plist = NULL;
	s->wfd = -1;
	store_pack_drop(s);
out:
	closefd(&fd);
	if (r < 0) {
		if (itmp != NULL)
			(void)unlink(itmp);
		/* A pack without its index is garbage: do not leave it for gc. */
		if (pack_named && itmp != NULL)
			(void)unlink(ppath);
		store_pack_drop(s);
	}
	free(itmp);
	free(ppath);
	free(ipath);
	free(ib);
	return r;
}

int
store_sync(struct store *s)
{
	if (s->npend == 0) {
		store_pack_drop(s);	/* a pack that holds no record */
		return 0;
	}
	return store_pack_commit(s);
}

int
store_read_record(struct store_ctx *c, const struct loc *l, const char *hex,
    const char *pack, char *err, size_t errlen)
{
	ssize_t	n;
	int	fd;

	if ((fd = store_pack_fd(c, l->pack)) < 0) {
		snprintf(err, errlen, "chunk %s is missing from the chunk store %s "
		    "(its pack %s: %s)", hex, c->s->root, pack, strerror(-fd));
		return -EBADMSG;
	}
	if (l->len > FRAME_MAX || l->off < PACK_HDR + REC_HDR) {
		snprintf(err, errlen, "pack %s is truncated or corrupt: its index "
		    "gives chunk %s %u bytes at offset %llu", pack, hex, l->len,
		    (unsigned long long)l->off);
		return -EBADMSG;
	}
	n = store_pread_some(fd, c->rec, REC_HDR + l->len, (off_t)(l->off - REC_HDR));
	if (n < 0) {
		snprintf(err, errlen, "pack %s, chunk %s at offset %llu cannot be "
		    "read: %s", pack, hex, (unsigned long long)l->off, strerror((int)-n));
		return -EBADMSG;
	}
	if ((size_t)n < REC_HDR + l->len) {
		snprintf(err, errlen, "pack %s is truncated or corrupt: chunk %s at "
		    "offset %llu (%u bytes) is cut off", pack, hex,
		    (unsigned long long)l->off, l->len);
		return -EBADMSG;
	}
	if (memcmp(c->rec, l->hash, STORE_HASH_LEN) != 0 ||
	    store_get_le32(c->rec + STORE_HASH_LEN) != l->len) {
		snprintf(err, errlen, "pack %s is corrupt at offset %llu: the record "
		    "there is not chunk %s", pack, (unsigned long long)(l->off - REC_HDR),
		    hex);
		return -EBADMSG;
	}
	return 0;
}
