/* SPDX-License-Identifier: MIT */
/*
 * The daemon's global configuration and event base, set up by main.c and
 * daemon.c before anything else runs.
 */
#ifndef SBUMLD_DAEMON_H
#define SBUMLD_DAEMON_H

struct event_base;

struct daemon_config {
	char	*socket_path;	/* --socket, default /run/sbuml/sbumld.sock */
	char	*state_dir;	/* --state-dir, default /var/lib/sbuml (0700) */
	char	*kernel;	/* --kernel, default SBUML_LIBEXECDIR/linux-sbuml */
	char	*image;		/* --image, default SBUML_DATADIR/images/default.img */
};

extern struct daemon_config daemon_config;
extern struct event_base *daemon_base;

/* Set up signals, server, machines; notify READY; run the loop; shut down. Returns exit code. */
int	daemon_run(void);
/* Ask the loop to stop (SIGTERM path). */
void	daemon_request_stop(void);

#endif
