/* SPDX-License-Identifier: MIT */
/*
 * Snapshots: a directory holding manifest.json and the capture the patched
 * kernel wrote (doc/snapshot-format.md).  This header is the interface of
 * snapshot.c (names, manifests, work directories); each job has its own
 * (snapshot-save.h, snapshot-restore.h, snapshot-transfer.h,
 * snapshot-query.h, snapshot-delete.h; snapshot-job.h for what they share).
 */
#ifndef SBUMLD_SNAPSHOT_H
#define SBUMLD_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#define SNAPSHOT_FORMAT		"sbuml-snapshot"
#define SNAPSHOT_VERSION	2	/* chunks in the per-host store */
#define SNAPSHOT_VERSION_RAW	1	/* capture/ files in the directory */
#define SNAPSHOT_MANIFEST	"manifest.json"
#define SNAPSHOT_CAPTURE	"capture"	/* what the kernel wrote */
#define SNAPSHOT_NAME_MAX	64
#define SNAPSHOT_PATH_MAX	200
/* The manifest's capture.fallback, at most (the kernel's is one word). */
#define SNAPSHOT_CAPTURE_FALLBACK_MAX	256
/* A save may take this long (physmem copy and writer included). */
#define SNAPSHOT_SAVE_TIMEOUT_MS	(10 * 60 * 1000)
#define SNAPSHOT_PROGRESS_MS		250

/*
 * Check a snapshot name or path (same rules as machine names, doc/rpc.md) and
 * compute its directory: <state-dir>/snapshots/<name>, or the path itself.
 * 0 and *ret_dir (caller frees), or -EINVAL with a message in err.
 */
int	snapshot_resolve(const char *name, char **ret_dir, char *err, size_t errlen);
/*
 * Pick a fresh directory "<prefix>-<unique>" for the classic sbumlsave
 * (prefix is a name or an absolute path).  0 and *ret_name (the name to give
 * back: "<prefix>-<unique>") and *ret_dir, or -errno with a message in err.
 */
int	snapshot_unique_name(const char *prefix, char **ret_name, char **ret_dir,
	    char *err, size_t errlen);
/*
 * Read and check dir/manifest.json: format, version 1 or 2, and that every
 * file it lists exists with its size (version 1) or has a well-formed chunk
 * list whose chunks are all in the store (version 2).  0 and *ret (caller owns), or -errno with a
 * message in err (-ENOENT: no snapshot there; -EBADMSG: incomplete or corrupt).
 */
int	snapshot_manifest_load(const char *dir, struct json_object **ret,
	    char *err, size_t errlen);
/*
 * The same, also handing over the file's bytes as read (*ret_text, caller
 * frees; ret_text may be NULL): what a manifest's id is computed from.
 */
int	snapshot_manifest_read(const char *dir, struct json_object **ret,
	    char **ret_text, size_t *ret_len, char *err, size_t errlen);
/* <state-dir>/store, the per-host chunk store (caller frees). */
char	*snapshot_store_root(void);
/* <state-dir>/snapshots, where named snapshots live (caller frees). */
char	*snapshot_named_root(void);
/* String member key of o, or NULL (missing, or not a string). */
const char *snapshot_json_str(struct json_object *o, const char *key);
/* The manifest's format version (1 or 2; manifest already loaded). */
int	snapshot_manifest_version(struct json_object *manifest);
/* The snapshot object of doc/rpc.md for the snapshot in dir (caller owns), or NULL. */
struct json_object *snapshot_to_json(const char *name, const char *dir,
	    struct json_object *manifest);

/*
 * A snapshot appears atomically: it is built in a hidden work directory
 * ".<name>.partial-XXXXXX" beside its final place, then committed.
 * snapshot_workdir_make creates one for dir, journaled for start-up
 * recovery when dir is a path snapshot (recover.h) (0 and *ret_tmp, caller
 * frees; or -errno with a message in err).  snapshot_workdir_remove removes
 * a work directory that will not be committed (0 or -errno).
 * snapshot_workdir_commit writes the manifest text into tmp (tmp, fsync,
 * rename), registers dir with the chunk store if chunked, and renames tmp
 * to dir, never replacing anything (-EEXIST), then fsyncs the parent.  0 or
 * -errno with a message in err.
 */
int	snapshot_workdir_make(const char *dir, char **ret_tmp, char *err,
	    size_t errlen);
int	snapshot_workdir_remove(const char *tmp);
int	snapshot_workdir_commit(const char *tmp, const char *dir,
	    const char *manifest, size_t len, bool chunked, char *err, size_t errlen);

#endif
