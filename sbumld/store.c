/* SPDX-License-Identifier: MIT */
/*
 * The per-host chunk store.  A file is cut into fixed 64 KiB chunks (page
 * aligned, so a guest page never straddles two chunks); a chunk that is a
 * hole or all zeros is a zero run in the file's chunk list and costs
 * nothing; any other chunk is named by the SHA-256 of its content and kept
 * once, as one zstd frame, in <root>/chunks/<aa>/<hex>.zst.  A chunk file
 * is written to a temporary name, fsync'ed and renamed, so a name that
 * exists always holds a complete chunk; store_sync() then fsyncs the chunk
 * directories before any manifest refers to the new names.
 *
 * Garbage collection is mark and sweep over the snapshots registered in
 * <root>/refs/ (one symlink per snapshot directory) plus the named snapshot
 * directory: a chunk is deleted only if no readable manifest refers to it,
 * never while a writer in this process is active (its chunks are not in any
 * manifest yet), and not at all if a registered manifest cannot be read.
 */
#include <dirent.h>
#include <errno.h>
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

#define MANIFEST_MAX	(64 * 1024 * 1024)

struct store {
	char		*root;
	ZSTD_CCtx	*cctx;
	ZSTD_DCtx	*dctx;
	unsigned char	*buf;		/* one uncompressed chunk */
	unsigned char	*zbuf;		/* one compressed chunk */
	size_t		 zcap;
	bool		 touched[256];	/* chunk dirs written since store_sync */
	bool		 made[256];	/* chunk dirs known to exist */
	/* Chunks written to .tmp- files, named by store_sync() after one syncfs. */
	struct pending {
		char	*tmp;
		char	 hex[STORE_HEX_LEN + 1];
	}		*pending;
	size_t		 npending, cappending;
	struct store_hashset *pending_set;
};

static void	drop_pending(struct store *);

static int	store_writers;

struct store *
store_open(const char *root, char *err, size_t errlen)
{
	struct store	*s;
	char		*p;
	int		 r;

	p = xasprintf("%s/chunks", root);
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
	s->cctx = ZSTD_createCCtx();
	s->dctx = ZSTD_createDCtx();
	if (s->cctx == NULL || s->dctx == NULL)
		fatalx("zstd: out of memory");
	s->buf = xmalloc(STORE_CHUNK_SIZE);
	s->zcap = ZSTD_compressBound(STORE_CHUNK_SIZE);
	s->zbuf = xmalloc(s->zcap);
	return s;
}

struct store *
store_free(struct store *s)
{
	if (s == NULL)
		return NULL;
	drop_pending(s);
	ZSTD_freeCCtx(s->cctx);
	ZSTD_freeDCtx(s->dctx);
	free(s->buf);
	free(s->zbuf);
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

/* Lower-case hex of n bytes into out (2n+1 bytes). */
static void
to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* True if hex is STORE_HEX_LEN lower-case hex digits. */
static bool
valid_hex(const char *hex)
{
	size_t i;

	for (i = 0; hex[i] != '\0'; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return false;
	return i == STORE_HEX_LEN;
}

/* SHA-256 of buf as hex. */
static void
hash_hex(const void *buf, size_t len, char out[STORE_HEX_LEN + 1])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen = 0;

	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != STORE_HASH_LEN)
		fatalx("libcrypto: SHA-256 failed");
	to_hex(md, STORE_HASH_LEN, out);
}

