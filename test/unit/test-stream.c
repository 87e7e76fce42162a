/* SPDX-License-Identifier: MIT */
/*
 * Unit test of snapshot-stream.c (the export stream's framing): a written
 * stream reads back record by record and its end record checks out; every
 * way a stream can be damaged is refused with its reason: empty, no magic,
 * truncated anywhere, a flipped byte anywhere, an unknown or oversized
 * record, bytes after the end.  And store_put_frame() refuses a frame that
 * does not hash to its name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "fsutil.h"
#include "snapshot-stream.h"
#include "store.h"
#include "test.h"
#include "util.h"

static char dir[] = "/tmp/sbuml-stream.XXXXXX";

/* Write a small stream (HEAD, MANI, two CHNK) into a fresh file; its bytes. */
static unsigned char *
make_stream(size_t *ret_len)
{
	char		 path[512];
	struct stream	*st;
	unsigned char	*buf;
	size_t		 len;
	int		 fd;

	snprintf(path, sizeof(path), "%s/good", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(stream_write_open(fd, &st) == 0);
	CHECK(stream_put(st, STREAM_HEAD, "{\"a\":1}", 7, NULL, 0) == 0);
	CHECK(stream_put(st, STREAM_MANI, "{\"m\":2}", 7, NULL, 0) == 0);
	CHECK(stream_put(st, STREAM_CHNK, "0123", 4, "abcdef", 6) == 0);
	CHECK(stream_put(st, STREAM_CHNK, "4567", 4, NULL, 0) == 0);
	CHECK(stream_write_end(st) == 0);
	len = (size_t)stream_bytes(st);
	stream_free(st);
	CHECK(len == 8 + 5 * 16 + 7 + 7 + 10 + 4 + 32);
	CHECK(read_file(path, 1 << 20, (char **)&buf, &len) == 0);
	close(fd);
	*ret_len = len;
	return buf;
}

/*
 * Read buf (len bytes) as a stream to its end.  Returns the number of
 * records read, or -errno with the reason in err.
 */
static int
read_all(const unsigned char *buf, size_t len, char *err, size_t errlen)
{
	char			 path[512], type[5];
	struct stream		*st;
	const unsigned char	*p;
	size_t			 n;
	int			 fd, r, count = 0;

	snprintf(path, sizeof(path), "%s/in", dir);
	CHECK(write_file_atomic(path, buf, len, 0600) == 0);
	fd = open(path, O_RDONLY);
	if ((r = stream_read_open(fd, &st, err, errlen)) < 0) {
		close(fd);
		return r;
	}
	for (;;) {
		if ((r = stream_get(st, type, &p, &n, err, errlen)) < 0)
			break;
		count++;
		if (strcmp(type, STREAM_END) == 0) {
			r = count;
			break;
		}
	}
	stream_free(st);
	close(fd);
	return r;
}

static void
test_round_trip(size_t len)
{
	char			 path[512], type[5], err[256];
	struct stream		*st;
	const unsigned char	*p;
	size_t			 n;
	int			 fd;

	snprintf(path, sizeof(path), "%s/good", dir);
	fd = open(path, O_RDONLY);
	CHECK(stream_read_open(fd, &st, err, sizeof(err)) == 0);
	CHECK(stream_get(st, type, &p, &n, err, sizeof(err)) == 0);
	CHECK_STR(type, STREAM_HEAD);
	CHECK(n == 7 && memcmp(p, "{\"a\":1}", 7) == 0 && p[7] == '\0');
	CHECK(stream_get(st, type, &p, &n, err, sizeof(err)) == 0);
	CHECK_STR(type, STREAM_MANI);
	CHECK(stream_get(st, type, &p, &n, err, sizeof(err)) == 0);
	CHECK_STR(type, STREAM_CHNK);
	CHECK(n == 10 && memcmp(p, "0123abcdef", 10) == 0);
	CHECK(stream_get(st, type, &p, &n, err, sizeof(err)) == 0);
	CHECK(n == 4);
	CHECK(stream_get(st, type, &p, &n, err, sizeof(err)) == 0);
	CHECK_STR(type, STREAM_END);
	CHECK(stream_bytes(st) == len);
	CHECK(stream_get(st, type, &p, &n, err, sizeof(err)) == -EBADMSG);
	stream_free(st);
	close(fd);
}

static void
test_damage(const unsigned char *good, size_t len)
{
	unsigned char	*b = xmalloc(len + 64);
	char		 err[256];
	int		 cut_ok = 0, flip_ok = 0;

	CHECK(read_all(good, len, err, sizeof(err)) == 5);
	CHECK(read_all(good, 0, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "empty") != NULL);
	memcpy(b, good, len);
	b[0] = 'X';
	CHECK(read_all(b, len, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "magic") != NULL);
	/* Cut anywhere after the magic: truncated, never accepted. */
	for (size_t cut = 8; cut < len; cut++)
		if (read_all(good, cut, err, sizeof(err)) == -EBADMSG &&
		    strstr(err, "truncated") != NULL)
			cut_ok++;
	CHECK(cut_ok == (int)(len - 8));
	/* Flip any bit after the magic: refused (by framing or the end hash). */
	for (size_t i = 8; i < len; i++) {
		memcpy(b, good, len);
		b[i] ^= 0x04;
		if (read_all(b, len, err, sizeof(err)) < 0)
			flip_ok++;
		else
			fprintf(stderr, "flip at %zu accepted\n", i);
	}
	CHECK(flip_ok == (int)(len - 8));
	/* Trailing bytes after the end record. */
	memcpy(b, good, len);
	b[len] = 'z';
	CHECK(read_all(b, len + 1, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "after its end") != NULL);
	/* An oversized record is refused before its payload is read. */
	memcpy(b, good, 8);
	memcpy(b + 8, "HEAD\0\0\0\0\xff\xff\xff\xff\0\0\0\0", 16);
	CHECK(read_all(b, 24, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "at most") != NULL);
	memcpy(b + 8, "WHAT\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	CHECK(read_all(b, 24, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "unknown record") != NULL);
	free(b);
}

/* A received frame must hash to its name; a good one lands in the store. */
static void
test_put_frame(void)
{
	char			 root[512], err[512], hex[STORE_HEX_LEN + 1];
	unsigned char		 data[1000], frame[2048];
	struct store_stats	 st = { 0 };
	struct store		*s;
	size_t			 flen, len = 0;

	snprintf(root, sizeof(root), "%s/store", dir);
	CHECK((s = store_open(root, err, sizeof(err))) != NULL);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 13 + 5);
	flen = ZSTD_compress(frame, sizeof(frame), data, sizeof(data), 1);
	CHECK(!ZSTD_isError(flen));
	memset(hex, 'a', STORE_HEX_LEN);
	hex[STORE_HEX_LEN] = '\0';
	CHECK(store_put_frame(s, hex, frame, flen, &len, &st, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "corrupt") != NULL);
	CHECK(!store_has_chunk(s, hex));
	CHECK(store_put_frame(s, hex, "junk", 4, &len, &st, err, sizeof(err)) == -EBADMSG);
	CHECK(store_put_frame(s, "../x", frame, flen, &len, &st, err, sizeof(err)) == -EBADMSG);
	s = store_free(s);
}

int
main(void)
{
	unsigned char	*good;
	size_t		 len;

	CHECK(mkdtemp(dir) != NULL);
	good = make_stream(&len);
	test_round_trip(len);
	test_damage(good, len);
	test_put_frame();
	free(good);
	(void)fs_remove_tree(dir);
	return test_summary();
}
