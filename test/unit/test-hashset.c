/* SPDX-License-Identifier: MIT */
/*
 * hashset.c: put and get by digest, the first element wins, values kept
 * across growth, keys sharing their first 8 bytes (probing), clear.
 */
#include <stdint.h>
#include <string.h>

#include "hashset.h"

#include "test.h"

struct elem {
	unsigned char	key[HASHSET_KEY_LEN];
	uint64_t	value;
};

/* A key from n, spread over the bytes the table indexes by. */
static void
key_of(uint64_t n, unsigned char key[HASHSET_KEY_LEN])
{
	memset(key, 0xab, HASHSET_KEY_LEN);
	for (int i = 0; i < 8; i++)
		key[i] = (unsigned char)((n * 0x9e3779b97f4a7c15ull) >> (8 * i));
	memcpy(key + 24, &n, sizeof(n));
}

static void
test_put_get(void)
{
	struct hashset	 h;
	unsigned char	 key[HASHSET_KEY_LEN];
	struct elem	*e;
	bool		 added = false, ok = true;

	hashset_init(&h, sizeof(struct elem));
	key_of(1, key);
	CHECK(hashset_get(&h, key) == NULL);
	CHECK(hashset_count(&h) == 0);
	e = hashset_put(&h, key, &added);
	CHECK(added && e != NULL && memcmp(e->key, key, HASHSET_KEY_LEN) == 0);
	CHECK(e->value == 0);
	e->value = 42;
	e = hashset_put(&h, key, &added);
	CHECK(!added && e->value == 42);
	CHECK(hashset_count(&h) == 1);
	/* Enough elements to grow several times: every value survives. */
	for (uint64_t n = 2; n < 20000; n++) {
		key_of(n, key);
		e = hashset_put(&h, key, NULL);
		e->value = n * 3;
	}
	CHECK(hashset_count(&h) == 19999);
	for (uint64_t n = 2; n < 20000; n++) {
		key_of(n, key);
		e = hashset_get(&h, key);
		if (e == NULL || e->value != n * 3)
			ok = false;
	}
	CHECK(ok);
	key_of(1, key);
	CHECK((e = hashset_get(&h, key)) != NULL && e->value == 42);
	key_of(20000, key);
	CHECK(hashset_get(&h, key) == NULL);
	hashset_clear(&h);
	CHECK(hashset_count(&h) == 0);
	key_of(1, key);
	CHECK(hashset_get(&h, key) == NULL);
	CHECK(hashset_put(&h, key, &added) != NULL && added);
	hashset_clear(&h);
}

/* Keys equal in the bytes that pick the slot still differ. */
static void
test_collisions(void)
{
	struct hashset	 h;
	unsigned char	 key[HASHSET_KEY_LEN];
	struct elem	*e;
	bool		 ok = true;

	hashset_init(&h, sizeof(struct elem));
	for (uint64_t n = 0; n < 300; n++) {
		memset(key, 0x11, HASHSET_KEY_LEN);
		memcpy(key + 24, &n, sizeof(n));
		e = hashset_put(&h, key, NULL);
		e->value = n + 1;
	}
	CHECK(hashset_count(&h) == 300);
	for (uint64_t n = 0; n < 300; n++) {
		memset(key, 0x11, HASHSET_KEY_LEN);
		memcpy(key + 24, &n, sizeof(n));
		e = hashset_get(&h, key);
		if (e == NULL || e->value != n + 1)
			ok = false;
	}
	CHECK(ok);
	hashset_clear(&h);
}

int
main(void)
{
	test_put_get();
	test_collisions();
	return test_summary();
}