/* The chunk file of hex (caller frees). */
static char *
chunk_path(const struct store *s, const char *hex)
{
	return xasprintf("%s/chunks/%.2s/%s.zst", s->root, hex, hex);
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

/* True if chunk hex is in the store already. */
static bool
have_chunk(const struct store *s, const char *hex)
{
	char		*path = chunk_path(s, hex);
	struct stat	 sb;
	bool		 have = stat(path, &sb) == 0;

	free(path);
	return have;
}

/* The index (0-255) of a chunk's directory. */
static int
dir_index(const char *hex)
{
	return (int)strtoul((char[3]){ hex[0], hex[1], '\0' }, NULL, 16);
}

/*
 * Write the compressed chunk frame (zlen bytes) for hex into a .tmp- file
 * of its directory, without fsync: store_sync() makes every pending chunk
 * durable with one syncfs() and only then gives them their names, so a
 * crash leaves complete chunks or stray .tmp- files, never a short chunk
 * under its real name.  (One fsync per 64 KiB chunk cost more than all the
 * hashing and compressing together.)
 */
static int
write_chunk_file(struct store *s, const char *hex, const void *frame,
    size_t zlen, struct store_stats *st)
{
	char		*dir, *tmp = NULL;
	int		 fd = -1, r = 0, di = dir_index(hex);

	dir = xasprintf("%s/chunks/%.2s", s->root, hex);
	if (!s->made[di]) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		s->made[di] = true;
	}
	tmp = xasprintf("%s/.tmp-XXXXXX", dir);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		r = -errno;
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if ((r = write_all(fd, frame, zlen)) < 0)
		goto out;
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out;
	}
	fd = -1;
	if (s->npending == s->cappending) {
		s->cappending = s->cappending ? 2 * s->cappending : 256;
		s->pending = xrealloc(s->pending, s->cappending * sizeof(*s->pending));
	}
	s->pending[s->npending].tmp = tmp;
	memcpy(s->pending[s->npending++].hex, hex, STORE_HEX_LEN + 1);
	if (s->pending_set == NULL)
		s->pending_set = store_hashset_new();
	store_hashset_add(s->pending_set, hex);
	tmp = NULL;
	st->new_chunks++;
	st->new_bytes += zlen;
out:
	closefd(&fd);
	if (tmp != NULL) {
		(void)unlink(tmp);
		free(tmp);
	}
	free(dir);
	return r;
}

/* Forget the pending chunks, removing their .tmp- files (a failed save). */
static void
drop_pending(struct store *s)
{
	for (size_t i = 0; i < s->npending; i++) {
		(void)unlink(s->pending[i].tmp);
		free(s->pending[i].tmp);
	}
	free(s->pending);
	s->pending = NULL;
	s->npending = s->cappending = 0;
	s->pending_set = store_hashset_free(s->pending_set);
}

/* True if hex is written by this handle and waiting for store_sync(). */
static bool
is_pending(const struct store *s, const char *hex)
{
	return s->pending_set != NULL && store_hashset_has(s->pending_set, hex);
}

/* Store one chunk (s->buf, len bytes, hash hex) unless it is there already. */
static int
put_chunk(struct store *s, size_t len, const char *hex, struct store_stats *st)
{
	size_t zlen;

	if (is_pending(s, hex) || have_chunk(s, hex)) {
		st->dedup_chunks++;
		return 0;
	}
	zlen = ZSTD_compressCCtx(s->cctx, s->zbuf, s->zcap, s->buf, len,
	    STORE_ZSTD_LEVEL);
	if (ZSTD_isError(zlen))
		return -EIO;
	return write_chunk_file(s, hex, s->zbuf, zlen, st);
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

int
store_put_file(struct store *s, const char *path, struct json_object **ret_entry,
    struct store_stats *stats, char *err, size_t errlen)
{
	struct store_stats	 dummy = { 0 };
	struct json_object	*list = json_object_new_array(), *entry;
	struct stat		 sb;
	char			 hex[STORE_HEX_LEN + 1];
	off_t			 off, next_data = 0;
	int			 fd, r = 0;

	if (stats == NULL)
		stats = &dummy;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		goto out;
	}
	for (off = 0; off < sb.st_size; off += STORE_CHUNK_SIZE) {
		size_t len = sb.st_size - off < STORE_CHUNK_SIZE ?
		    (size_t)(sb.st_size - off) : STORE_CHUNK_SIZE;

		/* A chunk wholly inside a hole is zero without reading it. */
		if (next_data >= 0 && next_data < off) {
			next_data = lseek(fd, off, SEEK_DATA);
			if (next_data < 0 && errno != ENXIO)
				next_data = off;	/* no SEEK_DATA: read */
		}
		if (next_data < 0 || next_data >= off + (off_t)len) {
			stats->zero_chunks++;
			add_zero(list);
			continue;
		}
		if ((r = pread_all(fd, s->buf, len, off)) < 0) {
			snprintf(err, errlen, "%s: read at %lld: %s", path,
			    (long long)off, strerror(-r));
			goto out;
		}
		if (all_zero(s->buf, len)) {
			stats->zero_chunks++;
			add_zero(list);
			continue;
		}
		hash_hex(s->buf, len, hex);
		if ((r = put_chunk(s, len, hex, stats)) < 0) {
			snprintf(err, errlen, "%s: storing chunk %lld: %s", path,
			    (long long)(off / STORE_CHUNK_SIZE), strerror(-r));
			goto out;
		}
		stats->chunks++;
		stats->data_bytes += len;
		json_object_array_add(list, json_object_new_string(hex));
	}
	/*
	 * No whole-file hash: the chunk hashes, in the order of the list, fix
	 * every byte, and hashing the zero runs as zeros cost more than all
	 * the rest of an idle machine's save (bench/store.sh).
	 */
	entry = json_object_new_object();
	json_object_object_add(entry, "size", json_object_new_int64(sb.st_size));
	json_object_object_add(entry, "chunks", list);
	list = NULL;
	*ret_entry = entry;
out:
	json_object_put(list);
	closefd(&fd);
	return r;
}

