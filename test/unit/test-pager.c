/* SPDX-License-Identifier: MIT */
/*
 * The lazy restore pager's hello parser (snapshot-pager.h) against good
 * and hostile hellos: wrong magic, version, page size, flags, size, pid,
 * lengths, mapping counts, unaligned, empty, inverted, out-of-file and
 * overflowing mappings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot-pager.h"
#include "test.h"

#define SIZE	((uint64_t)96 << 20)

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A good hello of n mappings into buf; its length. */
static size_t
hello(unsigned char *buf, uint32_t n)
{
	memcpy(buf, "SBUMLPGR", 8);
	put32(buf + 8, 1);
	put32(buf + 12, n);
	put64(buf + 16, SIZE);
	put64(buf + 24, 4096);
	put32(buf + 32, 1234);
	put32(buf + 36, 0);
	for (uint32_t i = 0; i < n; i++) {
		unsigned char *v = buf + PAGER_HELLO_LEN + i * PAGER_VMA_LEN;

		/* The linear map, then vm areas over parts of it. */
		put64(v, 0x60000000ULL + i * 0x100000ULL);
		put64(v + 8, 0x60000000ULL + i * 0x100000ULL + (i ? 0x10000 : SIZE));
		put64(v + 16, (i % 64) * 0x100000ULL);
	}
	return PAGER_HELLO_LEN + (size_t)n * PAGER_VMA_LEN;
}

/* Parse len bytes of buf; 0 or -EBADMSG (and no leak either way). */
static int
parse(const unsigned char *buf, size_t len)
{
	struct pager_hello	 h;
	struct pager_vma	*v = NULL;
	char			 err[512] = "";
	int			 r;

	r = snapshot_pager_parse_hello(buf, len, SIZE, &h, &v, err, sizeof(err));
	if (r < 0)
		CHECK(err[0] != '\0');
	free(v);
	return r;
}

/* Mapping i of buf set to (start, end, off). */
static void
vma(unsigned char *buf, uint32_t i, uint64_t s, uint64_t e, uint64_t o)
{
	unsigned char *v = buf + PAGER_HELLO_LEN + i * PAGER_VMA_LEN;

	put64(v, s);
	put64(v + 8, e);
	put64(v + 16, o);
}

int
main(void)
{
	unsigned char		*buf = calloc(1, PAGER_MSG_MAX + 64);
	struct pager_hello	 h;
	struct pager_vma	*v = NULL;
	char			 err[512];
	size_t			 len;

	len = hello(buf, 3);
	CHECK(snapshot_pager_parse_hello(buf, len, SIZE, &h, &v, err,
	    sizeof(err)) == 0);
	CHECK(h.nvmas == 3 && h.pid == 1234 && v != NULL);
	CHECK(v != NULL && v[0].start == 0x60000000ULL && v[0].end ==
	    0x60000000ULL + SIZE && v[2].off == 0x200000);
	free(v);
	/* The most mappings there may be, and one more. */
	CHECK(parse(buf, hello(buf, PAGER_MAX_VMAS)) == 0);
	len = hello(buf, PAGER_MAX_VMAS);
	put32(buf + 12, PAGER_MAX_VMAS + 1);
	CHECK(parse(buf, len + PAGER_VMA_LEN) < 0);

	/* Short, and every header field wrong in turn. */
	len = hello(buf, 3);
	for (size_t n = 0; n < len; n += 7)
		CHECK(parse(buf, n) < 0);
	CHECK(parse(buf, len + 1) < 0);		/* trailing byte */
	CHECK(parse(buf, len - 1) < 0);
	buf[0] = 'X';
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3); put32(buf + 8, 2);
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3); put32(buf + 12, 0);
	CHECK(parse(buf, PAGER_HELLO_LEN) < 0);		/* no mappings */
	len = hello(buf, 3); put32(buf + 12, 0xffffffffU);
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3); put32(buf + 12, 2);	/* says 2, has 3 */
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3); put64(buf + 16, SIZE + 4096);
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3); put64(buf + 24, 65536);
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3); put32(buf + 32, 0);
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3); put32(buf + 32, 0x80000000U);	/* negative pid */
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3); put32(buf + 36, 1);
	CHECK(parse(buf, len) < 0);

	/* Hostile mappings. */
	len = hello(buf, 3);
	vma(buf, 1, 0x70000000, 0x70000000, 0);			/* empty */
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3);
	vma(buf, 1, 0x70010000, 0x70000000, 0);			/* inverted */
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3);
	vma(buf, 1, 0x70000001, 0x70010000, 0);			/* unaligned */
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3);
	vma(buf, 1, 0x70000000, 0x70010000, 100);		/* unaligned offset */
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3);
	vma(buf, 1, 0x70000000, 0x70010000, SIZE);		/* past the end */
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3);
	vma(buf, 1, 0x70000000, 0x70010000, SIZE - 4096);	/* runs past it */
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3);
	vma(buf, 1, 0x70000000, 0x70010000, SIZE - 0x10000);	/* ends at it: fine */
	CHECK(parse(buf, len) == 0);
	len = hello(buf, 3);
	vma(buf, 1, 0x1000, 0x1000 + SIZE + 4096, 0);		/* longer than the file */
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3);					/* offset + length wraps */
	vma(buf, 1, 0x70000000, 0x70010000, UINT64_MAX - 0xfff);
	CHECK(parse(buf, len) < 0);
	len = hello(buf, 3);					/* the address space's top */
	vma(buf, 1, UINT64_MAX - 0xfff, 0, 0);
	CHECK(parse(buf, len) < 0);
	free(buf);
	return (test_summary());
}
