/* SPDX-License-Identifier: MIT */
/*
 * File entries (store.h): {"size", "sha256" (older saves), "chunks"} as
 * store_put_file describes a file.  Checking an entry's shape before any
 * of its chunks is touched (an entry may come from a directory a user can
 * write, or from a stream), and reading it back: chunk by chunk, each
 * checked against its name, into a file, into memory (on several threads
 * for a large one) or only to check it.
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

/* Threads that read one entry into memory (the restore ran on two before the pool). */
#define READ_SHARES	2

/* A member of entry, checked to be of type t (what says so).  0 or -EBADMSG. */
static int
entry_member(struct json_object *entry, const char *where, const char *key,
    enum json_type t, const char *what, bool required,
    struct json_object **ret, char *err, size_t errlen)
{
	*ret = NULL;
	if (!json_object_object_get_ex(entry, key, ret)) {
		if (!required)
			return 0;
		snprintf(err, errlen, "%s\"%s\" is missing (it must be %s)", where,
		    key, what);
		return -EBADMSG;
	}
	if (!json_object_is_type(*ret, t)) {
		snprintf(err, errlen, "%s\"%s\" must be %s", where, key, what);
		return -EBADMSG;
	}
	return 0;
}

/* The chunk list of an entry of size bytes adds up to its chunks.  0 or -EBADMSG. */
static int
entry_list_check(const char *where, struct json_object *list, uint64_t size,
    char *err, size_t errlen)
{
	uint64_t need = store_chunk_count((int64_t)size), n = 0;

	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object	*c = json_object_array_get_idx(list, i);
		int64_t			 run;

		if (json_object_is_type(c, json_type_int)) {
			/* Checked against what is left: the sum can never wrap. */
			run = json_object_get_int64(c);
			if (run <= 0 || (uint64_t)run > need - n) {
				snprintf(err, errlen, "%s\"chunks\"[%zu]: a zero run of "
				    "%lld chunks; it must be 1 to %llu (the chunks left "
				    "of %llu bytes)", where, i, (long long)run,
				    (unsigned long long)(need - n),
				    (unsigned long long)size);
				return -EBADMSG;
			}
			n += (uint64_t)run;
			continue;
		}
		if (!json_object_is_type(c, json_type_string) ||
		    !store_valid_hex(json_object_get_string(c))) {
			snprintf(err, errlen, "%s\"chunks\"[%zu] must be a chunk's "
			    "SHA-256 (64 lower-case hex digits) or a zero-run count",
			    where, i);
			return -EBADMSG;
		}
		if (n == need) {
			snprintf(err, errlen, "%s\"chunks\" lists more than the %llu "
			    "chunks of %llu bytes", where, (unsigned long long)need,
			    (unsigned long long)size);
			return -EBADMSG;
		}
		n++;
	}
	if (n != need) {
		snprintf(err, errlen, "%s\"chunks\" lists %llu chunks; %llu bytes "
		    "need %llu", where, (unsigned long long)n,
		    (unsigned long long)size, (unsigned long long)need);
		return -EBADMSG;
	}
	return 0;
}

int
store_entry_check(const char *name, struct json_object *entry,
    uint64_t max_size, char *err, size_t errlen)
{
	static const char	 sha[] = "a SHA-256 (64 lower-case hex digits)";
	struct json_object	*v, *list;
	char			 where[PATH_MAX + 32];
	int			 r;

	snprintf(where, sizeof(where), "manifest: %s: ", name);
	if (!json_object_is_type(entry, json_type_object)) {
		snprintf(err, errlen, "%sthe entry must be an object", where);
		return -EBADMSG;
	}
	if ((r = entry_member(entry, where, "size", json_type_int, "an integer",
	    true, &v, err, errlen)) < 0)
		return r;
	if (json_object_get_int64(v) < 0 ||
	    (uint64_t)json_object_get_int64(v) > max_size) {
		snprintf(err, errlen, "%s\"size\" %lld is out of range (0 to %llu "
		    "bytes for this file)", where, (long long)json_object_get_int64(v),
		    (unsigned long long)max_size);
		return -EBADMSG;
	}
	if ((r = entry_member(entry, where, "sha256", json_type_string, sha,
	    false, &list, err, errlen)) < 0)
		return r;
	if (list != NULL && !store_valid_hex(json_object_get_string(list))) {
		snprintf(err, errlen, "%s\"sha256\" must be %s", where, sha);
		return -EBADMSG;
	}
	if ((r = entry_member(entry, where, "chunks", json_type_array, "an array",
	    true, &list, err, errlen)) < 0)
		return r;
	return entry_list_check(where, list, (uint64_t)json_object_get_int64(v),
	    err, errlen);
}

