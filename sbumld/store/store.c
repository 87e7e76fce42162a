/* SPDX-License-Identifier: MIT */
/*
 * The per-host chunk store.  A file is cut into fixed 64 KiB chunks (page
 * aligned, so a guest page never straddles two chunks); a chunk that is a
 * hole or all zeros is a zero run in the file's chunk list and costs
 * nothing; any other chunk is named by the SHA-256 of its content and kept
 * once, as one zstd frame.
 *
 * Chunks live in pack files (doc/snapshot-format.md, "Chunk store"): the
 * chunks one handle adds between two store_sync() calls are appended to one
 * <root>/packs/.tmp-XXXXXX.pack; store_sync() flushes it, writes its index
 * (<id>.idx: hash -> offset, length, sorted), renames the pack and then the
 * index into place and fsyncs packs/.  The index is the commit point: a
 * pack without one is garbage and nothing reads it.  Creating one file per
 * save instead of one per 64 KiB chunk took ext4's inode allocation (~45 %
 * of a busy save) off the storing phase.  Loose chunk files
 * <root>/chunks/<aa>/<hex>.zst of older stores are still read and
 * collected, never written.
 *
 * Lookups go through an in-memory hash table (open addressing) loaded from
 * every .idx at the handle's first lookup, plus the chunks this handle has
 * written but not synced yet.
 *
 * Garbage collection (store-gc.c) is mark and sweep over the snapshots
 * registered in <root>/refs/ (one symlink per snapshot directory) plus the
 * named snapshot directory: a chunk is dropped only if no readable manifest refers to it,
 * never while a writer in this process is active (its chunks are not in any
 * manifest yet) or an export reads packs, and not at all if a registered
 * manifest cannot be read.  A pack whose chunks are all dead is deleted, one
 * with some dead chunks is rewritten with the live ones.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "log.h"
#include "store.h"
#include "util.h"

#include "snapshot-check.h"
#include "store-int.h"

/* Counted on the event loop only (like every caller of gc). */
/* Changed on the event loop; store_gc() reads them in a worker thread. */
static _Atomic int	store_writers, store_readers;

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
	s->cctx = ZSTD_createCCtx();
	s->dctx = ZSTD_createDCtx();
	/*
	 * Every frame carries the XXH64 of its content, which decompression
	 * checks: a restore can trust it instead of hashing the chunk again
	 * (store_trust_frame_checksums).
	 */
	if (s->cctx == NULL || s->dctx == NULL ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_compressionLevel,
	    STORE_ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_checksumFlag, 1)))
		fatalx("zstd: out of memory");
	s->buf = xmalloc(STORE_CHUNK_SIZE);
	s->zcap = ZSTD_compressBound(STORE_CHUNK_SIZE);
	s->rec = xmalloc(REC_HDR + FRAME_MAX);
	s->zbuf = s->rec + REC_HDR;
	s->wfd = -1;
	return s;
}

struct store *
store_free(struct store *s)
{
	if (s == NULL)
		return NULL;
	drop_pending(s);
	unload_index(s);
	ZSTD_freeCCtx(s->cctx);
	ZSTD_freeDCtx(s->dctx);
	free(s->buf);
	free(s->rec);
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

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void
to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* True if hex is STORE_HEX_LEN lower-case hex digits (false for NULL). */
bool
valid_hex(const char *hex)
{
	size_t i;

	if (hex == NULL)
		return false;
	for (i = 0; hex[i] != '\0'; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return false;
	return i == STORE_HEX_LEN;
}

bool
store_valid_hex(const char *hex)
{
	return valid_hex(hex);
}

/* One hex digit's value (input checked by valid_hex). */
static unsigned int
nibble(char c)
{
	return c <= '9' ? (unsigned int)(c - '0') : (unsigned int)(c - 'a' + 10);
}

/* Hex to binary (input checked by valid_hex). */
void
from_hex(const char *hex, unsigned char *out)
{
	for (size_t i = 0; i < STORE_HASH_LEN; i++)
		out[i] = (unsigned char)(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
}

void
store_sha256_hex(const void *buf, size_t len, char out[STORE_HEX_LEN + 1])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen = 0;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != STORE_HASH_LEN)
		fatalx("libcrypto: SHA-256 failed");
	to_hex(md, STORE_HASH_LEN, out);
}

/* The loose chunk file of hex (caller frees). */
static char *
chunk_path(const struct store *s, const char *hex)
{
	return xasprintf("%s/chunks/%.2s/%s.zst", s->root, hex, hex);
}

/* packs/<id><ext> (caller frees). */
char *
pack_path(const struct store *s, const char *id, const char *ext)
{
	return xasprintf("%s/%s%s", s->packdir, id, ext);
}

/* True if the len bytes at buf are all zero. */
static bool
all_zero(const unsigned char *buf, size_t len)
{
	return len == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, len - 1) == 0);
}

/* Write all of buf to fd.  0 or -errno. */
static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write all of buf at off.  0 or -errno. */
static int
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Read exactly len bytes at off (holes read as zeros).  0 or -errno. */
static int
pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* the file shrank under us */
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Read up to len bytes at off: the count read (short at end of file), or -errno. */
static ssize_t
pread_some(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* --- The in-memory index. --- */

/* The slot for hash (existing or empty); ix->cap > 0. */
static struct loc *
index_slot(const struct index *ix, const unsigned char *hash)
{
	size_t h;

	memcpy(&h, hash, sizeof(h));
	for (size_t i = h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1))
		if (ix->slots[i].len == 0 ||
		    memcmp(ix->slots[i].hash, hash, STORE_HASH_LEN) == 0)
			return &ix->slots[i];
}

