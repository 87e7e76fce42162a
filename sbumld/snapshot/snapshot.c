/* SPDX-License-Identifier: MIT */
/*
 * Snapshot names, directories and manifests.  A snapshot is a plain
 * directory: manifest.json plus capture/ (what the patched kernel wrote),
 * so du, tar and cp -a work on it.  The manifest lists every captured file
 * with its size: a snapshot that lacks one, or whose file has the wrong
 * size, is incomplete and is never restored.  Format 2 keeps the captured
 * files as chunks in the per-host store (store.c) and lists, per file, its
 * size, hash and chunks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "fsutil.h"
#include "machine.h"
#include "recover.h"
#include "snapshot.h"
#include "snapshot-chunks.h"
#include "snapshot-check.h"
#include "store.h"
#include "util.h"

#define SNAPSHOT_MANIFEST_MAX	(64 * 1024 * 1024)

char *
snapshot_store_root(void)
{
	return xasprintf("%s/store", daemon_config.state_dir);
}

char *
snapshot_named_root(void)
{
	return xasprintf("%s/snapshots", daemon_config.state_dir);
}

/* Get string member key of o, or NULL. */
const char *
snapshot_json_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int
snapshot_manifest_version(struct json_object *manifest)
{
	struct json_object *v;

	return json_object_object_get_ex(manifest, "version", &v) &&
	    json_object_is_type(v, json_type_int) ? json_object_get_int(v) : 0;
}

int
snapshot_resolve(const char *name, char **ret_dir, char *err, size_t errlen)
{
	char	*mdir = NULL;
	bool	 is_path;
	int	 r;

	/* Machine and snapshot names follow one set of rules (doc/rpc.md). */
	if ((r = machine_name_resolve(name, &mdir, &is_path, err, errlen)) < 0)
		return r;
	free(mdir);
	if (is_path) {
		if (strlen(name) > SNAPSHOT_PATH_MAX) {
			snprintf(err, errlen, "snapshot path is longer than %d bytes",
			    SNAPSHOT_PATH_MAX);
			return -EINVAL;
		}
		*ret_dir = xstrdup(name);
	} else
		*ret_dir = xasprintf("%s/snapshots/%s", daemon_config.state_dir, name);
	return 0;
}

int
snapshot_unique_name(const char *prefix, char **ret_name, char **ret_dir,
    char *err, size_t errlen)
{
	char		 stamp[32];
	struct tm	 tm;
	time_t		 now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	/* A random tail keeps two saves in the same second apart. */
	for (int tries = 0; tries < 16; tries++) {
		char		*name, *dir;
		struct stat	 st;
		int		 r;

		name = xasprintf("%s-%s-%04x", prefix, stamp,
		    (unsigned int)(arc4random() & 0xffff));
		if ((r = snapshot_resolve(name, &dir, err, errlen)) < 0) {
			free(name);
			return r;
		}
		if (lstat(dir, &st) < 0 && errno == ENOENT) {
			*ret_name = name;
			*ret_dir = dir;
			return 0;
		}
		free(name);
		free(dir);
	}
	snprintf(err, errlen, "%s: no free unique name", prefix);
	return -EEXIST;
}

/* Check one (validated) format 1 "files" entry against the directory. */
static int
check_file_entry(const char *dir, struct json_object *entry, char *err,
    size_t errlen)
{
	struct json_object	*jpath, *jsize;
	const char		*rel;
	char			 path[PATH_MAX];
	struct stat		 st;

	json_object_object_get_ex(entry, "path", &jpath);
	json_object_object_get_ex(entry, "size", &jsize);
	rel = json_object_get_string(jpath);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (lstat(path, &st) < 0) {
		snprintf(err, errlen, "%s is missing: the snapshot is incomplete", rel);
		return -EBADMSG;
	}
	if (!S_ISREG(st.st_mode) || st.st_size != json_object_get_int64(jsize)) {
		snprintf(err, errlen, "%s has %lld bytes, the manifest says %lld: "
		    "the snapshot is truncated or corrupted", rel,
		    (long long)st.st_size, (long long)json_object_get_int64(jsize));
		return -EBADMSG;
	}
	return 0;
}

/* Check that every chunk of one entry is in the store (arg). */
static int
entry_chunks_present(const char *name, struct json_object *entry, void *arg,
    char *err, size_t errlen)
{
	return store_check_entry(arg, name, entry, true, err, errlen);
}

/*
 * Check that every chunk a (validated) format 2 manifest's files and
 * kernel name is in the store (its content is checked by snapshot.verify
 * and by restore).
 */
static int
check_chunked(struct json_object *m, char *err, size_t errlen)
{
	struct store	*s;
	char		*root = snapshot_store_root();
	int		 r;

	s = store_open(root, err, errlen);
	free(root);
	if (s == NULL)
		return -EIO;
	r = snapshot_manifest_entries(m, entry_chunks_present, s, err, errlen);
	store_free(s);
	return r;
}

/* The manifest text of dir (len bytes) is sound.  0 and *ret, or -errno (err). */
static int
manifest_check(const char *dir, const char *text, size_t len,
    struct json_object **ret, char *err, size_t errlen)
{
	struct json_object	*m, *files;
	char			 why[1024];
	int			 r;

