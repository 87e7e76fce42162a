/* SPDX-License-Identifier: MIT */
/*
 * Garbage collection of the chunk store and what deleting a snapshot would
 * free (store.h): mark every chunk the registered snapshots use (the
 * caller's walker knows what a snapshot is; the store does not), then
 * sweep loose chunk files and packs (a dead pack is deleted, a partly dead
 * one rewritten with its live chunks).  The store's layout is in
 * store-int.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store-int.h"
#include "util.h"

/* --- The mark set: the digests in use, each with the snapshots using it. --- */

struct mark {
	unsigned char	hash[STORE_HASH_LEN];	/* first: the hash set's key */
	uint32_t	count;		/* snapshots using it */
	uint32_t	gen;		/* last snapshot that counted it */
};

struct markset {
	struct hashset	 set;		/* of struct mark */
	uint32_t	 gen;		/* the snapshot being added */
};

static void
markset_init(struct markset *ms, uint32_t gen)
{
	hashset_init(&ms->set, sizeof(struct mark));
	ms->gen = gen;
}

/* Count hex once per snapshot (ms->gen); a store_hash_fn. */
static void
mark_add(const char *hex, void *arg)
{
	struct markset	*ms = arg;
	unsigned char	 hash[STORE_HASH_LEN];
	struct mark	*m;

	store_from_hex(hex, hash);
	m = hashset_put(&ms->set, hash, NULL);
	if (m->count != 0 && m->gen == ms->gen)
		return;
	m->count++;
	m->gen = ms->gen;
}

/* The mark for hex, or NULL. */
static struct mark *
mark_find(struct markset *ms, const char *hex)
{
	unsigned char hash[STORE_HASH_LEN];

	if (!store_valid_hex(hex))
		return NULL;
	store_from_hex(hex, hash);
	return hashset_get(&ms->set, hash);
}

/* Canonical roots seen so far, so a snapshot counts once. */
struct roots {
	char	**dirs;
	size_t	  n;
};

/* Add the chunks of the snapshot in dir to ms unless dir is skip or was seen.  0 or -errno. */
static int
mark_dir(struct markset *ms, struct roots *seen, store_snapshot_walk_fn walk,
    const char *dir, const char *skip, bool must, char *err, size_t errlen)
{
	char	*real = realpath(dir, NULL);
	int	 r;

	if (real == NULL)
		return must ? -errno : 0;
	if (skip != NULL && strcmp(real, skip) == 0) {
		free(real);
		return 0;
	}
	for (size_t i = 0; i < seen->n; i++)
		if (strcmp(seen->dirs[i], real) == 0) {
			free(real);
			return 0;
		}
	ms->gen++;
	r = walk(real, mark_add, ms, err, errlen);
	if (r == -ENOENT && !must) {
		free(real);
		return 0;
	}
	if (r < 0) {
		free(real);
		return r;
	}
	seen->dirs = xrealloc(seen->dirs, (seen->n + 1) * sizeof(char *));
	seen->dirs[seen->n++] = real;
	return 0;
}

/*
 * Mark every root: registered refs (dropping those whose directory is gone
 * if prune) and the snapshot directories in snapdirs; skip is a canonical
 * directory not to count.  0 or -errno with err.
 */
static int
mark_roots(struct store *s, const char *snapdirs, store_snapshot_walk_fn walk,
    const char *skip, bool prune, struct markset *ms, char *err, size_t errlen)
{
	struct roots	 seen = { NULL, 0 };
	char		*refs = xasprintf("%s/refs", s->root);
	DIR		*d;
	struct dirent	*de;
	int		 r = 0;

	if ((d = opendir(refs)) == NULL) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", refs, strerror(-r));
		goto out;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		char	*link, target[PATH_MAX];
		ssize_t	 n;

		if (de->d_name[0] == '.')
			continue;
		link = xasprintf("%s/%s", refs, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (access(target, F_OK) < 0 && errno == ENOENT) {
				/* The snapshot was removed (rm -r): a stale ref. */
				if (prune)
					(void)unlink(link);
			} else
				r = mark_dir(ms, &seen, walk, target, skip, true, err,
				    errlen);
		}
		free(link);
	}
	closedir(d);
	if (r == 0 && snapdirs != NULL && (d = opendir(snapdirs)) != NULL) {
		while (r == 0 && (de = readdir(d)) != NULL) {
			char *dir;

			if (de->d_name[0] == '.')
				continue;
			dir = xasprintf("%s/%s", snapdirs, de->d_name);
			r = mark_dir(ms, &seen, walk, dir, skip, false, err, errlen);
			free(dir);
		}
		closedir(d);
	}
out:
	for (size_t i = 0; i < seen.n; i++)
		free(seen.dirs[i]);
	free(seen.dirs);
	free(refs);
	return r;
}

/* Sum the chunk sizes of the hashes only this snapshot uses. */
struct usage {
	struct store	*s;
	struct markset	*others;
	struct markset	 own;
	uint64_t	 stored, freeable;
};