/* Add l unless its hash is there (the first copy wins).  True if added. */
static bool
index_put(struct index *ix, const struct loc *l)
{
	struct loc *slot;

	if (ix->used * 2 >= ix->cap) {
		struct loc	*old = ix->slots;
		size_t		 oldcap = ix->cap;

		ix->cap = oldcap ? oldcap * 2 : 1024;
		ix->slots = xcalloc(ix->cap, sizeof(*ix->slots));
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].len != 0)
				*index_slot(ix, old[i].hash) = old[i];
		free(old);
	}
	slot = index_slot(ix, l->hash);
	if (slot->len != 0)
		return false;
	*slot = *l;
	ix->used++;
	return true;
}

const struct loc *
index_get(const struct index *ix, const unsigned char *hash)
{
	const struct loc *l;

	if (ix->cap == 0)
		return NULL;
	l = index_slot(ix, hash);
	return l->len ? l : NULL;
}

static void
index_clear(struct index *ix)
{
	free(ix->slots);
	ix->slots = NULL;
	ix->cap = ix->used = 0;
}

/* Close every pack descriptor (PACK_FDS_MAX reached, or the end). */
static void
close_pack_fds(struct store *s)
{
	for (size_t i = 0; i < s->npacks; i++)
		closefd(&s->packs[i].fd);
	s->nfds = 0;
}

/* Forget the committed packs (the next lookup loads them again). */
void
unload_index(struct store *s)
{
	close_pack_fds(s);
	for (size_t i = 0; i < s->npacks; i++)
		free(s->packs[i].ents);
	free(s->packs);
	s->packs = NULL;
	s->npacks = 0;
	index_clear(&s->idx);
	s->idx_err[0] = '\0';
	s->loaded = false;
}

/* Append a pack (taking ents) and index its chunks.  Its number. */
static int32_t
add_pack(struct store *s, const char *id, struct loc *ents, size_t n,
    uint64_t idx_bytes, int fd)
{
	struct pack	*p;
	int32_t		 no = (int32_t)s->npacks;

	s->packs = xrealloc(s->packs, (s->npacks + 1) * sizeof(*s->packs));
	p = &s->packs[s->npacks++];
	memcpy(p->id, id, PACK_ID_LEN + 1);
	p->fd = fd;
	if (fd >= 0)
		s->nfds++;
	p->ents = ents;
	p->n = n;
	p->idx_bytes = idx_bytes;
	for (size_t i = 0; i < n; i++) {
		ents[i].pack = no;
		(void)index_put(&s->idx, &ents[i]);
	}
	return no;
}

