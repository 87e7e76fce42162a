/* SPDX-License-Identifier: MIT */
/*
 * worker_parallel: every share runs exactly once and the call returns only
 * after all of them; more shares than helper threads still finish (the
 * rest run in the caller); shares that themselves split (as a store put
 * inside a pool job) never wait for a helper.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

#include "test.h"

#define MAX_SHARES	(2 * WORKER_MAX_HELPERS + 3)

struct run {
	_Atomic int	ran[MAX_SHARES];
	_Atomic int	nested;
	pthread_t	caller;
	_Atomic int	off_caller;	/* shares on a thread other than the caller's */
};

static void
share_fn(void *arg, unsigned int share, unsigned int nshares)
{
	struct run *r = arg;

	(void)nshares;
	r->ran[share]++;
	if (!pthread_equal(pthread_self(), r->caller))
		r->off_caller++;
	usleep(1000);	/* the other shares start meanwhile */
}

static void
nested_share(void *arg, unsigned int share, unsigned int nshares)
{
	struct run *r = arg;
	struct run  inner;

	(void)share;
	(void)nshares;
	memset(&inner, 0, sizeof(inner));
	inner.caller = pthread_self();
	worker_parallel(WORKER_MAX_HELPERS, share_fn, &inner);
	for (int i = 0; i < WORKER_MAX_HELPERS; i++)
		if (inner.ran[i] == 1)
			r->nested++;
}

/* n shares: each once, in and off the caller's thread. */
static void
test_shares(unsigned int n)
{
	struct run	r;
	bool		once = true;

	memset(&r, 0, sizeof(r));
	r.caller = pthread_self();
	worker_parallel(n, share_fn, &r);
	for (unsigned int i = 0; i < MAX_SHARES; i++)
		if (r.ran[i] != (i < n ? 1 : 0))
			once = false;
	CHECK(once);
	if (n > 1)
		CHECK(r.off_caller >= 1 && r.off_caller <= WORKER_MAX_HELPERS);
	else
		CHECK(r.off_caller == 0);
}

int
main(void)
{
	struct run r;

	test_shares(1);
	test_shares(2);
	test_shares(MAX_SHARES);	/* more than there are helpers */
	/* 4 shares each splitting in WORKER_MAX_HELPERS: the cap is shared. */
	memset(&r, 0, sizeof(r));
	r.caller = pthread_self();
	worker_parallel(4, nested_share, &r);
	CHECK(r.nested == 4 * WORKER_MAX_HELPERS);
	return test_summary();
}