static void
usage_add(const char *hex, void *arg)
{
	struct usage	*u = arg;
	struct mark	*m = mark_find(&u->own, hex);
	int64_t		 bytes;

	if (m != NULL)
		return;		/* counted already */
	mark_add(hex, &u->own);
	if ((bytes = store_chunk_bytes(u->s, hex)) < 0)
		return;
	u->stored += (uint64_t)bytes;
	if (mark_find(u->others, hex) == NULL)
		u->freeable += (uint64_t)bytes;
}

int
store_usage(struct store *s, const char *snapdirs, const char *dir,
    store_snapshot_walk_fn walk, uint64_t *ret_stored, uint64_t *ret_freeable,
    char *err, size_t errlen)
{
	struct markset	 others;
	struct usage	 u = { .s = s, .others = &others };
	char		*real = realpath(dir, NULL);
	int		 r;

	markset_init(&others, 0);
	markset_init(&u.own, 1);
	r = mark_roots(s, snapdirs, walk, real ? real : dir, false, &others, err,
	    errlen);
	if (r == 0)
		r = walk(real ? real : dir, usage_add, &u, err, errlen);
	if (r == 0) {
		*ret_stored = u.stored;
		*ret_freeable = u.freeable;
	}
	hashset_clear(&others.set);
	hashset_clear(&u.own.set);
	free(real);
	return r;
}

/* Sweep the loose chunk files of an older store.  Adds to *chunks, *bytes. */
static void
sweep_loose(struct store *s, struct markset *ms, uint64_t *chunks, uint64_t *bytes)
{
	char		*top = xasprintf("%s/chunks", s->root);
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(top)) == NULL) {
		free(top);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char		*sub;
		DIR		*sd;
		struct dirent	*ce;
		bool		 removed = false;

		if (de->d_name[0] == '.' || strlen(de->d_name) != 2)
			continue;
		sub = xasprintf("%s/%s", top, de->d_name);
		if ((sd = opendir(sub)) == NULL) {
			free(sub);
			continue;
		}
		while ((ce = readdir(sd)) != NULL) {
			char		 hex[STORE_HEX_LEN + 1], *path;
			size_t		 nl = strlen(ce->d_name);
			struct stat	 sb;

			if (strncmp(ce->d_name, ".tmp-", 5) == 0) {
				/* Left by a writer that died: no writer runs now. */
				path = xasprintf("%s/%s", sub, ce->d_name);
				(void)unlink(path);
				free(path);
				continue;
			}
			if (nl != STORE_HEX_LEN + 4 || strcmp(ce->d_name + STORE_HEX_LEN, ".zst") != 0)
				continue;
			memcpy(hex, ce->d_name, STORE_HEX_LEN);
			hex[STORE_HEX_LEN] = '\0';
			if (!store_valid_hex(hex) || mark_find(ms, hex) != NULL)
				continue;
			path = xasprintf("%s/%s", sub, ce->d_name);
			if (lstat(path, &sb) == 0 && unlink(path) == 0) {
				(*chunks)++;
				*bytes += (uint64_t)sb.st_size;
				removed = true;
			}
			free(path);
		}
		closedir(sd);
		if (removed)
			(void)fsync_dir(sub);
		free(sub);
	}
	closedir(d);
	free(top);
}

/*
 * Remove what no committed pack is: .tmp- files and packs without an index
 * (a writer died before its commit point; none runs now).
 */