/* True if name is <PACK_ID_LEN hex digits><ext>. */
bool
pack_name(const char *name, const char *ext)
{
	size_t i;

	for (i = 0; i < PACK_ID_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return strcmp(name + PACK_ID_LEN, ext) == 0;
}

/*
 * Load packs/<id>.idx.  A malformed one is skipped (its chunks then read as
 * missing) and named in s->idx_err, so messages can say why.
 */
static void
load_idx(struct store *s, const char *id)
{
	char		*path = pack_path(s, id, ".idx"), *buf = NULL;
	size_t		 len, n;
	struct loc	*ents;
	int		 r;

	if ((r = read_file(path, IDX_MAX, &buf, &len)) < 0) {
		if (r != -ENOENT && s->idx_err[0] == '\0')
			snprintf(s->idx_err, sizeof(s->idx_err), "pack index %s "
			    "cannot be read: %s", path, strerror(-r));
		free(path);
		return;
	}
	n = len >= IDX_HDR ? get_le32((unsigned char *)buf + 12) : 0;
	if (len < IDX_HDR || memcmp(buf, IDX_MAGIC, 8) != 0 ||
	    get_le32((unsigned char *)buf + 8) != PACK_VERSION ||
	    len != IDX_HDR + n * IDX_ENT) {
		if (s->idx_err[0] == '\0')
			snprintf(s->idx_err, sizeof(s->idx_err), "pack index %s is "
			    "truncated or corrupt", path);
		log_warnx("store: pack index %s is truncated or corrupt, ignoring "
		    "its pack", path);
		free(buf);
		free(path);
		return;
	}
	ents = xcalloc(n ? n : 1, sizeof(*ents));
	for (size_t i = 0; i < n; i++) {
		const unsigned char *e = (unsigned char *)buf + IDX_HDR + i * IDX_ENT;

		memcpy(ents[i].hash, e, STORE_HASH_LEN);
		ents[i].off = get_le64(e + 32);
		ents[i].len = get_le32(e + 40);
		/* Nonsense offsets or lengths read as a corrupt record later. */
		if (ents[i].len == 0)
			ents[i].len = UINT32_MAX;
	}
	add_pack(s, id, ents, n, len, -1);
	free(buf);
	free(path);
}

/* Load every committed pack's index, once per handle. */
void
load_index(struct store *s)
{
	DIR		*d;
	struct dirent	*de;
	char		*top;

	if (s->loaded)
		return;
	s->loaded = true;
	if ((d = opendir(s->packdir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (pack_name(de->d_name, ".idx")) {
				char id[PACK_ID_LEN + 1];

				memcpy(id, de->d_name, PACK_ID_LEN);
				id[PACK_ID_LEN] = '\0';
				load_idx(s, id);
			}
		closedir(d);
	}
	/* Loose chunk files (stores written before packs): stat() on a miss. */
	top = xasprintf("%s/chunks", s->root);
	if ((d = opendir(top)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strlen(de->d_name) == 2 && de->d_name[0] != '.')
				s->loose = true;
		closedir(d);
	}
	free(top);
}

/* Where chunk hex is in a pack (pending or committed), or NULL. */
static const struct loc *
find_loc(struct store *s, const char *hex)
{
	unsigned char		 hash[STORE_HASH_LEN];
	const struct loc	*l;

	load_index(s);
	from_hex(hex, hash);
	if ((l = index_get(&s->pend, hash)) != NULL)
		return l;
	return index_get(&s->idx, hash);
}

/* The loose chunk file of hex exists. */
static bool
have_loose(struct store *s, const char *hex, struct stat *sb)
{
	char	*path;
	bool	 have;

	if (!s->loose)
		return false;
	path = chunk_path(s, hex);
	have = stat(path, sb) == 0 && S_ISREG(sb->st_mode);
	free(path);
	return have;
}

/* True if chunk hex is in the store already (or pending in this handle). */
static bool
have_chunk(struct store *s, const char *hex)
{
	struct stat sb;

	return find_loc(s, hex) != NULL || have_loose(s, hex, &sb);
}

/* A descriptor to read pack no (opened on demand).  fd or -errno. */
static int
pack_fd(struct store *s, int32_t no)
{
	char	*path;
	int	 fd;

	if (no == PENDING)
		return s->wfd;
	if (s->packs[no].fd >= 0)
		return s->packs[no].fd;
	/* Many packs over time: keep a bounded number open per handle. */
	if (s->nfds >= PACK_FDS_MAX)
		close_pack_fds(s);
	path = pack_path(s, s->packs[no].id, ".pack");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return -errno;
	s->packs[no].fd = fd;
	s->nfds++;
	return fd;
}

/* The file name of pack no for messages (caller frees). */
char *
pack_name_of(const struct store *s, int32_t no)
{
	return no == PENDING ? xstrdup(s->wtmp) :
	    pack_path(s, s->packs[no].id, ".pack");
}

/*
 * Append one record (hash, frame of flen bytes) to the pack being written,
 * creating it first.  No fsync here: store_sync() flushes the whole pack
 * once.  A failed write leaves the pack as it was (the partial record is
 * cut off, or the pack removed if it held nothing).
 */
int
pack_append(struct store *s, const char *hex, const void *frame, size_t flen,
    struct store_stats *st)
{
	unsigned char	 hdr[PACK_HDR > REC_HDR ? PACK_HDR : REC_HDR];
	struct loc	 l = { .pack = PENDING };
	int		 r;

	if (flen == 0 || flen > FRAME_MAX)
		return -EINVAL;
	if (s->wfd < 0) {
		s->wtmp = xasprintf("%s/.tmp-XXXXXX.pack", s->packdir);
		if ((s->wfd = mkostemps(s->wtmp, 5, O_CLOEXEC)) < 0) {
			r = -errno;
			free(s->wtmp);
			s->wtmp = NULL;
			return r;
		}
		memcpy(hdr, PACK_MAGIC, 8);
		put_le32(hdr + 8, PACK_VERSION);
		put_le32(hdr + 12, 0);
		s->woff = 0;
		if ((r = pwrite_all(s->wfd, hdr, PACK_HDR, 0)) < 0)
			goto fail;
		s->woff = PACK_HDR;
	}
	from_hex(hex, l.hash);
	memcpy(hdr, l.hash, STORE_HASH_LEN);
	put_le32(hdr + STORE_HASH_LEN, (uint32_t)flen);
	if ((r = pwrite_all(s->wfd, hdr, REC_HDR, (off_t)s->woff)) < 0 ||
	    (r = pwrite_all(s->wfd, frame, flen, (off_t)(s->woff + REC_HDR))) < 0)
		goto fail;
	l.off = s->woff + REC_HDR;
	l.len = (uint32_t)flen;
	s->woff += REC_HDR + flen;
	if (s->woff - s->wflushed >= PACK_FLUSH_STEP) {
		/*
		 * Start writeback of what is written so far (no wait): the disk
		 * works while we hash and compress, and store_sync()'s fsync
		 * finds little left to do.  Only a hint: errors show in fsync.
		 */
		if (sync_file_range(s->wfd, (off_t)s->wflushed,
		    (off_t)(s->woff - s->wflushed), SYNC_FILE_RANGE_WRITE) < 0)
			log_debug("store: sync_file_range %s: %s", s->wtmp,
			    strerror(errno));
		s->wflushed = s->woff;
	}
	if (s->npend == s->cappend) {
		s->cappend = s->cappend ? 2 * s->cappend : 256;
		s->plist = xrealloc(s->plist, s->cappend * sizeof(*s->plist));
	}
	s->plist[s->npend++] = l;
	(void)index_put(&s->pend, &l);
	st->new_chunks++;
	st->new_bytes += flen;
	return 0;
fail:
	if (s->npend == 0)
		drop_pending(s);
	else if (ftruncate(s->wfd, (off_t)s->woff) < 0)
		log_debug("store: %s: %s (the tail is never indexed)", s->wtmp,
		    strerror(errno));
	return r;
}

/* Forget the pending chunks, removing the pack being written (a failed save). */
void
drop_pending(struct store *s)
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
	index_clear(&s->pend);
}

/* Store one chunk (s->buf, len bytes, hash hex) unless it is there already. */
static int
put_chunk(struct store *s, size_t len, const char *hex, struct store_stats *st)
{
	size_t zlen;

	if (have_chunk(s, hex)) {
		st->dedup_chunks++;
		return 0;
	}
	zlen = ZSTD_compress2(s->cctx, s->zbuf, s->zcap, s->buf, len);
	if (ZSTD_isError(zlen))
		return -EIO;
	return pack_append(s, hex, s->zbuf, zlen, st);
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

static uint64_t	chunk_count(int64_t size);

/* Bytes of the chunk at off of a file of size bytes (the last may be short). */
static size_t
chunk_len(int64_t size, off_t off)
{
	return size - off < STORE_CHUNK_SIZE ? (size_t)(size - off) :
	    STORE_CHUNK_SIZE;
}

/* Chunks a part takes in turn: 1 MiB stripes, alternating between parts. */
#define PUT_STRIPE	16

/* One thread's share of store_put_file2: every nparts-th stripe. */
struct put_part {
	struct store		*s;
	const char		*path;
	int			 fd;
	off_t			 size;
	unsigned int		 part, nparts;
	char			(*hex)[STORE_HEX_LEN + 1];	/* per chunk; "" = zero */
	struct store_stats	 st;
	int			 r;
	char			 err[PATH_MAX + 128];
};

/* Hash, and store unless known, each data chunk of this part. */
static void *
put_part_run(void *arg)
{
	struct put_part	*pp = arg;
	struct store	*s = pp->s;
	off_t		 next_data = 0;
	uint64_t	 nchunks = chunk_count(pp->size);

	for (uint64_t c = 0; c < nchunks; c++) {
		off_t	off = (off_t)(c * STORE_CHUNK_SIZE);
		size_t	len = chunk_len(pp->size, off);
		int	r;

		if ((c / PUT_STRIPE) % pp->nparts != pp->part)
			continue;
		/* A chunk wholly inside a hole is zero without reading it. */
		if (next_data >= 0 && next_data < off) {
			next_data = lseek(pp->fd, off, SEEK_DATA);
			if (next_data < 0 && errno != ENXIO)
				next_data = off;	/* no SEEK_DATA: read */
		}
		if (next_data < 0 || next_data >= off + (off_t)len) {
			pp->st.zero_chunks++;
			continue;
		}
		if ((r = pread_all(pp->fd, s->buf, len, off)) < 0) {
			snprintf(pp->err, sizeof(pp->err), "%s: read at %lld: %s",
			    pp->path, (long long)off, strerror(-r));
			pp->r = r;
			return NULL;
		}
		if (all_zero(s->buf, len)) {
			pp->st.zero_chunks++;
			continue;
		}
		store_sha256_hex(s->buf, len, pp->hex[c]);
		if ((r = put_chunk(s, len, pp->hex[c], &pp->st)) < 0) {
			snprintf(pp->err, sizeof(pp->err), "%s: storing chunk %llu: %s",
			    pp->path, (unsigned long long)c, strerror(-r));
			pp->r = r;
			return NULL;
		}
		pp->st.chunks++;
		pp->st.data_bytes += len;
	}
	return NULL;
}

int
store_put_file2(struct store *s, struct store *s2, const char *path,
    struct json_object **ret_entry, struct store_stats *stats, char *err,
    size_t errlen)
{
	struct put_part		 parts[2];
	struct json_object	*list = NULL, *entry;
	struct stat		 sb;
	pthread_t		 t;
	uint64_t		 nchunks;
	unsigned int		 nparts;
	int			 fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		closefd(&fd);
		return r;
	}
	nchunks = chunk_count(sb.st_size);
	/* A second thread only pays for files of several stripes. */
	nparts = s2 != NULL && nchunks > 4 * PUT_STRIPE ? 2 : 1;
	memset(parts, 0, sizeof(parts));
	for (unsigned int i = 0; i < nparts; i++) {
		parts[i].s = i == 0 ? s : s2;
		parts[i].path = path;
		parts[i].fd = fd;
		parts[i].size = sb.st_size;
		parts[i].part = i;
		parts[i].nparts = nparts;
	}
	parts[0].hex = xcalloc(nchunks + 1, sizeof(*parts[0].hex));
	parts[1].hex = parts[0].hex;
	if (nparts == 2 && pthread_create(&t, NULL, put_part_run, &parts[1]) != 0) {
		nparts = 1;
		parts[0].nparts = 1;
	}
	(void)put_part_run(&parts[0]);
	if (nparts == 2)
		pthread_join(t, NULL);
	for (unsigned int i = 0; i < nparts && r == 0; i++) {
		if ((r = parts[i].r) < 0)
			snprintf(err, errlen, "%s", parts[i].err);
	}
	if (r == 0) {
		/* The chunk list in file order, zero chunks as runs. */
		list = json_object_new_array();
		for (uint64_t c = 0; c < nchunks; c++) {
			if (parts[0].hex[c][0] == '\0')
				add_zero(list);
			else
				json_object_array_add(list,
				    json_object_new_string(parts[0].hex[c]));
		}
		/*
		 * No whole-file hash: the chunk hashes, in the order of the
		 * list, fix every byte, and hashing the zero runs as zeros
		 * cost more than all the rest of an idle machine's save
		 * (bench/store.sh).
		 */
		entry = json_object_new_object();
		json_object_object_add(entry, "size", json_object_new_int64(sb.st_size));
		json_object_object_add(entry, "chunks", list);
		*ret_entry = entry;
	}
	if (stats != NULL) {
		for (unsigned int i = 0; i < nparts; i++) {
			stats->chunks += parts[i].st.chunks;
			stats->zero_chunks += parts[i].st.zero_chunks;
			stats->new_chunks += parts[i].st.new_chunks;
			stats->new_bytes += parts[i].st.new_bytes;
			stats->dedup_chunks += parts[i].st.dedup_chunks;
			stats->data_bytes += parts[i].st.data_bytes;
		}
	}
	free(parts[0].hex);
	closefd(&fd);
	return r;
}

int
store_put_file(struct store *s, const char *path, struct json_object **ret_entry,
    struct store_stats *stats, char *err, size_t errlen)
{
	return store_put_file2(s, NULL, path, ret_entry, stats, err, errlen);
}

static int
cmp_loc(const void *a, const void *b)
{
	return memcmp(((const struct loc *)a)->hash, ((const struct loc *)b)->hash,
	    STORE_HASH_LEN);
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
commit_pack(struct store *s)
{
	unsigned char	*ib;
	size_t		 ilen = IDX_HDR + s->npend * IDX_ENT;
	char		 id[STORE_HEX_LEN + 1], *itmp, *ppath = NULL, *ipath = NULL;
	int		 fd = -1, r;
	bool		 pack_named = false;

	load_index(s);	/* before the rename: the new pack is added once, below */
	if (fsync(s->wfd) < 0)
		return -errno;
	qsort(s->plist, s->npend, sizeof(*s->plist), cmp_loc);
	ib = xcalloc(1, ilen);
	memcpy(ib, IDX_MAGIC, 8);
	put_le32(ib + 8, PACK_VERSION);
	put_le32(ib + 12, (uint32_t)s->npend);
	for (size_t i = 0; i < s->npend; i++) {
		unsigned char *e = ib + IDX_HDR + i * IDX_ENT;

		memcpy(e, s->plist[i].hash, STORE_HASH_LEN);
		put_le64(e + 32, s->plist[i].off);
		put_le32(e + 40, s->plist[i].len);
	}
	store_sha256_hex(ib, ilen, id);
	id[PACK_ID_LEN] = '\0';
	itmp = xasprintf("%s/.tmp-XXXXXX.idx", s->packdir);
	if ((fd = mkostemps(itmp, 4, O_CLOEXEC)) < 0) {
		r = -errno;
		free(itmp);
		itmp = NULL;
		goto out;
	}
	if ((r = write_all(fd, ib, ilen)) < 0)
		goto out;
	if (fsync(fd) < 0 || close(fd) < 0) {
		r = -errno;
		fd = -1;
		goto out;
	}
	fd = -1;
	ppath = pack_path(s, id, ".pack");
	ipath = pack_path(s, id, ".idx");
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
	/* The handle keeps reading its own pack through the same descriptor. */
	load_index(s);
	add_pack(s, id, s->plist, s->npend, ilen, s->wfd);
	s->plist = NULL;
	s->wfd = -1;
	drop_pending(s);
out:
	closefd(&fd);
	if (r < 0) {
		if (itmp != NULL)
			(void)unlink(itmp);
		/* A pack without its index is garbage: do not leave it for gc. */
		if (pack_named && itmp != NULL)
			(void)unlink(ppath);
		drop_pending(s);
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
		drop_pending(s);	/* a pack that holds no record */
		return 0;
	}
	return commit_pack(s);
}

/* Chunks a file of size bytes has. */
static uint64_t
chunk_count(int64_t size)
{
	return ((uint64_t)size + STORE_CHUNK_SIZE - 1) / STORE_CHUNK_SIZE;
}

int
store_check_entry(struct store *s, const char *name, struct json_object *entry,
    bool check_chunks, char *err, size_t errlen)
{
	struct json_object	*list;
	int			 r;

	/* The largest file of any kind: the manifest's loader applied the limit of its kind. */
	if ((r = snapshot_entry_check(name, entry, SNAPSHOT_DISK_FILE_MAX, err,
	    errlen)) < 0 || !check_chunks)
		return r;
	json_object_object_get_ex(entry, "chunks", &list);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i);

		if (json_object_is_type(c, json_type_string) &&
		    store_chunk_bytes(s, json_object_get_string(c)) < 0) {
			snprintf(err, errlen, "%s: chunk %s (element %zu of its list) "
			    "is missing from the chunk store %s", name,
			    json_object_get_string(c), i, s->root);
			return -EBADMSG;
		}
	}
	return 0;
}

int64_t
store_chunk_bytes(struct store *s, const char *hex)
{
	const struct loc	*l = find_loc(s, hex);
	struct stat		 sb;

	if (l != NULL)
		return l->len;
	return have_loose(s, hex, &sb) ? (int64_t)sb.st_size : -1;
}

/*
 * Does the zstd frame at f (flen bytes) end with a content checksum?  Its
 * frame header descriptor, after the magic number, says so in bit 2
 * (RFC 8878, 3.1.1.1.1).
 */
static bool
frame_has_checksum(const unsigned char *f, size_t flen)
{
	return flen > 4 && get_le32(f) == ZSTD_MAGICNUMBER && (f[4] & 0x04) != 0;
}

/* See store.h. */
void
store_trust_frame_checksums(struct store *s)
{
	s->trust_frame_sums = true;
}

/*
 * Check the frame in s->zbuf (flen bytes): it decompresses to exactly len
 * bytes (into out: s->buf, or the caller's memory) whose hash is hex.
 * where names it for messages.  0, or -EBADMSG with what is wrong in err.
 */
static int
check_frame(struct store *s, const char *hex, size_t len, size_t flen,
    unsigned char *out, const char *where, char *err, size_t errlen)
{
	char			 got[STORE_HEX_LEN + 1];
	unsigned long long	 content;
	size_t			 n;

	content = ZSTD_getFrameContentSize(s->zbuf, flen);
	if (content != len) {
		snprintf(err, errlen, "%s is truncated or corrupt (not a %zu-byte "
		    "zstd frame)", where, len);
		return -EBADMSG;
	}
	/* Exactly len: out may be the end of a mapping. */
	n = ZSTD_decompressDCtx(s->dctx, out, len, s->zbuf, flen);
	if (ZSTD_isError(n) || n != len) {
		snprintf(err, errlen, "%s is truncated or corrupt (zstd: %s)", where,
		    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
		return -EBADMSG;
	}
	/*
	 * The frame's checksum, verified by the decompression, fixes the
	 * content as stored under this name (the record header names it).
	 */
	if (s->trust_frame_sums && frame_has_checksum(s->zbuf, flen))
		return 0;
	store_sha256_hex(out, len, got);
	if (strcmp(got, hex) != 0) {
		snprintf(err, errlen, "%s is corrupt (its content hashes to "
		    "%.16s...)", where, got);
		return -EBADMSG;
	}
	return 0;
}

/*
 * Read the record of l (its header and frame, into s->rec) and check that
 * it is the record of l's chunk.  pack names the pack for messages.
 * 0, or -EBADMSG with what is wrong in err.
 */
int
read_record(struct store *s, const struct loc *l, const char *hex,
    const char *pack, char *err, size_t errlen)
{
	ssize_t	n;
	int	fd;

	if ((fd = pack_fd(s, l->pack)) < 0) {
		snprintf(err, errlen, "chunk %s is missing from the chunk store %s "
		    "(its pack %s: %s)", hex, s->root, pack, strerror(-fd));
		return -EBADMSG;
	}
	if (l->len > FRAME_MAX || l->off < PACK_HDR + REC_HDR) {
		snprintf(err, errlen, "pack %s is truncated or corrupt: its index "
		    "gives chunk %s %u bytes at offset %llu", pack, hex, l->len,
		    (unsigned long long)l->off);
		return -EBADMSG;
	}
	n = pread_some(fd, s->rec, REC_HDR + l->len, (off_t)(l->off - REC_HDR));
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
	if (memcmp(s->rec, l->hash, STORE_HASH_LEN) != 0 ||
	    get_le32(s->rec + STORE_HASH_LEN) != l->len) {
		snprintf(err, errlen, "pack %s is corrupt at offset %llu: the record "
		    "there is not chunk %s", pack, (unsigned long long)(l->off - REC_HDR),
		    hex);
		return -EBADMSG;
	}
	return 0;
}

/*
 * Load chunk hex into out (s->buf, or len bytes of the caller's; its frame
 * in s->zbuf), checking it decompresses to exactly len bytes whose hash is
 * hex.  0, or -EBADMSG with what is wrong in err.
 */
static int
get_chunk(struct store *s, const char *hex, size_t len, unsigned char *out,
    size_t *ret_flen, char *err, size_t errlen)
{
	const struct loc	*l = find_loc(s, hex);
	struct stat		 sb;
	char			*path, *where;
	ssize_t			 rd;
	int			 fd, r;

	if (l != NULL) {
		path = pack_name_of(s, l->pack);
		if ((r = read_record(s, l, hex, path, err, errlen)) == 0) {
			where = xasprintf("chunk %s in pack %s at offset %llu", hex,
			    path, (unsigned long long)l->off);
			r = check_frame(s, hex, len, l->len, out, where, err,
			    errlen);
			free(where);
			if (r == 0 && ret_flen != NULL)
				*ret_flen = l->len;
		}
		free(path);
		return r;
	}
	if (!have_loose(s, hex, &sb)) {
		snprintf(err, errlen, "chunk %s is missing from the chunk store %s%s%s",
		    hex, s->root, s->idx_err[0] ? "; " : "", s->idx_err);
		return -EBADMSG;
	}
	/* A loose chunk file of a store written before packs. */
	path = chunk_path(s, hex);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "chunk %s is missing from the chunk store "
		    "(%s: %s)", hex, path, strerror(errno));
		free(path);
		return -EBADMSG;
	}
	r = -EBADMSG;
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size > FRAME_MAX) {
		snprintf(err, errlen, "chunk file %s is too large", path);
		goto out;
	}
	rd = pread_some(fd, s->zbuf, (size_t)sb.st_size, 0);
	if (rd != sb.st_size) {
		snprintf(err, errlen, "chunk file %s cannot be read", path);
		goto out;
	}
	where = xasprintf("chunk file %s", path);
	r = check_frame(s, hex, len, (size_t)rd, out, where, err, errlen);
	free(where);
	if (r == 0 && ret_flen != NULL)
		*ret_flen = (size_t)rd;
