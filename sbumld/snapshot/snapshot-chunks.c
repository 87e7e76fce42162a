/* SPDX-License-Identifier: MIT */
/* Walking a manifest's chunk lists (snapshot-chunks.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "snapshot-chunks.h"
#include "util.h"

/* The same bound as the manifest's loader's. */
#define CHUNKS_MANIFEST_MAX	(64 * 1024 * 1024)

/* Chunks a file of size bytes has. */
static uint64_t
chunk_count(int64_t size)
{
	return ((uint64_t)size + STORE_CHUNK_SIZE - 1) / STORE_CHUNK_SIZE;
}

/* Visit the data chunks of one file entry with their lengths.  n or -EBADMSG. */
static int
entry_chunks(struct json_object *entry,
    void (*fn)(const char *hex, size_t len, void *arg), void *arg)
{
	struct json_object	*list, *jsize;
	int64_t			 size = INT64_MAX;
	uint64_t		 idx = 0;
	int			 n = 0;

	if (!json_object_object_get_ex(entry, "chunks", &list) ||
	    !json_object_is_type(list, json_type_array))
		return 0;
	if (json_object_object_get_ex(entry, "size", &jsize) &&
	    json_object_is_type(jsize, json_type_int))
		size = json_object_get_int64(jsize);
	if (size < 0)
		return -EBADMSG;
	for (size_t j = 0; j < json_object_array_length(list); j++) {
		struct json_object	*c = json_object_array_get_idx(list, j);
		uint64_t		 off = idx * STORE_CHUNK_SIZE;
		int64_t			 run;

		if (json_object_is_type(c, json_type_int)) {
			/* Never past the file's end: a wrapped offset would give a huge length. */
			run = json_object_get_int64(c);
			if (run <= 0 || (uint64_t)run > chunk_count(size) - idx)
				return -EBADMSG;
			idx += (uint64_t)run;
			continue;
		}
		if (!json_object_is_type(c, json_type_string) ||
		    !store_valid_hex(json_object_get_string(c)) ||
		    idx >= chunk_count(size))
			return -EBADMSG;
		fn(json_object_get_string(c), size - (int64_t)off < STORE_CHUNK_SIZE ?
		    (size_t)(size - (int64_t)off) : STORE_CHUNK_SIZE, arg);
		idx++;
		n++;
	}
	return n;
}

int
snapshot_manifest_chunks(struct json_object *man,
    void (*fn)(const char *hex, size_t len, void *arg), void *arg)
{
	struct json_object	*files, *k;
	int			 n = 0, r;

	if (json_object_object_get_ex(man, "files", &files) &&
	    json_object_is_type(files, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(files); i++) {
			r = entry_chunks(json_object_array_get_idx(files, i), fn, arg);
			if (r < 0)
				return r;
			n += r;
		}
	}
	if (json_object_object_get_ex(man, "kernel", &k)) {
		if ((r = entry_chunks(k, fn, arg)) < 0)
			return r;
		n += r;
	}
	return n;
}

struct hashes_arg {
	store_hash_fn	 fn;
	void		*arg;
};

static void
hashes_adapter(const char *hex, size_t len, void *arg)
{
	struct hashes_arg *h = arg;

	(void)len;
	h->fn(hex, h->arg);
}

int
snapshot_manifest_hashes(struct json_object *man, store_hash_fn fn, void *arg)
{
	struct hashes_arg h = { fn, arg };

	return snapshot_manifest_chunks(man, hashes_adapter, &h);
}

int
snapshot_manifest_entries(struct json_object *man,
    int (*fn)(const char *name, struct json_object *entry, void *arg,
    char *err, size_t errlen), void *arg, char *err, size_t errlen)
{
	struct json_object	*files, *f, *v;
	int			 r = 0;

	if (json_object_object_get_ex(man, "files", &files) &&
	    json_object_is_type(files, json_type_array))
		for (size_t i = 0; r == 0 && i < json_object_array_length(files); i++) {
			f = json_object_array_get_idx(files, i);
			if (!json_object_object_get_ex(f, "path", &v) ||
			    !json_object_is_type(v, json_type_string)) {
				snprintf(err, errlen, "manifest: files[%zu].\"path\" "
				    "must be a string", i);
				r = -EBADMSG;
			} else
				r = fn(json_object_get_string(v), f, arg, err, errlen);
		}
	if (r == 0 && json_object_object_get_ex(man, "kernel", &f) &&
	    json_object_object_get_ex(f, "chunks", &v))
		r = fn("the kernel binary", f, arg, err, errlen);
	return r;
}

/* A manifest's chunks being checked: the store, the chunks checked so far. */
struct check_chunks {
	struct store		*s;
	struct store_hashset	*checked;
};

static int
check_entry_chunks(const char *name, struct json_object *entry, void *arg,
    char *err, size_t errlen)
{
	struct check_chunks *cc = arg;

	return store_check_chunks(cc->s, name, entry, cc->checked, err, errlen);
}

int
snapshot_manifest_check_chunks(struct store *s, struct json_object *man,
    char *err, size_t errlen)
{
	struct check_chunks	cc = { s, store_hashset_new() };
	int			r;

	r = snapshot_manifest_entries(man, check_entry_chunks, &cc, err, errlen);
	store_hashset_free(cc.checked);
	return r;
}

/* Read and parse dir/manifest.json.  0, -ENOENT (no manifest), -EBADMSG. */
static int
load_manifest(const char *dir, struct json_object **ret)
{
	char			*path, *buf = NULL;
	struct json_object	*m;
	size_t			 len;
	int			 r;

	path = xasprintf("%s/%s", dir, SNAPSHOT_MANIFEST);
	r = read_file(path, CHUNKS_MANIFEST_MAX, &buf, &len);
	free(path);
	if (r < 0)
		return r;
	m = json_tokener_parse(buf);
	free(buf);
	if (m == NULL || !json_object_is_type(m, json_type_object)) {
		json_object_put(m);
		return -EBADMSG;
	}
	*ret = m;
	return 0;
}

int
snapshot_dir_hashes(const char *dir, store_hash_fn fn, void *arg, char *err,
    size_t errlen)
{
	struct json_object	*man;
	int			 r;

	if ((r = load_manifest(dir, &man)) < 0) {
		snprintf(err, errlen, "%s/manifest.json cannot be read (%s): not "
		    "collecting garbage while a snapshot's chunks are unknown",
		    dir, strerror(-r));
		return r;
	}
	r = snapshot_manifest_hashes(man, fn, arg);
	json_object_put(man);
	if (r < 0) {
		snprintf(err, errlen, "%s/manifest.json has a malformed chunk list", dir);
		return r;
	}
	return 0;
}
