/* SPDX-License-Identifier: MIT */
/* Open addressing over digests (hashset.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashset.h"
#include "util.h"

#define HASHSET_MIN_CAP	1024

void
hashset_init(struct hashset *h, size_t elem)
{
	memset(h, 0, sizeof(*h));
	h->elem = elem;
}

void
hashset_clear(struct hashset *h)
{
	free(h->slots);
	free(h->full);
	h->slots = NULL;
	h->full = NULL;
	h->cap = h->count = 0;
}

/* The index of key's slot (holding key, or the empty one it would take); cap > 0. */
static size_t
hashset_slot(const struct hashset *h, const unsigned char *key)
{
	size_t	i;

	memcpy(&i, key, sizeof(i));
	for (i &= h->cap - 1;; i = (i + 1) & (h->cap - 1))
		if (!h->full[i] || memcmp(h->slots + i * h->elem, key,
		    HASHSET_KEY_LEN) == 0)
			return i;
}

/* Double the table (or make the first one), moving every element. */
static void
hashset_grow(struct hashset *h)
{
	unsigned char	*old = h->slots;
	bool		*oldfull = h->full;
	size_t		 oldcap = h->cap;

	h->cap = oldcap ? 2 * oldcap : HASHSET_MIN_CAP;
	h->slots = xcalloc(h->cap, h->elem);
	h->full = xcalloc(h->cap, sizeof(*h->full));
	for (size_t i = 0; i < oldcap; i++)
		if (oldfull[i]) {
			size_t j = hashset_slot(h, old + i * h->elem);

			memcpy(h->slots + j * h->elem, old + i * h->elem, h->elem);
			h->full[j] = true;
		}
	free(old);
	free(oldfull);
}

void *
hashset_get(const struct hashset *h, const unsigned char *key)
{
	size_t i;

	if (h->cap == 0)
		return NULL;
	i = hashset_slot(h, key);
	return h->full[i] ? h->slots + i * h->elem : NULL;
}

void *
hashset_put(struct hashset *h, const unsigned char *key, bool *added)
{
	size_t i;

	if (2 * (h->count + 1) > h->cap)
		hashset_grow(h);
	i = hashset_slot(h, key);
	if (added != NULL)
		*added = !h->full[i];
	if (!h->full[i]) {
		memset(h->slots + i * h->elem, 0, h->elem);
		memcpy(h->slots + i * h->elem, key, HASHSET_KEY_LEN);
		h->full[i] = true;
		h->count++;
	}
	return h->slots + i * h->elem;
}

size_t
hashset_count(const struct hashset *h)
{
	return h->count;
}
