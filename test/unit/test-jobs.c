/* SPDX-License-Identifier: MIT */
/*
 * The snapshot jobs without the RPC stack (snapshot-job.h): each is started
 * with a caller and done/progress callbacks on a real event base and worker
 * pool, against real state directories.  A format 2 snapshot made straight
 * in the chunk store is verified, listed, refused by a restore (no kernel
 * of its build here), exported and imported into a second state dir, verified there, corrupted (verify reports BadSnapshot
 * through done) and deleted; a save runs against a re-adopted machine
 * whose mconsole is the scripted fake (test/fake/fake-mconsole.c), which
 * refuses the capture or never gets to answer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "../fake/fake-mconsole.h"
#include "context.h"
#include "log.h"
#include "machine-config.h"
#include "machine.h"
#include "snapshot.h"
#include "snapshot-delete.h"
#include "snapshot-job.h"
#include "snapshot-query.h"
#include "snapshot-restore.h"
#include "snapshot-save.h"
#include "snapshot-transfer.h"
#include "store.h"
#include "uml.h"
#include "util.h"

#include "test.h"
#include "test-tmpdir.h"

static char	dir[] = "/tmp/sjbXXXXXX";

/* What a job reported. */
struct outcome {
	bool			 done;
	int			 calls;
	int			 err;
	struct json_object	*obj;		/* result or error data */
	char			 msg[2048];
	int			 progress;	/* progress reports */
	char			 phase[32];	/* the last one's phase */
};

static void
outcome_done(int err, struct json_object *obj, const char *msg, void *ctx)
{
	struct outcome *o = ctx;

	o->calls++;
	o->done = true;
	o->err = err;
	json_object_put(o->obj);
	o->obj = obj;
	snprintf(o->msg, sizeof(o->msg), "%s", msg != NULL ? msg : "");
}

static void
outcome_progress(void *ctx, struct json_object *p)
{
	struct outcome		*o = ctx;
	struct json_object	*v;

	o->progress++;
	if (json_object_object_get_ex(p, "phase", &v))
		snprintf(o->phase, sizeof(o->phase), "%s", json_object_get_string(v));
	json_object_put(p);
}

static void
outcome_clear(struct outcome *o)
{
	json_object_put(o->obj);
	memset(o, 0, sizeof(*o));
}

/* Callbacks that record into o; no worker pool owner (uncapped). */
static struct snapshot_job_cb
cb_for(struct outcome *o)
{
	outcome_clear(o);
	return (struct snapshot_job_cb){ outcome_done, outcome_progress, NULL, o };
}

/* Root: what the daemon's own caller is. */
static const struct snapshot_caller root_caller = { true, { 1, 0, 0 } };

/* Run the loop until the job has reported; true if it has. */
static bool
wait_done(struct outcome *o)
{
	while (!o->done)
		if (event_base_loop(daemon_base, EVLOOP_ONCE) < 0)
			return false;
	return o->calls == 1;
}

/* Member key of o as a string ("" if missing). */
static const char *
str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return "";
	return json_object_get_string(v);
}

/* Member key of o as an integer (-1 if missing). */
static int64_t
int_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return -1;
	return json_object_get_int64(v);
}

/* Switch the daemon to state dir <dir>/<name>. */
static void
use_state(const char *name)
{
	free(daemon_config.state_dir);
	daemon_config.state_dir = xasprintf("%s/%s", dir, name);
	CHECK(mkdir_p(daemon_config.state_dir, 0700) == 0);
	{
		char *named = snapshot_named_root();

		CHECK(mkdir_p(named, 0700) == 0);
		free(named);
	}
}

/*
 * A format 2 snapshot named name in the current state dir, made the way a
 * save's storing phase makes one: a capture file (random bytes, then a
 * zero run) cut into the store, the manifest committed beside it.
 */
