/* SPDX-License-Identifier: MIT */
/* Machine states and their names; see machine-state.h. */
#include <errno.h>
#include <string.h>

#include "machine-state.h"

static const char *const machine_state_names[_MACHINE_STATE_MAX] = {
	[MACHINE_BOOTING] = "booting",
	[MACHINE_RUNNING] = "running",
	[MACHINE_PAUSED] = "paused",
	[MACHINE_HALTING] = "halting",
	[MACHINE_STOPPED] = "stopped",
	[MACHINE_CRASHED] = "crashed",
};

/* Name of a state; "unknown" for a bad value. */
const char *
machine_state_to_string(enum machine_state state)
{
	if ((unsigned int)state >= _MACHINE_STATE_MAX)
		return ("unknown");
	return (machine_state_names[state]);
}

/* The state named s; -EINVAL if there is none. */
int
machine_state_from_string(const char *s, enum machine_state *ret)
{
	for (int i = 0; i < _MACHINE_STATE_MAX; i++) {
		if (strcmp(s, machine_state_names[i]) == 0) {
			*ret = (enum machine_state)i;
			return (0);
		}
	}
	return (-EINVAL);
}

/* True for the states in which a UML process exists. */
bool
machine_state_is_live(enum machine_state state)
{
	return (state == MACHINE_BOOTING || state == MACHINE_RUNNING ||
	    state == MACHINE_PAUSED || state == MACHINE_HALTING);
}
