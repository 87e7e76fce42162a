/* SPDX-License-Identifier: MIT */
/*
 * The per-host chunk store (store.h): handles, each thread's context,
 * the writer and reader counts gc respects, and references.
 *
 * A file is cut into fixed 64 KiB chunks (store-chunker.c); a chunk that
 * is a hole or all zeros is a zero run in the file's chunk list and costs
 * nothing; any other chunk is named by the SHA-256 of its content and kept
 * once, as one zstd frame, in a pack file (store-pack.c) found through an
 * in-memory index (store-index.c).  File entries are checked and read back
 * by store-entry.c.
 *
 * Garbage collection (store-gc.c) is mark and sweep over the snapshots
 * registered in <root>/refs/ (one symlink per snapshot directory) plus the
 * named snapshot directory: a chunk is dropped only if no readable snapshot
 * refers to it, never while a writer in this process is active (its chunks
 * are not in any snapshot yet) or an export reads packs, and not at all if
 * a registered snapshot cannot be read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store-int.h"
#include "util.h"

/* Changed on the event loop; store_gc() reads them in a worker thread. */
static _Atomic int	store_writers, store_readers;

void
store_ctx_init(struct store_ctx *c, struct store *s)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	/*
	 * Every frame carries the XXH64 of its content, which decompression
	 * checks: a restore can trust it instead of hashing the chunk again
	 * (store_trust_frame_checksums).
	 */
	if (c->cctx == NULL || c->dctx == NULL ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel,
	    STORE_ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1)))
		fatalx("zstd: out of memory");
	c->buf = xmalloc(STORE_CHUNK_SIZE);
	c->zcap = ZSTD_compressBound(STORE_CHUNK_SIZE);
	c->rec = xmalloc(REC_HDR + FRAME_MAX);
	c->zbuf = c->rec + REC_HDR;
}

void
store_ctx_fini(struct store_ctx *c)
{
	store_ctx_close_packs(c);
	free(c->fds);
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	free(c->buf);
	free(c->rec);
	memset(c, 0, sizeof(*c));
}

struct store *
store_open(const char *root, char *err, size_t errlen)
{
	struct store	*s;
	char		*p;
	int		 r;

	p = xasprintf("%s/packs", root);
	r = mkdir_p(p, 0700);
	free(p);
	if (r == 0 || r == -EEXIST) {
		p = xasprintf("%s/refs", root);
		r = mkdir_p(p, 0700);
		free(p);
	}
	if (r < 0 && r != -EEXIST) {
		snprintf(err, errlen, "cannot create the chunk store %s: %s", root,
		    strerror(-r));
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->root = xstrdup(root);
	s->packdir = xasprintf("%s/packs", root);
	store_ctx_init(&s->ctx, s);
	hashset_init(&s->idx, sizeof(struct loc));
	hashset_init(&s->pend, sizeof(struct loc));
	if ((r = pthread_mutex_init(&s->lock, NULL)) != 0)
		fatalx("pthread_mutex_init: %s", strerror(r));
	s->wfd = -1;
	return s;
}

struct store *
store_free(struct store *s)
{
	if (s == NULL)
		return NULL;
	store_pack_drop(s);
	store_index_unload(s);
	store_ctx_fini(&s->ctx);
	pthread_mutex_destroy(&s->lock);
	free(s->packdir);
	free(s->root);
	free(s);
	return NULL;
}

const char *
store_root(const struct store *s)
{
	return s->root;
}

void
store_trust_frame_checksums(struct store *s)
{
	s->trust_frame_sums = true;
}

void
store_writer_begin(void)
{
	store_writers++;
}

void
store_writer_end(void)
{
	if (store_writers > 0)
		store_writers--;
}

bool
store_writers_active(void)
{
	return store_writers > 0;
}

void
store_reader_begin(void)
{
	store_readers++;
}

void
store_reader_end(void)
{
	if (store_readers > 0)
		store_readers--;
}

bool
store_readers_active(void)
{
	return store_readers > 0;
}

/* The ref symlink name for dir: the SHA-256 of its path (caller frees). */
static char *
ref_path(const struct store *s, const char *dir)
{
	char hex[STORE_HEX_LEN + 1];

	store_sha256_hex(dir, strlen(dir), hex);
	return xasprintf("%s/refs/%.32s", s->root, hex);
}

int
store_ref_add(struct store *s, const char *dir)
{
	char	*path = ref_path(s, dir), *refs;
	int	 r = 0;

	(void)unlink(path);
	if (symlink(dir, path) < 0)
		r = -errno;
	free(path);
	if (r == 0) {
		refs = xasprintf("%s/refs", s->root);
		r = fsync_dir(refs);
		free(refs);
	}
	return r;
}

int
store_ref_del(struct store *s, const char *dir)
{
	char	*path = ref_path(s, dir);
	int	 r = 0;

	if (unlink(path) < 0 && errno != ENOENT)
		r = -errno;
	free(path);
	return r;
}