static void
make_snapshot(const char *name)
{
	struct json_object	*man, *files, *mach, *kernel, *entry;
	struct store		*s;
	unsigned char		 buf[3 * STORE_CHUNK_SIZE + 100];
	char			 err[1024], *root, *sdir, *tmp, *src;
	const char		*text;
	int			 fd;

	memset(buf, 0, sizeof(buf));
	CHECK(getrandom(buf, 2 * STORE_CHUNK_SIZE + 7, 0) ==
	    2 * STORE_CHUNK_SIZE + 7);
	src = xasprintf("%s/physmem", dir);
	fd = open(src, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && write_fd_all(fd, buf, sizeof(buf)) == 0);
	close(fd);

	root = snapshot_store_root();
	s = store_open(root, err, sizeof(err));
	CHECK(s != NULL);
	CHECK(store_put_file(s, src, &entry, NULL, err, sizeof(err)) == 0);
	CHECK(store_sync(s) == 0);
	store_free(s);
	free(root);
	unlink(src);
	free(src);
	json_object_object_add(entry, "path", json_object_new_string(
	    SNAPSHOT_CAPTURE "/physmem"));

	man = json_object_new_object();
	json_object_object_add(man, "format", json_object_new_string(SNAPSHOT_FORMAT));
	json_object_object_add(man, "version", json_object_new_int(SNAPSHOT_VERSION));
	json_object_object_add(man, "created", json_object_new_string("2026-01-01T00:00:00Z"));
	mach = json_object_new_object();
	json_object_object_add(mach, "machine", json_object_new_string("m"));
	json_object_object_add(mach, "image", json_object_new_string("/nonexistent.img"));
	json_object_object_add(mach, "kernel", json_object_new_string("/nonexistent"));
	json_object_object_add(mach, "mem_mb", json_object_new_int(64));
	json_object_object_add(mach, "cmdline", json_object_new_string(""));
	json_object_object_add(mach, "disks", json_object_new_array());
	json_object_object_add(man, "machine", mach);
	json_object_object_add(man, "state", json_object_new_string("running"));
	kernel = json_object_new_object();
	json_object_object_add(kernel, "build_id", json_object_new_string("00"));
	json_object_object_add(man, "kernel", kernel);
	files = json_object_new_array();
	json_object_array_add(files, entry);
	json_object_object_add(man, "files", files);

	CHECK(snapshot_resolve(name, &sdir, err, sizeof(err)) == 0);
	CHECK(snapshot_workdir_make(sdir, &tmp, err, sizeof(err)) == 0);
	text = json_object_to_json_string_ext(man, JSON_C_TO_STRING_PRETTY);
	CHECK(snapshot_workdir_commit(tmp, sdir, text, strlen(text), true, err,
	    sizeof(err)) == 0);
	json_object_put(man);
	free(tmp);
	free(sdir);
}

/* The directory of snapshot name in the current state dir (caller frees). */
static char *
snap_dir(const char *name)
{
	char err[256], *d = NULL;

	CHECK(snapshot_resolve(name, &d, err, sizeof(err)) == 0);
	return d;
}

/* Flip a byte in the middle of every pack of the current store. */
static int
corrupt_packs(void)
{
	char		*root = snapshot_store_root(), *packs;
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	packs = xasprintf("%s/packs", root);
	free(root);
	if ((d = opendir(packs)) == NULL) {
		free(packs);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		size_t		 l = strlen(de->d_name);
		struct stat	 st;
		unsigned char	 c;
		char		*p;
		int		 fd;

		if (l < 5 || strcmp(de->d_name + l - 5, ".pack") != 0)
			continue;
		p = xasprintf("%s/%s", packs, de->d_name);
		if ((fd = open(p, O_RDWR | O_CLOEXEC)) >= 0 && fstat(fd, &st) == 0 &&
		    pread(fd, &c, 1, st.st_size / 2) == 1) {
			c ^= 0x40;
			if (pwrite(fd, &c, 1, st.st_size / 2) == 1)
				n++;
		}
		if (fd >= 0)
			close(fd);
		free(p);
	}
	closedir(d);
	free(packs);
	return n;
}