	if ((r = snapshot_manifest_parse(text, len, &m, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "%s: %s", dir, why);
		return r;
	}
	if (snapshot_manifest_version(m) == SNAPSHOT_VERSION)
		r = check_chunked(m, err, errlen);
	else {
		json_object_object_get_ex(m, "files", &files);
		for (size_t i = 0; r == 0 && i < json_object_array_length(files); i++)
			r = check_file_entry(dir, json_object_array_get_idx(files, i),
			    err, errlen);
	}
	if (r < 0) {
		json_object_put(m);
		return r;
	}
	*ret = m;
	return 0;
}

int
snapshot_manifest_read(const char *dir, struct json_object **ret,
    char **ret_text, size_t *ret_len, char *err, size_t errlen)
{
	char			*path, *buf = NULL;
	struct json_object	*m;
	size_t			 len;
	int			 r;

	path = xasprintf("%s/%s", dir, SNAPSHOT_MANIFEST);
	r = read_file(path, SNAPSHOT_MANIFEST_MAX, &buf, &len);
	free(path);
	if (r == -ENOENT) {
		struct stat st;

		if (stat(dir, &st) < 0)
			snprintf(err, errlen, "%s: no such snapshot", dir);
		else
			snprintf(err, errlen, "%s: no manifest.json: not a snapshot, "
			    "or an incomplete one", dir);
		return stat(dir, &st) < 0 ? -ENOENT : -EBADMSG;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s/manifest.json: %s", dir, strerror(-r));
		return r;
	}
	if ((r = manifest_check(dir, buf, len, &m, err, errlen)) < 0) {
		free(buf);
		return r;
	}
	*ret = m;
	if (ret_text != NULL) {
		*ret_text = buf;
		*ret_len = len;
	} else
		free(buf);
	return 0;
}

int
snapshot_manifest_load(const char *dir, struct json_object **ret, char *err,
    size_t errlen)
{
	return snapshot_manifest_read(dir, ret, NULL, NULL, err, errlen);
}

struct json_object *
snapshot_to_json(const char *name, const char *dir, struct json_object *manifest)
{
	struct json_object	*o = json_object_new_object(), *v;
	uint64_t		 usage = 0;
	static const char	*copied[] = { "version", "created", "machine",
				    "state", "timings", "sizes", "store", "host",
				    "capture" };

	json_object_object_add(o, "snapshot", json_object_new_string(name));
	json_object_object_add(o, "path", json_object_new_string(dir));
	for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
		if (json_object_object_get_ex(manifest, copied[i], &v))
			json_object_object_add(o, copied[i], json_object_get(v));
	/* The kernel without its chunk list: which build, how big. */
	if (json_object_object_get_ex(manifest, "kernel", &v) &&
	    json_object_is_type(v, json_type_object)) {
		struct json_object *k = json_object_new_object();

		json_object_object_foreach(v, key, val)
			if (strcmp(key, "chunks") != 0 && strcmp(key, "sha256") != 0)
				json_object_object_add(k, key, json_object_get(val));
		json_object_object_add(o, "kernel", k);
	}
	if (fs_tree_usage(dir, &usage) == 0)
		json_object_object_add(o, "disk_usage", json_object_new_int64((int64_t)usage));
	return o;
}

int
snapshot_workdir_make(const char *dir, char **ret_tmp, char *err, size_t errlen)
{
	char	*d = xstrdup(dir), *b = xstrdup(dir), *tmpl, *parent, *named;
	int	 r = 0;

	parent = dirname(d);
	tmpl = xasprintf("%s/.%s.partial-XXXXXX", parent, basename(b));
	if ((r = mkdir_p(parent, 0700)) < 0 && r != -EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", parent, strerror(-r));
		goto out;
	}
	/*
	 * Start-up recovery finds named snapshots' work directories by
	 * scanning <state-dir>/snapshots; a path snapshot's is journaled first.
	 */
	named = snapshot_named_root();
	if (strcmp(parent, named) == 0)
		r = mkdtemp(tmpl) == NULL ? -errno : 0;
	else
		r = recover_journal_mkdtemp(tmpl);
	free(named);
	if (r < 0) {
		snprintf(err, errlen, "cannot create a directory beside %s: %s",
		    dir, strerror(-r));
		goto out;
	}
	*ret_tmp = tmpl;
	tmpl = NULL;
out:
	free(tmpl);
	free(d);
	free(b);
	return r;
}

int
snapshot_workdir_remove(const char *tmp)
{
	int r;

	/* Keep the journal entry while the directory is there: the next start retries. */
	if ((r = fs_remove_tree(tmp)) == 0)
		(void)recover_journal_drop(tmp);
	return r;
}

int
snapshot_workdir_commit(const char *tmp, const char *dir, const char *manifest,
    size_t len, bool chunked, char *err, size_t errlen)
{
	char	*path, *parent;
	int	 r;

	path = xasprintf("%s/%s", tmp, SNAPSHOT_MANIFEST);
	r = write_file_atomic(path, manifest, len, 0600);
	free(path);
	if (r < 0) {
		snprintf(err, errlen, "cannot write the manifest: %s", strerror(-r));
		return r;
	}
	/*
	 * Registered with the store before the rename: a crash between the two
	 * leaves a reference to a directory that does not exist, which
	 * store_gc() drops, never a snapshot whose chunks are unprotected.
	 */
	if (chunked) {
		char		*root = snapshot_store_root();
		struct store	*st = store_open(root, err, errlen);

		free(root);
		if (st == NULL)
			return -EIO;
		r = store_ref_add(st, dir);
		store_free(st);
		if (r < 0) {
			snprintf(err, errlen, "cannot register the snapshot with the "
			    "chunk store: %s", strerror(-r));
			return r;
		}
	}
	/* Never replace: another snapshot may have taken the name meanwhile. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) < 0) {
		r = -errno;
		if (r == -EEXIST)
			snprintf(err, errlen, "%s exists already", dir);
		else
			snprintf(err, errlen, "cannot move the snapshot into %s: %s",
			    dir, strerror(-r));
		return r;
	}
	parent = xstrdup(dir);
	(void)fsync_dir(dirname(parent));
	free(parent);
	/* The work directory is gone (renamed): forget it (a stale entry is harmless). */
	(void)recover_journal_drop(tmp);
	return 0;
}
