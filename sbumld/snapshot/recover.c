/* SPDX-License-Identifier: MIT */
/*
 * Start-up recovery: clean up what a daemon killed in the middle of a save
 * or a restore left half-done (doc/snapshot-format.md, "Atomicity"), and the
 * journal that lets it find a path snapshot's work directory.
 *
 * What a dead daemon can leave, and why removing it is safe:
 *
 *  - ".<name>.partial-XXXXXX" work directories of saves.  A snapshot only
 *    exists once its work directory is renamed to the final name, so a work
 *    directory is never part of a snapshot; nothing lists, restores or
 *    collects through it.
 *  - ".<file>.partial-XXXXXX" files of exports to a path: journaled like a
 *    path snapshot's work directory, so only files this daemon created are
 *    removed (a user's file that merely has such a name has no entry).
 *  - <store>/tmp/restore-XXXXXX: a capture materialised for a restore.  The
 *    kernel reads it only while it starts (tens of milliseconds after exec;
 *    it copies physmem into its own file), long over by the time a new
 *    daemon has come up and re-adopted the machines.
 *  - <store>/packs/.tmp-XXXXXX.pack and .idx: the pack a save or an import
 *    was writing and its index, and <store>/packs/<id>.pack without
 *    <id>.idx: a pack whose index had not been renamed into place (the
 *    index is the commit point, so nothing ever read it);
 *    <store>/chunks/<aa>/.tmp-XXXXXX: loose chunks a save of an older
 *    sbumld had not named yet; and <store>/kernels/.<build-id>.tmp-XXXXXX:
 *    a kernel being materialised.
 *
 * The chunks a killed save had already written are referenced by no
 * manifest; the next store.gc collects them.  A reference the save had
 * registered just before it died names a directory that does not exist;
 * store.gc drops it.  Recovery leaves both to the gc, which knows the roots.
 *
 * Everything here assumes that no other daemon works on the same state
 * directory: recover_run() takes <state-dir>/lock (flock, held until the
 * process exits, so also released by kill -9) and skips the clean-up if
 * another sbumld holds it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>


#include "context.h"
#include "fsutil.h"
#include "log.h"
#include "machine.h"
#include "machine-config.h"
#include "recover.h"
#include "snapshot.h"
#include "store.h"
#include "util.h"

#define JOURNAL_PREFIX	"partial-"	/* journal entries in <store>/tmp */
#define RESTORE_PREFIX	"restore-"	/* restores' captures in <store>/tmp */
#define PARTIAL_INFIX	".partial-"	/* work directory ".<name>.partial-XXXXXX" */
#define SUFFIX_LEN	6		/* the XXXXXX */
#define ENTRY_ID_BYTES	16		/* 128 bits of SHA-256, as refs/ */

/* <state-dir>/lock, held from recover_run() until the process exits. */
static int	lock_fd = -1;

/* <state-dir>/store/tmp: the journal and restores' captures (caller frees). */
static char *
tmp_root(void)
{
	char *store = snapshot_store_root(), *p = xasprintf("%s/tmp", store);

	free(store);
	return p;
}

/*
 * The journal entry of work directory dir in jdir (caller frees): named by
 * a hash of the path, so dropping it needs nothing but the path, and an
 * entry can be checked against the path it holds.
 */
static char *
journal_entry(const char *jdir, const char *dir)
{
	char hex[STORE_HEX_LEN + 1];

	store_sha256_hex(dir, strlen(dir), hex);
	hex[2 * ENTRY_ID_BYTES] = '\0';
	return xasprintf("%s/" JOURNAL_PREFIX "%s", jdir, hex);
}

/* True if name is ".<name>.partial-XXXXXX", what a save's work directory is called. */
static bool
is_partial_name(const char *name)
{
	size_t	len = strlen(name), il = strlen(PARTIAL_INFIX);

	if (name[0] != '.' || len < 2 + il + SUFFIX_LEN ||
	    strncmp(name + len - SUFFIX_LEN - il, PARTIAL_INFIX, il) != 0)
		return false;
	for (const char *p = name + len - SUFFIX_LEN; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p))
			return false;
	return true;
}