int
store_sync(struct store *s)
{
	int r = 0, fd;

	if (s->npending > 0) {
		char *top = xasprintf("%s/chunks", s->root);

		/* One flush for every pending chunk's data, then their names. */
		if ((fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		    syncfs(fd) < 0)
			r = -errno;
		if (fd >= 0)
			close(fd);
		free(top);
		for (size_t i = 0; r == 0 && i < s->npending; i++) {
			char *path = chunk_path(s, s->pending[i].hex);

			if (rename(s->pending[i].tmp, path) < 0)
				r = -errno;
			else {
				s->touched[dir_index(s->pending[i].hex)] = true;
				free(s->pending[i].tmp);
				s->pending[i].tmp = NULL;
			}
			free(path);
		}
		if (r < 0) {
			/* Named ones stay (complete and durable); the rest go. */
			for (size_t i = 0; i < s->npending; i++)
				if (s->pending[i].tmp != NULL)
					(void)unlink(s->pending[i].tmp);
		}
		for (size_t i = 0; i < s->npending; i++)
			free(s->pending[i].tmp);
		s->npending = 0;
		s->pending_set = store_hashset_free(s->pending_set);
	}
	for (int i = 0; i < 256; i++) {
		char	*dir;
		int	 q;

		if (!s->touched[i])
			continue;
		dir = xasprintf("%s/chunks/%02x", s->root, i);
		if ((q = fsync_dir(dir)) < 0 && r == 0)
			r = q;
		free(dir);
		s->touched[i] = false;
	}
	return r;
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
	struct json_object	*jsize, *list, *jsha;
	uint64_t		 n = 0;

	if (!json_object_object_get_ex(entry, "size", &jsize) ||
	    !json_object_is_type(jsize, json_type_int) ||
	    json_object_get_int64(jsize) < 0 ||
	    (json_object_object_get_ex(entry, "sha256", &jsha) &&
	    (!json_object_is_type(jsha, json_type_string) ||
	    !valid_hex(json_object_get_string(jsha)))) ||
	    !json_object_object_get_ex(entry, "chunks", &list) ||
	    !json_object_is_type(list, json_type_array)) {
		snprintf(err, errlen, "manifest: malformed entry for %s", name);
		return -EBADMSG;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i);

		if (json_object_is_type(c, json_type_int) &&
		    json_object_get_int64(c) > 0) {
			n += (uint64_t)json_object_get_int64(c);
			continue;
		}
		if (!json_object_is_type(c, json_type_string) ||
		    !valid_hex(json_object_get_string(c))) {
			snprintf(err, errlen, "manifest: %s: malformed chunk %llu",
			    name, (unsigned long long)n);
			return -EBADMSG;
		}
		if (check_chunks && store_chunk_bytes(s, json_object_get_string(c)) < 0) {
			snprintf(err, errlen, "%s: chunk %llu (%s) is missing from "
			    "the chunk store %s", name, (unsigned long long)n,
			    json_object_get_string(c), s->root);
			return -EBADMSG;
		}
		n++;
	}
	if (n != chunk_count(json_object_get_int64(jsize))) {
		snprintf(err, errlen, "manifest: %s: %llu chunks for %lld bytes",
		    name, (unsigned long long)n, (long long)json_object_get_int64(jsize));
		return -EBADMSG;
	}
	return 0;
}