int
store_check_entry(struct store *s, const char *name, struct json_object *entry,
    bool check_chunks, char *err, size_t errlen)
{
	struct json_object	*list;
	int			 r;

	/* The largest file of any kind: the manifest's loader applied the limit of its kind. */
	if ((r = store_entry_check(name, entry, STORE_FILE_MAX, err, errlen)) < 0 ||
	    !check_chunks)
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
	const struct loc	*l = store_find_loc(s, hex);
	struct stat		 sb;

	if (l != NULL)
		return l->len;
	return store_have_loose(s, hex, &sb) ? (int64_t)sb.st_size : -1;
}

/*
 * Does the zstd frame at f (flen bytes) end with a content checksum?  Its
 * frame header descriptor, after the magic number, says so in bit 2
 * (RFC 8878, 3.1.1.1.1).
 */
static bool
frame_has_checksum(const unsigned char *f, size_t flen)
{
	return flen > 4 && store_get_le32(f) == ZSTD_MAGICNUMBER && (f[4] & 0x04) != 0;
}

/*
 * Check the frame in c->zbuf (flen bytes): it decompresses to exactly len
 * bytes (into out: c->buf, or the caller's memory) whose hash is hex.
 * where names it for messages.  0, or -EBADMSG with what is wrong in err.
 */
