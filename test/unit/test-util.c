/* SPDX-License-Identifier: MIT */
/* util.c: atomic writes, bounded reads, mkdir -p, closefd, time formatting. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "util.h"

#include "test.h"

static char	dir[] = "/tmp/sbuml-test-util.XXXXXX";

/* write_file_atomic + read_file: content, mode, replace, limits, no temp left. */
static void
test_files(void)
{
	char		*path, *buf = NULL, *cmd;
	size_t		 len = 0;
	struct stat	 st;

	path = xasprintf("%s/f", dir);
	CHECK(write_file_atomic(path, "hello", 5, 0640) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	CHECK(read_file(path, 100, &buf, &len) == 0);
	CHECK(len == 5 && strcmp(buf, "hello") == 0);
	free(buf);
	CHECK(write_file_atomic(path, "", 0, 0600) == 0);
	CHECK(read_file(path, 100, &buf, &len) == 0 && len == 0 && buf[0] == '\0');
	free(buf);
	CHECK(write_file_atomic(path, "0123456789", 10, 0600) == 0);
	buf = NULL;
	CHECK(read_file(path, 9, &buf, &len) == -EFBIG && buf == NULL);
	CHECK(read_file(path, 10, &buf, &len) == 0 && len == 10);
	free(buf);
	CHECK(read_file("/nonexistent/x", 10, &buf, &len) == -ENOENT);
	CHECK(write_file_atomic("/nonexistent/x", "a", 1, 0600) == -ENOENT);
	/* Only f remains: no temp files left behind. */
	cmd = xasprintf("test $(ls -A %s | wc -l) -eq 1", dir);
	CHECK(system(cmd) == 0);
	free(cmd);
	unlink(path);
	free(path);
}

/* mkdir_p: nested, existing, trailing and doubled slashes, file in the way. */
static void
test_mkdir(void)
{
	char		*p, *q;
	struct stat	 st;

	p = xasprintf("%s/a//b/c/", dir);
	CHECK(mkdir_p(p, 0700) == 0);
	CHECK(mkdir_p(p, 0700) == 0);
	q = xasprintf("%s/a/b/c", dir);
	CHECK(stat(q, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	free(q);
	q = xasprintf("%s/a/file", dir);
	CHECK(write_file_atomic(q, "x", 1, 0600) == 0);
	free(p);
	p = xasprintf("%s/a/file/sub", dir);
	CHECK(mkdir_p(p, 0700) == -ENOTDIR);
	CHECK(mkdir_p(q, 0700) == -ENOTDIR);
	CHECK(mkdir_p("", 0700) == -EINVAL);
	CHECK(fsync_dir(dir) == 0);
	CHECK(fsync_dir(q) == -ENOTDIR);
	unlink(q);
	free(p);
	free(q);
	p = xasprintf("rm -rf %s/a", dir);
	CHECK(system(p) == 0);
	free(p);
}

/* closefd, time helpers, allocation helpers. */
static void
test_misc(void)
{
	char		 buf[32], *s;
	uint64_t	 a, b;
	int		 fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	errno = 42;
	closefd(&fd);
	CHECK(fd == -1 && errno == 42);
	closefd(&fd);
	CHECK(fd == -1);

	iso8601_utc(0, buf, sizeof(buf));
	CHECK_STR(buf, "1970-01-01T00:00:00Z");
	iso8601_utc(1795804800, buf, sizeof(buf));
	CHECK_STR(buf, "2026-11-27T18:40:00Z");
	iso8601_utc(0, buf, 5);
	CHECK_STR(buf, "");

	a = now_usec();
	usleep(2000);
	b = now_usec();
	CHECK(b >= a + 2000);

	s = xasprintf("%s-%d", "x", 7);
	CHECK_STR(s, "x-7");
	free(s);
	s = xmalloc(0);
	CHECK(s != NULL);
	free(s);
	s = xcalloc(0, 8);
	CHECK(s != NULL);
	s = xrealloc(s, 100);
	CHECK(s != NULL);
	free(s);
}

/* Run the util.c cases in a temp dir. */
int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	test_files();
	test_mkdir();
	test_misc();
	CHECK(rmdir(dir) == 0);
	return (test_summary());
}
