/* SPDX-License-Identifier: MIT */
/*
 * The whole unit-test "framework": CHECK macros that count, and a summary
 * line "N passed, M failed" that meson's log keeps.  A test's main ends with
 * `return (test_summary());`, which is non-zero if anything failed.
 */
#ifndef SBUML_TEST_H
#define SBUML_TEST_H

#include <stdio.h>
#include <string.h>

static int	test_passed, test_failed;

/* Count a check; report a failure with its location and expression. */
#define CHECK(cond) do {						\
	if (cond)							\
		test_passed++;						\
	else {								\
		test_failed++;						\
		fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__,\
		    #cond);						\
	}								\
} while (0)

/* Compare two strings (NULL allowed), showing both on failure. */
#define CHECK_STR(got, want) do {					\
	const char *g_ = (got), *w_ = (want);				\
	if (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0)		\
		test_passed++;						\
	else {								\
		test_failed++;						\
		fprintf(stderr, "%s:%d: FAIL: %s\n  got:  %s\n  want: %s\n",\
		    __FILE__, __LINE__, #got, g_ ? g_ : "(null)",	\
		    w_ ? w_ : "(null)");				\
	}								\
} while (0)

/* Print the summary line; the exit status for main. */
static inline int
test_summary(void)
{
	printf("%d passed, %d failed\n", test_passed, test_failed);
	return (test_failed == 0 ? 0 : 1);
}

#endif
