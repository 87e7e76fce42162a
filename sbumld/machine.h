/* SPDX-License-Identifier: MIT */
/*
 * Machines: one UML instance each, living in one directory.  The registry,
 * the state machine and supervision (pidfd) live in machine.c; the mconsole
 * protocol in mconsole.c; launching the UML process in uml.c.
 * (Interface grows as machine.c is written; snapshot.c will use it.)
 */
#ifndef SBUMLD_MACHINE_H
#define SBUMLD_MACHINE_H

/* Re-adopt every machine found in the state dir. Called before READY=1. 0 or -errno. */
int	machine_registry_init(void);
/* Stop watching (machines keep running: a restarted daemon re-adopts them). */
void	machine_registry_shutdown(void);

#endif
