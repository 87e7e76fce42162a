/* SPDX-License-Identifier: MIT */
/*
 * The machine layer without a UML process: the state table, name
 * and path rules, machine.json and run.json round trips, the UML argv,
 * console tails (partial lines, invalid UTF-8, long files), create/delete
 * of name and path machines, the state hook, and /proc parsing of our own
 * process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "log.h"
#include "fsat.h"
#include "machine-config.h"
#include "machine.h"
#include "uml.h"
#include "util.h"

#include "test.h"
#include "test-tmpdir.h"

static char	dir[] = "/tmp/smmXXXXXX";

/* Every state name round-trips; unknown names are refused. */
static void
test_states(void)
{
	enum machine_state	st;

	for (int i = 0; i < _MACHINE_STATE_MAX; i++) {
		CHECK(machine_state_from_string(machine_state_to_string(
		    (enum machine_state)i), &st) == 0 && (int)st == i);
	}
	CHECK_STR(machine_state_to_string(MACHINE_PAUSED), "paused");
	CHECK_STR(machine_state_to_string(_MACHINE_STATE_MAX), "unknown");
	CHECK(machine_state_from_string("sleeping", &st) == -EINVAL);
	CHECK(machine_state_is_live(MACHINE_BOOTING));
	CHECK(machine_state_is_live(MACHINE_HALTING));
	CHECK(!machine_state_is_live(MACHINE_STOPPED));
	CHECK(!machine_state_is_live(MACHINE_CRASHED));
}

/* Resolve name; 0 if accepted. */
static int
resolve(const char *name, char **ret_dir, bool *is_path)
{
	char	err[256];

	*ret_dir = NULL;
	return (machine_name_resolve(name, ret_dir, is_path, err, sizeof(err)));
}

/* Names and paths of doc/rpc.md. */
static void
test_names(void)
{
	static const char *const bad[] = {
		"", ".", "..", ".hidden", "-rf", "_x", "a..b", "a b", "a;b",
		"a/../../etc", "relative/path", "/", "/tmp/../etc/x", "/tmp//x",
		"/tmp/x/", "/tmp/./x", "/tmp/a,b", "/tmp/a b", "/tmp/a\"b",
		"0123456789012345678901234567890123456789012345678901234567890123456789",
		"/tmp/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
	};
	char	*d, *inside;
	bool	 is_path;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = resolve(bad[i], &d, &is_path);

		if (r != -EINVAL)
			fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
		CHECK(r == -EINVAL);
		free(d);
	}
	CHECK(resolve("demo", &d, &is_path) == 0 && !is_path);
	{
		char *want = xasprintf("%s/machines/demo", daemon_config.state_dir);

		CHECK_STR(d, want);
		free(want);
	}
	free(d);
	CHECK(resolve("A-1_b.c", &d, &is_path) == 0);
	free(d);
	CHECK(resolve("/srv/vm1", &d, &is_path) == 0 && is_path);
	CHECK_STR(d, "/srv/vm1");
	free(d);
	/* Exactly 90 bytes with /uml/mconsole is fine, 91 is not. */
	{
		char	p[100];

		memset(p, 'p', sizeof(p));
		p[0] = '/';
		p[90 - 13] = '\0';
		CHECK(resolve(p, &d, &is_path) == 0);
		free(d);
		p[90 - 13] = 'p';
		p[91 - 13] = '\0';
		CHECK(resolve(p, &d, &is_path) == -EINVAL);
	}
	inside = xasprintf("%s/x", daemon_config.state_dir);
	CHECK(resolve(inside, &d, &is_path) == -EINVAL);
	free(inside);
	CHECK(machine_path_is_safe("/usr/bin/linux.uml"));
	CHECK(!machine_path_is_safe("/a,b"));
	CHECK(!machine_path_is_safe("/a\tb"));
	CHECK(!machine_path_is_safe("/\xc3\xa9"));
}

/* Parse one machine.json text; the error must name field. */
static void
check_bad_field(const char *json, const char *field)
{
	struct machine_config	cfg;
	char			*name = NULL, err[256] = "";

	CHECK(machine_config_parse(json, strlen(json), &cfg, &name, NULL, err,
	    sizeof(err)) == -EBADMSG);
	CHECK(name == NULL && cfg.image == NULL && cfg.ndisks == 0);
	if (strstr(err, field) == NULL) {
		fprintf(stderr, "error \"%s\" does not name %s\n", err, field);
		test_failed++;
	} else
		test_passed++;
}

