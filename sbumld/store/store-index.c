/* SPDX-License-Identifier: MIT */
/*
 * Finding chunks (store-int.h): an in-memory hash table (base/hashset.h)
 * loaded from every committed pack's .idx at a handle's first lookup, the
 * chunks the handle has written but not synced yet, and the loose chunk
 * files <root>/chunks/<aa>/<hex>.zst of stores written before packs.
 * Each thread's context reads packs through descriptors of its own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store-int.h"
#include "util.h"

char *
store_loose_path(const struct store *s, const char *hex)
{
	return xasprintf("%s/chunks/%.2s/%s.zst", s->root, hex, hex);
}

char *
store_pack_path(const struct store *s, const char *id, const char *ext)
{
	return xasprintf("%s/%s%s", s->packdir, id, ext);
}

char *
store_pack_name_of(const struct store *s, int32_t no)
{
	return no == PENDING ? xstrdup(s->wtmp) :
	    store_pack_path(s, s->packs[no].id, ".pack");
}

bool
store_pack_name(const char *name, const char *ext)
{
	size_t i;

	for (i = 0; i < PACK_ID_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return strcmp(name + PACK_ID_LEN, ext) == 0;
}

void
store_ctx_close_packs(struct store_ctx *c)
{
	for (size_t i = 0; i < c->nfdslots; i++)
		closefd(&c->fds[i]);
	c->nfds = 0;
}

/* Forget the committed packs (the next lookup loads them again). */
void
store_index_unload(struct store *s)
{
	store_ctx_close_packs(&s->ctx);
	for (size_t i = 0; i < s->npacks; i++)
		free(s->packs[i].ents);
	free(s->packs);
	s->packs = NULL;
	s->npacks = 0;
	hashset_clear(&s->idx);
	s->idx_err[0] = '\0';
	s->loaded = false;
}

int32_t
store_index_add_pack(struct store *s, const char *id, struct loc *ents,
    size_t n, uint64_t idx_bytes)
{
	struct pack	*p;
	int32_t		 no = (int32_t)s->npacks;

	s->packs = xrealloc(s->packs, (s->npacks + 1) * sizeof(*s->packs));
	p = &s->packs[s->npacks++];
	memcpy(p->id, id, PACK_ID_LEN + 1);
	p->ents = ents;
	p->n = n;
	p->idx_bytes = idx_bytes;
	for (size_t i = 0; i < n; i++) {
		struct loc	*slot;
		bool		 added;

		ents[i].pack = no;
		/* The first copy of a chunk wins. */
		slot = hashset_put(&s->idx, ents[i].hash, &added);
		if (added)
			*slot = ents[i];
	}
	return no;
}

/*
 * Load packs/<id>.idx.  A malformed one is skipped (its chunks then read as
 * missing) and named in s->idx_err, so messages can say why.
 */
static void
load_idx(struct store *s, const char *id)
{
	char		*path = store_pack_path(s, id, ".idx"), *buf = NULL;
	size_t		 len, n;
	struct loc	*ents;
	int		 r;

	if ((r = read_file(path, IDX_MAX, &buf, &len)) < 0) {
		if (r != -ENOENT && s->idx_err[0] == '\0')
			snprintf(s->idx_err, sizeof(s->idx_err), "pack index %s "
			    "cannot be read: %s", path, strerror(-r));
		free(path);
		return;
	}
	n = len >= IDX_HDR ? store_get_le32((unsigned char *)buf + 12) : 0;
	if (len < IDX_HDR || memcmp(buf, IDX_MAGIC, 8) != 0 ||
	    store_get_le32((unsigned char *)buf + 8) != PACK_VERSION ||
	    len != IDX_HDR + n * IDX_ENT) {
		if (s->idx_err[0] == '\0')
			snprintf(s->idx_err, sizeof(s->idx_err), "pack index %s is "
			    "truncated or corrupt", path);
		log_warnx("store: pack index %s is truncated or corrupt, ignoring "
		    "its pack", path);
		free(buf);
		free(path);
		return;
	}
	ents = xcalloc(n ? n : 1, sizeof(*ents));
	for (size_t i = 0; i < n; i++) {
		const unsigned char *e = (unsigned char *)buf + IDX_HDR + i * IDX_ENT;

		memcpy(ents[i].hash, e, STORE_HASH_LEN);
		ents[i].off = store_get_le64(e + 32);
		ents[i].len = store_get_le32(e + 40);
		/* Nonsense offsets or lengths read as a corrupt record later. */
		if (ents[i].len == 0)
			ents[i].len = UINT32_MAX;
	}
	store_index_add_pack(s, id, ents, n, len);
	free(buf);
	free(path);
}

