/* SPDX-License-Identifier: MIT */
/*
 * Cutting files into chunks (store.h, store_put_file): fixed 64 KiB chunks,
 * page aligned so a guest page never straddles two; holes and all-zero
 * chunks become zero runs of the chunk list and are never stored; every
 * other chunk is hashed and, unless the store has it, compressed and
 * appended to the pending pack.  A large file is cut by several threads
 * at once (worker_parallel), each with its own context, taking 1 MiB
 * stripes in turn: hashing and compressing are the storing phase's work.
 * Also chunks that arrive already compressed (store_put_frame, import).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store-int.h"
#include "util.h"
#include "worker.h"

/* Chunks a share takes in turn: 1 MiB stripes, alternating between shares. */
#define PUT_STRIPE	16
/* Threads that cut one file; the save's storing phase ran on two before the pool. */
#define PUT_SHARES	2

/* One share of a put: what it found and how it ended. */
struct put_share {
	struct store_stats	 st;
	int			 r;
	char			 err[PATH_MAX + 128];
};

/* One file being put, read by every share. */
struct put_file {
	struct store		*s;
	const char		*path;
	int			 fd;
	off_t			 size;
	char			(*hex)[STORE_HEX_LEN + 1];	/* per chunk; "" = zero */
	struct put_share	 sh[PUT_SHARES];
};

/* Store one chunk (c->buf, len bytes, hash hex) unless it is there already. */
static int
put_chunk(struct store_ctx *c, size_t len, const char *hex,
    struct store_stats *st)
{
	size_t zlen;

	if (store_have_chunk(c->s, hex)) {
		st->dedup_chunks++;
		return 0;
	}
	zlen = ZSTD_compress2(c->cctx, c->zbuf, c->zcap, c->buf, len);
	if (ZSTD_isError(zlen))
		return -EIO;
	return store_pack_append(c->s, hex, c->zbuf, zlen, st);
}

/* Hash, and store unless known, each data chunk of this share's stripes. */
static void
put_stripes(struct put_file *pf, struct store_ctx *c, unsigned int share,
    unsigned int nshares)
{
	struct put_share	*sh = &pf->sh[share];
	off_t			 next_data = 0;
	uint64_t		 nchunks = store_chunk_count(pf->size);

	for (uint64_t i = 0; i < nchunks; i++) {
		off_t	off = (off_t)(i * STORE_CHUNK_SIZE);
		size_t	len = store_chunk_len(pf->size, off);
		int	r;

		if ((i / PUT_STRIPE) % nshares != share)
			continue;
		/* A chunk wholly inside a hole is zero without reading it. */
		if (next_data >= 0 && next_data < off) {
			next_data = lseek(pf->fd, off, SEEK_DATA);
			if (next_data < 0 && errno != ENXIO)
				next_data = off;	/* no SEEK_DATA: read */
		}
		if (next_data < 0 || next_data >= off + (off_t)len) {
			sh->st.zero_chunks++;
			continue;
		}
		if ((r = store_pread_all(pf->fd, c->buf, len, off)) < 0) {
			snprintf(sh->err, sizeof(sh->err), "%s: read at %lld: %s",
			    pf->path, (long long)off, strerror(-r));
			sh->r = r;
			return;
		}
		if (store_all_zero(c->buf, len)) {
			sh->st.zero_chunks++;
			continue;
		}
		store_sha256_hex(c->buf, len, pf->hex[i]);
		if ((r = put_chunk(c, len, pf->hex[i], &sh->st)) < 0) {
			snprintf(sh->err, sizeof(sh->err), "%s: storing chunk %llu: %s",
			    pf->path, (unsigned long long)i, strerror(-r));
			sh->r = r;
			return;
		}
		sh->st.chunks++;
		sh->st.data_bytes += len;
	}
}

/* A worker_parallel share: the handle's context for share 0, a new one else. */
static void
put_share_run(void *arg, unsigned int share, unsigned int nshares)
{
	struct put_file		*pf = arg;
	struct store_ctx	 c;

	if (share == 0) {
		put_stripes(pf, &pf->s->ctx, share, nshares);
		return;
	}
	store_ctx_init(&c, pf->s);
	put_stripes(pf, &c, share, nshares);
	store_ctx_fini(&c);
}