/* Every field of machine.json is type checked, the error names it. */
static void
test_config_types(void)
{
	struct machine_config	cfg;
	char			*name = NULL, err[256];
#define GOOD_HEAD "{\"machine\":\"m\",\"image\":\"/i\",\"cmdline\":\"\"," \
	    "\"mem_mb\":64,\"disks\":[],"
	static const char good[] = GOOD_HEAD "\"kernel\":\"/k\"}";

	CHECK(machine_config_parse(good, strlen(good), &cfg, &name, NULL, err,
	    sizeof(err)) == 0);
	CHECK(name != NULL && strcmp(name, "m") == 0 && cfg.created[0] == '\0');
	free(name);
	machine_config_clear(&cfg);
	check_bad_field(GOOD_HEAD "\"kernel\":1}", "\"kernel\"");
	check_bad_field(GOOD_HEAD "\"kernel\":null}", "\"kernel\"");
	check_bad_field(GOOD_HEAD "\"kernel\":\"/k\",\"created\":[]}",
	    "\"created\"");
	check_bad_field(GOOD_HEAD "\"kernel\":\"/k\",\"dir_dev\":5,"
	    "\"dir_ino\":\"1\"}", "\"dir_dev\"");
	check_bad_field(GOOD_HEAD "\"kernel\":\"/k\",\"dir_ino\":\"1\"}",
	    "\"dir_dev\"");
	check_bad_field("{\"machine\":\"m\",\"image\":\"/i\",\"cmdline\":\"\","
	    "\"mem_mb\":\"64\",\"disks\":[],\"kernel\":\"/k\"}", "\"mem_mb\"");
	check_bad_field("{\"machine\":\"m\",\"image\":\"/i\",\"cmdline\":\"\","
	    "\"mem_mb\":64,\"disks\":[\"/a\",2],\"kernel\":\"/k\"}",
	    "\"disks\"[1]");
	check_bad_field("{\"machine\":\"m\",\"image\":\"/i\",\"cmdline\":\"\","
	    "\"mem_mb\":64,\"disks\":{},\"kernel\":\"/k\"}", "\"disks\"");
	check_bad_field("{\"machine\":7}", "\"machine\"");
	check_bad_field("[1]", "not a JSON object");
	check_bad_field(GOOD_HEAD "\"kernel\":\"/k\"} trailing", "not a JSON object");
#undef GOOD_HEAD
}

/* machine.json and run.json survive a write/read round trip. */
/* fill.json as the pager writes it and a restarted daemon reads it. */
static void
test_fill_file(int dfd)
{
	struct machine_fill	*f = machine_fill_new(), *g = machine_fill_new();
	pid_t			 pid = 0;
	char			*path;
	FILE			*fp;

	CHECK(machine_fill_read(dfd, g, &pid) == -ENOENT);
	atomic_store(&f->state, MACHINE_FILL_FILLING);
	atomic_store(&f->filled, 123456789012ULL);
	atomic_store(&f->chunks, 7);
	atomic_store(&f->total, 1536);
	atomic_store(&f->faults, 42);
	CHECK(machine_fill_write(dfd, f, 4321) == 0);
	CHECK(machine_fill_read(dfd, g, &pid) == 0 && pid == 4321);
	CHECK(atomic_load(&g->state) == MACHINE_FILL_FILLING);
	CHECK(atomic_load(&g->filled) == 123456789012ULL);
	CHECK(atomic_load(&g->chunks) == 7 && atomic_load(&g->total) == 1536);
	CHECK(atomic_load(&g->faults) == 42);
	snprintf(f->reason, sizeof(f->reason), "chunk 3: bad checksum");
	atomic_store(&f->state, MACHINE_FILL_FAILED);
	CHECK(machine_fill_write(dfd, f, 0) == 0);
	CHECK(machine_fill_read(dfd, g, &pid) == 0 && pid == 0);
	CHECK(atomic_load(&g->state) == MACHINE_FILL_FAILED);
	CHECK_STR(g->reason, "chunk 3: bad checksum");
	/* Hostile or broken files are refused, and change nothing. */
	path = xasprintf("%s/%s", dir, MACHINE_FILL_FILE);
	static const char *const bad[] = {
		"{\"state\": \"bogus\", \"filled_pages\": \"1\", \"chunks\": \"1\", \"total_chunks\": \"1\", \"faults\": \"1\"}",
		"{\"state\": \"done\", \"filled_pages\": 1, \"chunks\": \"1\", \"total_chunks\": \"1\", \"faults\": \"1\"}",
		"{\"state\": \"done\", \"filled_pages\": \"-1\", \"chunks\": \"1\", \"total_chunks\": \"1\", \"faults\": \"1\"}",
		"{\"state\": \"done\", \"filled_pages\": \"1\", \"chunks\": \"2\", \"total_chunks\": \"1\", \"faults\": \"1\"}",
		"{\"state\": \"done\", \"filled_pages\": \"1\", \"chunks\": \"1\", \"total_chunks\": \"1\", \"faults\": \"1\", \"pager_pid\": 1}",
		"[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK((fp = fopen(path, "w")) != NULL);
		if (fp == NULL)
			break;
		fputs(bad[i], fp);
		fclose(fp);
		CHECK(machine_fill_read(dfd, g, &pid) == -EBADMSG);
		CHECK(atomic_load(&g->state) == MACHINE_FILL_FAILED);
	}
	CHECK(unlink(path) == 0);
	free(path);
	machine_fill_put(f);
	machine_fill_put(g);
}

