/* SPDX-License-Identifier: MIT */
/*
 * What every layer may read of the daemon: its configuration and its event
 * base.  main.c fills daemon_config in (absolute paths, dirs created) and
 * daemon.c creates daemon_base before anything else runs; both live here, in
 * the lowest layer, so that no module has to include the daemon's wiring.
 */
#ifndef SBUMLD_CONTEXT_H
#define SBUMLD_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct event_base;

#define DAEMON_DEFAULT_SOCKET		"/run/sbuml/sbumld.sock"
#define DAEMON_DEFAULT_STATE_DIR	"/var/lib/sbuml"
#define DAEMON_DEFAULT_KERNEL		SBUML_LIBEXECDIR "/linux-sbuml"
#define DAEMON_DEFAULT_IMAGE		SBUML_DATADIR "/images/default.img"
#define DAEMON_DEFAULT_NETWORK		"default"

struct daemon_config {
	char	*socket_path;	/* --socket, default /run/sbuml/sbumld.sock */
	char	*state_dir;	/* --state-dir, default /var/lib/sbuml (0700) */
	char	*kernel;	/* --kernel, default SBUML_LIBEXECDIR/linux-sbuml */
	char	*image;		/* --image, default SBUML_DATADIR/images/default.img */
	/* --default-network: a new machine's network unless it names one ("none": no NIC) */
	char	*default_network;
	/* --network NAME[=A.B.C.D/N], repeatable: networks besides "default" (net.h) */
	char	**networks;
	size_t	 nnetworks;
	/* --no-userfaultfd: launch no kernel with /dev/userfaultfd (uml.h) */
	bool	 no_userfaultfd;
};

extern struct daemon_config daemon_config;
extern struct event_base *daemon_base;

#endif
