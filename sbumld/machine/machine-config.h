/* SPDX-License-Identifier: MIT */
/*
 * A machine's configuration and names, and the files of a machine
 * directory that sbumld writes (machine.json, the configuration, and
 * run.json, private run state) with the path-machine records under
 * <state-dir>/paths (doc/machine-layout.md).  Used by the machine module,
 * by the snapshot layer where a restore writes a new machine's files or
 * recovery reads them, and by the tests and the fuzz harness.
 */
#ifndef SBUMLD_MACHINE_CONFIG_H
#define SBUMLD_MACHINE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fsat.h"
#include "machine-state.h"
#include "net.h"
#include "uml.h"

#define MACHINE_NAME_MAX	64	/* bytes of a plain name */
#define MACHINE_PATH_MAX	90	/* bytes of "<dir>/uml/mconsole" */
#define MACHINE_CMDLINE_MAX	1024
#define MACHINE_MEM_MIN		16
#define MACHINE_MEM_MAX		16384
#define MACHINE_MEM_DEFAULT	128

#define MACHINE_CONFIG_FILE	"machine.json"
#define MACHINE_RUN_FILE	"run.json"
/*
 * The fill of a lazily restored machine, written atomically by its pager
 * (sbuml-pager) beside run.json, read by a daemon that re-adopts it.
 */
#define MACHINE_FILL_FILE	"fill.json"
/* Present while a restore builds the machine, until its kernel is started. */
#define MACHINE_RESTORING_FILE	"restoring"

/* The saved configuration (machine.json). */
struct machine_config {
	char		*image;
	char		*kernel;
	char		*cmdline;
	unsigned int	 mem_mb;
	char		*disks[UML_MAX_DISKS];
	size_t		 ndisks;
	char		 created[32];	/* ISO-8601 UTC */
	uid_t		 owner;		/* who created it (authz.h); 0 if unrecorded */
	struct net_nic	 nic;		/* network "": no NIC (net.h) */
};

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
	char			tap[NET_TAP_LEN + 1];	/* "" none */
	bool			uffd;		/* the kernel got /dev/userfaultfd */
	/* Restored: "lazy" or "eager" ("": booted), why not lazy ("": none). */
	char			memory[8];
	char			memory_reason[1024];
};

/*
 * Check a machine name or path (doc/rpc.md "Names") and compute its
 * directory.  0 and *ret_dir (caller frees) and *ret_is_path, or -EINVAL
 * with a message in err.
 */
int	machine_name_resolve(const char *name, char **ret_dir, bool *ret_is_path,
	    char *err, size_t errlen);
/* True if path may be handed to UML (no blanks, commas, control or non-ASCII bytes). */
bool	machine_path_is_safe(const char *path);
/* Free a configuration's strings and zero it. */
void	machine_config_clear(struct machine_config *cfg);
/*
 * Write machine.json into dirfd atomically (never through a planted
 * symlink).  dir_id: the machine directory's identity, recorded in the
 * daemon's own copy of a path machine's configuration; NULL for none.
 * 0 or -errno.
 */
int	machine_config_write(int dirfd, const char *name,
	    const struct machine_config *cfg, const struct fs_id *dir_id);
/*
 * Parse and validate machine.json held in buf (len bytes, NUL-terminated
 * or not) into *cfg (cleared first), *ret_name (caller frees) and, if not
 * NULL, *ret_dir_id (FS_ID_NONE when absent).  Every field is type
 * checked: -EBADMSG with the offending field named in err.  For the fuzz
 * harness as well as machine_config_read.
 */
int	machine_config_parse(const char *buf, size_t len,
	    struct machine_config *cfg, char **ret_name, struct fs_id *ret_dir_id,
	    char *err, size_t errlen);
/*
 * Read dirfd/machine.json (O_NOFOLLOW, a regular file) and parse it.
 * require_ours: the file must be owned by the daemon's uid (a file a user
 * wrote is not trusted to say what runs as root).  0 or -errno, err set.
 */
int	machine_config_read(int dirfd, bool require_ours,
	    struct machine_config *cfg, char **ret_name, struct fs_id *ret_dir_id,
	    char *err, size_t errlen);
/* Write / read dirfd/run.json. 0 or -errno (-ENOENT: never booted). */
int	machine_run_write(int dirfd, const struct machine_run *run);
int	machine_run_read(int dirfd, struct machine_run *run);

struct machine_fill;
/*
 * Write / read dirfd/fill.json (MACHINE_FILL_FILE): the counters and state
 * of f, and pager_pid, the pager that writes it (0: none).  Reading sets
 * f's atomics (and reason) and *ret_pager_pid if not NULL.  0 or -errno
 * (-EBADMSG: a field is missing or of the wrong type).
 */
int	machine_fill_write(int dirfd, const struct machine_fill *f,
	    pid_t pager_pid);
int	machine_fill_read(int dirfd, struct machine_fill *f, pid_t *ret_pager_pid);

/*
 * <state-dir>/paths/<hash> for a path machine (caller frees): the
 * daemon's record of it, a directory holding the authoritative
 * machine.json (with the machine directory's dev/ino) and run.json.
 * Older daemons made it a symlink to the machine directory.
 */
char	*machine_paths_link(const char *path);
/* Record a path machine under <state-dir>/paths. 0 or -errno. */
int	machine_paths_add(const char *path, const struct machine_config *cfg,
	    const struct fs_id *dir_id);
/* Forget a path machine (its record, or an old symlink). 0 or -errno. */
int	machine_paths_remove(const char *path);

#endif