out:
	close(fd);
	free(path);
	return r;
}

/* A checked file entry's size and chunk list.  0 or -EBADMSG (err). */
static int
entry_shape(struct store *s, const char *name, struct json_object *entry,
    int64_t *ret_size, struct json_object **ret_list, char *err, size_t errlen)
{
	struct json_object	*v;
	int			 r;

	if ((r = store_check_entry(s, name, entry, false, err, errlen)) < 0)
		return r;
	json_object_object_get_ex(entry, "size", &v);
	*ret_size = json_object_get_int64(v);
	json_object_object_get_ex(entry, "chunks", ret_list);
	return 0;
}

int
store_read_entry(struct store *s, const char *name, struct json_object *entry,
    int fd, char *err, size_t errlen)
{
	struct json_object	*list;
	char			 why[2 * PATH_MAX + 256];
	int64_t			 size;
	uint64_t		 idx = 0;
	int			 r;

	if ((r = entry_shape(s, name, entry, &size, &list, err, errlen)) < 0)
		return r;
	/* Truncating to 0 first makes every zero run a hole. */
	if (fd >= 0 && (ftruncate(fd, 0) < 0 || ftruncate(fd, size) < 0)) {
		r = -errno;
		snprintf(err, errlen, "writing %s: %s", name, strerror(-r));
		return r;
	}
	/*
	 * Every chunk's length and hash are checked, and with the manifest's
	 * chunk list they fix every byte: no whole-file hash, whose cost (the
	 * zero runs hashed as zeros) would be the size the entry declares.
	 */
	for (size_t i = 0; i < json_object_array_length(list) && r == 0; i++) {
		struct json_object	*c = json_object_array_get_idx(list, i);
		off_t			 off;
		size_t			 len;

		if (json_object_is_type(c, json_type_int)) {
			idx += (uint64_t)json_object_get_int64(c);	/* a hole */
			continue;
		}
		off = (off_t)(idx * STORE_CHUNK_SIZE);
		len = chunk_len(size, off);
		if (get_chunk(s, json_object_get_string(c), len, s->buf, NULL, why,
		    sizeof(why)) < 0) {
			snprintf(err, errlen, "%s, chunk %llu (bytes %lld-%lld): %s",
			    name, (unsigned long long)idx, (long long)off,
			    (long long)(off + (off_t)len - 1), why);
			return -EBADMSG;
		}
		for (size_t done = 0; fd >= 0 && done < len;) {
			ssize_t w = pwrite(fd, s->buf + done, len - done,
			    off + (off_t)done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r = -errno;
				snprintf(err, errlen, "writing %s: %s", name,
				    strerror(errno));
				break;
			}
			done += (size_t)w;
		}
		idx++;
	}
	return r;
}

