/* SPDX-License-Identifier: MIT */
/*
 * Unit test of the chunk store (store/): chunking with zero runs and holes, dedup of identical
 * chunks (one pack per sync), round trip (holes kept), corruption detection
 * in a pack (flipped byte, pack truncated inside a record, pack or pack and
 * index missing, corrupt index), atomic writes (a failed write leaves no
 * pack and no temporary; a crash between pack and index renames leaves no
 * visible chunk), mark-and-sweep gc of whole and partial packs and of loose
 * chunk files, usage, and the cost of loading a 50k-chunk index.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "snapshot-chunks.h"
#include "store.h"
#include "test.h"

#define HEX_ZERO "0000000000000000000000000000000000000000000000000000000000000000"
#include "util.h"

#define CS	STORE_CHUNK_SIZE

static char dir[] = "/tmp/sbuml-store.XXXXXX";

/* dir/name in one of four rotating buffers. */
static char *
p(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

/* Fill buf with a pattern from seed (compressible but not zero). */
static void
pattern(unsigned char *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 7 + seed) % 251 + 1);
}

/*
 * The test file: chunk 0 pattern A, chunk 1 a hole, chunk 2 written zeros,
 * chunk 3 pattern A again (dedup), chunk 4 pattern B, then 1000 bytes of
 * pattern C (a short last chunk).
 */
static void
make_file(const char *path, unsigned char *expect, size_t *ret_len)
{
	unsigned char	*b = xmalloc(CS);
	int		 fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t		 len = 5 * CS + 1000;

	memset(expect, 0, len);
	pattern(b, CS, 1);
	pwrite(fd, b, CS, 0);
	memcpy(expect, b, CS);
	memset(b, 0, CS);
	pwrite(fd, b, CS, 2 * CS);
	pattern(b, CS, 1);
	pwrite(fd, b, CS, 3 * CS);
	memcpy(expect + 3 * CS, b, CS);
	pattern(b, CS, 2);
	pwrite(fd, b, CS, 4 * CS);
	memcpy(expect + 4 * CS, b, CS);
	pattern(b, 1000, 3);
	pwrite(fd, b, 1000, 5 * CS);
	memcpy(expect + 5 * CS, b, 1000);
	close(fd);
	free(b);
	*ret_len = len;
}

/* Write path: one chunk of pattern(seeds[i]) per seed. */
static void
write_patterns(const char *path, const unsigned int *seeds, size_t n)
{
	unsigned char	*b = xmalloc(CS);
	int		 fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	for (size_t i = 0; i < n; i++) {
		pattern(b, CS, seeds[i]);
		CHECK(write(fd, b, CS) == CS);
	}
	close(fd);
	free(b);
}

/* Number of entries in d whose name starts with prefix (recursing one level). */
static int
count_files(const char *d, const char *prefix)
{
	DIR		*dd = opendir(d);
	struct dirent	*de;
	int		 n = 0;

	if (dd == NULL)
		return 0;
	while ((de = readdir(dd)) != NULL) {
		char sub[1024];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", d, de->d_name);
		if (de->d_type == DT_DIR)
			n += count_files(sub, prefix);
		else if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(dd);
	return n;
}

/* The hex of the idx-th listed hash of entry (borrowed). */
static const char *
nth_hash(struct json_object *entry, int idx)
{
	struct json_object *list;

	json_object_object_get_ex(entry, "chunks", &list);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i);

		if (json_object_is_type(c, json_type_string) && idx-- == 0)
			return json_object_get_string(c);
	}
	return NULL;
}

