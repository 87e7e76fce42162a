/* SPDX-License-Identifier: MIT */
/*
 * main() for a harness built without libFuzzer: feed every file of the
 * directories given as arguments (its seed corpus and its regressions, the
 * inputs that once crashed it) to LLVMFuzzerTestOneInput once.  A crash or
 * a sanitizer report fails the test; so does a first directory (the seed
 * corpus) without inputs: nothing may silently not run.  Later directories
 * may be empty (a harness that never crashed; ".gitkeep" keeps the
 * directory).  Prints "N passed, 0 failed".
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

static int
replay_dir(const char *dir, bool must_have, int *count)
{
	DIR		*d = opendir(dir);
	struct dirent	*de;
	int		 n = 0;

	if (d == NULL) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char	*path, *buf = NULL;
		size_t	 len;
		int	 r;

		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if ((r = read_file(path, 16 * 1024 * 1024, &buf, &len)) < 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(-r));
			free(path);
			closedir(d);
			return -1;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
		free(buf);
		free(path);
		n++;
	}
	closedir(d);
	if (n == 0 && must_have) {
		fprintf(stderr, "%s: no inputs\n", dir);
		return -1;
	}
	*count += n;
	return 0;
}

int
main(int argc, char **argv)
{
	int n = 0;

	for (int i = 1; i < argc; i++)
		if (replay_dir(argv[i], i == 1, &n) < 0) {
			printf("%d passed, 1 failed\n", n);
			return 1;
		}
	printf("%d passed, 0 failed\n", n);
	return 0;
}