static void
sweep_pack_garbage(struct store *s)
{
	DIR		*d;
	struct dirent	*de;
	bool		 removed = false;

	if ((d = opendir(s->packdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char		*path = NULL, *idx;
		struct stat	 sb;

		if (strncmp(de->d_name, ".tmp-", 5) == 0)
			path = xasprintf("%s/%s", s->packdir, de->d_name);
		else if (store_pack_name(de->d_name, ".pack")) {
			idx = xasprintf("%s/%.*s.idx", s->packdir, PACK_ID_LEN, de->d_name);
			if (lstat(idx, &sb) < 0 && errno == ENOENT)
				path = xasprintf("%s/%s", s->packdir, de->d_name);
			free(idx);
		}
		if (path != NULL && unlink(path) == 0)
			removed = true;
		free(path);
	}
	closedir(d);
	if (removed)
		(void)fsync_dir(s->packdir);
}

/*
 * Is entry i of pack no live?  Marked, and the copy the index resolves its
 * hash to (two saves that ran at once may both have stored a chunk: one
 * copy is kept).
 */
static bool
live_entry(struct store *s, struct markset *ms, int32_t no, size_t i)
{
	const struct loc	*e = &s->packs[no].ents[i], *l;
	char			 hex[STORE_HEX_LEN + 1];

	store_to_hex(e->hash, STORE_HASH_LEN, hex);
	if (mark_find(ms, hex) == NULL)
		return false;
	l = hashset_get(&s->idx, e->hash);
	return l != NULL && l->pack == no && l->off == e->off;
}

/* Remove pack no: its index first (the commit point), then the pack. */
static int
remove_pack(struct store *s, int32_t no)
{
	char	*idx = store_pack_path(s, s->packs[no].id, ".idx");
	char	*pack = store_pack_path(s, s->packs[no].id, ".pack");
	int	 r = 0;

	if (unlink(idx) < 0 && errno != ENOENT)
		r = -errno;
	else if (unlink(pack) < 0 && errno != ENOENT)
		r = -errno;
	free(idx);
	free(pack);
	return r;
}

/*
 * Copy the live chunks of pack no (live[i]) into a new pack and commit it;
 * the caller then removes the old one.  Frames are copied as they are,
 * their records checked (a corrupt record is left where it is, pack and
 * all, for verify to name).  0 or -errno with err.
 */
static int
rewrite_pack(struct store *s, int32_t no, const bool *live, char *err, size_t errlen)
{
	struct store_stats	 st = { 0 };
	char			*path = store_pack_name_of(s, no), hex[STORE_HEX_LEN + 1];
	int			 r = 0;

	for (size_t i = 0; r == 0 && i < s->packs[no].n; i++) {
		struct loc l;

		if (!live[i])
			continue;
		l = s->packs[no].ents[i];	/* read_record may reopen packs */
		store_to_hex(l.hash, STORE_HASH_LEN, hex);
		if ((r = store_read_record(&s->ctx, &l, hex, path, err, errlen)) < 0)
			break;
		r = store_pack_append(s, hex, s->ctx.zbuf, l.len, &st);
		if (r < 0)
			snprintf(err, errlen, "rewriting pack %s: %s", path, strerror(-r));
	}
	if (r == 0 && (r = store_pack_commit(s)) < 0)
		snprintf(err, errlen, "rewriting pack %s: %s", path, strerror(-r));
	if (r < 0)
		store_pack_drop(s);
	free(path);
	return r;
}

/* True if a pack from first on (written by this gc) is named id. */
static bool
made_here(const struct store *s, size_t first, const char *id)
{
	for (size_t i = first; i < s->npacks; i++)
		if (strcmp(s->packs[i].id, id) == 0)
			return true;
	return false;
}

int
store_gc(struct store *s, const char *snapdirs, store_snapshot_walk_fn walk,
    uint64_t *ret_chunks, uint64_t *ret_bytes, char *err, size_t errlen)
{
	struct markset	 ms;
	uint64_t	 chunks = 0, bytes = 0;
	size_t		 npacks;
	int		 r;

	markset_init(&ms, 0);
	if (store_writers_active()) {
		snprintf(err, errlen, "a save is writing to the chunk store; "
		    "collect garbage after it");
		r = -EBUSY;
		goto out;
	}
	if (store_readers_active()) {
		snprintf(err, errlen, "an export is reading from the chunk store; "
		    "collect garbage after it");
		r = -EBUSY;
		goto out;
	}
	if ((r = mark_roots(s, snapdirs, walk, NULL, true, &ms, err, errlen)) < 0)
		goto out;
	sweep_loose(s, &ms, &chunks, &bytes);
	sweep_pack_garbage(s);
	/* What is on disk now, not what this handle saw before. */
	store_pack_drop(s);
	store_index_unload(s);
	store_index_load(s);
	npacks = s->npacks;	/* rewriting appends packs: not to be swept */
	for (size_t p = 0; p < npacks; p++) {
		int32_t		 no = (int32_t)p;
		size_t		 n = s->packs[no].n, nlive = 0;
		bool		*live = xcalloc(n ? n : 1, sizeof(bool));
		uint64_t	 dead_bytes = 0;
		char		 why[PATH_MAX + 256];
		int		 q = 0;

		for (size_t i = 0; i < n; i++) {
			if ((live[i] = live_entry(s, &ms, no, i)))
				nlive++;
			else
				dead_bytes += REC_HDR + (uint64_t)s->packs[no].ents[i].len;
		}
		if (nlive < n && made_here(s, npacks, s->packs[no].id)) {
			/*
			 * A rewrite of this gc came out byte for byte as this pack
			 * (same index, same name) and replaced it: what it holds
			 * now is live.
			 */
			nlive = n;
		}
		if (nlive < n) {
			if (nlive > 0 && (q = rewrite_pack(s, no, live, why,
			    sizeof(why))) < 0)
				log_warnx("store: %s; keeping it whole", why);
			if (q == 0 && (q = remove_pack(s, no)) < 0)
				log_warnx("store: cannot remove pack %s: %s",
				    s->packs[no].id, strerror(-q));
			if (q == 0) {
				chunks += n - nlive;
				bytes += dead_bytes;
				if (nlive == 0)
					bytes += PACK_HDR + s->packs[no].idx_bytes;
			}
		}
		free(live);
	}
	if (chunks > 0 && (r = fsync_dir(s->packdir)) < 0)
		snprintf(err, errlen, "%s: %s", s->packdir, strerror(-r));
	/* Rewritten packs moved chunks: lookups start again from the disk. */
	store_index_unload(s);
	log_debug("store %s: gc freed %llu chunks, %llu bytes", s->root,
	    (unsigned long long)chunks, (unsigned long long)bytes);
	if (ret_chunks != NULL)
		*ret_chunks = chunks;
	if (ret_bytes != NULL)
		*ret_bytes = bytes;
out:
	hashset_clear(&ms.set);
	return r;
}