int64_t
store_chunk_bytes(struct store *s, const char *hex)
{
	char		*path = chunk_path(s, hex);
	struct stat	 sb;
	int		 r = stat(path, &sb);

	free(path);
	return r == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : -1;
}

/*
 * Load chunk hex into s->buf, checking it decompresses to exactly len bytes
 * whose hash is hex.  0, or -EBADMSG with what is wrong in err.
 */
static int
get_chunk(struct store *s, const char *hex, size_t len, size_t *ret_flen,
    char *err, size_t errlen)
{
	char			*path = chunk_path(s, hex);
	char			 got[STORE_HEX_LEN + 1];
	struct stat		 sb;
	unsigned long long	 content;
	size_t			 n;
	ssize_t			 rd;
	int			 fd, r = -EBADMSG;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "chunk file %s is missing (%s)", path,
		    strerror(errno));
		free(path);
		return -EBADMSG;
	}
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size > s->zcap) {
		snprintf(err, errlen, "chunk file %s is too large", path);
		goto out;
	}
	rd = pread(fd, s->zbuf, (size_t)sb.st_size, 0);
	if (rd != sb.st_size) {
		snprintf(err, errlen, "chunk file %s cannot be read", path);
		goto out;
	}
	content = ZSTD_getFrameContentSize(s->zbuf, (size_t)rd);
	if (content != len) {
		snprintf(err, errlen, "chunk file %s is truncated or corrupt "
		    "(not a %zu-byte zstd frame)", path, len);
		goto out;
	}
	n = ZSTD_decompressDCtx(s->dctx, s->buf, STORE_CHUNK_SIZE, s->zbuf, (size_t)rd);
	if (ZSTD_isError(n) || n != len) {
		snprintf(err, errlen, "chunk file %s is truncated or corrupt (zstd: %s)",
		    path, ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
		goto out;
	}
	hash_hex(s->buf, len, got);
	if (strcmp(got, hex) != 0) {
		snprintf(err, errlen, "chunk file %s is corrupt (its content "
		    "hashes to %.16s...)", path, got);
		goto out;
	}
	if (ret_flen != NULL)
		*ret_flen = (size_t)rd;
	r = 0;
out:
	close(fd);
	free(path);
	return r;
}

