/* SPDX-License-Identifier: MIT */
/*
 * Unit test of recover.c: the journal of path snapshots' work directories,
 * and start-up recovery removing exactly what a dead daemon left half-done
 * (never following a journal entry that is not what the journal writes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "context.h"
#include "log.h"
#include "recover.h"
#include "test.h"
#include "util.h"

static char top[] = "/tmp/sbuml-recover.XXXXXX";

/* top/name in one of four rotating buffers. */
static char *
p(const char *name)
{
	static char	buf[4][512];
	static int	i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", top, name);
	return buf[i];
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void
touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, "x", 1) != 1) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static void
mkdirs(const char *path)
{
	int r = mkdir_p(path, 0700);

	if (r < 0 && r != -EEXIST) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		exit(1);
	}
}

/* The journal entry recover.c writes for dir (same naming: a test of it). */
static char *
entry_for(const char *dir)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	n = 0;
	char		hex[33];

	EVP_Digest(dir, strlen(dir), md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return xasprintf("%s/state/store/tmp/partial-%s", top, hex);
}

/* Write the journal entry of dir by hand, pointing at target. */
static void
journal(const char *dir, const char *target)
{
	char *e = entry_for(dir);

	CHECK(symlink(target, e) == 0);
	free(e);
}

/* Count the entries of dir whose name starts with prefix. */
static int
count(const char *dir, const char *prefix)
{
	char	*cmd = xasprintf("ls -A '%s' 2>/dev/null | grep -c '^%s'", dir, prefix);
	FILE	*f = popen(cmd, "r");
	int	 n = -1;

	if (f == NULL || fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f != NULL)
		pclose(f);
	free(cmd);
	return n;
}

static void
test_journal(void)
{
	char	*tmpl = xstrdup(p("out/.snap.partial-XXXXXX")), *entry;
	char	 target[512];
	ssize_t	 n;

	mkdirs(p("out"));
	CHECK(recover_journal_mkdtemp(tmpl) == 0);
	CHECK(strstr(tmpl, "XXXXXX") == NULL);
	CHECK(exists(tmpl));
	entry = entry_for(tmpl);
	n = readlink(entry, target, sizeof(target) - 1);
	CHECK(n > 0);
	if (n > 0) {
		target[n] = '\0';
		CHECK_STR(target, tmpl);
	}
	CHECK(recover_journal_drop(tmpl) == 0);
	CHECK(!exists(entry));
	CHECK(recover_journal_drop(tmpl) == 0);		/* no entry: fine */
	CHECK(rmdir(tmpl) == 0);
	free(entry);
	free(tmpl);

	/* Only absolute, normalised ".<name>.partial-XXXXXX" templates. */
	{
		const char *bad[] = { "out/.s.partial-XXXXXX", "/tmp/x/snap-XXXXXX",
		    "/tmp/x/.s.partial-", "/tmp/x/../.s.partial-XXXXXX",
		    "/tmp//x/.s.partial-XXXXXX", "/tmp/x/..partial-XXXXXX" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char *t = xstrdup(bad[i]);

			CHECK(recover_journal_mkdtemp(t) == -EINVAL);
			free(t);
		}
	}
	CHECK(count(p("state/store/tmp"), "partial-") == 0);
}