/* verify, info and list of a good snapshot; verify of a missing one. */
static void
test_read_jobs(void)
{
	struct snapshot_job_cb	 cb;
	struct outcome		 o = { 0 };
	struct json_object	*arr;
	char			*d;

	use_state("a");
	make_snapshot("s1");
	d = snap_dir("s1");

	cb = cb_for(&o);
	snapshot_verify_start("s1", d, &root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == 0);
	CHECK_STR(str_of(o.obj, "snapshot"), "s1");
	CHECK(int_of(o.obj, "version") == SNAPSHOT_VERSION);
	CHECK(int_of(o.obj, "files") == 1);
	CHECK(int_of(o.obj, "bytes") == 3 * STORE_CHUNK_SIZE + 100);

	cb = cb_for(&o);
	snapshot_info_start("s1", d, &root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == 0);
	CHECK_STR(str_of(o.obj, "snapshot"), "s1");
	CHECK(int_of(o.obj, "owner") == 0);
	CHECK(int_of(o.obj, "stored_bytes") > 0);

	cb = cb_for(&o);
	snapshot_list_start(&root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == 0);
	CHECK(json_object_object_get_ex(o.obj, "snapshots", &arr) &&
	    json_object_array_length(arr) == 1);
	CHECK_STR(str_of(json_object_array_get_idx(arr, 0), "snapshot"), "s1");

	/* A caller whose credentials are gone sees nothing. */
	{
		const struct snapshot_caller gone = { false, { 0, 0, 0 } };

		cb = cb_for(&o);
		snapshot_list_start(&gone, &cb);
		CHECK(wait_done(&o));
		CHECK(o.err == 0 && json_object_object_get_ex(o.obj, "snapshots",
		    &arr) && json_object_array_length(arr) == 0);
	}
	free(d);

	/*
	 * A restore needs a kernel of the capture's build: none here, so it is
	 * Incompatible, reported at once, and no machine is made.
	 */
	cb = cb_for(&o);
	snapshot_restore_start("s1", "r1", true, false, NULL, &root_caller, &cb);
	CHECK(o.done && o.err == SNAPSHOT_JOB_E_INCOMPATIBLE);
	CHECK_STR(o.msg, "the snapshot was written by kernel build 00, and "
	    "neither /nonexistent nor /nonexistent-kernel is that build: install "
	    "the kernel it was saved with");
	CHECK_STR(str_of(o.obj, "reason"), o.msg);
	CHECK(machine_lookup("r1") == NULL);
	cb = cb_for(&o);
	snapshot_restore_start("s1", "../r1", true, false, NULL, &root_caller, &cb);
	CHECK(o.done && o.err == SNAPSHOT_JOB_E_INVALID_PARAMS);

	d = snap_dir("nope");
	cb = cb_for(&o);
	snapshot_verify_start("nope", d, &root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT);
	CHECK(strstr(o.msg, "nope") != NULL);
	free(d);
	outcome_clear(&o);
}

/*
 * Export s1 from state dir a into a file, import it into state dir b,
 * verify it there; then corrupt b's packs: verify fails through done;
 * delete removes it.
 */
static void
test_transfer_verify_delete(void)
{
	struct snapshot_job_cb	 cb;
	struct transfer_target	 t;
	struct outcome		 o = { 0 };
	struct stat		 st;
	char			*stream = xasprintf("%s/s1.stream", dir), *d;
	char			 id[65];
	int64_t			 chunks;

	use_state("a");
	t = (struct transfer_target){ .fd = -1, .file = stream };
	cb = cb_for(&o);
	snapshot_export_start("s1", NULL, &t, &root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == 0);
	CHECK_STR(str_of(o.obj, "snapshot"), "s1");
	CHECK_STR(str_of(o.obj, "file"), stream);
	chunks = int_of(o.obj, "chunks");
	CHECK(chunks >= 3);		/* three data chunks, a zero run */
	CHECK(stat(stream, &st) == 0 && (int64_t)st.st_size == int_of(o.obj, "bytes"));
	snprintf(id, sizeof(id), "%s", str_of(o.obj, "id"));
	CHECK(strlen(id) == 64);

	/* Exporting over the file again is refused (no "overwrite"). */
	t = (struct transfer_target){ .fd = -1, .file = stream };
	cb = cb_for(&o);
	snapshot_export_start("s1", NULL, &t, &root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == SNAPSHOT_JOB_E_IO);
	CHECK(strstr(o.msg, "export of s1 failed: ") == o.msg);
	CHECK(strstr(str_of(o.obj, "reason"), "exists") != NULL);

	/* Importing it where it exists already is refused before any work. */
	t = (struct transfer_target){ .fd = -1, .file = stream };
	cb = cb_for(&o);
	snapshot_import_start("s1", NULL, &t, &root_caller, &cb);
	CHECK(o.done);			/* at once */
	CHECK(o.err == SNAPSHOT_JOB_E_SNAPSHOT_EXISTS);

	use_state("b");
	t = (struct transfer_target){ .fd = -1, .file = stream };
	cb = cb_for(&o);
	snapshot_import_start(NULL, NULL, &t, &root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == 0);
	CHECK_STR(str_of(o.obj, "snapshot"), "s1");
	CHECK_STR(str_of(o.obj, "id"), id);
	CHECK(int_of(o.obj, "new_chunks") == chunks);

	d = snap_dir("s1");
	cb = cb_for(&o);
	snapshot_verify_start("s1", d, &root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == 0 && int_of(o.obj, "bytes") == 3 * STORE_CHUNK_SIZE + 100);

	CHECK(corrupt_packs() >= 1);
	cb = cb_for(&o);
	snapshot_verify_start("s1", d, &root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == SNAPSHOT_JOB_E_BAD_SNAPSHOT);
	CHECK(strstr(o.msg, "corrupt") != NULL);
	CHECK_STR(str_of(o.obj, "reason"), o.msg);

	cb = cb_for(&o);
	snapshot_delete_start("s1", d, &root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == 0);
	CHECK_STR(str_of(o.obj, "deleted"), "s1");
	CHECK(json_object_object_get_ex(o.obj, "freed", NULL));
	CHECK(access(d, F_OK) == -1 && errno == ENOENT);

	cb = cb_for(&o);
	snapshot_delete_start("s1", d, &root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT);

	/* The store is idle now: a gc runs, and finds nothing more to free. */
	cb = cb_for(&o);
	snapshot_gc_start(&root_caller, &cb);
	CHECK(wait_done(&o));
	CHECK(o.err == 0 && int_of(o.obj, "chunks") == 0);
	free(d);
	free(stream);
	outcome_clear(&o);
}

