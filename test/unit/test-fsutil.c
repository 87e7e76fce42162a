/* SPDX-License-Identifier: MIT */
/*
 * Unit test of fsutil.c (sparse/reflink copies, usage, confined removal)
 * and fsat.c (files in user-writable directories).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsat.h"
#include "fsutil.h"
#include "util.h"

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

/* fs_open_dir: no symlink, the remembered identity, no re-pointing. */
static void
test_open_dir(void)
{
	struct fs_id	id, other;
	int		fd;

	CHECK(mkdir(p("d"), 0700) == 0);
	CHECK(mkdir(p("d2"), 0700) == 0);
	CHECK(symlink(p("d"), p("dlink")) == 0);
	fd = fs_open_dir(p("d"), NULL, &id);
	CHECK(fd >= 0);
	close(fd);
	CHECK(fs_open_dir(p("dlink"), NULL, NULL) == -ENOTDIR);
	fd = fs_open_dir(p("d"), &id, NULL);
	CHECK(fd >= 0);
	close(fd);
	/* The path now names another directory: refused. */
	CHECK(rename(p("d"), p("d-moved")) == 0);
	CHECK(rename(p("d2"), p("d")) == 0);
	CHECK(fs_open_dir(p("d"), &id, &other) == -ESTALE);
	fd = fs_open_dir(p("d-moved"), &id, NULL);
	CHECK(fd >= 0);
	close(fd);
}

/* fs_openat_file refuses symlinks, FIFOs (without blocking) and hard links. */
static void
test_openat_file(void)
{
	char	*buf = NULL;
	size_t	 len = 0;
	int	 dfd, fd;

	dfd = fs_open_dir(dir, NULL, NULL);
	CHECK(dfd >= 0);
	CHECK(close(open(p("secret"), O_CREAT | O_WRONLY, 0600)) == 0);
	CHECK(symlink(p("secret"), p("sym")) == 0);
	CHECK(mkfifo(p("fifo"), 0600) == 0);
	CHECK(link(p("secret"), p("hard")) == 0);
	CHECK(fs_openat_file(dfd, "sym", O_RDONLY, 0) == -ELOOP);
	CHECK(fs_openat_file(dfd, "sym", O_WRONLY | O_APPEND | O_CREAT, 0600) ==
	    -ELOOP);
	/* A FIFO nobody writes to: refused at once instead of blocking. */
	CHECK(fs_openat_file(dfd, "fifo", O_RDONLY, 0) == -EINVAL);
	CHECK(fs_openat_file(dfd, "fifo", O_WRONLY | O_APPEND | O_CREAT, 0600) ==
	    -EINVAL);
	CHECK(fs_openat_file(dfd, "hard", O_RDONLY, 0) == -EMLINK);
	CHECK(fs_openat_file(dfd, "../x", O_RDONLY, 0) == -EINVAL);
	CHECK(fs_read_file_at(dfd, "sym", 100, &buf, &len) == -ELOOP);
	CHECK(buf == NULL);
	CHECK(unlink(p("hard")) == 0);
	fd = fs_openat_file(dfd, "secret", O_RDONLY, 0);
	CHECK(fd >= 0);
	CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
	close(fd);
	fd = fs_openat_file(dfd, "new", O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	close(fd);
	close(dfd);
}

/* fs_write_file_atomic_at replaces a planted symlink, never writes through it. */
static void
test_write_at(void)
{
	char	*buf = NULL;
	size_t	 len = 0;
	int	 dfd, fd;

	dfd = fs_open_dir(dir, NULL, NULL);
	CHECK(dfd >= 0);
	fd = open(p("target"), O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && write(fd, "keep", 4) == 4);
	close(fd);
	CHECK(symlink(p("target"), p("cfg")) == 0);
	CHECK(fs_write_file_atomic_at(dfd, "cfg", "new", 3, 0600) == 0);
	CHECK(read_file(p("target"), 100, &buf, &len) == 0 && len == 4 &&
	    memcmp(buf, "keep", 4) == 0);
	free(buf);
	buf = NULL;
	CHECK(fs_read_file_at(dfd, "cfg", 100, &buf, &len) == 0 && len == 3 &&
	    memcmp(buf, "new", 3) == 0);
	free(buf);
	buf = NULL;
	CHECK(fs_read_file_at(dfd, "cfg", 2, &buf, &len) == -EFBIG);
	CHECK(fs_unlink_at(dfd, "cfg") == 0);
	CHECK(fs_unlink_at(dfd, "cfg") == 0);
	close(dfd);
}

/* fs_dir_is_within sees through symlinked paths. */
static void
test_within(void)
{
	struct fs_id	top;
	int		dfd;

	CHECK(mkdir(p("top"), 0700) == 0);
	CHECK(mkdir(p("top/a"), 0700) == 0);
	CHECK(mkdir(p("top/a/b"), 0700) == 0);
	CHECK(mkdir(p("elsewhere"), 0700) == 0);
	CHECK(symlink(p("top/a"), p("elsewhere/into")) == 0);
	CHECK(fs_id_of_path(p("top"), &top) == 0);
	dfd = open(p("elsewhere/into/b"), O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	CHECK(fs_dir_is_within(dfd, &top) == 1);
	close(dfd);
	dfd = open(p("top"), O_RDONLY | O_DIRECTORY);
	CHECK(fs_dir_is_within(dfd, &top) == 1);
	close(dfd);
	dfd = open(p("elsewhere"), O_RDONLY | O_DIRECTORY);
	CHECK(fs_dir_is_within(dfd, &top) == 0);
	close(dfd);
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
	test_open_dir();
	test_openat_file();
	test_write_at();
	test_within();
	CHECK(fs_remove_tree(dir) == 0);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
