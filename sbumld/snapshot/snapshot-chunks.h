/* SPDX-License-Identifier: MIT */
/*
 * The chunks a format 2 snapshot uses, as its manifest lists them: in its
 * files' entries and its kernel binary's (doc/snapshot-format.md).  The
 * chunk store knows entries, not manifests: these walkers are how gc,
 * usage, export, import and verify learn a snapshot's chunks.
 */
#ifndef SBUMLD_SNAPSHOT_CHUNKS_H
#define SBUMLD_SNAPSHOT_CHUNKS_H

#include <stddef.h>
#include <json-c/json.h>

#include "store.h"

/*
 * Visit every data chunk of a manifest, its files' and its kernel's, with
 * its uncompressed length (never walking past a file's end).  The number
 * of chunks visited, or -EBADMSG for a malformed chunk list.
 */
int	snapshot_manifest_chunks(struct json_object *manifest,
	    void (*fn)(const char *hex, size_t len, void *arg), void *arg);
/* As snapshot_manifest_chunks, with the hash only. */
int	snapshot_manifest_hashes(struct json_object *manifest, store_hash_fn fn,
	    void *arg);
/*
 * Call fn(name, entry, arg, err, errlen) for every file entry of a
 * manifest (its "path" names it) and for its kernel binary's if that has
 * chunks ("the kernel binary"), stopping at the first failure.  0, fn's
 * error, or -EBADMSG (a file without a string "path") with err.
 */
int	snapshot_manifest_entries(struct json_object *man,
	    int (*fn)(const char *name, struct json_object *entry, void *arg,
	    char *err, size_t errlen), void *arg, char *err, size_t errlen);
/*
 * store_check_chunks for every file of a (validated) format 2 manifest and
 * its kernel binary, each distinct chunk once (import, snapshot.verify).
 * 0, -EBADMSG with err.
 */
int	snapshot_manifest_check_chunks(struct store *s, struct json_object *man,
	    char *err, size_t errlen);
/*
 * The store's walker (store_snapshot_walk_fn) for store_gc and
 * store_usage: read dir/manifest.json and visit its hashes.  0, -ENOENT
 * (no manifest), -EBADMSG or another -errno, with err.
 */
int	snapshot_dir_hashes(const char *dir, store_hash_fn fn, void *arg,
	    char *err, size_t errlen);

#endif