int
store_read_entry(struct store *s, const char *name, struct json_object *entry,
    int fd, char *err, size_t errlen)
{
	struct json_object	*list, *v;
	EVP_MD_CTX		*whole;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;
	char			 hex[STORE_HEX_LEN + 1], why[PATH_MAX + 128];
	bool			 whole_hash;
	int64_t			 size;
	uint64_t		 idx = 0;
	int			 r;

	if ((r = store_check_entry(s, name, entry, false, err, errlen)) < 0)
		return r;
	json_object_object_get_ex(entry, "size", &v);
	size = json_object_get_int64(v);
	json_object_object_get_ex(entry, "chunks", &list);
	/* Truncating to 0 first makes every zero run a hole. */
	if (fd >= 0 && (ftruncate(fd, 0) < 0 || ftruncate(fd, size) < 0)) {
		r = -errno;
		snprintf(err, errlen, "writing %s: %s", name, strerror(-r));
		return r;
	}
	/*
	 * Writing (a restore): every chunk's length and hash are checked, and
	 * with the manifest's chunk list they fix every byte, so the whole-file
	 * hash would add only time: ~0.1 s per 160 MB of zero runs, hashed as
	 * zeros, on the restore's critical path.  Checking (fd < 0: verify,
	 * import) does it too.
	 */
	whole_hash = fd < 0 && json_object_object_get_ex(entry, "sha256", &v);
	if ((whole = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(whole, EVP_sha256(), NULL) != 1)
		fatalx("libcrypto: SHA-256 init failed");
	r = 0;
	for (size_t i = 0; i < json_object_array_length(list) && r == 0; i++) {
		struct json_object *c = json_object_array_get_idx(list, i);

		if (json_object_is_type(c, json_type_int)) {
			/* A zero run: a hole in the output, zeros in the hash. */
			if (!whole_hash) {
				idx += (uint64_t)json_object_get_int64(c);
				continue;
			}
			for (int64_t k = json_object_get_int64(c); k > 0; k--, idx++) {
				size_t len = size - (int64_t)(idx * STORE_CHUNK_SIZE) <
				    STORE_CHUNK_SIZE ? (size_t)(size - (int64_t)(idx *
				    STORE_CHUNK_SIZE)) : STORE_CHUNK_SIZE;

				memset(s->buf, 0, len);
				EVP_DigestUpdate(whole, s->buf, len);
			}
			continue;
		}
		{
			off_t	off = (off_t)(idx * STORE_CHUNK_SIZE);
			size_t	len = size - off < STORE_CHUNK_SIZE ?
				    (size_t)(size - off) : STORE_CHUNK_SIZE;

			if (get_chunk(s, json_object_get_string(c), len, NULL, why,
			    sizeof(why)) < 0) {
				snprintf(err, errlen, "%s, chunk %llu (bytes %lld-%lld): %s",
				    name, (unsigned long long)idx, (long long)off,
				    (long long)(off + (off_t)len - 1), why);
				r = -EBADMSG;
				break;
			}
			if (whole_hash)
				EVP_DigestUpdate(whole, s->buf, len);
			if (fd >= 0) {
				for (size_t done = 0; done < len;) {
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
			}
			idx++;
		}
	}
	EVP_DigestFinal_ex(whole, md, &mdlen);
	EVP_MD_CTX_free(whole);
	if (r < 0 || !whole_hash)
		return r;
	to_hex(md, STORE_HASH_LEN, hex);
	json_object_object_get_ex(entry, "sha256", &v);
	if (strcmp(hex, json_object_get_string(v)) != 0) {
		snprintf(err, errlen, "%s: its content does not match the manifest's "
		    "sha256", name);
		return -EBADMSG;
	}
	return 0;
}

/* The ref symlink name for dir: the SHA-256 of its path (caller frees). */
static char *
ref_path(const struct store *s, const char *dir)
{
	char hex[STORE_HEX_LEN + 1];

	hash_hex(dir, strlen(dir), hex);
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
	if (json_object_object_get_ex(entry, "size", &jsize))
		size = json_object_get_int64(jsize);
	for (size_t j = 0; j < json_object_array_length(list); j++) {
		struct json_object	*c = json_object_array_get_idx(list, j);
		uint64_t		 off = idx * STORE_CHUNK_SIZE;

		if (json_object_is_type(c, json_type_int)) {
			idx += (uint64_t)json_object_get_int64(c);
			continue;
		}
		if (!valid_hex(json_object_get_string(c)))
			return -EBADMSG;
		fn(json_object_get_string(c), (uint64_t)size - off < STORE_CHUNK_SIZE ?
		    (size_t)((uint64_t)size - off) : STORE_CHUNK_SIZE, arg);
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

/* --- The mark set: open addressing over binary hashes, with counts. --- */

struct mark {
	unsigned char	hash[STORE_HASH_LEN];
	uint32_t	count;		/* snapshots using it (0: empty slot) */
	uint32_t	gen;		/* last snapshot that counted it */
};

struct markset {
	struct mark	*slots;
	size_t		 cap, used;
	uint32_t	 gen;		/* the snapshot being added */
};

/* Hex to binary (input checked by valid_hex). */
static void
from_hex(const char *hex, unsigned char *out)
{
	for (size_t i = 0; i < STORE_HASH_LEN; i++) {
		unsigned int v;

		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (unsigned char)v;
	}
}

/* The slot for hash (existing or empty). */
static struct mark *
mark_slot(struct markset *ms, const unsigned char *hash)
{
	size_t h;

	memcpy(&h, hash, sizeof(h));
	for (size_t i = h & (ms->cap - 1);; i = (i + 1) & (ms->cap - 1))
		if (ms->slots[i].count == 0 ||
		    memcmp(ms->slots[i].hash, hash, STORE_HASH_LEN) == 0)
			return &ms->slots[i];
}

/* Count hex once per snapshot (ms->gen). */
static void
mark_add(const char *hex, void *arg)
{
	struct markset	*ms = arg;
	unsigned char	 hash[STORE_HASH_LEN];
	struct mark	*m;

	if (ms->used * 2 >= ms->cap) {
		struct mark	*old = ms->slots;
		size_t		 oldcap = ms->cap;

		ms->cap = oldcap ? oldcap * 2 : 4096;
		ms->slots = xcalloc(ms->cap, sizeof(*ms->slots));
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].count != 0)
				*mark_slot(ms, old[i].hash) = old[i];
		free(old);
	}
	from_hex(hex, hash);
	m = mark_slot(ms, hash);
	if (m->count == 0) {
		memcpy(m->hash, hash, STORE_HASH_LEN);
		ms->used++;
	} else if (m->gen == ms->gen)
		return;
	m->count++;
	m->gen = ms->gen;
}

/* The mark for hex, or NULL. */
static struct mark *
mark_find(struct markset *ms, const char *hex)
{
	unsigned char	 hash[STORE_HASH_LEN];
	struct mark	*m;

	if (ms->cap == 0 || !valid_hex(hex))
		return NULL;
	from_hex(hex, hash);
	m = mark_slot(ms, hash);
	return m->count ? m : NULL;
}

/* Read and parse dir/manifest.json.  0, -ENOENT (no manifest), -EBADMSG. */
static int
load_manifest(const char *dir, struct json_object **ret)
{
	char			*path = xasprintf("%s/manifest.json", dir), *buf = NULL;
	struct json_object	*m;
	size_t			 len;
	int			 r;

	r = read_file(path, MANIFEST_MAX, &buf, &len);
	free(path);
	if (r < 0)
		return r;
	m = json_tokener_parse(buf);
	free(buf);
	if (m == NULL || !json_object_is_type(m, json_type_object)) {
		json_object_put(m);
		return -EBADMSG;
	}
	*ret = m;
	return 0;
}

/* Canonical roots seen so far, so a snapshot counts once. */
struct roots {
	char	**dirs;
	size_t	  n;
};

/* Add dir's manifest to ms unless dir is skip or was seen.  0 or -errno. */
static int
mark_dir(struct markset *ms, struct roots *seen, const char *dir,
    const char *skip, bool must, char *err, size_t errlen)
{
	struct json_object	*man;
	char			*real = realpath(dir, NULL);
	int			 r;

	if (real == NULL)
		return must ? -errno : 0;
	if (skip != NULL && strcmp(real, skip) == 0) {
		free(real);
		return 0;
	}
	for (size_t i = 0; i < seen->n; i++)
		if (strcmp(seen->dirs[i], real) == 0) {
			free(real);
			return 0;
		}
	r = load_manifest(real, &man);
	if (r == -ENOENT && !must) {
		free(real);
		return 0;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s/manifest.json cannot be read (%s): not "
		    "collecting garbage while a snapshot's chunks are unknown",
		    real, strerror(-r));
		free(real);
		return r;
	}
	ms->gen++;
	r = store_manifest_hashes(man, mark_add, ms);
	json_object_put(man);
	if (r < 0) {
		snprintf(err, errlen, "%s/manifest.json has a malformed chunk list", real);
		free(real);
		return r;
	}
	seen->dirs = xrealloc(seen->dirs, (seen->n + 1) * sizeof(char *));
	seen->dirs[seen->n++] = real;
	return 0;
}

/*
 * Mark every root: registered refs (dropping those whose directory is gone
 * if prune) and the snapshot directories in snapdirs; skip is a canonical
 * directory not to count.  0 or -errno with err.
 */
static int
mark_roots(struct store *s, const char *snapdirs, const char *skip, bool prune,
    struct markset *ms, char *err, size_t errlen)
{
	struct roots	 seen = { NULL, 0 };
	char		*refs = xasprintf("%s/refs", s->root);
	DIR		*d;
	struct dirent	*de;
	int		 r = 0;

	if ((d = opendir(refs)) == NULL) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", refs, strerror(-r));
		goto out;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		char	*link, target[PATH_MAX];
		ssize_t	 n;

		if (de->d_name[0] == '.')
			continue;
		link = xasprintf("%s/%s", refs, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (access(target, F_OK) < 0 && errno == ENOENT) {
				/* The snapshot was removed (rm -r): a stale ref. */
				if (prune)
					(void)unlink(link);
			} else
				r = mark_dir(ms, &seen, target, skip, true, err, errlen);
		}
		free(link);
	}
	closedir(d);
	if (r == 0 && snapdirs != NULL && (d = opendir(snapdirs)) != NULL) {
		while (r == 0 && (de = readdir(d)) != NULL) {
			char *dir;

			if (de->d_name[0] == '.')
				continue;
			dir = xasprintf("%s/%s", snapdirs, de->d_name);
			r = mark_dir(ms, &seen, dir, skip, false, err, errlen);
			free(dir);
		}
		closedir(d);
	}
out:
	for (size_t i = 0; i < seen.n; i++)
		free(seen.dirs[i]);
	free(seen.dirs);
	free(refs);
	return r;
}