/* True if path is absolute and has no empty, "." or ".." component. */
static bool
path_is_normal(const char *path)
{
	const char	*c, *next;
	size_t		 len;

	if (path[0] != '/')
		return false;
	for (c = path + 1; ; c = next + 1) {
		next = strchr(c, '/');
		len = next != NULL ? (size_t)(next - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (next == NULL)
			return true;
	}
}

/* True if path (absolute, normal) ends in a work directory's name. */
static bool
is_workdir_path(const char *path)
{
	const char *base = strrchr(path, '/');

	return path_is_normal(path) && base != NULL && is_partial_name(base + 1);
}

/*
 * Journal tmpl (filled in), then create it with make (a directory or a
 * file).  The entry is durable before the object exists: a crash in
 * between leaves an entry naming nothing, never an object nobody knows
 * about.  0 or -errno.
 */
typedef int	make_fn(const char *path, void *arg);

static int
journal_make(char *tmpl, make_fn *make, void *arg)
{
	static const char	 chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t			 len = strlen(tmpl);
	char			*jdir, *entry;
	int			 r;

	if (len < SUFFIX_LEN || len >= PATH_MAX ||
	    strcmp(tmpl + len - SUFFIX_LEN, "XXXXXX") != 0 || !is_workdir_path(tmpl))
		return -EINVAL;
	jdir = tmp_root();
	if ((r = mkdir_p(jdir, 0700)) < 0 && r != -EEXIST)
		goto out;
	r = -EEXIST;
	for (int tries = 0; tries < 100 && r == -EEXIST; tries++) {
		unsigned char rnd[SUFFIX_LEN];

		arc4random_buf(rnd, sizeof(rnd));
		for (size_t i = 0; i < SUFFIX_LEN; i++)
			tmpl[len - SUFFIX_LEN + i] = chars[rnd[i] % (sizeof(chars) - 1)];
		entry = journal_entry(jdir, tmpl);
		if (symlink(tmpl, entry) < 0) {
			r = -errno;
			free(entry);
			continue;
		}
		if ((r = fsync_dir(jdir)) == 0)
			r = make(tmpl, arg);
		if (r < 0)
			(void)unlink(entry);
		free(entry);
	}
out:
	free(jdir);
	return r;
}

static int
make_dir(const char *path, void *arg)
{
	(void)arg;
	return mkdir(path, 0700) < 0 ? -errno : 0;
}

/* A new file of ours only: never an existing one, never through a symlink. */
static int
make_file(const char *path, void *arg)
{
	int *fd = arg;

	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	return *fd < 0 ? -errno : 0;
}

int
recover_journal_mkdtemp(char *tmpl)
{
	return journal_make(tmpl, make_dir, NULL);
}

int
recover_journal_mkstemp(char *tmpl, int *ret_fd)
{
	*ret_fd = -1;
	return journal_make(tmpl, make_file, ret_fd);
}

int
recover_journal_drop(const char *dir)
{
	char	*jdir = tmp_root(), *entry = journal_entry(jdir, dir);
	int	 r = 0;

	/* No fsync: an entry that comes back after a crash names nothing and is dropped. */
	if (unlink(entry) < 0 && errno != ENOENT)
		r = -errno;
	free(entry);
	free(jdir);
	return r;
}

/*
 * Remove the work directory or temporary file path if it is one of ours: a
 * real directory or regular file (not a symlink) owned by us.  *ret_removed
 * tells whether there was one.  0 or -errno (-EPERM: something else has
 * the name).
 */
static int
remove_workdir(const char *path, bool *ret_removed)
{
	struct stat	st;
	int		r;

	*ret_removed = false;
	if (lstat(path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	if ((!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) || st.st_uid != geteuid())
		return -EPERM;
	if (S_ISREG(st.st_mode))
		r = unlink(path) < 0 ? -errno : 0;
	else
		r = fs_remove_tree(path);
	if (r < 0)
		return r;
	*ret_removed = true;
	return 0;
}

/*
 * One journal entry jdir/name: remove the work directory it names, then the
 * entry.  An entry that is not what recover_journal_mkdtemp() writes is
 * dropped without touching what it points at.  Counts removals in *saves.
 */
static int
recover_journal_entry(const char *jdir, const char *name, unsigned *saves)
{
	char	*path = xasprintf("%s/%s", jdir, name), *want = NULL;
	char	 target[PATH_MAX];
	ssize_t	 n;
	bool	 removed;
	int	 r = 0;

	if ((n = readlink(path, target, sizeof(target) - 1)) < 0) {
		r = -errno;
		log_warnx("recovery: %s is not a journal entry (%s), leaving it",
		    path, strerror(-r));
		goto out;
	}
	target[n] = '\0';
	want = journal_entry(jdir, target);
	if ((size_t)n >= sizeof(target) - 1 || !is_workdir_path(target) ||
	    strcmp(want, path) != 0) {
		/* Not ours: never follow it anywhere. */
		log_warnx("recovery: journal entry %s does not name a save's work "
		    "directory; dropping the entry only", path);
	} else if ((r = remove_workdir(target, &removed)) < 0) {
		log_warnx("recovery: cannot remove %s, left by an interrupted save: "
		    "%s%s", target, strerror(-r), r == -EPERM ?
		    " (not a directory of ours); dropping the journal entry" :
		    "; keeping its journal entry");
		if (r != -EPERM)
			goto out;
	} else if (removed) {
		log_info("recovery: removed %s, left by an interrupted save or "
		    "export", target);
		(*saves)++;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		log_warnx("recovery: cannot drop the journal entry %s: %s", path,
		    strerror(-r));
	}
out:
	free(want);
	free(path);
	return r;
}

/*
 * Call fn(dir, path, name, arg) for every entry of dir but "." and "..";
 * path is dir/name.  A missing dir has nothing to recover.  0 or the last
 * -errno of opendir or fn.
 */
typedef int	scan_fn(const char *dir, const char *path, const char *name,
		    void *arg);

static int
scan_dir(const char *dir, scan_fn *fn, void *arg)
{
	DIR		*d;
	struct dirent	*de;
	int		 r = 0, r2;

	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		log_warnx("recovery: %s: %s", dir, strerror(-r));
		return r;
	}
	while ((de = readdir(d)) != NULL) {
		char *path;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if ((r2 = fn(dir, path, de->d_name, arg)) < 0)
			r = r2;
		free(path);
	}
	closedir(d);
	return r;
}

/* Is path (not followed) a directory / a regular file? */
static bool
is_kind(const char *path, mode_t kind)
{
	struct stat st;

	return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == kind;
}

/*
 * Unlink the regular file path, a temporary a dead writer left; counts it
 * in *removed.  Anything else by that name is left alone.  0 or -errno.
 */
static int
remove_tmp_file(const char *path, unsigned long *removed)
{
	int r;

	if (!is_kind(path, S_IFREG))
		return 0;
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		log_warnx("recovery: cannot remove %s: %s", path, strerror(-r));
		return r;
	}
	log_debug("recovery: removed %s", path);
	(*removed)++;
	return 0;
}

/*
 * <store>/tmp: journal entries (path snapshots' work directories) and the
 * captures of restores that were starting.
 */
static int
tmp_entry(const char *jdir, const char *path, const char *name, void *arg)
{
	int r;

	if (strncmp(name, JOURNAL_PREFIX, strlen(JOURNAL_PREFIX)) == 0)
		return recover_journal_entry(jdir, name, arg);
	if (strncmp(name, RESTORE_PREFIX, strlen(RESTORE_PREFIX)) != 0 ||
	    !is_kind(path, S_IFDIR))
		return 0;
	if ((r = fs_remove_tree(path)) < 0) {
		log_warnx("recovery: cannot remove %s: %s", path, strerror(-r));
		return r;
	}
	log_info("recovery: removed %s, the capture of an interrupted restore", path);
	return 0;
}

/* Work directories of named saves in <state-dir>/snapshots. */
static int
named_entry(const char *dir, const char *path, const char *name, void *arg)
{
	unsigned	*saves = arg;
	bool		 removed;
	int		 r;

	(void)dir;
	/* Only a directory is a save's work directory (an export's partial file is not). */
	if (!is_partial_name(name) || !is_kind(path, S_IFDIR))
		return 0;
	if ((r = remove_workdir(path, &removed)) < 0) {
		log_warnx("recovery: cannot remove %s, left by an interrupted "
		    "save: %s", path, strerror(-r));
		return r;
	}
	if (removed) {
		log_info("recovery: removed %s, left by an interrupted save", path);
		(*saves)++;
	}
	return 0;
}

/* In a chunk directory: ".tmp-*" chunks a dead writer had not yet named. */
static int
chunk_tmp_entry(const char *dir, const char *path, const char *name, void *arg)
{
	(void)dir;
	return strncmp(name, ".tmp-", 5) == 0 ? remove_tmp_file(path, arg) : 0;
}

/* In <store>/chunks: every chunk directory <aa>. */
static int
chunk_dir_entry(const char *dir, const char *path, const char *name, void *arg)
{
	(void)dir;
	return strlen(name) == 2 && name[0] != '.' ?
	    scan_dir(path, chunk_tmp_entry, arg) : 0;
}

/*
 * <store>/chunks/<aa>/.tmp-*: a save names its chunks only once they are
 * all written and synced, so one killed while storing leaves many.  Only a
 * save writes chunks, and only while its work directory exists, so this
 * scan (every chunk directory: not free on a big store) runs only after an
 * interrupted save was found; store.gc removes any others.  One log line
 * for them all: there can be thousands.
 */
static int
recover_chunk_tmps(const char *store)
{
	char		*top = xasprintf("%s/chunks", store);
	unsigned long	 removed = 0;
	int		 r;

	r = scan_dir(top, chunk_dir_entry, &removed);
	if (removed > 0)
		log_info("recovery: removed %lu chunk file(s) an interrupted save "
		    "was writing (%s/*/.tmp-*)", removed, top);
	free(top);
	return r;
}

/* In <store>/packs: a .tmp-* file, or a pack whose index is missing. */
static int
pack_tmp_entry(const char *dir, const char *path, const char *name, void *arg)
{
	size_t	 nl = strlen(name);
	char	*idx;
	bool	 orphan;

	if (strncmp(name, ".tmp-", 5) == 0)
		return remove_tmp_file(path, arg);
	if (nl <= 5 || name[0] == '.' || strcmp(name + nl - 5, ".pack") != 0)
		return 0;
	idx = xasprintf("%s/%.*s.idx", dir, (int)(nl - 5), name);
	orphan = access(idx, F_OK) < 0 && errno == ENOENT;
	free(idx);
	return orphan ? remove_tmp_file(path, arg) : 0;
}

/*
 * <store>/packs: .tmp-* files and packs without an index, left by a save or
 * an import that died before its commit point (the index's rename).  One
 * directory, so it is scanned at every start: an import leaves no work
 * directory behind for the journal scan to count.
 */
static int
recover_pack_tmps(const char *store)
{
	char		*dir = xasprintf("%s/packs", store);
	unsigned long	 removed = 0;
	int		 r;

	r = scan_dir(dir, pack_tmp_entry, &removed);
	if (removed > 0) {
		log_info("recovery: removed %lu uncommitted pack file(s) an "
		    "interrupted save or import was writing (%s)", removed, dir);
		if (fsync_dir(dir) < 0)
			log_warnx("recovery: cannot fsync %s", dir);
	}
	free(dir);
	return r;
}

/* In <store>/kernels: .<build-id>.tmp-*, a kernel binary being materialised. */
static int
kernel_tmp_entry(const char *dir, const char *path, const char *name, void *arg)
{
	unsigned long	removed = 0;
	int		r;

	(void)dir;
	(void)arg;
	if (name[0] != '.' || strstr(name, ".tmp-") == NULL)
		return 0;
	if ((r = remove_tmp_file(path, &removed)) == 0 && removed > 0)
		log_info("recovery: removed %s, a kernel binary an interrupted "
		    "restore was materialising", path);
	return r;
}

static int
recover_kernel_tmps(const char *store)
{
	char	*dir = xasprintf("%s/kernels", store);
	int	 r = scan_dir(dir, kernel_tmp_entry, NULL);

	free(dir);
	return r;
}

/*
 * Take <state-dir>/lock for the rest of the process's life.  0, -EWOULDBLOCK
 * if another daemon holds it, or another -errno.
 */
static int
recover_lock(void)
{
	char	*path;
	int	 fd, r;

	if (lock_fd >= 0)
		return 0;
	path = xasprintf("%s/lock", daemon_config.state_dir);
	/* O_CLOEXEC: a UML we start must never hold the lock after we die. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		r = -errno;
		log_warnx("recovery: %s: %s", path, strerror(-r));
		free(path);
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (r == -EWOULDBLOCK)
			log_warnx("recovery: another sbumld holds %s: not cleaning up "
			    "the state directory (its saves and restores may be "
			    "running)", path);
		else
			log_warnx("recovery: cannot lock %s: %s", path, strerror(-r));
		close(fd);
		free(path);
		return r;
	}
	free(path);
	lock_fd = fd;
	return 0;
}

/*
 * A restore killed before its kernel started leaves a machine that never
 * ran, its disks possibly half written (MACHINE_RESTORING_FILE marks it):
 * remove it.  A live one got as far as starting its kernel: only the mark goes.
 */
static int
recover_restores(void)
{
	struct machine	**ms;
	size_t		  n;
	int		  r = 0;

	ms = machine_list(&n);
	for (size_t i = 0; i < n; i++) {
		char	*mark = xasprintf("%s/%s", machine_dir(ms[i]),
		    MACHINE_RESTORING_FILE), err[512], *name;
		int	 q;

		if (access(mark, F_OK) == 0) {
			if (machine_state_is_live(machine_state(ms[i]))) {
				(void)unlink(mark);
			} else {
				name = xstrdup(machine_name(ms[i]));
				if ((q = machine_delete(ms[i], err, sizeof(err))) < 0) {
					log_warnx("recovery: cannot remove %s, half "
					    "restored: %s", name, err);
					r = q;
				} else
					log_info("recovery: removed machine %s, whose "
					    "restore was interrupted before it ran", name);
				free(name);
			}
		}
		free(mark);
	}
	free(ms);
	return r;
}

int
recover_run(void)
{
	char		*store, *dir;
	unsigned	 saves = 0;
	int		 r, r2;

	if ((r = recover_lock()) < 0)
		return r;
	store = snapshot_store_root();
	dir = tmp_root();
	r = scan_dir(dir, tmp_entry, &saves);
	free(dir);
	dir = snapshot_named_root();
	if ((r2 = scan_dir(dir, named_entry, &saves)) < 0)
		r = r2;
	free(dir);
	if (saves > 0 && (r2 = recover_chunk_tmps(store)) < 0)
		r = r2;
	if ((r2 = recover_pack_tmps(store)) < 0)
		r = r2;
	if ((r2 = recover_kernel_tmps(store)) < 0)
		r = r2;
	if ((r2 = recover_restores()) < 0)
		r = r2;
	if (saves > 0)
		log_info("recovery: %u interrupted save(s) cleaned up; chunks they "
		    "had named, if any, go with the next store.gc", saves);
	free(store);
	return r;
}
