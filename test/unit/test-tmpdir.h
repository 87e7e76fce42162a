/* SPDX-License-Identifier: MIT */
/*
 * What the daemon-level unit tests share around their checks: logging as
 * TEST_VERBOSE asks, and a private temp dir made first and removed last.
 */
#ifndef SBUML_TEST_TMPDIR_H
#define SBUML_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "log.h"

/* Start logging and make the temp dir from template dir.  0 or -1. */
static inline int
test_tmpdir_begin(char *dir)
{
	log_init(1, getenv("TEST_VERBOSE") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_WARNING);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return (-1);
	}
	return (0);
}

/* Remove the temp dir and everything in it (a failure is only said). */
static inline void
test_tmpdir_end(const char *dir)
{
	int r = fs_remove_tree(dir);

	if (r < 0)
		fprintf(stderr, "cannot remove %s: %s\n", dir, strerror(-r));
}

#endif