static void
test_run(void)
{
	char	 work[512], sub[600], chunk[600];
	int	 fd;

	snprintf(work, sizeof(work), "%s", p("out/.p1.partial-XXXXXX"));
	snprintf(chunk, sizeof(chunk), "%s", p("state/store/chunks/ab/ab000000"
	    "00000000000000000000000000000000000000000000000000000000.zst"));
	/* A path save that died: journaled work dir with a capture in it. */
	CHECK(recover_journal_mkdtemp(work) == 0);
	snprintf(sub, sizeof(sub), "%s/capture", work);
	mkdirs(sub);
	snprintf(sub, sizeof(sub), "%s/capture/physmem", work);
	touch(sub);
	/* A named save that died, next to a snapshot and a non-work directory. */
	mkdirs(p("state/snapshots/.n1.partial-Ab12Cd/capture"));
	touch(p("state/snapshots/.n1.partial-Ab12Cd/capture/meta"));
	mkdirs(p("state/snapshots/good"));
	touch(p("state/snapshots/good/manifest.json"));
	mkdirs(p("state/snapshots/.hidden"));
	/* A restore that died, chunk and kernel temporaries. */
	mkdirs(p("state/store/tmp/restore-Zz9Yy8"));
	touch(p("state/store/tmp/restore-Zz9Yy8/physmem"));
	mkdirs(p("state/store/chunks/ab"));
	touch(chunk);
	touch(p("state/store/chunks/ab/.tmp-q1w2e3"));
	/* Pack temporaries, a pack without its index (dead before the commit
	 * point), and a committed pack. */
	mkdirs(p("state/store/packs"));
	touch(p("state/store/packs/.tmp-a1b2c3.pack"));
	touch(p("state/store/packs/.tmp-d4e5f6.idx"));
	touch(p("state/store/packs/0123456789abcdef0123456789abcdef.pack"));
	touch(p("state/store/packs/fedcba9876543210fedcba9876543210.pack"));
	touch(p("state/store/packs/fedcba9876543210fedcba9876543210.idx"));
	mkdirs(p("state/store/kernels"));
	touch(p("state/store/kernels/0123abcd"));
	touch(p("state/store/kernels/.0123abcd.tmp-r4t5y6"));

	/* Entries that are not what the journal writes: never followed. */
	mkdirs(p("victim/.v.partial-aaaaaa"));
	mkdirs(p("victim2"));
	CHECK(symlink(p("victim/.v.partial-aaaaaa"),	/* wrong name */
	    p("state/store/tmp/partial-00000000000000000000000000000000")) == 0);
	journal(p("victim"), p("victim"));			/* not a work dir */
	CHECK(symlink(p("victim2"), p("out/.s.partial-bbbbbb")) == 0);
	journal(p("out/.s.partial-bbbbbb"), p("out/.s.partial-bbbbbb"));
	journal(p("out/.gone.partial-cccccc"), p("out/.gone.partial-cccccc"));

	CHECK(recover_run() == -EPERM);	/* the symlinked work dir is reported */
	CHECK(!exists(work));
	CHECK(!exists(p("state/snapshots/.n1.partial-Ab12Cd")));
	CHECK(exists(p("state/snapshots/good/manifest.json")));
	CHECK(exists(p("state/snapshots/.hidden")));
	CHECK(!exists(p("state/store/tmp/restore-Zz9Yy8")));
	CHECK(exists(chunk));
	CHECK(!exists(p("state/store/chunks/ab/.tmp-q1w2e3")));
	CHECK(!exists(p("state/store/packs/.tmp-a1b2c3.pack")));
	CHECK(!exists(p("state/store/packs/.tmp-d4e5f6.idx")));
	CHECK(!exists(p("state/store/packs/0123456789abcdef0123456789abcdef.pack")));
	CHECK(exists(p("state/store/packs/fedcba9876543210fedcba9876543210.pack")));
	CHECK(exists(p("state/store/packs/fedcba9876543210fedcba9876543210.idx")));
	CHECK(exists(p("state/store/kernels/0123abcd")));
	CHECK(!exists(p("state/store/kernels/.0123abcd.tmp-r4t5y6")));
	CHECK(exists(p("victim/.v.partial-aaaaaa")));
	CHECK(exists(p("victim")));
	CHECK(exists(p("victim2")));
	CHECK(exists(p("out/.s.partial-bbbbbb")));	/* the symlink itself stays */
	CHECK(count(p("state/store/tmp"), "") == 0);	/* every entry dropped */

	/* The lock is held: another open file description cannot take it. */
	fd = open(p("state/lock"), O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
	close(fd);
	/* A clean second run finds nothing. */
	CHECK(unlink(p("out/.s.partial-bbbbbb")) == 0);
	CHECK(recover_run() == 0);
}

int
main(void)
{
	log_init(1, LOG_LEVEL_ERROR);
	if (mkdtemp(top) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	daemon_config.state_dir = xstrdup(p("state"));
	mkdirs(daemon_config.state_dir);
	test_journal();
	test_run();
	if (test_failed == 0) {
		char *cmd = xasprintf("rm -rf '%s'", top);

		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", top);
		free(cmd);
	}
	free(daemon_config.state_dir);
	return test_summary();
}
