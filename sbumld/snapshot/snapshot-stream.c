/* SPDX-License-Identifier: MIT */
/* Framing of the export stream (snapshot-stream.h, doc/snapshot-format.md). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "log.h"
#include "snapshot-stream.h"
#include "store.h"
#include "util.h"

struct stream {
	int		 fd;
	int		 cancel_fd;	/* readable: give up (stream_set_cancel_fd), or -1 */
	EVP_MD_CTX	*sha;		/* over every byte so far */
	uint64_t	 bytes;
	bool		 ended;
	unsigned char	*buf;		/* the last payload read */
	size_t		 cap;
};

static struct stream *
stream_new(int fd)
{
	struct stream *st = xcalloc(1, sizeof(*st));

	st->fd = fd;
	st->cancel_fd = -1;
	if ((st->sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(st->sha, EVP_sha256(), NULL) != 1)
		fatalx("libcrypto: cannot start SHA-256");
	return st;
}

struct stream *
stream_free(struct stream *st)
{
	if (st != NULL) {
		EVP_MD_CTX_free(st->sha);
		free(st->buf);
		free(st);
	}
	return NULL;
}

uint64_t
stream_bytes(const struct stream *st)
{
	return st->bytes;
}

/*
 * Wait until the stream's fd is ready for events (a passed fd may be
 * non-blocking; with a cancel fd (stream_*_open_cancel) every read and
 * write waits here first, so a peer that never sends or reads cannot hold
 * the job once it is cancelled).  0, -ECANCELED
 * once the cancel fd is readable, or -errno.
 */
static int
wait_fd(struct stream *st, short events)
{
	struct pollfd pfd[2] = { { st->fd, events, 0 }, { st->cancel_fd, POLLIN, 0 } };

	while (poll(pfd, st->cancel_fd >= 0 ? 2 : 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	if (st->cancel_fd >= 0 && (pfd[1].revents & POLLIN))
		return -ECANCELED;
	return 0;
}

static int
write_fully(struct stream *st, const void *buf, size_t len)
{
	const char	*p = buf;
	int		 r;

	if (len > 0 && EVP_DigestUpdate(st->sha, buf, len) != 1)
		fatalx("libcrypto: SHA-256 update failed");
	while (len > 0) {
		ssize_t n;

		if (st->cancel_fd >= 0 && (r = wait_fd(st, POLLOUT)) < 0)
			return r;
		n = write(st->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = wait_fd(st, POLLOUT)) < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		st->bytes += (uint64_t)n;
	}
	return 0;
}

/* Read exactly len bytes.  0, -ENODATA at a clean end before any byte, -EBADMSG if cut short. */
static int
read_fully(struct stream *st, void *buf, size_t len)
{
	char	*p = buf;
	size_t	 got = 0;
	int	 r;

	while (got < len) {
		ssize_t n;

		if (st->cancel_fd >= 0 && (r = wait_fd(st, POLLIN)) < 0)
			return r;
		n = read(st->fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = wait_fd(st, POLLIN)) < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return got == 0 ? -ENODATA : -EBADMSG;
		got += (size_t)n;
		st->bytes += (uint64_t)n;
	}
	return 0;
}

int
stream_write_open(int fd, struct stream **ret)
{
	return stream_write_open_cancel(fd, -1, ret);
}

int
stream_write_open_cancel(int fd, int cancel_fd, struct stream **ret)
{
	struct stream	*st = stream_new(fd);
	int		 r;

	st->cancel_fd = cancel_fd;
	if ((r = write_fully(st, STREAM_MAGIC, STREAM_MAGIC_LEN)) < 0) {
		stream_free(st);
		return r;
	}
	*ret = st;
	return 0;
}

static void
put_header(unsigned char hdr[STREAM_HDR_LEN], const char *type, uint64_t len)
{
	memcpy(hdr, type, 4);
	memset(hdr + 4, 0, 4);
	for (int i = 0; i < 8; i++)
		hdr[8 + i] = (unsigned char)(len >> (8 * i));
}

int
stream_put(struct stream *st, const char *type, const void *a, size_t alen,
    const void *b, size_t blen)
{
	unsigned char	hdr[STREAM_HDR_LEN];
	int		r;

	put_header(hdr, type, (uint64_t)alen + blen);
	if ((r = write_fully(st, hdr, sizeof(hdr))) < 0 ||
	    (r = write_fully(st, a, alen)) < 0 ||
	    (r = write_fully(st, b, blen)) < 0)
		return r;
	return 0;
}

/* The SHA-256 of everything so far, leaving the running hash untouched. */
static void
digest_so_far(struct stream *st, unsigned char md[STORE_HASH_LEN])
{
	EVP_MD_CTX	*copy = EVP_MD_CTX_new();
	unsigned int	 mdlen = 0;

	if (copy == NULL || EVP_MD_CTX_copy_ex(copy, st->sha) != 1 ||
	    EVP_DigestFinal_ex(copy, md, &mdlen) != 1 || mdlen != STORE_HASH_LEN)
		fatalx("libcrypto: SHA-256 final failed");
	EVP_MD_CTX_free(copy);
}

int
stream_write_end(struct stream *st)
{
	unsigned char md[STORE_HASH_LEN];

	digest_so_far(st, md);
	return stream_put(st, STREAM_END, md, sizeof(md), NULL, 0);
}

int
stream_read_open(int fd, struct stream **ret, char *err, size_t errlen)
{
	return stream_read_open_cancel(fd, -1, ret, err, errlen);
}

int
stream_read_open_cancel(int fd, int cancel_fd, struct stream **ret, char *err,
    size_t errlen)
{
	struct stream	*st = stream_new(fd);
	char		 magic[STREAM_MAGIC_LEN];
	int		 r;

	st->cancel_fd = cancel_fd;
	r = read_fully(st, magic, sizeof(magic));
	if (r == 0 && memcmp(magic, STREAM_MAGIC, STREAM_MAGIC_LEN) != 0)
		r = -EBADMSG;
	if (r == -ENODATA || r == -EBADMSG) {
		snprintf(err, errlen, "not an sbuml export stream (%s)",
		    r == -ENODATA ? "it is empty" : "no SBUMLXS1 magic");
		r = -EBADMSG;
	} else if (r < 0)
		snprintf(err, errlen, "cannot read the stream: %s", strerror(-r));
	if (r < 0) {
		stream_free(st);
		return r;
	}
	if (EVP_DigestUpdate(st->sha, magic, sizeof(magic)) != 1)
		fatalx("libcrypto: SHA-256 update failed");
	*ret = st;
	return 0;
}

/* The largest payload a record of type may have. */
static uint64_t
max_payload(const char *type)
{
	if (strcmp(type, STREAM_HEAD) == 0)
		return STREAM_MAX_HEAD;
	if (strcmp(type, STREAM_MANI) == 0)
		return STREAM_MAX_MANI;
	if (strcmp(type, STREAM_CHNK) == 0)
		return STORE_HASH_LEN + ZSTD_compressBound(STORE_CHUNK_SIZE);
	if (strcmp(type, STREAM_END) == 0)
		return STORE_HASH_LEN;
	return 0;
}

/* After the end record the stream must end too. */
static int
expect_eof(struct stream *st, char *err, size_t errlen)
{
	char	c;
	int	r = read_fully(st, &c, 1);

	if (r == -ENODATA)
		return 0;
	if (r == 0) {
		snprintf(err, errlen, "the stream goes on after its end record");
		return -EBADMSG;
	}
	snprintf(err, errlen, "cannot read the stream: %s", strerror(-r));
	return r;
}

int
stream_get(struct stream *st, char type[5], const unsigned char **payload,
    size_t *len, char *err, size_t errlen)
{
	unsigned char	 hdr[STREAM_HDR_LEN], md[STORE_HASH_LEN];
	uint64_t	 n = 0, max;
	int		 r;

	if (st->ended) {
		snprintf(err, errlen, "read past the end record");
		return -EBADMSG;
	}
	/* The end record's hash covers everything before its header. */
	digest_so_far(st, md);
	if ((r = read_fully(st, hdr, sizeof(hdr))) < 0)
		goto io;
	memcpy(type, hdr, 4);
	type[4] = '\0';
	for (int i = 0; i < 8; i++)
		n |= (uint64_t)hdr[8 + i] << (8 * i);
	if ((max = max_payload(type)) == 0 || hdr[4] || hdr[5] || hdr[6] || hdr[7]) {
		snprintf(err, errlen, "corrupt stream: unknown record at byte %llu",
		    (unsigned long long)(st->bytes - sizeof(hdr)));
		return -EBADMSG;
	}
	if (n > max) {
		snprintf(err, errlen, "corrupt stream: a %s record of %llu bytes "
		    "(at most %llu)", type, (unsigned long long)n,
		    (unsigned long long)max);
		return -EBADMSG;
	}
	if (st->cap < n + 1) {
		st->cap = (size_t)n + 1;
		st->buf = xrealloc(st->buf, st->cap);
	}
	if ((r = read_fully(st, st->buf, (size_t)n)) < 0)
		goto io;
	st->buf[n] = '\0';
	if (strcmp(type, STREAM_END) == 0) {
		if (n != STORE_HASH_LEN || memcmp(st->buf, md, sizeof(md)) != 0) {
			snprintf(err, errlen, "corrupt stream: its SHA-256 does not "
			    "match the one in its end record");
			return -EBADMSG;
		}
		st->ended = true;
		if ((r = expect_eof(st, err, errlen)) < 0)
			return r;
	} else if (EVP_DigestUpdate(st->sha, hdr, sizeof(hdr)) != 1 ||
	    EVP_DigestUpdate(st->sha, st->buf, (size_t)n) != 1)
		fatalx("libcrypto: SHA-256 update failed");
	*payload = st->buf;
	*len = (size_t)n;
	return 0;
io:
	if (r == -ENODATA || r == -EBADMSG) {
		snprintf(err, errlen, "the stream is truncated (it ends after %llu "
		    "bytes, before its end record)", (unsigned long long)st->bytes);
		return -EBADMSG;
	}
	snprintf(err, errlen, "cannot read the stream: %s", strerror(-r));
	return r;
}
