/* SPDX-License-Identifier: MIT */
/*
 * The daemon's global configuration and event base, set up by main.c and
 * daemon.c before anything else runs.
 */
#ifndef SBUMLD_DAEMON_H
#define SBUMLD_DAEMON_H

#include "config.h"

struct event_base;

#define DAEMON_DEFAULT_SOCKET		"/run/sbuml/sbumld.sock"
#define DAEMON_DEFAULT_STATE_DIR	"/var/lib/sbuml"
#define DAEMON_DEFAULT_KERNEL		SBUML_LIBEXECDIR "/linux-sbuml"
#define DAEMON_DEFAULT_IMAGE		SBUML_DATADIR "/images/default.img"

struct daemon_config {
	char	*socket_path;	/* --socket, default /run/sbuml/sbumld.sock */
	char	*state_dir;	/* --state-dir, default /var/lib/sbuml (0700) */
	char	*kernel;	/* --kernel, default SBUML_LIBEXECDIR/linux-sbuml */
	char	*image;		/* --image, default SBUML_DATADIR/images/default.img */
};

extern struct daemon_config daemon_config;
extern struct event_base *daemon_base;

/*
 * Set up signals, server, machines; notify READY; run the loop; shut down.
 * daemon_config must be filled in (absolute paths, dirs created) by main.c.
 * Returns the process exit code.
 */
int	daemon_run(void);
/* Ask the loop to stop (SIGTERM path). */
void	daemon_request_stop(void);

#endif