static int
check_frame(struct store_ctx *c, const char *hex, size_t len, size_t flen,
    unsigned char *out, const char *where, char *err, size_t errlen)
{
	char			 got[STORE_HEX_LEN + 1];
	unsigned long long	 content;
	size_t			 n;

	content = ZSTD_getFrameContentSize(c->zbuf, flen);
	if (content != len) {
		snprintf(err, errlen, "%s is truncated or corrupt (not a %zu-byte "
		    "zstd frame)", where, len);
		return -EBADMSG;
	}
	/* Exactly len: out may be the end of a mapping. */
	n = ZSTD_decompressDCtx(c->dctx, out, len, c->zbuf, flen);
	if (ZSTD_isError(n) || n != len) {
		snprintf(err, errlen, "%s is truncated or corrupt (zstd: %s)", where,
		    ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
		return -EBADMSG;
	}
	/*
	 * The frame's checksum, verified by the decompression, fixes the
	 * content as stored under this name (the record header names it).
	 */
	if (c->s->trust_frame_sums && frame_has_checksum(c->zbuf, flen))
		return 0;
	store_sha256_hex(out, len, got);
	if (strcmp(got, hex) != 0) {
		snprintf(err, errlen, "%s is corrupt (its content hashes to "
		    "%.16s...)", where, got);
		return -EBADMSG;
	}
	return 0;
}

/* Load loose chunk file hex of an older store into out, as get_chunk. */
static int
get_loose_chunk(struct store_ctx *c, const char *hex, size_t len,
    unsigned char *out, size_t *ret_flen, char *err, size_t errlen)
{
	char		*path = store_loose_path(c->s, hex), *where;
	struct stat	 sb;
	ssize_t		 rd;
	int		 fd, r;

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
	rd = store_pread_some(fd, c->zbuf, (size_t)sb.st_size, 0);
	if (rd != sb.st_size) {
		snprintf(err, errlen, "chunk file %s cannot be read", path);
		goto out;
	}
	where = xasprintf("chunk file %s", path);
	r = check_frame(c, hex, len, (size_t)rd, out, where, err, errlen);
	free(where);
	if (r == 0 && ret_flen != NULL)
		*ret_flen = (size_t)rd;
out:
	close(fd);
	free(path);
	return r;
}

/*
 * Load chunk hex into out (c->buf, or len bytes of the caller's; its frame
 * in c->zbuf), checking it decompresses to exactly len bytes whose hash is
 * hex.  0, or -EBADMSG with what is wrong in err.
 */
static int
get_chunk(struct store_ctx *c, const char *hex, size_t len, unsigned char *out,
    size_t *ret_flen, char *err, size_t errlen)
{
	struct store		*s = c->s;
	const struct loc	*l = store_find_loc(s, hex);
	struct stat		 sb;
	char			*path, *where;
	int			 r;

	if (l != NULL) {
		path = store_pack_name_of(s, l->pack);
		if ((r = store_read_record(c, l, hex, path, err, errlen)) == 0) {
			where = xasprintf("chunk %s in pack %s at offset %llu", hex,
			    path, (unsigned long long)l->off);
			r = check_frame(c, hex, len, l->len, out, where, err, errlen);
			free(where);
			if (r == 0 && ret_flen != NULL)
				*ret_flen = l->len;
		}
		free(path);
		return r;
	}
	if (!store_have_loose(s, hex, &sb)) {
		snprintf(err, errlen, "chunk %s is missing from the chunk store %s%s%s",
		    hex, s->root, s->idx_err[0] ? "; " : "", s->idx_err);
		return -EBADMSG;
	}
	return get_loose_chunk(c, hex, len, out, ret_flen, err, errlen);
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

/* Chunk idx of name (len bytes at off) could not be loaded: why, in err. */
static int
chunk_error(const char *name, uint64_t idx, off_t off, size_t len,
    const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s, chunk %llu (bytes %lld-%lld): %s", name,
	    (unsigned long long)idx, (long long)off,
	    (long long)(off + (off_t)len - 1), why);
	return -EBADMSG;
}

int
store_read_entry(struct store *s, const char *name, struct json_object *entry,
    int fd, char *err, size_t errlen)
{
	struct store_ctx	*c = &s->ctx;
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
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object	*jc = json_object_array_get_idx(list, i);
		off_t			 off;
		size_t			 len;

		if (json_object_is_type(jc, json_type_int)) {
			idx += (uint64_t)json_object_get_int64(jc);	/* a hole */
			continue;
		}
		off = (off_t)(idx * STORE_CHUNK_SIZE);
		len = store_chunk_len(size, off);
		if (get_chunk(c, json_object_get_string(jc), len, c->buf, NULL, why,
		    sizeof(why)) < 0)
			return chunk_error(name, idx, off, len, why, err, errlen);
		if (fd >= 0 && (r = store_pwrite_all(fd, c->buf, len, off)) < 0) {
			snprintf(err, errlen, "writing %s: %s", name, strerror(-r));
			return r;
		}
		idx++;
	}
	return 0;
}

int
store_check_chunks(struct store *s, const char *name, struct json_object *entry,
    struct store_hashset *checked, char *err, size_t errlen)
{
	struct store_ctx	*c = &s->ctx;
	struct json_object	*list;
	char			 why[2 * PATH_MAX + 256];
	uint64_t		 idx = 0;
	int64_t			 size;
	int			 r;

