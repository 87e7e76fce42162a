/* SPDX-License-Identifier: MIT */
/*
 * A hash table keyed by 32-byte digests (SHA-256): the digest is uniform,
 * so its first bytes are the hash and no hash function runs.  Elements are
 * of a fixed size given at init and begin with their key; the table keeps
 * them inline (open addressing, linear probing, grown at half full).
 * Nothing is ever removed: the chunk store's index and its garbage
 * collector's mark set only add, then drop the whole table.  Not
 * thread-safe: a table shared between threads is only read by them, or
 * guarded by its owner's lock.
 */
#ifndef SBUMLD_HASHSET_H
#define SBUMLD_HASHSET_H

#include <stdbool.h>
#include <stddef.h>

#define HASHSET_KEY_LEN	32

struct hashset {
	unsigned char	*slots;		/* cap elements of elem bytes */
	bool		*full;		/* cap flags: slot i holds an element */
	size_t		 elem, cap, count;
};

/* An empty table of elements of elem bytes (>= HASHSET_KEY_LEN, key first). */
void	 hashset_init(struct hashset *h, size_t elem);
/* Free the elements; the table is empty (and usable) again. */
void	 hashset_clear(struct hashset *h);
/* The element with key, or NULL.  Valid until the next hashset_put. */
void	*hashset_get(const struct hashset *h, const unsigned char *key);
/*
 * The element with key, added (key copied in, the rest zero) if it was not
 * there; *added (may be NULL) says which.  Valid until the next hashset_put.
 */
void	*hashset_put(struct hashset *h, const unsigned char *key, bool *added);
/* Elements in the table. */
size_t	 hashset_count(const struct hashset *h);

#endif
