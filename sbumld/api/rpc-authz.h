/* SPDX-License-Identifier: MIT */
/*
 * The handlers' side of authorisation: who the caller is, and checks that
 * answer the call PermissionDenied (doc/rpc.md) when authz.h says no.
 * Each check returns true when the call may go on, false after answering.
 */
#ifndef SBUMLD_RPC_AUTHZ_H
#define SBUMLD_RPC_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "authz.h"

struct machine;
struct rpc_call;

/* The caller's credentials (SO_PEERCRED), or NULL once it has gone away. */
const struct ucred *rpc_caller(struct rpc_call *call);
/* True if the caller is root. */
bool	rpc_caller_is_root(struct rpc_call *call);
/* The uid to record as the owner of what the call creates (0 if it is gone). */
uid_t	rpc_caller_uid(struct rpc_call *call);

/* May the caller do action to machine m? */
bool	rpc_authz_machine(struct rpc_call *call, const struct machine *m,
	    enum authz_action action);
/*
 * May the caller do action to the snapshot name, in dir?  A named snapshot
 * by its owner record; a path snapshot only if the caller can read its
 * manifest (and, for AUTHZ_CONTROL with delete, remove it: may_remove).
 */
bool	rpc_authz_snapshot(struct rpc_call *call, const char *name,
	    const char *dir, enum authz_action action, bool may_remove);
/* Is the caller root?  (what: the refused thing, for the message.) */
bool	rpc_authz_admin(struct rpc_call *call, const char *what);
/*
 * Could the caller open path with amode (R_OK, W_OK) itself?  Root: yes
 * without asking.  A path that the caller sees missing (ENOENT) passes: the
 * handler's own checks answer it.  param names the parameter in the error.
 */
bool	rpc_authz_file(struct rpc_call *call, const char *param,
	    const char *path, int amode);
/* Could the caller create path itself (its parent writable and searchable)? */
bool	rpc_authz_create(struct rpc_call *call, const char *param,
	    const char *path);
/*
 * Could the caller read the image and disks a machine is to use itself?
 * The daemon's own default image is everyone's.
 */
bool	rpc_authz_images(struct rpc_call *call, const char *image,
	    const char *const *disks, size_t ndisks);
/*
 * Could the caller use the directory of a path machine itself: write it,
 * or create it (its parent) if it is not there yet?  Plain names pass.
 */
bool	rpc_authz_machine_dir(struct rpc_call *call, const char *dir,
	    bool is_path);
/*
 * A file of snapshot.export (write: created as the caller, 0600, never over
 * an existing file) or snapshot.import (read), opened with the caller's
 * rights: the descriptor (caller owns), or -1 after answering
 * (PermissionDenied, or IoError for other failures).
 */
int	rpc_authz_open_stream(struct rpc_call *call, const char *path,
	    bool write);
/*
 * May the caller run kernel?  Anyone the daemon's own and those that came
 * with a snapshot (materialised in <state-dir>/store/kernels/); any other
 * is root's.
 */
bool	rpc_authz_kernel(struct rpc_call *call, const char *kernel);
/* Answer PermissionDenied with data.param, data.path and data.errno. */
void	rpc_permission_denied_file(struct rpc_call *call, const char *param,
	    const char *path, int err, const char *what);

#endif
