/* SPDX-License-Identifier: MIT */
/*
 * memtouch: what copying N MiB costs on this host, depending on how fresh
 * the memory on each side is. The baseline that explains a save's pause
 * (bench/save-pause.sh runs it once per run): the pause memcpys the
 * guest's resident memory from the UML kernel's physmem mapping into a
 * staging memfd/tmpfs file populated beforehand, and a memcpy costs 40x
 * more when its pages are touched for the first time than when they are
 * warm.
 *
 * Every case copies the same N MiB source (a memfd mapping filled with a
 * non-zero pattern) with one memcpy and reports wall time, rate and this
 * process's page faults (getrusage ru_minflt/ru_majflt) across it:
 *   fresh      into a new memfd mapping, nothing allocated: one page fault
 *              and one new page per 4 KiB inside the copy
 *   populate   not a copy: MADV_POPULATE_WRITE of a second new memfd
 *              mapping (what the save does before the pause)
 *   populated  into that populated mapping: the pause's copy (staged=1)
 *   warm       the same copy again into the same, now written, pages
 *   srcmap     from a new mapping of the source memfd (its pages exist but
 *              this mapping has no page table entries yet) into the warm
 *              destination: what a source-side fault costs (a restored
 *              guest's physmem, pages only its stubs touched)
 *   srcpopulate, srcpopulated
 *              a new source mapping, MADV_POPULATE_READ (timed), then the
 *              copy: page table entries in place, first reads through them
 *   populate2, pretouch, pretouched
 *              a third memfd, populated, then one write per page through
 *              its own mapping (timed), then the copy into it: whether the
 *              first write's cost can be paid before a pause
 * One line per case, key=value, for scripts:
 *   memtouch case=NAME mib=N ms=F mibps=F minflt=N majflt=N
 * Each copy is checked (a sample of bytes per MiB); exit 1 on any error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

#define MiB		((size_t)1 << 20)
#define MAX_MIB		65536

/* A memfd and one shared mapping of it. */
struct region {
	int	 fd;
	char	*map;
	size_t	 len;
};

/* Time and page faults at one instant. */
struct mark {
	struct timespec	 ts;
	long		 minflt, majflt;
};

static int
region_open(struct region *r, const char *name, size_t len)
{
	r->map = NULL;
	r->len = len;
	if ((r->fd = memfd_create(name, MFD_CLOEXEC)) < 0)
		return -errno;
	if (ftruncate(r->fd, (off_t)len) < 0)
		return -errno;
	return 0;
}

static int
region_map(struct region *r)
{
	void *p = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	r->map = p;
	return 0;
}

static int
region_unmap(struct region *r)
{
	if (r->map != NULL && munmap(r->map, r->len) < 0)
		return -errno;
	r->map = NULL;
	return 0;
}

static int
region_close(struct region *r)
{
	int ret = region_unmap(r);

	if (r->fd >= 0 && close(r->fd) < 0 && ret == 0)
		ret = -errno;
	r->fd = -1;
	return ret;
}

static int
mark_now(struct mark *m)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -errno;
	if (clock_gettime(CLOCK_MONOTONIC, &m->ts) < 0)
		return -errno;
	m->minflt = ru.ru_minflt;
	m->majflt = ru.ru_majflt;
	return 0;
}

static void
report(const char *name, size_t mib, const struct mark *a, const struct mark *b)
{
	double ms = (double)(b->ts.tv_sec - a->ts.tv_sec) * 1e3 +
	    (double)(b->ts.tv_nsec - a->ts.tv_nsec) / 1e6;

	printf("memtouch case=%s mib=%zu ms=%.1f mibps=%.0f minflt=%ld majflt=%ld\n",
	    name, mib, ms, ms > 0 ? (double)mib / (ms / 1e3) : 0.0,
	    b->minflt - a->minflt, b->majflt - a->majflt);
	fflush(stdout);
}

/* A pattern no page shares with another, so nothing can merge them. */
static void
fill_pattern(char *p, size_t len)
{
	for (size_t i = 0; i + sizeof(uint64_t) <= len; i += sizeof(uint64_t)) {
		uint64_t v = (i + 1) * UINT64_C(0x9E3779B97F4A7C15);

		memcpy(p + i, &v, sizeof(v));
	}
}

/* Did the copy land? A few bytes of every MiB. */
static int
check_copy(const char *dst, const char *src, size_t len)
{
	for (size_t off = 0; off < len; off += MiB) {
		size_t last = off + MiB - 1 < len ? off + MiB - 1 : len - 1;

		if (dst[off] != src[off] || dst[last] != src[last] ||
		    dst[off + (last - off) / 2] != src[off + (last - off) / 2])
			return -EIO;
	}
	return 0;
}

/* memcpy src into dst, timed, faults counted, checked. */
static int
timed_copy(const char *name, size_t mib, char *dst, const char *src)
{
	struct mark	a, b;
	int		r;

	if ((r = mark_now(&a)) < 0)
		return r;
	memcpy(dst, src, mib * MiB);
	if ((r = mark_now(&b)) < 0)
		return r;
	report(name, mib, &a, &b);
	if (check_copy(dst, src, mib * MiB) < 0) {
		fprintf(stderr, "memtouch: %s: the copy does not match its source\n", name);
		return -EIO;
	}
	return 0;
}