	if ((r = entry_shape(s, name, entry, &size, &list, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object	*jc = json_object_array_get_idx(list, i);
		const char		*hex;
		off_t			 off;
		size_t			 len;

		if (json_object_is_type(jc, json_type_int)) {
			idx += (uint64_t)json_object_get_int64(jc);
			continue;
		}
		hex = json_object_get_string(jc);
		off = (off_t)(idx++ * STORE_CHUNK_SIZE);
		len = store_chunk_len(size, off);
		/* A full chunk checked once stands for every other use of it. */
		if (len == STORE_CHUNK_SIZE && store_hashset_has(checked, hex))
			continue;
		if (get_chunk(c, hex, len, c->buf, NULL, why, sizeof(why)) < 0)
			return chunk_error(name, idx - 1, off, len, why, err, errlen);
		if (len == STORE_CHUNK_SIZE)
			store_hashset_add(checked, hex);
	}
	return 0;
}

/* One entry being read into memory by several shares. */
struct read_into {
	struct store		*s;
	const char		*name;
	struct json_object	*list;		/* checked; read only */
	int64_t			 size;
	unsigned char		*map;
	int			 r[READ_SHARES];
	char			 err[READ_SHARES][2 * PATH_MAX + 512];
};

/* Decompress and check every nshares-th data chunk, from number share on. */
static int
read_into_share(struct read_into *ri, struct store_ctx *c, unsigned int share,
    unsigned int nshares)
{
	char		why[2 * PATH_MAX + 256];
	uint64_t	idx = 0, n = 0;

	for (size_t i = 0; i < json_object_array_length(ri->list); i++) {
		struct json_object	*jc = json_object_array_get_idx(ri->list, i);
		off_t			 off;
		size_t			 len;

		if (json_object_is_type(jc, json_type_int)) {
			idx += (uint64_t)json_object_get_int64(jc);	/* stays zero */
			continue;
		}
		off = (off_t)(idx++ * STORE_CHUNK_SIZE);
		if (n++ % nshares != share)
			continue;
		len = store_chunk_len(ri->size, off);
		if (get_chunk(c, json_object_get_string(jc), len, ri->map + off,
		    NULL, why, sizeof(why)) < 0)
			return chunk_error(ri->name, idx - 1, off, len, why,
			    ri->err[share], sizeof(ri->err[share]));
	}
	return 0;
}

/* A worker_parallel share: the handle's context for share 0, a new one else. */
static void
read_into_run(void *arg, unsigned int share, unsigned int nshares)
{
	struct read_into	*ri = arg;
	struct store_ctx	 c;

	if (share == 0) {
		ri->r[0] = read_into_share(ri, &ri->s->ctx, share, nshares);
		return;
	}
	store_ctx_init(&c, ri->s);
	ri->r[share] = read_into_share(ri, &c, share, nshares);
	store_ctx_fini(&c);
}

int
store_read_entry_into(struct store *s, const char *name,
    struct json_object *entry, unsigned char *map, char *err, size_t errlen)
{
	struct read_into	*ri;
	int			 r;

	ri = xcalloc(1, sizeof(*ri));
	ri->s = s;
	ri->name = name;
	ri->map = map;
	if ((r = entry_shape(s, name, entry, &ri->size, &ri->list, err,
	    errlen)) == 0) {
		/* The shares only read the index: load it before they start. */
		store_index_load(s);
		worker_parallel(READ_SHARES, read_into_run, ri);
		for (unsigned int i = 0; i < READ_SHARES && r == 0; i++)
			if ((r = ri->r[i]) < 0)
				snprintf(err, errlen, "%s", ri->err[i]);
	}
	free(ri);
	return r;
}

int
store_read_chunk(struct store *s, const char *hex, size_t len,
    unsigned char *out, char *err, size_t errlen)
{
	if (!store_valid_hex(hex)) {
		snprintf(err, errlen, "malformed chunk name %.80s", hex);
		return -EBADMSG;
	}
	if (len == 0 || len > STORE_CHUNK_SIZE) {
		snprintf(err, errlen, "chunk %s: bad length %zu", hex, len);
		return -EBADMSG;
	}
	return get_chunk(&s->ctx, hex, len, out, NULL, err, errlen);
}

bool
store_has_chunk(struct store *s, const char *hex)
{
	return store_valid_hex(hex) && store_have_chunk(s, hex);
}

int
store_chunk_frame(struct store *s, const char *hex, size_t len,
    const void **ret_frame, size_t *ret_flen, char *err, size_t errlen)
{
	int r;

	if (!store_valid_hex(hex)) {
		snprintf(err, errlen, "malformed chunk name %.80s", hex);
		return -EBADMSG;
	}
	if ((r = get_chunk(&s->ctx, hex, len, s->ctx.buf, ret_flen, err,
	    errlen)) < 0)
		return r;
	*ret_frame = s->ctx.zbuf;
	return 0;
}