/* Sum the chunk sizes of the hashes only this snapshot uses. */
struct usage {
	struct store	*s;
	struct markset	*others;
	struct markset	 own;
	uint64_t	 stored, freeable;
};

static void
usage_add(const char *hex, void *arg)
{
	struct usage	*u = arg;
	struct mark	*m = mark_find(&u->own, hex);
	int64_t		 bytes;

	if (m != NULL)
		return;		/* counted already */
	mark_add(hex, &u->own);
	if ((bytes = store_chunk_bytes(u->s, hex)) < 0)
		return;
	u->stored += (uint64_t)bytes;
	if (mark_find(u->others, hex) == NULL)
		u->freeable += (uint64_t)bytes;
}

int
store_usage(struct store *s, const char *snapdirs, const char *dir,
    struct json_object *man, uint64_t *ret_stored, uint64_t *ret_freeable,
    char *err, size_t errlen)
{
	struct markset	 others = { NULL, 0, 0, 0 };
	struct usage	 u = { s, &others, { NULL, 0, 0, 1 }, 0, 0 };
	char		*real = realpath(dir, NULL);
	int		 r;

	r = mark_roots(s, snapdirs, real ? real : dir, false, &others, err, errlen);
	if (r == 0 && store_manifest_hashes(man, usage_add, &u) < 0) {
		snprintf(err, errlen, "%s: malformed chunk list", dir);
		r = -EBADMSG;
	}
	if (r == 0) {
		*ret_stored = u.stored;
		*ret_freeable = u.freeable;
	}
	free(others.slots);
	free(u.own.slots);
	free(real);
	return r;
}