static uint64_t
le(const unsigned char *b, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/*
 * Find chunk hex through the pack indexes of store root (the documented
 * format: 16-byte header, then 48-byte entries {hash, u64 off, u32 len, 0}).
 * *ret_id: the pack's id (33 bytes), *ret_off, *ret_len: its frame.
 */
static bool
find_record(const char *root, const char *hex, char *ret_id, uint64_t *ret_off,
    uint32_t *ret_len)
{
	char		 d[600], path[1200];
	DIR		*dd;
	struct dirent	*de;
	bool		 found = false;

	snprintf(d, sizeof(d), "%s/packs", root);
	if ((dd = opendir(d)) == NULL)
		return false;
	while (!found && (de = readdir(dd)) != NULL) {
		unsigned char	*b;
		char		*buf, h[65];
		size_t		 n;

		if (strlen(de->d_name) != 36 || strcmp(de->d_name + 32, ".idx") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", d, de->d_name);
		if (read_file(path, 1 << 26, &buf, &n) < 0)
			continue;
		b = (unsigned char *)buf;
		for (size_t off = 16; off + 48 <= n; off += 48) {
			for (int i = 0; i < 32; i++)
				snprintf(h + 2 * i, 3, "%02x", b[off + i]);
			if (strcmp(h, hex) == 0) {
				memcpy(ret_id, de->d_name, 32);
				ret_id[32] = '\0';
				*ret_off = le(b + off + 32, 8);
				*ret_len = (uint32_t)le(b + off + 40, 4);
				found = true;
				break;
			}
		}
		free(buf);
	}
	closedir(dd);
	return found;
}

/* A fresh handle's store_read_entry of entry as name: 0 or -errno, err set. */
static int
read_fresh(struct json_object *entry, const char *name, char *err, size_t errlen)
{
	struct store	*t = store_open(p("store"), err, errlen);
	int		 r;

	if (t == NULL)
		return -EIO;
	r = store_read_entry(t, name, entry, -1, err, errlen);
	store_free(t);
	return r;
}

/* Copy file from to to.  0 or -errno. */
static int
copy(const char *from, const char *to)
{
	char	*buf;
	size_t	 n;
	int	 r;

	if ((r = read_file(from, 1 << 28, &buf, &n)) < 0)
		return r;
	r = write_file_atomic(to, buf, n, 0600);
	free(buf);
	return r;
}

/* Write a format-2-like manifest listing entry as capture/f into d. */
static void
write_manifest(const char *d, struct json_object *entry)
{
	struct json_object	*m = json_object_new_object(), *files = json_object_new_array();
	char			*path = xasprintf("%s/manifest.json", d);
	const char		*text;

	mkdir(d, 0700);
	json_object_object_add(entry, "path", json_object_new_string("capture/f"));
	json_object_array_add(files, json_object_get(entry));
	json_object_object_add(m, "version", json_object_new_int(2));
	json_object_object_add(m, "files", files);
	text = json_object_to_json_string(m);
	write_file_atomic(path, text, strlen(text), 0600);
	json_object_put(m);
	free(path);
}

/* The index of a store with nchunks chunks: how long loading it takes. */
static void
index_cost(int nchunks)
{
	struct store_stats	 st = { 0 };
	struct store		*s;
	struct timespec		 t0, t1;
	char			 err[1024], root[600], hex[STORE_HEX_LEN + 1];
	unsigned char		 data[16], frame[128], md[32];
	size_t			 flen, len;
	unsigned int		 mdlen;
	int			 ok = 0;
	double			 ms;

	snprintf(root, sizeof(root), "%s/big", dir);
	CHECK((s = store_open(root, err, sizeof(err))) != NULL);
	for (int i = 0; i < nchunks; i++) {
		memset(data, 0x5a, sizeof(data));
		memcpy(data, &i, sizeof(i));
		flen = ZSTD_compress(frame, sizeof(frame), data, sizeof(data), 1);
		EVP_Digest(data, sizeof(data), md, &mdlen, EVP_sha256(), NULL);
		for (int k = 0; k < 32; k++)
			snprintf(hex + 2 * k, 3, "%02x", md[k]);
		ok += store_put_frame(s, hex, frame, flen, &len, &st, err,
		    sizeof(err)) == 0;
	}
	CHECK(ok == nchunks && st.new_chunks == (uint64_t)nchunks);
	CHECK(store_sync(s) == 0);
	store_free(s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s = store_open(root, err, sizeof(err));
	CHECK(s != NULL && store_has_chunk(s, hex));	/* the first lookup loads */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	fprintf(stderr, "index of %d chunks (one pack): open + load + first lookup "
	    "%.1f ms\n", nchunks, ms);
	store_free(s);
}

int
main(void)
{
	struct store		*s, *t;
	struct store_stats	 st = { 0 };
	struct json_object	*e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *list;
	unsigned char		*expect = xmalloc(6 * CS), *got = xmalloc(6 * CS);
	char			 err[1024], id[33], *pack, *idx, *keep_pack, *keep_idx;
	const char		*hB;
	size_t			 len;
	uint64_t		 stored, freeable, chunks, bytes, off = 0;
	uint32_t		 flen = 0;
	struct stat		 sb;
	int			 fd, r;

	if (mkdtemp(dir) == NULL)
		return 1;
	s = store_open(p("store"), err, sizeof(err));
	CHECK(s != NULL);

	/* Chunking: [A, zero run of 2, A, B, C]; A stored once; one pack. */
	make_file(p("f1"), expect, &len);
	r = store_put_file(s, p("f1"), &e1, &st, err, sizeof(err));
	CHECK(r == 0);
	CHECK(count_files(p("store/packs"), ".tmp-") == 1);	/* pending pack */
	CHECK(store_check_entry(s, "f1", e1, true, err, sizeof(err)) == 0);
	CHECK(store_sync(s) == 0);
	json_object_object_get_ex(e1, "chunks", &list);
	CHECK(json_object_array_length(list) == 5);
	CHECK(json_object_get_int(json_object_array_get_idx(list, 1)) == 2);
	CHECK_STR(json_object_get_string(json_object_array_get_idx(list, 0)),
	    json_object_get_string(json_object_array_get_idx(list, 2)));
	CHECK(st.chunks == 4 && st.zero_chunks == 2);
	CHECK(st.new_chunks == 3 && st.dedup_chunks == 1);
	CHECK(count_files(p("store/packs"), "") == 2);	/* <id>.pack, <id>.idx */
	CHECK(count_files(p("store/packs"), ".tmp-") == 0);
	CHECK(count_files(p("store"), "") == 2);	/* no loose chunk file */
	CHECK(store_check_entry(s, "f1", e1, true, err, sizeof(err)) == 0);

	/* Storing the same file again writes nothing new (another handle too). */
	memset(&st, 0, sizeof(st));
	CHECK(store_put_file(s, p("f1"), &e2, &st, err, sizeof(err)) == 0);
	CHECK(st.new_chunks == 0 && st.dedup_chunks == 4);
	CHECK_STR(json_object_to_json_string(e1), json_object_to_json_string(e2));
	json_object_put(e2);
	t = store_open(p("store"), err, sizeof(err));
	memset(&st, 0, sizeof(st));
	CHECK(store_put_file(t, p("f1"), &e2, &st, err, sizeof(err)) == 0);
	CHECK(st.new_chunks == 0 && st.dedup_chunks == 4);
	CHECK(store_sync(t) == 0);
	CHECK(count_files(p("store/packs"), "") == 2);
	store_free(t);
	json_object_put(e2);
	e2 = NULL;

	/* Round trip: same bytes, zero runs are holes; a fresh handle too. */
	fd = open(p("out"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(store_read_entry(s, "f1", e1, fd, err, sizeof(err)) == 0);
	CHECK(fstat(fd, &sb) == 0 && (size_t)sb.st_size == len);
	CHECK(pread(fd, got, len, 0) == (ssize_t)len && memcmp(got, expect, len) == 0);
	CHECK(lseek(fd, 0, SEEK_HOLE) == CS);
	CHECK(sb.st_blocks * 512 <= 4 * CS + 8192);
	close(fd);
	CHECK(store_read_entry(s, "f1", e1, -1, err, sizeof(err)) == 0);
	CHECK(read_fresh(e1, "f1", err, sizeof(err)) == 0);

	/*
	 * Into memory (on the restore's threads, one handle): the same bytes,
	 * and the zero run never written (a canary stays).
	 */
	memset(got, 0x5a, len);
	memset(got + CS, 0, 2 * CS);
	got[CS] = 0x77;
	CHECK(store_read_entry_into(s, "f1", e1, got, err, sizeof(err)) == 0);
	CHECK(got[CS] == 0x77);
	got[CS] = 0;
	CHECK(memcmp(got, expect, len) == 0);

	/*
	 * Corruption, each seen by a fresh handle (as every daemon operation
	 * opens one): a flipped byte in chunk B's frame, the pack truncated
	 * inside its record, the pack gone, the pack and its index gone.
	 */
	hB = nth_hash(e1, 2);	/* pattern B */
	CHECK(find_record(p("store"), hB, id, &off, &flen));
	pack = xasprintf("%s/packs/%s.pack", p("store"), id);
	idx = xasprintf("%s/packs/%s.idx", p("store"), id);
	keep_pack = xasprintf("%s.keep", pack);
	keep_idx = xasprintf("%s.keep", idx);
	CHECK(copy(pack, keep_pack) == 0 && copy(idx, keep_idx) == 0);
	{
		/* Frames carry a content checksum (a restore trusts it). */
		unsigned char	h[5];
		int		pfd = open(pack, O_RDONLY);

		CHECK(pread(pfd, h, 5, (off_t)off) == 5);
		CHECK(h[0] == 0x28 && h[1] == 0xb5 && h[2] == 0x2f && h[3] == 0xfd);
		CHECK((h[4] & 0x04) != 0);
		close(pfd);
	}
	{
		unsigned char	c;
		int		pfd = open(pack, O_RDWR);

		CHECK(pread(pfd, &c, 1, (off_t)(off + flen / 2)) == 1);
		c ^= 0x01;
		CHECK(pwrite(pfd, &c, 1, (off_t)(off + flen / 2)) == 1);
		close(pfd);
	}
	r = read_fresh(e1, "f1", err, sizeof(err));
	CHECK(r == -EBADMSG);
	CHECK(strstr(err, "f1, chunk 4") != NULL);
	CHECK(strstr(err, "corrupt") != NULL);
	/* A handle trusting frame checksums (the restore's) sees it too. */
	t = store_open(p("store"), err, sizeof(err));
	CHECK(t != NULL);
	store_trust_frame_checksums(t);
	CHECK(store_read_entry_into(t, "f1", e1, got, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "chunk 4") != NULL && strstr(err, "corrupt") != NULL);
	store_free(t);
	r = read_fresh(e1, "f1", err, sizeof(err));
	CHECK(strstr(err, hB) != NULL && strstr(err, id) != NULL);
	{
		char at[64];

		snprintf(at, sizeof(at), "offset %llu", (unsigned long long)off);
		CHECK(strstr(err, at) != NULL);
	}
	CHECK(copy(keep_pack, pack) == 0);
	CHECK(read_fresh(e1, "f1", err, sizeof(err)) == 0);
	CHECK(truncate(pack, (off_t)(off + 10)) == 0);
	CHECK(read_fresh(e1, "f1", err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "truncated or corrupt") != NULL && strstr(err, "chunk 4") != NULL);
	CHECK(unlink(pack) == 0);
	CHECK(read_fresh(e1, "f1", err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "missing") != NULL);
	CHECK(unlink(idx) == 0);
	CHECK(read_fresh(e1, "f1", err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "missing") != NULL);
	t = store_open(p("store"), err, sizeof(err));
	CHECK(store_check_entry(t, "f1", e1, true, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "missing") != NULL);
	store_free(t);
	/* A corrupt index: named, its chunks missing. */
	CHECK(copy(keep_pack, pack) == 0);
	CHECK(copy(keep_idx, idx) == 0 && truncate(idx, 30) == 0);
	CHECK(read_fresh(e1, "f1", err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "missing") != NULL && strstr(err, "truncated or corrupt") != NULL);
	CHECK(rename(keep_idx, idx) == 0 && rename(keep_pack, pack) == 0);
	CHECK(read_fresh(e1, "f1", err, sizeof(err)) == 0);
	free(pack);
	free(idx);
	free(keep_pack);
	free(keep_idx);

	/* A tampered manifest entry: wrong chunk count, bad hash. */
	{
		struct json_object *bad = json_tokener_parse(json_object_to_json_string(e1));

		json_object_object_add(bad, "size", json_object_new_int64(len + CS));
		CHECK(store_check_entry(s, "f1", bad, false, err, sizeof(err)) == -EBADMSG);
		json_object_object_add(bad, "size", json_object_new_int64(len));
		json_object_object_add(bad, "sha256", json_object_new_string("00"));
		CHECK(store_check_entry(s, "f1", bad, false, err, sizeof(err)) == -EBADMSG);
		json_object_put(bad);
	}
	/*
	 * Issue 9 rows 3 and 4: zero runs whose sum wraps to one chunk (a
	 * memset of (size_t)-65536 once), and 2^62 bytes in one zero run (a
	 * whole-file hash that never ends): refused before any work.
	 */
	{
		static const char *hostile[] = {
			"{\"size\": 100, \"sha256\": \"%s\", \"chunks\": "
			    "[9223372036854775807, 9223372036854775807, 3]}",
			"{\"size\": 4611686018427387904, \"sha256\": \"%s\", "
			    "\"chunks\": [70368744177664]}",
			"{\"size\": 100, \"sha256\": \"%s\", \"chunks\": [null]}",
		};
		struct store_hashset *checked = store_hashset_new();

		for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
			char			*text = xasprintf(hostile[i], HEX_ZERO);
			struct json_object	*bad = json_tokener_parse(text);

			CHECK(bad != NULL);
			CHECK(store_check_entry(s, "h", bad, false, err, sizeof(err)) ==
			    -EBADMSG);
			CHECK(store_read_entry(s, "h", bad, -1, err, sizeof(err)) ==
			    -EBADMSG);
			CHECK(store_check_chunks(s, "h", bad, checked, err, sizeof(err)) ==
			    -EBADMSG);
			CHECK(strstr(err, "manifest: h: ") != NULL);
			json_object_put(bad);
			free(text);
		}
		store_hashset_free(checked);
		/* The real entry: each distinct chunk checked once, across calls. */
		checked = store_hashset_new();
		t = store_open(p("store"), err, sizeof(err));
		CHECK(store_check_chunks(t, "f1", e1, checked, err, sizeof(err)) == 0);
		CHECK(store_hashset_count(checked) == 2);
		CHECK(store_check_chunks(t, "f1", e1, checked, err, sizeof(err)) == 0);
		store_free(t);
		store_hashset_free(checked);
	}

	/* A write that fails leaves neither a pack nor a temporary. */
	{
		struct rlimit	 old, lim = { 100, 100 };
		unsigned char	*rnd = xmalloc(CS);
		int		 before = count_files(p("store/packs"), "");

		for (size_t i = 0; i < CS; i++)
			rnd[i] = (unsigned char)(rand() >> 7);
		fd = open(p("rnd"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		CHECK(write(fd, rnd, CS) == CS);
		close(fd);
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &old);
		lim.rlim_max = old.rlim_max;	/* soft limit only: we raise it again */
		setrlimit(RLIMIT_FSIZE, &lim);
		r = store_put_file(s, p("rnd"), &e2, NULL, err, sizeof(err));
		setrlimit(RLIMIT_FSIZE, &old);
		CHECK(r == -EFBIG);
		CHECK(count_files(p("store/packs"), "") == before);
		CHECK(count_files(p("store/packs"), ".tmp-") == 0);
		r = store_put_file(s, p("rnd"), &e2, NULL, err, sizeof(err));
		if (r < 0)
			fprintf(stderr, "put: %s\n", err);
		CHECK(r == 0);
		CHECK(store_sync(s) == 0);
		CHECK(count_files(p("store/packs"), "") == before + 2);
		free(rnd);
	}

	/*
	 * A crash between the pack's write and its index's rename: a child
	 * stores a chunk, renames its pending pack as store_sync() would, and
	 * dies before the index.  No chunk of it is visible; gc removes it.
	 */
	{
		unsigned char	*b = xmalloc(CS);
		char		 hex[STORE_HEX_LEN + 1];
		pid_t		 pid;
		int		 status;

		pattern(b, CS, 9);
		fd = open(p("f9"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		CHECK(write(fd, b, CS) == CS);
		close(fd);
		free(b);
		if ((pid = fork()) == 0) {
			struct store		*c = store_open(p("store"), err, sizeof(err));
			struct json_object	*e;
			DIR			*dd;
			struct dirent		*de;

			if (c == NULL || store_put_file(c, p("f9"), &e, NULL, err,
			    sizeof(err)) < 0)
				_exit(1);
			CHECK(write_file_atomic(p("f9.hash"), nth_hash(e, 0),
			    STORE_HEX_LEN, 0600) == 0);
			if ((dd = opendir(p("store/packs"))) == NULL)
				_exit(1);
			while ((de = readdir(dd)) != NULL)
				if (strncmp(de->d_name, ".tmp-", 5) == 0) {
					char from[1200];

					snprintf(from, sizeof(from), "%s/%s",
					    p("store/packs"), de->d_name);
					if (rename(from, p("store/packs/"
					    "99999999999999999999999999999999.pack")) < 0)
						_exit(1);
				}
			closedir(dd);
			raise(SIGKILL);
			_exit(1);
		}
		CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
		{
			char	*h;
			size_t	 n;

			CHECK(read_file(p("f9.hash"), 100, &h, &n) == 0 && n == STORE_HEX_LEN);
			memcpy(hex, h, STORE_HEX_LEN);
			hex[STORE_HEX_LEN] = '\0';
			free(h);
		}
		CHECK(stat(p("store/packs/99999999999999999999999999999999.pack"), &sb) == 0);
		t = store_open(p("store"), err, sizeof(err));
		CHECK(!store_has_chunk(t, hex) && store_chunk_bytes(t, hex) < 0);
		store_free(t);
	}

	/*
	 * gc: snapshot A uses f1, B uses rnd, C uses f4 = [X] of a pack that
	 * also holds f3's Y (stored with one sync): a stray temporary and the
	 * crashed pack are garbage.
	 */
	{
		write_patterns(p("f3"), (const unsigned int[]){ 5, 6 }, 2);
		write_patterns(p("f4"), (const unsigned int[]){ 5 }, 1);
		CHECK(store_put_file(s, p("f3"), &e3, NULL, err, sizeof(err)) == 0);
		CHECK(store_put_file(s, p("f4"), &e4, NULL, err, sizeof(err)) == 0);
		CHECK(store_sync(s) == 0);
	}
	write_manifest(p("snapA"), e1);
	write_manifest(p("snapB"), e2);
	write_manifest(p("snapC"), e4);
	CHECK(store_ref_add(s, p("snapA")) == 0);
	CHECK(store_ref_add(s, p("snapB")) == 0);
	CHECK(store_ref_add(s, p("snapC")) == 0);
	CHECK(store_ref_add(s, p("gone")) == 0);	/* stale: dropped */
	fd = open(p("store/packs/.tmp-stray.pack"), O_WRONLY | O_CREAT, 0600);
	close(fd);
	CHECK(store_usage(s, NULL, p("snapB"), snapshot_dir_hashes, &stored,
	    &freeable, err, sizeof(err)) == 0);
	CHECK(stored > 0 && freeable == stored);
	CHECK(store_usage(s, NULL, p("snapA"), snapshot_dir_hashes, &stored,
	    &freeable, err, sizeof(err)) == 0);
	CHECK(stored > 0 && freeable == stored);
	store_writer_begin();
	CHECK(store_gc(s, NULL, snapshot_dir_hashes, &chunks, &bytes, err,
	    sizeof(err)) == -EBUSY);
	store_writer_end();
	store_reader_begin();
	CHECK(store_gc(s, NULL, snapshot_dir_hashes, &chunks, &bytes, err,
	    sizeof(err)) == -EBUSY);
	CHECK(strstr(err, "export") != NULL);
	store_reader_end();
	/* 4 packs (f1, rnd, f3+f4, the crashed one) + 3 indexes + the stray. */
	CHECK(count_files(p("store/packs"), "") == 8);
	CHECK(store_gc(s, NULL, snapshot_dir_hashes, &chunks, &bytes, err,
	    sizeof(err)) == 0);
	/* Y is dead: its pack was rewritten with X alone. */
	CHECK(chunks == 1 && bytes > 0);
	CHECK(count_files(p("store/packs"), ".tmp-") == 0);
	CHECK(count_files(p("store/packs"), "") == 6);
	CHECK(count_files(p("store/refs"), "") == 3);
	CHECK(!store_has_chunk(s, nth_hash(e3, 1)));
	CHECK(store_has_chunk(s, nth_hash(e3, 0)));
	CHECK(read_fresh(e4, "f4", err, sizeof(err)) == 0);
	CHECK(read_fresh(e3, "f3", err, sizeof(err)) == -EBADMSG);
	CHECK(store_read_entry(s, "f4", e4, -1, err, sizeof(err)) == 0);
	/* A second gc finds nothing more. */
	CHECK(store_gc(s, NULL, snapshot_dir_hashes, &chunks, &bytes, err,
	    sizeof(err)) == 0);
	CHECK(chunks == 0 && count_files(p("store/packs"), "") == 6);
	/* Delete B: its whole pack goes; A still reads back. */
	CHECK(store_ref_del(s, p("snapB")) == 0);
	CHECK(store_gc(s, NULL, snapshot_dir_hashes, &chunks, &bytes, err,
	    sizeof(err)) == 0);
	CHECK(chunks == 1 && bytes > 0);
	CHECK(count_files(p("store/packs"), "") == 4);
	CHECK(store_read_entry(s, "f1", e1, -1, err, sizeof(err)) == 0);
	CHECK(read_fresh(e1, "f1", err, sizeof(err)) == 0);
	/*
	 * Two threads on one handle (store_put_file's shares): a 100-chunk
	 * file with data, a hole and written zeros across stripes, a chunk
	 * repeated in the other share's stripe: the same entry in another
	 * store, one pack holding each chunk once, and it reads back, into a
	 * file and (two threads again) into memory.
	 */
	{
		size_t		 big = 100 * CS + 123;
		unsigned char	*b = xcalloc(1, big), *back = xmalloc(big);
		struct store	*h1, *h2, *h3;
		unsigned char	*mem = xmalloc(big);
		struct json_object *ea = NULL, *eb = NULL;
		struct store_stats st2 = { 0 };
		int		 bfd;

		for (size_t c = 0; c < 101; c++) {
			size_t n = c == 100 ? 123 : CS;

			if ((c >= 20 && c < 40) || c == 77)
				continue;	/* zeros */
			pattern(b + c * CS, n, (unsigned int)(c == 90 ? 11 : c + 11));
		}
		bfd = open(p("tt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		CHECK(pwrite(bfd, b, 20 * CS, 0) == 20 * CS);	/* 20-29: a hole */
		CHECK(pwrite(bfd, b + 30 * CS, big - 30 * CS, 30 * CS) ==
		    (ssize_t)(big - 30 * CS));
		close(bfd);
		h1 = store_open(p("store2"), err, sizeof(err));
		CHECK(h1 != NULL);
		CHECK(store_put_file(h1, p("tt"), &ea, &st2, err, sizeof(err)) == 0);
		CHECK(store_sync(h1) == 0);
		CHECK(count_files(p("store2/packs"), "") == 2);	/* one pack */
		CHECK(st2.zero_chunks == 21 && st2.chunks == 80);
		/* Chunk 90 is chunk 0 again (share 1's stripe, share 0's chunk). */
		CHECK(st2.new_chunks == 79 && st2.dedup_chunks == 1);
		h3 = store_open(p("store3"), err, sizeof(err));
		CHECK(h3 != NULL);
		CHECK(store_put_file(h3, p("tt"), &eb, NULL, err, sizeof(err)) == 0);
		CHECK(ea != NULL && eb != NULL);
		if (ea != NULL && eb != NULL)
			CHECK_STR(json_object_to_json_string(ea),
			    json_object_to_json_string(eb));
		store_free(h3);
		h2 = store_open(p("store2"), err, sizeof(err));
		bfd = open(p("tt.out"), O_RDWR | O_CREAT | O_TRUNC, 0600);
		CHECK(store_read_entry(h2, "big", ea, bfd, err, sizeof(err)) == 0);
		CHECK(pread(bfd, back, big, 0) == (ssize_t)big);
		CHECK(memcmp(back, b, big) == 0);
		close(bfd);
		memset(mem, 0, big);
		CHECK(store_read_entry_into(h2, "big", ea, mem, err, sizeof(err)) == 0);
		CHECK(memcmp(mem, b, big) == 0);
		free(mem);
		json_object_put(ea);
		json_object_put(eb);
		store_free(h1);
		store_free(h2);
		free(b);
		free(back);
	}
	/* Loose chunk files of an older store are read and collected. */
	{
		char		*dirp = xasprintf("%s/chunks/%.2s", p("store"), nth_hash(e3, 1));
		char		*loose = xasprintf("%s/%s.zst", dirp, nth_hash(e3, 1));
		unsigned char	*b = xmalloc(CS), *z = xmalloc(2 * CS);
		size_t		 zl;

		pattern(b, CS, 6);
		zl = ZSTD_compress(z, 2 * CS, b, CS, 3);
		CHECK(mkdir_p(dirp, 0700) == 0 && write_file_atomic(loose, z, zl, 0600) == 0);
		CHECK(read_fresh(e3, "f3", err, sizeof(err)) == 0);
		write_manifest(p("snapD"), e3);
		CHECK(store_ref_add(s, p("snapD")) == 0);
		CHECK(store_gc(s, NULL, snapshot_dir_hashes, &chunks, &bytes, err,
	    sizeof(err)) == 0);
		CHECK(chunks == 0 && stat(loose, &sb) == 0);
		CHECK(store_ref_del(s, p("snapD")) == 0);
		CHECK(store_gc(s, NULL, snapshot_dir_hashes, &chunks, &bytes, err,
	    sizeof(err)) == 0);
		CHECK(chunks == 1 && stat(loose, &sb) < 0);
		free(b);
		free(z);
		free(loose);
		free(dirp);
	}
	/*
	 * Two handles stored chunk X at once: one pack [X, Y], one [X].  When Y
	 * dies, rewriting the first gives exactly the second (same name): gc
	 * must keep it, whichever pack it visits first.
	 */
	{
		struct store		*h1 = store_open(p("store"), err, sizeof(err));
		struct store		*h2 = store_open(p("store"), err, sizeof(err));
		struct json_object	*exy, *ex;

		write_patterns(p("fxy"), (const unsigned int[]){ 11, 12 }, 2);
		write_patterns(p("fx"), (const unsigned int[]){ 11 }, 1);
		memset(&st, 0, sizeof(st));
		CHECK(store_put_file(h1, p("fxy"), &exy, &st, err, sizeof(err)) == 0);
		CHECK(store_put_file(h2, p("fx"), &ex, &st, err, sizeof(err)) == 0);
		CHECK(st.new_chunks == 3);
		CHECK(store_sync(h1) == 0 && store_sync(h2) == 0);
		store_free(h1);
		store_free(h2);
		write_manifest(p("snapE"), ex);
		CHECK(store_ref_add(s, p("snapE")) == 0);
		CHECK(store_gc(s, NULL, snapshot_dir_hashes, &chunks, &bytes, err,
	    sizeof(err)) == 0);
		/* Y, and the second copy of X unless the rewrite replaced it. */
		CHECK(chunks == 1 || chunks == 2);
		CHECK(read_fresh(ex, "fx", err, sizeof(err)) == 0);
		CHECK(store_gc(s, NULL, snapshot_dir_hashes, &chunks, &bytes, err,
	    sizeof(err)) == 0);
		CHECK(chunks == 0 && read_fresh(ex, "fx", err, sizeof(err)) == 0);
		CHECK(store_ref_del(s, p("snapE")) == 0);
		json_object_put(exy);
		json_object_put(ex);
	}
	/* A registered snapshot whose manifest is unreadable stops the gc. */
	unlink(p("snapA/manifest.json"));
	CHECK(store_gc(s, NULL, snapshot_dir_hashes, &chunks, &bytes, err,
	    sizeof(err)) == -ENOENT);
	CHECK(store_check_entry(s, "f1", e1, true, err, sizeof(err)) == 0);

	index_cost(50000);

	json_object_put(e1);
	json_object_put(e2);
	json_object_put(e3);
	json_object_put(e4);
	store_free(s);
	free(expect);
	free(got);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return test_summary();
}