void
store_index_load(struct store *s)
{
	DIR		*d;
	struct dirent	*de;
	char		*top;

	if (s->loaded)
		return;
	s->loaded = true;
	if ((d = opendir(s->packdir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (store_pack_name(de->d_name, ".idx")) {
				char id[PACK_ID_LEN + 1];

				memcpy(id, de->d_name, PACK_ID_LEN);
				id[PACK_ID_LEN] = '\0';
				load_idx(s, id);
			}
		closedir(d);
	}
	/* Loose chunk files (stores written before packs): stat() on a miss. */
	top = xasprintf("%s/chunks", s->root);
	if ((d = opendir(top)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strlen(de->d_name) == 2 && de->d_name[0] != '.')
				s->loose = true;
		closedir(d);
	}
	free(top);
}

const struct loc *
store_find_loc(struct store *s, const char *hex)
{
	unsigned char		 hash[STORE_HASH_LEN];
	const struct loc	*l;

	store_index_load(s);
	store_from_hex(hex, hash);
	if ((l = hashset_get(&s->pend, hash)) != NULL)
		return l;
	return hashset_get(&s->idx, hash);
}

bool
store_have_loose(struct store *s, const char *hex, struct stat *sb)
{
	char	*path;
	bool	 have;

	if (!s->loose)
		return false;
	path = store_loose_path(s, hex);
	have = stat(path, sb) == 0 && S_ISREG(sb->st_mode);
	free(path);
	return have;
}

bool
store_have_chunk(struct store *s, const char *hex)
{
	struct stat	sb;
	bool		have;

	pthread_mutex_lock(&s->lock);
	have = store_find_loc(s, hex) != NULL;
	pthread_mutex_unlock(&s->lock);
	return have || store_have_loose(s, hex, &sb);
}

/* A slot for every committed pack in c's descriptor table. */
static void
ctx_fd_slots(struct store_ctx *c)
{
	struct store *s = c->s;

	if (c->nfdslots >= s->npacks)
		return;
	c->fds = xrealloc(c->fds, s->npacks * sizeof(*c->fds));
	for (size_t i = c->nfdslots; i < s->npacks; i++)
		c->fds[i] = -1;
	c->nfdslots = s->npacks;
}

void
store_ctx_adopt_fd(struct store_ctx *c, int32_t no, int fd)
{
	ctx_fd_slots(c);
	closefd(&c->fds[no]);
	c->fds[no] = fd;
	c->nfds++;
}

int
store_pack_fd(struct store_ctx *c, int32_t no)
{
	struct store	*s = c->s;
	char		*path;
	int		 fd;

	if (no == PENDING)
		return s->wfd;
	ctx_fd_slots(c);
	if (c->fds[no] >= 0)
		return c->fds[no];
	/* Many packs over time: keep a bounded number open per context. */
	if (c->nfds >= PACK_FDS_MAX)
		store_ctx_close_packs(c);
	path = store_pack_path(s, s->packs[no].id, ".pack");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return -errno;
	c->fds[no] = fd;
	c->nfds++;
	return fd;
}

/* A set of chunk names: the index's hash set, keyed by the binary hash. */
struct store_hashset {
	struct hashset	set;
};

struct store_hashset *
store_hashset_new(void)
{
	struct store_hashset *h = xcalloc(1, sizeof(*h));

	hashset_init(&h->set, STORE_HASH_LEN);
	return h;
}

struct store_hashset *
store_hashset_free(struct store_hashset *h)
{
	if (h != NULL) {
		hashset_clear(&h->set);
		free(h);
	}
	return NULL;
}

bool
store_hashset_add(struct store_hashset *h, const char *hex)
{
	unsigned char	hash[STORE_HASH_LEN];
	bool		added;

	if (!store_valid_hex(hex))
		return false;
	store_from_hex(hex, hash);
	(void)hashset_put(&h->set, hash, &added);
	return added;
}

bool
store_hashset_has(struct store_hashset *h, const char *hex)
{
	unsigned char hash[STORE_HASH_LEN];

	if (!store_valid_hex(hex))
		return false;
	store_from_hex(hex, hash);
	return hashset_get(&h->set, hash) != NULL;
}

size_t
store_hashset_count(const struct store_hashset *h)
{
	return hashset_count(&h->set);
}