/* Write text into a new file path. */
static int
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");
	int	 r = 0;

	if (f == NULL)
		return -errno;
	if (fputs(text, f) == EOF)
		r = -EIO;
	if (fclose(f) == EOF && r == 0)
		r = -errno;
	return r;
}

/*
 * A process standing in for UML: it lives in the machine's directory
 * (what re-adoption checks) and waits to be killed.
 */
static pid_t
fake_uml(const char *mdir)
{
	char	 link[64], got[4096];
	pid_t	 pid;
	ssize_t	 n;

	if ((pid = fork()) == 0) {
		if (chdir(mdir) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	CHECK(pid > 0);
	/* Until it is there (it chdirs right after the fork). */
	snprintf(link, sizeof(link), "/proc/%ld/cwd", (long)pid);
	for (;;) {
		n = readlink(link, got, sizeof(got) - 1);
		if (n > 0) {
			got[n] = '\0';
			if (strcmp(got, mdir) == 0)
				break;
		}
		usleep(1000);
	}
	return pid;
}

/* The hidden work directory of a save of name, or NULL. */
static char *
find_workdir(const char *name)
{
	char		*named = snapshot_named_root(), *prefix, *found = NULL;
	struct dirent	*de;
	DIR		*d;

	prefix = xasprintf(".%s.partial-", name);
	if ((d = opendir(named)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (found == NULL && strncmp(de->d_name, prefix,
			    strlen(prefix)) == 0)
				found = xasprintf("%s/%s", named, de->d_name);
		closedir(d);
	}
	free(prefix);
	free(named);
	return found;
}

/*
 * A raw save of m as name (cow asked or not) from the fake kernel: the
 * command "sbuml save <work dir>/capture<suffix>" answered with reply.
 * The result's "capture" (o owns it), or NULL.
 */
static struct json_object *
raw_save(struct machine *m, struct fake_mconsole *fake, struct outcome *o,
    const char *name, bool cow, const char *suffix, const char *reply)
{
	struct snapshot_job_cb	 cb = cb_for(o);
	struct json_object	*c = NULL;
	char			*sdir = snap_dir(name), *work, *path, *cmd;

	snapshot_save_start(m, name, sdir, true, false, cow, &root_caller, &cb);
	work = find_workdir(name);
	CHECK(work != NULL);
	/* What the kernel's writer would have written. */
	path = xasprintf("%s/%s/physmem", work != NULL ? work : "?",
	    SNAPSHOT_CAPTURE);
	CHECK(write_file(path, "memory") == 0);
	cmd = xasprintf("sbuml save %s/%s%s", work != NULL ? work : "?",
	    SNAPSHOT_CAPTURE, suffix);
	fake_mconsole_expect1(fake, cmd, 0, reply);
	CHECK(wait_done(o));
	CHECK(o->err == 0);
	CHECK(o->obj != NULL && json_object_object_get_ex(o->obj, "capture", &c));
	CHECK(fake_mconsole_remaining(fake) == 0);
	CHECK(fake_mconsole_failures(fake) == 0);
	CHECK(machine_job(m) == NULL);
	free(cmd);
	free(path);
	free(work);
	free(sdir);
	return c;
}

/*
 * A save against the fake mconsole: a second save meanwhile is refused at
 * once (SaveInProgress); the kernel refuses the capture: NotSupported with
 * the kernel's reason, the work directory gone, the machine's job slot free.
 */
static void
test_save(void)
{
	struct machine_config	 cfg = { 0 };
	struct machine_run	 run = { 0 };
	struct fake_mconsole	*fake;
	struct snapshot_job_cb	 cb, cb2;
	struct outcome		 o = { 0 }, o2 = { 0 };
	struct machine		*m;
	struct json_object	*c;
	char			 err[256], *mdir, *sock, *cmd, *work, *sdir;
	pid_t			 pid;
	int			 fd, status;

	use_state("c");
	CHECK(machine_registry_init() == 0);
	cfg.image = xstrdup("/nonexistent.img");
	/* A "kernel" naming the cow word (patch 0024) in its usage string. */
	cfg.kernel = xasprintf("%s/kernel-cow", daemon_config.state_dir);
	CHECK(write_file(cfg.kernel, "\177ELF... error: usage: sbuml save "
	    "<absolute dir> [stop] [cow]\n") == 0);
	cfg.cmdline = xstrdup("");
	cfg.mem_mb = 64;
	CHECK(machine_create("vm", &cfg, &m, err, sizeof(err)) == 0);
	mdir = xstrdup(machine_dir(m));
	pid = fake_uml(mdir);

	/* The daemon restarts and re-adopts it, running and savable. */
	run.state = MACHINE_RUNNING;
	run.pid = pid;
	run.savable = true;
	CHECK(uml_proc_starttime(pid, &run.starttime) == 0);
	fd = open(mdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0 && machine_run_write(fd, &run) == 0);
	close(fd);
	sock = xasprintf("%s/uml", mdir);
	CHECK(mkdir_p(sock, 0700) == 0);
	free(sock);
	sock = xasprintf("%s/uml/mconsole", mdir);
	fake = fake_mconsole_new(daemon_base, sock);
	CHECK(fake != NULL);
	machine_registry_shutdown();
	CHECK(machine_registry_init() == 0);
	CHECK((m = machine_lookup("vm")) != NULL);
	CHECK(m != NULL && machine_state(m) == MACHINE_RUNNING);

	sdir = snap_dir("s2");
	cb = cb_for(&o);
	snapshot_save_start(m, "s2", sdir, true, true, false, &root_caller, &cb);
	CHECK(!o.done);
	CHECK(o.progress == 1 && strcmp(o.phase, "capturing") == 0);
	CHECK(machine_job(m) != NULL);
	work = find_workdir("s2");
	CHECK(work != NULL);

	/* The machine's one job slot is taken. */
	cb2 = cb_for(&o2);
	snapshot_save_start(m, "s3", "/nonexistent/s3", true, true, false,
	    &root_caller, &cb2);
	CHECK(o2.done && o2.err == SNAPSHOT_JOB_E_SAVE_IN_PROGRESS);
	CHECK_STR(o2.msg, "vm: a save is already running; wait for it to finish");

	/* The kernel got the request (sent at once) and refuses it. */
	cmd = xasprintf("sbuml save %s/%s", work != NULL ? work : "?",
	    SNAPSHOT_CAPTURE);
	fake_mconsole_expect1(fake, cmd, 1, "refused: the guest holds a "
	    "device sbuml cannot save");
	CHECK(wait_done(&o));
	CHECK(o.err == SNAPSHOT_JOB_E_NOT_SUPPORTED);
	CHECK_STR(o.msg, "vm: cannot be saved: the guest holds a device sbuml "
	    "cannot save");
	CHECK_STR(str_of(o.obj, "reason"), "the guest holds a device sbuml "
	    "cannot save");
	CHECK(fake_mconsole_remaining(fake) == 0);
	CHECK(fake_mconsole_failures(fake) == 0);
	CHECK(work != NULL && access(work, F_OK) == -1 && errno == ENOENT);
	CHECK(access(sdir, F_OK) == -1 && errno == ENOENT);
	CHECK(machine_job(m) == NULL);

	/*
	 * The one transient refusal (a second host task) is asked again; the
	 * next, final refusal ends the job.  Three requests, one answer.
	 */
	free(sdir);
	free(work);
	free(cmd);
	sdir = snap_dir("s4");
	cb = cb_for(&o);
	snapshot_save_start(m, "s4", sdir, true, true, false, &root_caller, &cb);
	work = find_workdir("s4");
	CHECK(work != NULL);
	cmd = xasprintf("sbuml save %s/%s", work != NULL ? work : "?",
	    SNAPSHOT_CAPTURE);
	fake_mconsole_expect1(fake, cmd, 1, "refused: the UML process has host threads");
	fake_mconsole_expect1(fake, cmd, 1, "refused: the UML process has host threads");
	fake_mconsole_expect1(fake, cmd, 1, "refused: the guest holds a "
	    "device sbuml cannot save");
	CHECK(wait_done(&o));
	CHECK(o.err == SNAPSHOT_JOB_E_NOT_SUPPORTED);
	CHECK_STR(o.msg, "vm: cannot be saved: the guest holds a device sbuml "
	    "cannot save");
	CHECK(fake_mconsole_remaining(fake) == 0);
	CHECK(fake_mconsole_failures(fake) == 0);
	CHECK(work != NULL && access(work, F_OK) == -1 && errno == ENOENT);
	CHECK(machine_job(m) == NULL);

	/*
	 * cow asked of a kernel that has it: " cow" in the command; the
	 * kernel's report becomes the manifest's and the result's "capture".
	 */
	c = raw_save(m, fake, &o, "s5", true, " cow", "saved pause_us=7 "
	    "staged=0 capture=cow wp_us=3 protect_us=4 cow_us=90 cow_faults=2 "
	    "cow_pages=2 synced_mms=1 dirty_ptes=5 sync_us=6");
	CHECK_STR(str_of(c, "method"), "cow");
	CHECK_STR(str_of(c, "asked"), "cow");
	CHECK(c == NULL || !json_object_object_get_ex(c, "fallback", NULL));
	CHECK(int_of(c, "wp_us") == 3 && int_of(c, "protect_us") == 4 &&
	    int_of(c, "cow_us") == 90 && int_of(c, "faults") == 2 &&
	    int_of(c, "pages") == 2 && int_of(c, "sync_us") == 6);

	/* The kernel could not: staged, with its word. */
	c = raw_save(m, fake, &o, "s6", true, " cow", "saved pause_us=7 "
	    "staged=1 capture=staged cow_fallback=nouffd");
	CHECK_STR(str_of(c, "method"), "staged");
	CHECK_STR(str_of(c, "asked"), "cow");
	CHECK_STR(str_of(c, "fallback"), "nouffd");
	CHECK(int_of(c, "wp_us") == -1);

	/* Not asked: the command as before; a report without capture= is staged. */
	c = raw_save(m, fake, &o, "s7", false, "", "saved pause_us=7 staged=1");
	CHECK_STR(str_of(c, "method"), "staged");
	CHECK_STR(str_of(c, "asked"), "staged");
	CHECK(c == NULL || !json_object_object_get_ex(c, "fallback", NULL));

	/*
	 * A kernel before 0024 (its usage without "[cow]"; another size, so
	 * not the remembered answer): cow asked, not sent, staged, and why.
	 */
	CHECK(write_file(machine_config(m)->kernel, "\177ELF... error: usage: "
	    "sbuml save <absolute dir> [stop]\n") == 0);
	c = raw_save(m, fake, &o, "s8", true, "", "saved pause_us=7 staged=1");
	CHECK_STR(str_of(c, "method"), "staged");
	CHECK_STR(str_of(c, "asked"), "cow");
	CHECK_STR(str_of(c, "fallback"), "the kernel has no copy-on-write "
	    "capture");

	/* An existing snapshot directory is refused before anything. */
	cb = cb_for(&o);
	snapshot_save_start(m, "c", daemon_config.state_dir, true, true, false,
	    &root_caller, &cb);
	CHECK(o.done && o.err == SNAPSHOT_JOB_E_SNAPSHOT_EXISTS);
	CHECK(machine_job(m) == NULL);

	machine_registry_shutdown();
	fake_mconsole_free(fake);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	free(cmd);
	free(work);
	free(sdir);
	free(sock);
	free(mdir);
	outcome_clear(&o);
	outcome_clear(&o2);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (test_tmpdir_begin(dir) < 0)
		return (1);
	daemon_base = event_base_new();
	daemon_config.kernel = xstrdup("/nonexistent-kernel");

	test_read_jobs();
	test_transfer_verify_delete();
	test_save();

	test_tmpdir_end(dir);
	free(daemon_config.state_dir);
	daemon_config.state_dir = NULL;
	free(daemon_config.kernel);
	daemon_config.kernel = NULL;
	event_base_free(daemon_base);
	return test_summary();
}