int
store_check_chunks(struct store *s, const char *name, struct json_object *entry,
    struct store_hashset *checked, char *err, size_t errlen)
{
	struct json_object	*list;
	char			 why[2 * PATH_MAX + 256];
	uint64_t		 idx = 0;
	int64_t			 size;
	int			 r;

	if ((r = entry_shape(s, name, entry, &size, &list, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object	*c = json_object_array_get_idx(list, i);
		const char		*hex;
		off_t			 off;
		size_t			 len;

		if (json_object_is_type(c, json_type_int)) {
			idx += (uint64_t)json_object_get_int64(c);
			continue;
		}
		hex = json_object_get_string(c);
		off = (off_t)(idx++ * STORE_CHUNK_SIZE);
		len = chunk_len(size, off);
		/* A full chunk checked once stands for every other use of it. */
		if (len == STORE_CHUNK_SIZE && store_hashset_has(checked, hex))
			continue;
		if (get_chunk(s, hex, len, s->buf, NULL, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s, chunk %llu (bytes %lld-%lld): %s",
			    name, (unsigned long long)(idx - 1), (long long)off,
			    (long long)(off + (off_t)len - 1), why);
			return -EBADMSG;
		}
		if (len == STORE_CHUNK_SIZE)
			store_hashset_add(checked, hex);
	}
	return 0;
}

int
store_check_manifest(struct store *s, struct json_object *man, char *err,
    size_t errlen)
{
	struct store_hashset	*checked = store_hashset_new();
	struct json_object	*files, *f, *v;
	int			 r = 0;

	if (json_object_object_get_ex(man, "files", &files) &&
	    json_object_is_type(files, json_type_array))
		for (size_t i = 0; r == 0 && i < json_object_array_length(files); i++) {
			f = json_object_array_get_idx(files, i);
			if (!json_object_object_get_ex(f, "path", &v) ||
			    !json_object_is_type(v, json_type_string)) {
				snprintf(err, errlen, "manifest: files[%zu].\"path\" "
				    "must be a string", i);
				r = -EBADMSG;
			} else
				r = store_check_chunks(s, json_object_get_string(v), f,
				    checked, err, errlen);
		}
	if (r == 0 && json_object_object_get_ex(man, "kernel", &f) &&
	    json_object_object_get_ex(f, "chunks", &v))
		r = store_check_chunks(s, "the kernel binary", f, checked, err, errlen);
	store_hashset_free(checked);
	return r;
}

int
store_read_entry_into(struct store *s, const char *name,
    struct json_object *entry, unsigned char *map, unsigned int part,
    unsigned int nparts, char *err, size_t errlen)
{
	struct json_object	*list;
	char			 why[2 * PATH_MAX + 256];
	uint64_t		 idx = 0, n = 0;
	int64_t			 size;
	int			 r;

	if ((r = entry_shape(s, name, entry, &size, &list, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object	*c = json_object_array_get_idx(list, i);
		off_t			 off;
		size_t			 len;

		if (json_object_is_type(c, json_type_int)) {
			idx += (uint64_t)json_object_get_int64(c);	/* stays zero */
			continue;
		}
		off = (off_t)(idx++ * STORE_CHUNK_SIZE);
		if (n++ % nparts != part)
			continue;
		len = chunk_len(size, off);
		if (get_chunk(s, json_object_get_string(c), len, map + off, NULL,
		    why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s, chunk %llu (bytes %lld-%lld): %s",
			    name, (unsigned long long)(idx - 1), (long long)off,
			    (long long)(off + (off_t)len - 1), why);
			return -EBADMSG;
		}
	}
	return 0;
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

/* Visit the data chunks of one file entry with their lengths.  n or -EBADMSG. */
static int
entry_chunks(struct json_object *entry,
    void (*fn)(const char *hex, size_t len, void *arg), void *arg)
{
	struct json_object	*list, *jsize;
	int64_t			 size = INT64_MAX;
	uint64_t		 idx = 0;
	int			 n = 0;

	if (!json_object_object_get_ex(entry, "chunks", &list) ||
	    !json_object_is_type(list, json_type_array))
		return 0;
	if (json_object_object_get_ex(entry, "size", &jsize) &&
	    json_object_is_type(jsize, json_type_int))
		size = json_object_get_int64(jsize);
	if (size < 0)
		return -EBADMSG;
	for (size_t j = 0; j < json_object_array_length(list); j++) {
		struct json_object	*c = json_object_array_get_idx(list, j);
		uint64_t		 off = idx * STORE_CHUNK_SIZE;
		int64_t			 run;

		if (json_object_is_type(c, json_type_int)) {
			/* Never past the file's end: a wrapped offset would give a huge length. */
			run = json_object_get_int64(c);
			if (run <= 0 || (uint64_t)run > chunk_count(size) - idx)
				return -EBADMSG;
			idx += (uint64_t)run;
			continue;
		}
		if (!json_object_is_type(c, json_type_string) ||
		    !valid_hex(json_object_get_string(c)) || idx >= chunk_count(size))
			return -EBADMSG;
		fn(json_object_get_string(c), chunk_len(size, (off_t)off), arg);
		idx++;
		n++;
	}
	return n;
}

int
store_manifest_chunks(struct json_object *man,
    void (*fn)(const char *hex, size_t len, void *arg), void *arg)
{
	struct json_object	*files, *k;
	int			 n = 0, r;

	if (json_object_object_get_ex(man, "files", &files) &&
	    json_object_is_type(files, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(files); i++) {
			r = entry_chunks(json_object_array_get_idx(files, i), fn, arg);
			if (r < 0)
				return r;
			n += r;
		}
	}
	if (json_object_object_get_ex(man, "kernel", &k)) {
		if ((r = entry_chunks(k, fn, arg)) < 0)
			return r;
		n += r;
	}
	return n;
}

struct hashes_arg {
	void	(*fn)(const char *hex, void *arg);
	void	*arg;
};

static void
hashes_adapter(const char *hex, size_t len, void *arg)
{
	struct hashes_arg *h = arg;

	(void)len;
	h->fn(hex, h->arg);
}

int
store_manifest_hashes(struct json_object *man,
    void (*fn)(const char *hex, void *arg), void *arg)
{
	struct hashes_arg h = { fn, arg };

	return store_manifest_chunks(man, hashes_adapter, &h);
}

/* --- Chunks as stored frames, for export and import. --- */

bool
store_has_chunk(struct store *s, const char *hex)
{
	return valid_hex(hex) && have_chunk(s, hex);
}

int
store_chunk_frame(struct store *s, const char *hex, size_t len,
    const void **ret_frame, size_t *ret_flen, char *err, size_t errlen)
{
	int r;

	if (!valid_hex(hex)) {
		snprintf(err, errlen, "malformed chunk name %.80s", hex);
		return -EBADMSG;
	}
	if ((r = get_chunk(s, hex, len, s->buf, ret_flen, err, errlen)) < 0)
		return r;
	*ret_frame = s->zbuf;
	return 0;
}

int
store_put_frame(struct store *s, const char *hex, const void *frame,
    size_t flen, size_t *ret_len, struct store_stats *st, char *err,
    size_t errlen)
{
	char			 got[STORE_HEX_LEN + 1];
	unsigned long long	 content;
	size_t			 n;

	if (!valid_hex(hex)) {
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
	n = ZSTD_decompressDCtx(s->dctx, s->buf, STORE_CHUNK_SIZE, frame, flen);
	if (ZSTD_isError(n) || n != content) {
		snprintf(err, errlen, "chunk %s does not decompress (zstd: %s)", hex,
		    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
		return -EBADMSG;
	}
	store_sha256_hex(s->buf, n, got);
	if (strcmp(got, hex) != 0) {
		snprintf(err, errlen, "chunk %s is corrupt (its content hashes to "
		    "%.16s...)", hex, got);
		return -EBADMSG;
	}
	*ret_len = n;
	st->chunks++;
	st->data_bytes += n;
	if (have_chunk(s, hex)) {
		st->dedup_chunks++;
		return 0;
	}
	return pack_append(s, hex, frame, flen, st);
}
