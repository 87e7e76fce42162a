/* SPDX-License-Identifier: MIT */
/*
 * The daemon's run loop (its configuration and event base: context.h).
 */
#ifndef SBUMLD_DAEMON_H
#define SBUMLD_DAEMON_H

#include "context.h"

/*
 * Set up signals, server, machines; notify READY; run the loop; shut down.
 * daemon_config must be filled in (absolute paths, dirs created) by main.c.
 * Returns the process exit code.
 */
int	daemon_run(void);
/* Ask the loop to stop (SIGTERM path). */
void	daemon_request_stop(void);

#endif