static void
test_config_files(void)
{
	struct machine_config	cfg, got;
	struct machine_run	run, rgot;
	struct fs_id		id = { 7, 18446744073709551615ULL }, gid;
	char			*name = NULL, *path, err[256];
	int			dfd = fs_open_dir(dir, NULL, NULL);

	CHECK(dfd >= 0);

	memset(&cfg, 0, sizeof(cfg));
	cfg.image = xstrdup("/img/a.img");
	cfg.kernel = xstrdup("/usr/bin/linux.uml");
	cfg.cmdline = xstrdup("quiet sbuml.run=x");
	cfg.mem_mb = 256;
	cfg.disks[0] = xstrdup("/d/1.img");
	cfg.disks[1] = xstrdup("/d/2.img");
	cfg.ndisks = 2;
	snprintf(cfg.created, sizeof(cfg.created), "2026-11-27T18:40:00Z");
	CHECK(machine_config_write(dfd, "demo", &cfg, &id) == 0);
	CHECK(machine_config_read(dfd, true, &got, &name, &gid, err,
	    sizeof(err)) == 0);
	CHECK(fs_id_eq(&gid, &id));
	CHECK_STR(name, "demo");
	CHECK_STR(got.image, "/img/a.img");
	CHECK_STR(got.kernel, "/usr/bin/linux.uml");
	CHECK_STR(got.cmdline, "quiet sbuml.run=x");
	CHECK(got.mem_mb == 256 && got.ndisks == 2);
	CHECK_STR(got.disks[1], "/d/2.img");
	CHECK_STR(got.created, "2026-11-27T18:40:00Z");
	free(name);
	machine_config_clear(&got);
	machine_config_clear(&cfg);

	/* A damaged file is refused, not half-read. */
	path = xasprintf("%s/%s", dir, MACHINE_CONFIG_FILE);
	CHECK(write_file_atomic(path, "{\"machine\":\"x\",\"mem_mb\":1}", 26,
	    0600) == 0);
	CHECK(machine_config_read(dfd, false, &got, &name, NULL, err,
	    sizeof(err)) == -EBADMSG);
	CHECK(write_file_atomic(path, "not json", 8, 0600) == 0);
	CHECK(machine_config_read(dfd, false, &got, &name, NULL, err,
	    sizeof(err)) == -EBADMSG);
	CHECK(unlink(path) == 0);
	/* A symlink planted as machine.json is not followed. */
	CHECK(symlink("/etc/passwd", path) == 0);
	CHECK(machine_config_read(dfd, false, &got, &name, NULL, err,
	    sizeof(err)) == -ELOOP);
	CHECK(strstr(err, "symlink") != NULL);
	CHECK(unlink(path) == 0);
	free(path);
	test_config_types();

	memset(&run, 0, sizeof(run));
	CHECK(machine_run_read(dfd, &rgot) == -ENOENT);
	run.state = MACHINE_PAUSED;
	run.pid = 4242;
	run.starttime = 18446744073709551615ULL;
	run.savable = true;
	run.uffd = true;
	snprintf(run.started, sizeof(run.started), "2026-11-27T18:40:01Z");
	CHECK(machine_run_write(dfd, &run) == 0);
	CHECK(machine_run_read(dfd, &rgot) == 0);
	CHECK(rgot.state == MACHINE_PAUSED && rgot.pid == 4242);
	CHECK(rgot.starttime == 18446744073709551615ULL && rgot.savable);
	/* A re-adopted machine still knows its kernel has the device. */
	CHECK(rgot.uffd);
	run.uffd = false;
	CHECK(machine_run_write(dfd, &run) == 0);
	CHECK(machine_run_read(dfd, &rgot) == 0 && !rgot.uffd);
	CHECK(!rgot.has_exit);
	CHECK_STR(rgot.started, "2026-11-27T18:40:01Z");
	memset(&run, 0, sizeof(run));
	run.state = MACHINE_CRASHED;
	run.has_exit = true;
	run.signal_known = true;
	run.signal = 9;
	CHECK(machine_run_write(dfd, &run) == 0);
	CHECK(machine_run_read(dfd, &rgot) == 0);
	CHECK(rgot.state == MACHINE_CRASHED && rgot.pid == 0 && rgot.has_exit);
	CHECK(!rgot.status_known && rgot.signal_known && rgot.signal == 9);
	CHECK(rgot.memory[0] == '\0' && rgot.memory_reason[0] == '\0');
	/* How a restore brought the memory in survives a daemon restart. */
	snprintf(run.memory, sizeof(run.memory), "eager");
	snprintf(run.memory_reason, sizeof(run.memory_reason), "no device");
	CHECK(machine_run_write(dfd, &run) == 0);
	CHECK(machine_run_read(dfd, &rgot) == 0);
	CHECK_STR(rgot.memory, "eager");
	CHECK_STR(rgot.memory_reason, "no device");
	path = xasprintf("%s/%s", dir, MACHINE_RUN_FILE);
	CHECK(unlink(path) == 0);
	free(path);
	test_fill_file(dfd);
	close(dfd);
}

/* uml_build_argv(l) joined by blanks (caller frees). */
static char *
argv_line(const struct uml_launch *l)
{
	char	**argv = uml_build_argv(l), *joined = NULL, *tmp;

	for (size_t i = 0; argv[i] != NULL; i++) {
		tmp = xasprintf("%s%s%s", joined != NULL ? joined : "",
		    i > 0 ? " " : "", argv[i]);
		free(joined);
		joined = tmp;
	}
	uml_argv_free(argv);
	return joined;
}

/* uml_build_argv(l), joined by blanks, is want. */
#define check_argv(l, want) do {					\
	char	*joined_ = argv_line(l);				\
									\
	CHECK_STR(joined_, want);					\
	free(joined_);							\
} while (0)

/* uml_build_argv(l) has no word containing word. */
#define check_argv_lacks(l, word) do {					\
	char	*joined_ = argv_line(l);				\
									\
	CHECK(strstr(joined_, word) == NULL);				\
	free(joined_);							\
} while (0)

