/* SPDX-License-Identifier: MIT */
/*
 * The chunk store's encodings (store-int.h): chunk names (the SHA-256 of
 * the content as 64 lower-case hex digits), the little-endian fields of
 * packs and indexes, how a file is cut into chunks, and positioned I/O
 * that retries what the kernel may cut short.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "store-int.h"

void
store_to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

bool
store_valid_hex(const char *hex)
{
	size_t i;

	if (hex == NULL)
		return false;
	for (i = 0; hex[i] != '\0'; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return false;
	return i == STORE_HEX_LEN;
}

/* One hex digit's value (input checked by store_valid_hex). */
static unsigned int
nibble(char c)
{
	return c <= '9' ? (unsigned int)(c - '0') : (unsigned int)(c - 'a' + 10);
}

void
store_from_hex(const char *hex, unsigned char *out)
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
	store_to_hex(md, STORE_HASH_LEN, out);
}

void
store_put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void
store_put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t
store_get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

uint64_t
store_get_le64(const unsigned char *p)
{
	return (uint64_t)store_get_le32(p) | (uint64_t)store_get_le32(p + 4) << 32;
}

bool
store_all_zero(const unsigned char *buf, size_t len)
{
	return len == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, len - 1) == 0);
}

uint64_t
store_chunk_count(int64_t size)
{
	return ((uint64_t)size + STORE_CHUNK_SIZE - 1) / STORE_CHUNK_SIZE;
}

size_t
store_chunk_len(int64_t size, off_t off)
{
	return size - off < STORE_CHUNK_SIZE ? (size_t)(size - off) :
	    STORE_CHUNK_SIZE;
}

int
store_pwrite_all(int fd, const void *buf, size_t len, off_t off)
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

ssize_t
store_pread_some(int fd, void *buf, size_t len, off_t off)
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

int
store_pread_all(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = store_pread_some(fd, buf, len, off);

	if (n < 0)
		return (int)n;
	return (size_t)n < len ? -EIO : 0;	/* the file shrank under us */
}
