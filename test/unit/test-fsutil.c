/* SPDX-License-Identifier: MIT */
/* Unit test of fsutil.c: sparse/reflink copies, usage, confined removal. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

static int passed, failed;

#define CHECK(cond) do {						\
	if (cond) passed++;						\
	else { failed++; fprintf(stderr, "%s:%d: FAIL: %s\n",		\
	    __FILE__, __LINE__, #cond); }				\
} while (0)

static char dir[] = "/tmp/sbuml-fsutil.XXXXXX";

static char *
p(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

/* A 64 MiB file with 3 small data extents and holes everywhere else. */
static void
make_sparse(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char block[8192];

	memset(block, 'A', sizeof(block));
	if (fd < 0 || ftruncate(fd, 64 << 20) < 0 ||
	    pwrite(fd, block, sizeof(block), 0) != sizeof(block) ||
	    pwrite(fd, block, sizeof(block), 20 << 20) != sizeof(block) ||
	    pwrite(fd, "tail", 4, (64 << 20) - 4) != 4) {
		perror("make_sparse");
		exit(1);
	}
	close(fd);
}

static int
same_content(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	int ca, cb, same = fa && fb;

	while (same) {
		ca = fgetc(fa);
		cb = fgetc(fb);
		if (ca != cb)
			same = 0;
		if (ca == EOF)
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

static void
test_copy(void)
{
	struct stat st;
	uint64_t usage = 0;

	make_sparse(p("src"));
	CHECK(fs_copy_file(p("src"), p("dst"), 0600) == 0);
	CHECK(stat(p("dst"), &st) == 0 && st.st_size == (64 << 20));
	/* Holes stay holes: far less than 64 MiB allocated. */
	CHECK(st.st_blocks * 512 < (4 << 20));
	CHECK((st.st_mode & 0777) == 0600);
	CHECK(same_content(p("src"), p("dst")));
	/* Never overwrites. */
	CHECK(fs_copy_file(p("src"), p("dst"), 0600) == -EEXIST);
	CHECK(fs_copy_file(p("missing"), p("dst2"), 0600) == -ENOENT);
	CHECK(access(p("dst2"), F_OK) < 0);
	/* Refuses to read through a symlink. */
	CHECK(symlink(p("src"), p("link")) == 0);
	CHECK(fs_copy_file(p("link"), p("dst3"), 0600) == -ELOOP);
	CHECK(fs_tree_usage(dir, &usage) == 0 && usage > 0 && usage < (16 << 20));
}

static void
test_remove(void)
{
	char outside[] = "/tmp/sbuml-fsutil-outside.XXXXXX";

	CHECK(mkdtemp(outside) != NULL);
	CHECK(mkdir(p("tree"), 0700) == 0);
	CHECK(mkdir(p("tree/sub"), 0700) == 0);
	CHECK(close(open(p("tree/sub/f"), O_CREAT | O_WRONLY, 0600)) == 0);
	CHECK(symlink(outside, p("tree/escape")) == 0);
	CHECK(fs_remove_tree(p("tree")) == 0);
	CHECK(access(p("tree"), F_OK) < 0);
	/* The symlink was removed, not followed. */
	CHECK(access(outside, F_OK) == 0);
	CHECK(rmdir(outside) == 0);
	CHECK(fs_remove_tree(p("tree")) == 0);	/* missing is fine */
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_copy();
	test_remove();
	CHECK(fs_remove_tree(dir) == 0);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
