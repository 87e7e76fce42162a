/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the machine.json loader (machine-config.c, machine_config_read and
 * the machine_config_parse it calls):
 * the file a user who owns a path machine's directory can write.  Each
 * input is written as machine.json into a temporary directory and loaded;
 * what it accepts must be within the limits the loader promises.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "machine.h"
#include "machine-config.h"

static char	 dir[] = "/tmp/sbuml-fuzz-mcfg.XXXXXX";
static char	 path[sizeof(dir) + 32];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 dfd = -1;
	struct machine_config	 cfg;
	struct fs_id		 id;
	char			*name = NULL, err[256];
	int			 fd;

	if (path[0] == '\0') {
		if (mkdtemp(dir) == NULL ||
		    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			abort();
		snprintf(path, sizeof(path), "%s/%s", dir, MACHINE_CONFIG_FILE);
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, data, size) != (ssize_t)size || close(fd) < 0)
		abort();
	if (machine_config_read(dfd, false, &cfg, &name, &id, err,
	    sizeof(err)) == 0) {
		if (name == NULL || cfg.image == NULL || cfg.kernel == NULL ||
		    cfg.cmdline == NULL || cfg.ndisks > UML_MAX_DISKS ||
		    cfg.mem_mb < MACHINE_MEM_MIN || cfg.mem_mb > MACHINE_MEM_MAX)
			abort();
		for (size_t i = 0; i < cfg.ndisks; i++)
			if (cfg.disks[i] == NULL)
				abort();
	}
	machine_config_clear(&cfg);
	free(name);
	return 0;
}