/* The launch convention of doc/machine-layout.md. */
static void
test_argv(void)
{
	struct uml_launch	l;

	memset(&l, 0, sizeof(l));
	l.dir = "/m";
	l.kernel = "/k";
	l.image = "/i.img";
	l.mem_mb = 64;
	l.cmdline = " quiet  sbuml.run=x ";
	l.disks[0] = "/d.img";
	l.ndisks = 1;
	check_argv(&l, "/k mem=64M ubd0=/m/disk0.cow,/i.img "
	    "ubd1=/m/disk1.cow,/d.img root=/dev/ubda rw uml_dir=/m/ umid=uml "
	    "con=null con0=fd:0,fd:1 mconsole=notify:/m/notify.sock quiet "
	    "sbuml.run=x");

	/* A restore, with guest memory passed as fd 3. */
	l.restore = "/cap";
	l.physmem_fd = 9;
	check_argv(&l, "/k sbuml_restore=/cap uml_dir=/m/ umid=uml "
	    "mconsole=notify:/m/notify.sock sbuml_physmem_fd=3 "
	    "sbuml_disk=0:/m/disk0.cow sbuml_disk=1:/m/disk1.cow");

	/* With /dev/userfaultfd, whatever fd the daemon has it at: fd 4. */
	l.uffd_fd = 11;
	check_argv(&l, "/k sbuml_restore=/cap uml_dir=/m/ umid=uml "
	    "mconsole=notify:/m/notify.sock sbuml_physmem_fd=3 "
	    "sbuml_uffd_dev=4 "
	    "sbuml_disk=0:/m/disk0.cow sbuml_disk=1:/m/disk1.cow");
	l.physmem_fd = 0;
	check_argv(&l, "/k sbuml_restore=/cap uml_dir=/m/ umid=uml "
	    "mconsole=notify:/m/notify.sock sbuml_uffd_dev=4 "
	    "sbuml_disk=0:/m/disk0.cow sbuml_disk=1:/m/disk1.cow");
	l.restore = NULL;
	check_argv(&l, "/k mem=64M ubd0=/m/disk0.cow,/i.img "
	    "ubd1=/m/disk1.cow,/d.img root=/dev/ubda rw uml_dir=/m/ umid=uml "
	    "con=null con0=fd:0,fd:1 mconsole=notify:/m/notify.sock "
	    "sbuml_uffd_dev=4 quiet sbuml.run=x");
	/* None (<= 0): no word, boot or restore. */
	l.uffd_fd = 0;
	check_argv_lacks(&l, "sbuml_uffd_dev");
	l.restore = "/cap";
	l.uffd_fd = -1;
	check_argv_lacks(&l, "sbuml_uffd_dev");
	/* A lazy restore: the pager socket, whatever fd we have it at: fd 5. */
	l.physmem_fd = 9;
	l.uffd_fd = 11;
	l.pager_fd = 12;
	check_argv(&l, "/k sbuml_restore=/cap uml_dir=/m/ umid=uml "
	    "mconsole=notify:/m/notify.sock sbuml_physmem_fd=3 "
	    "sbuml_uffd_dev=4 sbuml_pager=5 "
	    "sbuml_disk=0:/m/disk0.cow sbuml_disk=1:/m/disk1.cow");
	l.pager_fd = 0;
	check_argv_lacks(&l, "sbuml_pager");
}

/* A fake kernel binary dir/name holding text (len bytes); freed by the caller. */
static char *
fake_kernel(const char *name, const char *text, size_t len)
{
	char	*path = xasprintf("%s/%s", dir, name);

	CHECK(write_file_atomic(path, text, len, 0755) == 0);
	return (path);
}

/*
 * Kernels name the options they take in their binary: sbuml_physmem_fd=
 * (adopt a physmem file), sbuml_uffd_dev= (take /dev/userfaultfd).
 */
static void
test_kernel_options(void)
{
	static const char pm[] = "\177ELF...sbuml_restore=\0sbuml_physmem_fd=\0...";
	static const char uf[] = "\177ELF...sbuml_restore=\0sbuml_uffd_dev=\0...";
	static const char none[] = "\177ELF...sbuml_restore=\0sbuml_disk=\0...";
	char	*kpm = fake_kernel("k-pm", pm, sizeof(pm));
	char	*kuf = fake_kernel("k-uf", uf, sizeof(uf));
	char	*knone = fake_kernel("k-none", none, sizeof(none));

	CHECK(uml_kernel_adopts_physmem(kpm));
	CHECK(!uml_kernel_adopts_physmem(knone));
	CHECK(uml_kernel_adopts_physmem(kpm));	/* remembered */
	CHECK(uml_kernel_takes_uffd(kuf));
	CHECK(!uml_kernel_takes_uffd(knone));
	/* The same file, asked about another option: its own answer. */
	CHECK(!uml_kernel_takes_uffd(kpm));
	CHECK(!uml_kernel_adopts_physmem(kuf));
	CHECK(!uml_kernel_adopts_physmem("/nonexistent/kernel"));
	CHECK(!uml_kernel_takes_uffd("/nonexistent/kernel"));
	CHECK(!uml_kernel_takes_pager(kuf));
	{
		static const char pg[] = "\177ELF...sbuml_pager=\0sbuml_uffd_dev=\0";
		char *kpg = fake_kernel("k-pg", pg, sizeof(pg));

		CHECK(uml_kernel_takes_pager(kpg));
		CHECK(uml_kernel_takes_uffd(kpg));
		free(kpg);
	}
	CHECK(!uml_kernel_takes_pager("/nonexistent/kernel"));
	/* A new binary at the same path is looked at again. */
	CHECK(write_file_atomic(kpm, none, sizeof(none), 0755) == 0);
	CHECK(!uml_kernel_adopts_physmem(kpm));
	free(kpm);
	free(kuf);
	free(knone);
}