int
store_gc(struct store *s, const char *snapdirs, uint64_t *ret_chunks,
    uint64_t *ret_bytes, char *err, size_t errlen)
{
	struct markset	 ms = { NULL, 0, 0, 0 };
	uint64_t	 chunks = 0, bytes = 0;
	char		*top = xasprintf("%s/chunks", s->root);
	DIR		*d = NULL;
	struct dirent	*de;
	int		 r;

	if (store_writers_active()) {
		snprintf(err, errlen, "a save is writing to the chunk store; "
		    "collect garbage after it");
		r = -EBUSY;
		goto out;
	}
	if ((r = mark_roots(s, snapdirs, NULL, true, &ms, err, errlen)) < 0)
		goto out;
	if ((d = opendir(top)) == NULL) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", top, strerror(-r));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		char		*sub;
		DIR		*sd;
		struct dirent	*ce;
		bool		 removed = false;

		if (de->d_name[0] == '.' || strlen(de->d_name) != 2)
			continue;
		sub = xasprintf("%s/%s", top, de->d_name);
		if ((sd = opendir(sub)) == NULL) {
			free(sub);
			continue;
		}
		while ((ce = readdir(sd)) != NULL) {
			char		 hex[STORE_HEX_LEN + 1], *path;
			size_t		 nl = strlen(ce->d_name);
			struct stat	 sb;

			if (strncmp(ce->d_name, ".tmp-", 5) == 0) {
				/* Left by a writer that died: no writer runs now. */
				path = xasprintf("%s/%s", sub, ce->d_name);
				(void)unlink(path);
				free(path);
				continue;
			}
			if (nl != STORE_HEX_LEN + 4 || strcmp(ce->d_name + STORE_HEX_LEN, ".zst") != 0)
				continue;
			memcpy(hex, ce->d_name, STORE_HEX_LEN);
			hex[STORE_HEX_LEN] = '\0';
			if (!valid_hex(hex) || mark_find(&ms, hex) != NULL)
				continue;
			path = xasprintf("%s/%s", sub, ce->d_name);
			if (lstat(path, &sb) == 0 && unlink(path) == 0) {
				chunks++;
				bytes += (uint64_t)sb.st_size;
				removed = true;
			}
			free(path);
		}
		closedir(sd);
		if (removed)
			(void)fsync_dir(sub);
		free(sub);
	}
	log_debug("store %s: gc freed %llu chunks, %llu bytes", s->root,
	    (unsigned long long)chunks, (unsigned long long)bytes);
	if (ret_chunks != NULL)
		*ret_chunks = chunks;
	if (ret_bytes != NULL)
		*ret_bytes = bytes;
