/* SPDX-License-Identifier: MIT */
/*
 * The files of a machine directory that sbumld writes (machine.json, the
 * configuration, and run.json, private run state) and the path-machine
 * links under <state-dir>/paths.  Private to machine.c.
 */
#ifndef SBUMLD_MACHINE_CONFIG_H
#define SBUMLD_MACHINE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "machine.h"

#define MACHINE_CONFIG_FILE	"machine.json"
#define MACHINE_RUN_FILE	"run.json"
/* Present while a restore builds the machine, until its kernel is started. */
#define MACHINE_RESTORING_FILE	"restoring"

/* run.json: what a restarted daemon needs to re-adopt or report a machine. */
struct machine_run {
	enum machine_state	state;
	pid_t			pid;		/* 0: none */
	uint64_t		starttime;	/* /proc/PID/stat field 22 */
	char			started[32];	/* "" if never started */
	bool			has_exit;
	bool			status_known;	/* exit code known */
	int			status;
	bool			signal_known;
	int			signal;
	bool			savable;	/* answered MACHINE_SAVABLE_PROBE */
};

/* Write dir/machine.json atomically. 0 or -errno. */
int	machine_config_write(const char *dir, const char *name,
	    const struct machine_config *cfg);
/* Read and validate dir/machine.json into *cfg (cleared first) and *ret_name (caller frees). 0 or -errno. */
int	machine_config_read(const char *dir, struct machine_config *cfg,
	    char **ret_name);
/* Write / read dir/run.json. 0 or -errno (-ENOENT: never booted). */
int	machine_run_write(const char *dir, const struct machine_run *run);
int	machine_run_read(const char *dir, struct machine_run *run);

/* <state-dir>/paths/<hash> for a path machine (caller frees). */
char	*machine_paths_link(const char *path);
/* Record / forget a path machine under <state-dir>/paths. 0 or -errno. */
int	machine_paths_add(const char *path);
int	machine_paths_remove(const char *path);

#endif
