/* SPDX-License-Identifier: MIT */
/*
 * The states of a machine (doc/rpc.md "Machine states") and their names,
 * shared by the registry (machine.c) and run.json (machine-config.c),
 * neither of which the other needs for them.
 */
#ifndef SBUMLD_MACHINE_STATE_H
#define SBUMLD_MACHINE_STATE_H

#include <stdbool.h>

enum machine_state {
	MACHINE_BOOTING,
	MACHINE_RUNNING,
	MACHINE_PAUSED,
	MACHINE_HALTING,
	MACHINE_STOPPED,
	MACHINE_CRASHED,
	_MACHINE_STATE_MAX,
};

/* The name of doc/rpc.md; "unknown" for a value out of range. */
const char *machine_state_to_string(enum machine_state state);
/* -EINVAL if s names no state. */
int	machine_state_from_string(const char *s, enum machine_state *ret);
/* Live: a UML process exists (booting, running, paused, halting). */
bool	machine_state_is_live(enum machine_state state);

#endif
