/* SPDX-License-Identifier: MIT */
/*
 * Who may do what over the socket (doc/rpc.md "Who may call what").
 * The only policy module: handlers ask it, never compare uids themselves.
 *
 * Root (uid 0) may do everything.  Anyone else who can connect (a member
 * of the socket's group) acts only on machines and snapshots it owns (the
 * uid of the caller that created them; records without an owner are
 * root's), and never on what is root's alone (AUTHZ_ADMIN).  A caller whose
 * credentials are unknown (NULL) may do nothing.
 */
#ifndef SBUMLD_AUTHZ_H
#define SBUMLD_AUTHZ_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

enum authz_action {
	AUTHZ_VIEW,	/* info, console, list entry, check, verify */
	AUTHZ_CONTROL,	/* boot, halt, kill, pause, resume, save, restore, export, delete */
	AUTHZ_ADMIN,	/* root only: another kernel, store.gc, daemon log level */
	_AUTHZ_ACTION_MAX,
};

/* True for a caller with uid 0. */
bool	authz_is_root(const struct ucred *cred);
/* May cred do action to an object owned by owner (ignored for AUTHZ_ADMIN)? */
bool	authz_may(const struct ucred *cred, enum authz_action action, uid_t owner);
/* "see", "control", "administer": for messages. */
const char *authz_action_name(enum authz_action action);

#endif