/* Append one zero chunk to list, extending a trailing zero run. */
static void
add_zero(struct json_object *list)
{
	size_t n = json_object_array_length(list);
	struct json_object *last = n ? json_object_array_get_idx(list, n - 1) : NULL;

	if (last != NULL && json_object_is_type(last, json_type_int))
		json_object_set_int64(last, json_object_get_int64(last) + 1);
	else
		json_object_array_add(list, json_object_new_int64(1));
}

/*
 * The file's entry: its size and its chunk list in file order, zero chunks
 * as runs.  No whole-file hash: the chunk hashes, in the order of the
 * list, fix every byte, and hashing the zero runs as zeros cost more than
 * all the rest of an idle machine's save (bench/store.sh).
 */
static struct json_object *
put_entry(const struct put_file *pf)
{
	struct json_object	*list = json_object_new_array(), *entry;
	uint64_t		 nchunks = store_chunk_count(pf->size);

	for (uint64_t i = 0; i < nchunks; i++) {
		if (pf->hex[i][0] == '\0')
			add_zero(list);
		else
			json_object_array_add(list, json_object_new_string(pf->hex[i]));
	}
	entry = json_object_new_object();
	json_object_object_add(entry, "size", json_object_new_int64(pf->size));
	json_object_object_add(entry, "chunks", list);
	return entry;
}

static void
stats_add(struct store_stats *to, const struct store_stats *st)
{
	to->chunks += st->chunks;
	to->zero_chunks += st->zero_chunks;
	to->new_chunks += st->new_chunks;
	to->new_bytes += st->new_bytes;
	to->dedup_chunks += st->dedup_chunks;
	to->data_bytes += st->data_bytes;
}

int
store_put_file(struct store *s, const char *path, struct json_object **ret_entry,
    struct store_stats *stats, char *err, size_t errlen)
{
	struct put_file	 pf;
	struct stat	 sb;
	uint64_t	 nchunks;
	unsigned int	 nshares;
	int		 fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		closefd(&fd);
		return r;
	}
	memset(&pf, 0, sizeof(pf));
	pf.s = s;
	pf.path = path;
	pf.fd = fd;
	pf.size = sb.st_size;
	nchunks = store_chunk_count(sb.st_size);
	pf.hex = xcalloc(nchunks + 1, sizeof(*pf.hex));
	/* More threads only pay for files of several stripes. */
	nshares = nchunks > 4 * PUT_STRIPE ? PUT_SHARES : 1;
	/* The shares only read the index: load it before they start. */
	store_index_load(s);
	worker_parallel(nshares, put_share_run, &pf);
	for (unsigned int i = 0; i < nshares && r == 0; i++)
		if ((r = pf.sh[i].r) < 0)
			snprintf(err, errlen, "%s", pf.sh[i].err);
	if (r == 0)
		*ret_entry = put_entry(&pf);
	for (unsigned int i = 0; stats != NULL && i < nshares; i++)
		stats_add(stats, &pf.sh[i].st);
	free(pf.hex);
	closefd(&fd);
	return r;
}

int
store_put_frame(struct store *s, const char *hex, const void *frame,
    size_t flen, size_t *ret_len, struct store_stats *st, char *err,
    size_t errlen)
{
	struct store_ctx	*c = &s->ctx;
	char			 got[STORE_HEX_LEN + 1];
	unsigned long long	 content;
	size_t			 n;

	if (!store_valid_hex(hex)) {
		snprintf(err, errlen, "malformed chunk name");
		return -EBADMSG;
	}
	content = ZSTD_getFrameContentSize(frame, flen);
	if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN ||
	    content == 0 || content > STORE_CHUNK_SIZE) {
		snprintf(err, errlen, "chunk %s is not a zstd frame of 1 to %d bytes",
		    hex, STORE_CHUNK_SIZE);
		return -EBADMSG;
	}
	n = ZSTD_decompressDCtx(c->dctx, c->buf, STORE_CHUNK_SIZE, frame, flen);
	if (ZSTD_isError(n) || n != content) {
		snprintf(err, errlen, "chunk %s does not decompress (zstd: %s)", hex,
		    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
		return -EBADMSG;
	}
	store_sha256_hex(c->buf, n, got);
	if (strcmp(got, hex) != 0) {
		snprintf(err, errlen, "chunk %s is corrupt (its content hashes to "
		    "%.16s...)", hex, got);
		return -EBADMSG;
	}
	*ret_len = n;
	st->chunks++;
	st->data_bytes += n;
	if (store_have_chunk(s, hex)) {
		st->dedup_chunks++;
		return 0;
	}
	return store_pack_append(s, hex, frame, flen, st);
}
