/* SPDX-License-Identifier: MIT */
/* The authorisation policy; see authz.h. */
#include <stddef.h>

#include "authz.h"

bool
authz_is_root(const struct ucred *cred)
{
	return cred != NULL && cred->uid == 0;
}

bool
authz_may(const struct ucred *cred, enum authz_action action, uid_t owner)
{
	if (cred == NULL)
		return false;
	if (cred->uid == 0)
		return true;
	switch (action) {
	case AUTHZ_VIEW:
	case AUTHZ_CONTROL:
		return cred->uid == owner;
	case AUTHZ_ADMIN:
	default:
		return false;
	}
}

const char *
authz_action_name(enum authz_action action)
{
	switch (action) {
	case AUTHZ_VIEW:
		return "see";
	case AUTHZ_CONTROL:
		return "control";
	case AUTHZ_ADMIN:
	default:
		return "administer";
	}
}