/* Where /proc/pid/fd/fd points, "" if pid has no such fd. */
static void
fd_target(pid_t pid, int fd, char *buf, size_t len)
{
	char	path[64];
	ssize_t	n;

	snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid, fd);
	if ((n = readlink(path, buf, len - 1)) < 0)
		n = 0;
	buf[n] = '\0';
}

/* The number of fds pid holds. */
static int
fd_count(pid_t pid)
{
	char		 path[64];
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	(void)closedir(d);
	/* Our own listing holds one more. */
	return (pid == getpid() ? n - 1 : n);
}

/* Put fd at number at (< 0: at 30 + its own number, out of the way). */
static int
fd_move(int fd, int at)
{
	int	to = at >= 0 ? at : 30 + fd;

	CHECK(dup3(fd, to, O_CLOEXEC) == to);
	(void)close(fd);
	return (to);
}

/* Read a small /proc file into buf (NUL-terminated, "" on failure). */
static void
proc_read(const char *path, char *buf, size_t len)
{
	int	fd;

	memset(buf, 0, len);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		(void)!read(fd, buf, len - 1);
		(void)close(fd);
	}
}

/* Whether pid sits in nanosleep/clock_nanosleep (x86-64: 35, 230). */
static bool
proc_sleeping(pid_t pid)
{
	char	path[64], sc[64];

	snprintf(path, sizeof(path), "/proc/%ld/syscall", (long)pid);
	proc_read(path, sc, sizeof(sc));
	return (strncmp(sc, "230 ", 4) == 0 || strncmp(sc, "35 ", 3) == 0);
}

/*
 * One launch of a fake kernel (a script exec'ing sleep), the physmem file
 * and the device stand-in at fds pm_at and uf_at of ours (-1: none, -2:
 * somewhere above 4), 3 and 4 otherwise free, so that the launch's own
 * pipe, console and input fds take them: the kernel must hold exactly
 * 0-2, physmem at 3 and the device at 4, each only if given.
 */