/* One step on a region, its int argument its own: 0 or -errno. */
typedef int (*region_step)(struct region *r, int arg);

/* step(r, arg), timed and its page faults counted, reported as case name. */
static int
timed_step(const char *name, size_t mib, struct region *r, region_step step, int arg)
{
	struct mark	a, b;
	int		ret;

	if ((ret = mark_now(&a)) < 0)
		return ret;
	if ((ret = step(r, arg)) < 0)
		return ret;
	if ((ret = mark_now(&b)) < 0)
		return ret;
	report(name, mib, &a, &b);
	return 0;
}

/* One write of byte v per page through r's own mapping. */
static int
touch_pages(struct region *r, int v)
{
	long pg = sysconf(_SC_PAGESIZE);

	if (pg <= 0)
		return -EINVAL;
	for (size_t off = 0; off < r->len; off += (size_t)pg)
		((volatile char *)r->map)[off] = (char)v;
	return 0;
}

/*
 * Allocate and map every page of r before it is written, as the save does
 * for its staging file (MADV_POPULATE_WRITE; without it, host < 5.14, by
 * touching each page), or only map the pages a source already has
 * (MADV_POPULATE_READ).
 */
static int
populate_pages(struct region *r, int advice)
{
	int ret;

	while ((ret = madvise(r->map, r->len, advice)) < 0 && errno == EINTR)
		;
	if (ret == 0)
		return 0;
	if (errno != EINVAL || advice != MADV_POPULATE_WRITE)
		return -errno;
	printf("memtouch populate_by=touch\n");
	return touch_pages(r, 0);
}

/* A new memfd of src's size, mapped. */
static int
region_new(struct region *r, const char *name, size_t len)
{
	int ret = region_open(r, name, len);

	return ret < 0 ? ret : region_map(r);
}

/* Every case, in order; src is mapped and filled. */
static int
run_cases(struct region *src, size_t mib)
{
	struct region	dst = { .fd = -1 }, other = { .fd = -1 };
	int		r, r2;

	/* fresh: nothing allocated in the destination */
	if ((r = region_new(&other, "memtouch-fresh", src->len)) < 0 ||
	    (r = timed_copy("fresh", mib, other.map, src->map)) < 0 ||
	    (r = region_close(&other)) < 0)
		goto out;

	/* the save's staging: populated first, then the pause's copy */
	if ((r = region_new(&dst, "memtouch-staging", src->len)) < 0 ||
	    (r = timed_step("populate", mib, &dst, populate_pages, MADV_POPULATE_WRITE)) < 0 ||
	    (r = timed_copy("populated", mib, dst.map, src->map)) < 0 ||
	    (r = timed_copy("warm", mib, dst.map, src->map)) < 0)
		goto out;

	/*
	 * The source side: its pages exist, a new mapping of them has no page
	 * table entries; once faulted in by the copy, once mapped beforehand.
	 */
	if ((r = region_unmap(src)) < 0 || (r = region_map(src)) < 0 ||
	    (r = timed_copy("srcmap", mib, dst.map, src->map)) < 0 ||
	    (r = region_unmap(src)) < 0 || (r = region_map(src)) < 0 ||
	    (r = timed_step("srcpopulate", mib, src, populate_pages, MADV_POPULATE_READ)) < 0 ||
	    (r = timed_copy("srcpopulated", mib, dst.map, src->map)) < 0 ||
	    (r = region_close(&dst)) < 0)
		goto out;

	/* populated, then written once per page through its own mapping */
	if ((r = region_new(&other, "memtouch-pretouch", src->len)) < 0 ||
	    (r = timed_step("populate2", mib, &other, populate_pages, MADV_POPULATE_WRITE)) < 0 ||
	    (r = timed_step("pretouch", mib, &other, touch_pages, 1)) < 0)
		goto out;
	r = timed_copy("pretouched", mib, other.map, src->map);
out:
	r2 = region_close(&other);
	if (r == 0)
		r = r2;
	r2 = region_close(&dst);
	if (r == 0)
		r = r2;
	return r;
}

static int
parse_mib(const char *s, size_t *ret)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > MAX_MIB)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: memtouch [-m MIB]\n"
	    "  memcpy MIB MiB (default 512, at most %d) into fresh, populated and\n"
	    "  warm memfd mappings, from a new source mapping, and into pages written\n"
	    "  once through their mapping beforehand; one line per case:\n"
	    "  memtouch case=NAME mib=N ms=F mibps=F minflt=N majflt=N\n", MAX_MIB);
}

int
main(int argc, char **argv)
{
	struct region	src = { .fd = -1 };
	size_t		mib = 512;
	int		c, r, r2;

	while ((c = getopt(argc, argv, "hm:")) != -1) {
		switch (c) {
		case 'm':
			if (parse_mib(optarg, &mib) < 0) {
				fprintf(stderr, "memtouch: -m wants 1..%d MiB, not '%s'\n", MAX_MIB, optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((r = region_open(&src, "memtouch-src", mib * MiB)) == 0 &&
	    (r = region_map(&src)) == 0) {
		fill_pattern(src.map, src.len);
		r = run_cases(&src, mib);
	}
	r2 = region_close(&src);
	if (r == 0)
		r = r2;
	if (r < 0) {
		fprintf(stderr, "memtouch: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
