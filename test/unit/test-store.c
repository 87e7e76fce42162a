/* SPDX-License-Identifier: MIT */
/*
 * Unit test of store.c: chunking with zero runs and holes, dedup of identical
 * chunks, round trip (holes kept), corruption detection (flipped byte,
 * truncated and missing chunk), atomic chunk writes (a failed write leaves
 * neither the chunk nor a temporary file), and mark-and-sweep gc with usage.
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
#include <unistd.h>

#include "store.h"
#include "test.h"
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

/* Path of the chunk file of the idx-th listed hash of entry. */
static char *
nth_chunk(struct store *s, struct json_object *entry, int idx)
{
	struct json_object *list;

	json_object_object_get_ex(entry, "chunks", &list);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *c = json_object_array_get_idx(list, i);

		if (json_object_is_type(c, json_type_string) && idx-- == 0) {
			const char *h = json_object_get_string(c);

			return xasprintf("%s/chunks/%.2s/%s.zst", store_root(s), h, h);
		}
	}
	return NULL;
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

int
main(void)
{
	struct store		*s;
	struct store_stats	 st = { 0 };
	struct json_object	*e1 = NULL, *e2 = NULL, *list;
	unsigned char		*expect = xmalloc(6 * CS), *got = xmalloc(6 * CS);
	char			 err[1024], *chunk, *copy;
	size_t			 len;
	uint64_t		 stored, freeable, chunks, bytes;
	struct stat		 sb;
	int			 fd, r;

	if (mkdtemp(dir) == NULL)
		return 1;
	s = store_open(p("store"), err, sizeof(err));
	CHECK(s != NULL);

	/* Chunking: [A, zero run of 2, A, B, C]; A stored once. */
	make_file(p("f1"), expect, &len);
	r = store_put_file(s, p("f1"), &e1, &st, err, sizeof(err));
	CHECK(r == 0);
	CHECK(store_sync(s) == 0);
	json_object_object_get_ex(e1, "chunks", &list);
	CHECK(json_object_array_length(list) == 5);
	CHECK(json_object_get_int(json_object_array_get_idx(list, 1)) == 2);
	CHECK_STR(json_object_get_string(json_object_array_get_idx(list, 0)),
	    json_object_get_string(json_object_array_get_idx(list, 2)));
	CHECK(st.chunks == 4 && st.zero_chunks == 2);
	CHECK(st.new_chunks == 3 && st.dedup_chunks == 1);
	CHECK(count_files(p("store/chunks"), "") == 3);
	CHECK(count_files(p("store/chunks"), ".tmp-") == 0);
	CHECK(store_check_entry(s, "f1", e1, true, err, sizeof(err)) == 0);

	/* Storing the same file again writes nothing new. */
	memset(&st, 0, sizeof(st));
	CHECK(store_put_file(s, p("f1"), &e2, &st, err, sizeof(err)) == 0);
	CHECK(st.new_chunks == 0 && st.dedup_chunks == 4);
	CHECK_STR(json_object_to_json_string(e1), json_object_to_json_string(e2));
	json_object_put(e2);
	e2 = NULL;

	/* Round trip: same bytes, zero runs are holes. */
	fd = open(p("out"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(store_read_entry(s, "f1", e1, fd, err, sizeof(err)) == 0);
	CHECK(fstat(fd, &sb) == 0 && (size_t)sb.st_size == len);
	CHECK(pread(fd, got, len, 0) == (ssize_t)len && memcmp(got, expect, len) == 0);
	CHECK(lseek(fd, 0, SEEK_HOLE) == CS);
	CHECK(sb.st_blocks * 512 <= 4 * CS + 8192);
	close(fd);
	CHECK(store_read_entry(s, "f1", e1, -1, err, sizeof(err)) == 0);

	/* Corruption: a flipped byte, a truncated chunk, a missing chunk. */
	chunk = nth_chunk(s, e1, 2);	/* pattern B */
	copy = xasprintf("%s.keep", chunk);
	{
		char	*buf;
		size_t	 n;

		CHECK(read_file(chunk, 1 << 20, &buf, &n) == 0);
		write_file_atomic(copy, buf, n, 0600);
		buf[n / 2] ^= 0x01;
		write_file_atomic(chunk, buf, n, 0600);
		free(buf);
	}
	r = store_read_entry(s, "f1", e1, -1, err, sizeof(err));
	CHECK(r == -EBADMSG);
	CHECK(strstr(err, "f1, chunk 4") != NULL);
	CHECK(strstr(err, "corrupt") != NULL);
	CHECK(truncate(chunk, 10) == 0);
	CHECK(store_read_entry(s, "f1", e1, -1, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "truncated") != NULL && strstr(err, "chunk 4") != NULL);
	CHECK(unlink(chunk) == 0);
	CHECK(store_read_entry(s, "f1", e1, -1, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "missing") != NULL);
	CHECK(store_check_entry(s, "f1", e1, true, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "missing") != NULL);
	CHECK(rename(copy, chunk) == 0);
	CHECK(store_read_entry(s, "f1", e1, -1, err, sizeof(err)) == 0);
	free(copy);
	free(chunk);

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

	/* Atomic chunk write: a write that fails leaves neither chunk nor tmp. */
	{
		struct rlimit	 old, lim = { 100, 100 };
		unsigned char	*rnd = xmalloc(CS);
		int		 before = count_files(p("store/chunks"), "");

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
		CHECK(count_files(p("store/chunks"), "") == before);
		CHECK(count_files(p("store/chunks"), ".tmp-") == 0);
		r = store_put_file(s, p("rnd"), &e2, NULL, err, sizeof(err));
		if (r < 0)
			fprintf(stderr, "put: %s\n", err);
		CHECK(r == 0);
		CHECK(store_sync(s) == 0);
		CHECK(count_files(p("store/chunks"), "") == before + 1);
		free(rnd);
	}

	/* gc: snapshot A uses f1, snapshot B uses rnd; a stray tmp file. */
	write_manifest(p("snapA"), e1);
	write_manifest(p("snapB"), e2);
	CHECK(store_ref_add(s, p("snapA")) == 0);
	CHECK(store_ref_add(s, p("snapB")) == 0);
	CHECK(store_ref_add(s, p("gone")) == 0);	/* stale: dropped */
	fd = open(p("store/chunks/00/.tmp-stray"), O_WRONLY | O_CREAT, 0600);
	if (fd < 0) {
		mkdir(p("store/chunks/00"), 0700);
		fd = open(p("store/chunks/00/.tmp-stray"), O_WRONLY | O_CREAT, 0600);
	}
	close(fd);
	{
		struct json_object *m;
		char *buf;
		size_t n;

		read_file(p("snapB/manifest.json"), 1 << 20, &buf, &n);
		m = json_tokener_parse(buf);
		free(buf);
		CHECK(store_usage(s, NULL, p("snapB"), m, &stored, &freeable, err,
		    sizeof(err)) == 0);
		CHECK(stored > 0 && freeable == stored);
		json_object_put(m);
		read_file(p("snapA/manifest.json"), 1 << 20, &buf, &n);
		m = json_tokener_parse(buf);
		free(buf);
		CHECK(store_usage(s, NULL, p("snapA"), m, &stored, &freeable, err,
		    sizeof(err)) == 0);
		CHECK(stored > 0 && freeable == stored);
		json_object_put(m);
	}
	store_writer_begin();
	CHECK(store_gc(s, NULL, &chunks, &bytes, err, sizeof(err)) == -EBUSY);
	store_writer_end();
	CHECK(store_gc(s, NULL, &chunks, &bytes, err, sizeof(err)) == 0);
	CHECK(chunks == 0);
	CHECK(count_files(p("store/chunks"), ".tmp-") == 0);
	CHECK(count_files(p("store/refs"), "") == 2);
	/* Delete B: only its chunk goes; A still reads back. */
	CHECK(store_ref_del(s, p("snapB")) == 0);
	CHECK(store_gc(s, NULL, &chunks, &bytes, err, sizeof(err)) == 0);
	CHECK(chunks == 1 && bytes > 0);
	CHECK(store_read_entry(s, "f1", e1, -1, err, sizeof(err)) == 0);
	/* A registered snapshot whose manifest is unreadable stops the gc. */
	unlink(p("snapA/manifest.json"));
	CHECK(store_gc(s, NULL, &chunks, &bytes, err, sizeof(err)) == -ENOENT);
	CHECK(store_check_entry(s, "f1", e1, true, err, sizeof(err)) == 0);

	json_object_put(e1);
	json_object_put(e2);
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