static void
spawn_case(const char *mdir, const char *kernel, const char *image,
    int pm_at, int uf_at, int pg_at)
{
	struct uml_launch	l;
	char			err[256], got[PATH_MAX], want[PATH_MAX];
	char			path[64], comm[32];
	pid_t			pid = 0;
	int			dfd, pm = -1, uf = -1, pg = -1, before, status, n;

	(void)close(3);
	(void)close(4);
	(void)close(5);
	if (pm_at != -1) {
		snprintf(want, sizeof(want), "%s/physmem", mdir);
		pm = open(want, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		CHECK(pm >= 0);
	}
	if (uf_at != -1) {
		snprintf(want, sizeof(want), "%s/uffd-stand-in", mdir);
		uf = open(want, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		CHECK(uf >= 0);
	}
	if (pg_at != -1) {
		snprintf(want, sizeof(want), "%s/pager-stand-in", mdir);
		pg = open(want, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		CHECK(pg >= 0);
	}
	/* All first out of the way, so that none lands on another. */
	if (pm >= 0)
		pm = fd_move(pm, -1);
	if (uf >= 0)
		uf = fd_move(uf, -1);
	if (pg >= 0)
		pg = fd_move(pg, -1);
	if (pm >= 0)
		pm = fd_move(pm, pm_at);
	if (uf >= 0)
		uf = fd_move(uf, uf_at);
	if (pg >= 0)
		pg = fd_move(pg, pg_at);
	dfd = open(mdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	memset(&l, 0, sizeof(l));
	l.dir = mdir;
	l.dir_fd = dfd;
	l.kernel = kernel;
	l.image = image;
	l.mem_mb = 64;
	l.cmdline = "";
	/* physmem is a restore's; the directory stands in for the capture. */
	l.restore = pm >= 0 ? mdir : NULL;
	l.physmem_fd = pm;
	l.uffd_fd = uf;
	l.pager_fd = pg;
	before = fd_count(getpid());
	CHECK(uml_spawn(&l, &pid, err, sizeof(err)) == 0);
	/* The parent keeps exactly what it had: nothing leaked, nothing lost. */
	CHECK(fd_count(getpid()) == before);
	if (pid <= 0) {
		fprintf(stderr, "spawn (%d, %d, %d): %s\n", pm_at, uf_at, pg_at,
		    err);
		goto out;
	}
	/*
	 * The script has exec'ed sleep, and sleep sleeps: its own fd for the
	 * script is gone, and so are those the dynamic loader opens while it
	 * starts (libc at fd 3, say).  Up to a minute: a loaded host is slow.
	 */
	for (n = 0; n < 6000; n++) {
		snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
		proc_read(path, comm, sizeof(comm));
		if (strcmp(comm, "sleep\n") == 0 && proc_sleeping(pid))
			break;
		(void)nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	CHECK_STR(comm, "sleep\n");
	CHECK(proc_sleeping(pid));
	snprintf(want, sizeof(want), "%s/console.log", mdir);
	fd_target(pid, 1, got, sizeof(got));
	CHECK_STR(got, want);
	fd_target(pid, 2, got, sizeof(got));
	CHECK_STR(got, want);
	fd_target(pid, 0, got, sizeof(got));
	CHECK(strstr(got, ".console-input.tmp") != NULL);
	snprintf(want, sizeof(want), "%s/physmem", mdir);
	fd_target(pid, UML_PHYSMEM_FD, got, sizeof(got));
	CHECK_STR(got, pm >= 0 ? want : "");
	snprintf(want, sizeof(want), "%s/uffd-stand-in", mdir);
	fd_target(pid, UML_UFFD_FD, got, sizeof(got));
	CHECK_STR(got, uf >= 0 ? want : "");
	snprintf(want, sizeof(want), "%s/pager-stand-in", mdir);
	fd_target(pid, UML_PAGER_FD, got, sizeof(got));
	CHECK_STR(got, pg >= 0 ? want : "");
	n = fd_count(pid);
	CHECK(n == 3 + (pm >= 0) + (uf >= 0) + (pg >= 0));
	if (n != 3 + (pm >= 0) + (uf >= 0) + (pg >= 0))
		fprintf(stderr, "spawn (%d, %d, %d): the kernel holds %d fds\n",
		    pm_at, uf_at, pg_at, n);
out:
	if (pid > 0) {
		(void)kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	closefd(&dfd);
	closefd(&pm);
	closefd(&uf);
	closefd(&pg);
}

/*
 * uml_spawn's fds, in every combination of physmem and /dev/userfaultfd
 * and wherever the parent holds them: at the very numbers the kernel gets
 * them at, crossed (physmem at 4, the device at 3), high, or 3 and 4 free
 * for the launch's own fds (the exec-status pipe among them).
 */
static void
test_spawn_fds(void)
{
	static const char script[] = "#!/bin/sh\nexec sleep 60\n";
	static const int cases[][3] = {
		{ -1, -1, -1 }, { -2, -1, -1 }, { -1, -2, -1 }, { -2, -2, -1 },
		{ 3, 4, -1 }, { 4, 3, -1 }, { 3, -1, -1 }, { 4, -1, -1 },
		{ -1, 3, -1 }, { -1, 4, -1 }, { 3, -2, -1 }, { -2, 3, -1 },
		{ 4, -2, -1 }, { -2, 4, -1 },
		/* A lazy restore's pager socket too (UML_PAGER_FD, 5). */
		{ -2, -2, -2 }, { 3, 4, 5 }, { 5, 3, 4 }, { 4, 5, 3 },
		{ 5, 4, 3 }, { 3, 5, -2 }, { -2, -2, 3 }, { -2, -2, 4 },
	};
	char	*mdir = xasprintf("%s/spawn", dir);
	char	*kernel = xasprintf("%s/fake-kernel", dir);
	char	*image = xasprintf("%s/fake.img", dir);
	int	 saved3, saved4, saved5;

	CHECK(mkdir(mdir, 0700) == 0);
	CHECK(write_file_atomic(kernel, script, strlen(script), 0755) == 0);
	CHECK(write_file_atomic(image, "", 0, 0600) == 0);
	/* Whatever the test process has at 3 and 4, put back at the end. */
	saved3 = fcntl(3, F_DUPFD_CLOEXEC, 100);
	saved4 = fcntl(4, F_DUPFD_CLOEXEC, 100);
	saved5 = fcntl(5, F_DUPFD_CLOEXEC, 100);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		spawn_case(mdir, kernel, image, cases[i][0], cases[i][1],
		    cases[i][2]);
	(void)close(3);
	(void)close(4);
	(void)close(5);
	if (saved3 >= 0 && dup2(saved3, 3) == 3)
		(void)close(saved3);
	if (saved4 >= 0 && dup2(saved4, 4) == 4)
		(void)close(saved4);
	if (saved5 >= 0 && dup2(saved5, 5) == 5)
		(void)close(saved5);
	free(mdir);
	free(kernel);
	free(image);
}

/* Write console.log of machine m. */
static void
write_console(struct machine *m, const char *text, size_t len)
{
	char	*path = xasprintf("%s/console.log", machine_dir(m));

	CHECK(write_file_atomic(path, text, len, 0600) == 0);
	free(path);
}

/* Check tail(n) of the console is exactly want (lines joined by '|'). */
static void
check_tail(struct machine *m, size_t n, const char *want)
{
	struct json_object	*arr;
	char			*joined = xstrdup(""), *tmp;

	arr = NULL;
	CHECK(machine_console_tail(m, n, &arr) == 0 && arr != NULL);
	if (arr == NULL)
		return;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		tmp = xasprintf("%s%s%s", joined, i > 0 ? "|" : "",
		    json_object_get_string(json_object_array_get_idx(arr, i)));
		free(joined);
		joined = tmp;
	}
	CHECK_STR(joined, want);
	free(joined);
	json_object_put(arr);
}

/* What the state hook saw (test_state_hook). */
static struct {
	const struct machine	*m;
	struct json_object	*ev;
	int			 calls;
} seen;

/* A machine_state_hook that keeps the last event. */
static void
record_state_event(const struct machine *m, struct json_object *ev, void *arg)
{
	CHECK(arg == &seen);
	seen.m = m;
	json_object_put(seen.ev);
	seen.ev = ev;
	seen.calls++;
}

/* The string member key of the last event, or "" if it has none. */
static const char *
seen_string(const char *key)
{
	struct json_object	*v;

	if (seen.ev == NULL || !json_object_object_get_ex(seen.ev, key, &v))
		return ("");
	return (json_object_get_string(v));
}

/*
 * Every state change reaches the hook once, after run.json has it, as the
 * machine.state event; a move to the same state is none.
 */
static void
test_state_hook(struct machine *m)
{
	struct machine_run	 run;
	struct json_object	*v;
	int			 dfd;

	machine_set_state_hook(record_state_event, &seen);
	machine_set_state(m, MACHINE_CRASHED);
	CHECK(seen.calls == 1 && seen.m == m);
	CHECK_STR(seen_string("machine"), "demo");
	CHECK_STR(seen_string("state"), "crashed");
	CHECK_STR(seen_string("previous"), "stopped");
	CHECK(seen.ev != NULL && !json_object_object_get_ex(seen.ev, "pid", &v));
	CHECK(seen.ev != NULL && json_object_object_get_ex(seen.ev, "exit", &v) &&
	    json_object_is_type(v, json_type_object));
	CHECK(seen.ev != NULL &&
	    json_object_object_get_ex(seen.ev, "console_tail", &v) &&
	    json_object_is_type(v, json_type_array));
	dfd = fs_open_dir(machine_dir(m), NULL, NULL);
	CHECK(dfd >= 0 && machine_run_read(dfd, &run) == 0 &&
	    run.state == MACHINE_CRASHED);

	machine_set_state(m, MACHINE_CRASHED);
	CHECK(seen.calls == 1);

	machine_set_state(m, MACHINE_STOPPED);
	CHECK(seen.calls == 2);
	CHECK_STR(seen_string("state"), "stopped");
	CHECK_STR(seen_string("previous"), "crashed");
	CHECK(seen.ev != NULL &&
	    !json_object_object_get_ex(seen.ev, "console_tail", &v));
	CHECK(dfd >= 0 && machine_run_read(dfd, &run) == 0 &&
	    run.state == MACHINE_STOPPED);
	if (dfd >= 0)
		close(dfd);

	/* No hook: the state still moves, nothing is called. */
	machine_set_state_hook(NULL, NULL);
	machine_set_state(m, MACHINE_CRASHED);
	machine_set_state(m, MACHINE_STOPPED);
	CHECK(seen.calls == 2 && machine_state(m) == MACHINE_STOPPED);
	json_object_put(seen.ev);
	seen.ev = NULL;
}

/* Console tails and machine create/delete. */
static void
test_machine_files(void)
{
	struct machine_config	 cfg;
	struct machine		*m = NULL, *pm = NULL;
	struct json_object	*obj, *v;
	char			 err[512], *big, *pdir, *link;
	size_t			 n;
	struct stat		 st;

	memset(&cfg, 0, sizeof(cfg));
	cfg.image = xstrdup("/img");
	cfg.kernel = xstrdup("/k");
	cfg.cmdline = xstrdup("");
	cfg.mem_mb = 64;
	CHECK(machine_create("demo", &cfg, &m, err, sizeof(err)) == 0);
	if (m == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	CHECK(machine_lookup("demo") == m && machine_count() == 1);
	CHECK(stat(machine_dir(m), &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(machine_state(m) == MACHINE_STOPPED && machine_pid(m) == 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.image = xstrdup("/img");
	cfg.kernel = xstrdup("/k");
	cfg.cmdline = xstrdup("");
	CHECK(machine_create("demo", &cfg, &pm, err, sizeof(err)) == -EEXIST);
	machine_config_clear(&cfg);

	/* The machine object of a never-booted machine. */
	obj = machine_to_json(m);
	CHECK(json_object_object_get_ex(obj, "state", &v) &&
	    strcmp(json_object_get_string(v), "stopped") == 0);
	CHECK(!json_object_object_get_ex(obj, "pid", &v));
	CHECK(!json_object_object_get_ex(obj, "exit", &v));
	CHECK(json_object_object_get_ex(obj, "savable", &v) &&
	    !json_object_get_boolean(v));
	CHECK(json_object_object_get_ex(obj, "uffd", &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    !json_object_get_boolean(v));
	json_object_put(obj);

	test_state_hook(m);

	check_tail(m, 5, "");				/* no console.log yet */
	write_console(m, "a\nb\nc\n", 6);
	check_tail(m, 2, "b|c");
	check_tail(m, 3, "a|b|c");
	check_tail(m, 50, "a|b|c");
	write_console(m, "a\r\nb\r\npartial", 13);	/* CRs go, last line kept */
	check_tail(m, 2, "b|partial");
	write_console(m, "x\x01y\xff\xc3\xa9z\n", 8);	/* control, bad and good UTF-8 */
	check_tail(m, 1, "x?y?\xc3\xa9z");
	write_console(m, "\n\n", 2);
	check_tail(m, 5, "|");
	/* 5 MiB of 1 KiB lines: only the end is read, whole lines come back. */
	n = 5 * 1024 * 1024;
	big = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = i % 1024 == 1023 ? '\n' : (char)('a' + (i / 1024) % 26);
	write_console(m, big, n);
	{
		struct json_object *arr = NULL;
		const char *first;

		CHECK(machine_console_tail(m, 10000, &arr) == 0 && arr != NULL);
		if (arr != NULL) {
			/* At most 4 MiB: 4096 lines, the first one complete. */
			CHECK(json_object_array_length(arr) >= 4095 &&
			    json_object_array_length(arr) <= 4096);
			first = json_object_get_string(json_object_array_get_idx(arr, 0));
			CHECK(strlen(first) == 1023);
			json_object_put(arr);
		}
	}
	free(big);
	/* A console.log a user replaced by a symlink or a FIFO is not read. */
	{
		char			*log = xasprintf("%s/console.log",
					    machine_dir(m));
		struct json_object	*arr = NULL;

		CHECK(unlink(log) == 0 && symlink("/etc/passwd", log) == 0);
		CHECK(machine_console_tail(m, 5, &arr) == -ELOOP && arr == NULL);
		CHECK(unlink(log) == 0 && mkfifo(log, 0600) == 0);
		CHECK(machine_console_tail(m, 5, &arr) == -EINVAL && arr == NULL);
		CHECK(unlink(log) == 0);
		free(log);
	}

	/* A path machine: directory created, recorded under paths/. */
	pdir = xasprintf("%s/pm", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.image = xstrdup("/img");
	cfg.kernel = xstrdup("/k");
	cfg.cmdline = xstrdup("");
	cfg.mem_mb = 64;
	CHECK(machine_create(pdir, &cfg, &pm, err, sizeof(err)) == 0);
	link = machine_paths_link(pdir);
	CHECK(pm != NULL && machine_is_path(pm));
	/* The record is sbumld's own copy of the configuration, with the dir's identity. */
	CHECK(lstat(link, &st) == 0 && S_ISDIR(st.st_mode));
	{
		struct machine_config	rcfg;
		struct fs_id		rid;
		struct stat		dst;
		char			*rname = NULL;
		int			rfd = fs_open_dir(link, NULL, NULL);

		CHECK(rfd >= 0 && machine_config_read(rfd, true, &rcfg, &rname,
		    &rid, err, sizeof(err)) == 0);
		CHECK(rname != NULL && strcmp(rname, pdir) == 0);
		CHECK(stat(pdir, &dst) == 0 && rid.dev == dst.st_dev &&
		    rid.ino == dst.st_ino);
		CHECK(rcfg.kernel != NULL && strcmp(rcfg.kernel, "/k") == 0);
		free(rname);
		machine_config_clear(&rcfg);
		close(rfd);
	}
	{
		size_t	 nl;
		struct machine **list = machine_list(&nl);

		/* Sorted by name: "/..." before "demo". */
		CHECK(nl == 2 && list[0] == pm && list[1] == m);
		free(list);
	}
	/* Foreign files keep the directory, not the machine. */
	{
		char *foreign = xasprintf("%s/mine.txt", pdir);

		CHECK(write_file_atomic(foreign, "x", 1, 0600) == 0);
		CHECK(machine_delete(pm, err, sizeof(err)) == 0);
		CHECK(access(foreign, F_OK) == 0);
		CHECK(unlink(foreign) == 0 && rmdir(pdir) == 0);
		free(foreign);
	}
	CHECK(lstat(link, &st) == -1 && errno == ENOENT);
	CHECK(machine_lookup(pdir) == NULL);
	free(link);

	/* A non-empty directory without machine.json is refused. */
	CHECK(mkdir(pdir, 0755) == 0);
	{
		char *foreign = xasprintf("%s/mine.txt", pdir);

		CHECK(write_file_atomic(foreign, "x", 1, 0600) == 0);
		memset(&cfg, 0, sizeof(cfg));
		cfg.image = xstrdup("/img");
		cfg.kernel = xstrdup("/k");
		cfg.cmdline = xstrdup("");
		CHECK(machine_create(pdir, &cfg, &pm, err, sizeof(err)) == -EEXIST);
		machine_config_clear(&cfg);
		CHECK(unlink(foreign) == 0 && rmdir(pdir) == 0);
		free(foreign);
	}
	/* A path that reaches the state dir through a symlink is refused. */
	{
		char *via = xasprintf("%s/via", dir), *inside;

		CHECK(symlink(daemon_config.state_dir, via) == 0);
		inside = xasprintf("%s/vm", via);
		memset(&cfg, 0, sizeof(cfg));
		cfg.image = xstrdup("/img");
		cfg.kernel = xstrdup("/k");
		cfg.cmdline = xstrdup("");
		CHECK(machine_create(inside, &cfg, &pm, err, sizeof(err)) ==
		    -EINVAL);
		CHECK(strstr(err, "inside the state directory") != NULL);
		machine_config_clear(&cfg);
		free(pdir);
		pdir = xasprintf("%s/vm", daemon_config.state_dir);
		CHECK(access(pdir, F_OK) == -1 && errno == ENOENT);
		CHECK(unlink(via) == 0);
		free(inside);
		free(via);
	}
	free(pdir);

	CHECK(machine_delete(m, err, sizeof(err)) == 0);
	CHECK(machine_count() == 0);
	{
		char *mdir = xasprintf("%s/machines/demo", daemon_config.state_dir);

		CHECK(access(mdir, F_OK) == -1 && errno == ENOENT);
		free(mdir);
	}
}

/* /proc parsing on ourselves. */
static void
test_proc(void)
{
	uint64_t	 t1 = 0, t2 = 0;
	char		 cwd[4096];

	CHECK(uml_proc_starttime(getpid(), &t1) == 0 && t1 > 0);
	CHECK(uml_proc_starttime(getpid(), &t2) == 0 && t1 == t2);
	CHECK(uml_proc_starttime(0x7ffffff0, &t1) == -ENOENT);
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(uml_proc_cwd_is(getpid(), cwd));
	CHECK(!uml_proc_cwd_is(getpid(), "/nonexistent"));
}

/* Run every test in a private temp dir. */
int
main(void)
{
	if (test_tmpdir_begin(dir) < 0)
		return (1);
	daemon_config.state_dir = xasprintf("%s/state", dir);
	CHECK(mkdir_p(daemon_config.state_dir, 0700) == 0);

	test_states();
	test_names();
	test_config_files();
	test_argv();
	test_kernel_options();
	test_spawn_fds();
	test_machine_files();
	test_proc();

	test_tmpdir_end(dir);
	free(daemon_config.state_dir);
	daemon_config.state_dir = NULL;
	return (test_summary());
}