out:
	if (d != NULL)
		closedir(d);
	free(ms.slots);
	free(top);
	return r;
}

/* --- A set of chunk hashes, for export and import. --- */

struct store_hashset {
	struct markset	ms;
};

struct store_hashset *
store_hashset_new(void)
{
	struct store_hashset *h = xcalloc(1, sizeof(*h));

	h->ms.gen = 1;
	return h;
}

struct store_hashset *
store_hashset_free(struct store_hashset *h)
{
	if (h != NULL) {
		free(h->ms.slots);
		free(h);
	}
	return NULL;
}

bool
store_hashset_add(struct store_hashset *h, const char *hex)
{
	if (!valid_hex(hex) || mark_find(&h->ms, hex) != NULL)
		return false;
	mark_add(hex, &h->ms);
	return true;
}

bool
store_hashset_has(struct store_hashset *h, const char *hex)
{
	return mark_find(&h->ms, hex) != NULL;
}

size_t
store_hashset_count(const struct store_hashset *h)
{
	return h->ms.used;
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
	if ((r = get_chunk(s, hex, len, ret_flen, err, errlen)) < 0)
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
	hash_hex(s->buf, n, got);
	if (strcmp(got, hex) != 0) {
		snprintf(err, errlen, "chunk %s is corrupt (its content hashes to "
		    "%.16s...)", hex, got);
		return -EBADMSG;
	}
	*ret_len = n;
	st->chunks++;
	st->data_bytes += n;
	if (is_pending(s, hex) || have_chunk(s, hex)) {
		st->dedup_chunks++;
		return 0;
	}
	return write_chunk_file(s, hex, frame, flen, st);
}
