/* SPDX-License-Identifier: MIT */
/* Authorisation checks for the RPC handlers; see rpc-authz.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asuser.h"
#include "authz-path.h"
#include "context.h"
#include "log.h"
#include "machine.h"
#include "rpc.h"
#include "rpc-authz.h"
#include "server.h"
#include "snapshot.h"
#include "snapshot-kernel.h"
#include "snapshot-owner.h"
#include "util.h"

const struct ucred *
rpc_caller(struct rpc_call *call)
{
	struct client *c = rpc_call_client(call);

	return c != NULL ? server_client_cred(c) : NULL;
}

bool
rpc_caller_is_root(struct rpc_call *call)
{
	return authz_is_root(rpc_caller(call));
}

uid_t
rpc_caller_uid(struct rpc_call *call)
{
	const struct ucred *cred = rpc_caller(call);

	return cred != NULL ? cred->uid : 0;
}

/* PermissionDenied for an object owned by owner. */
static void
deny_owner(struct rpc_call *call, enum authz_action action, const char *kind,
    const char *name, uid_t owner)
{
	const struct ucred	*cred = rpc_caller(call);
	struct json_object	*d = json_object_new_object();
	unsigned int		 uid = cred != NULL ? (unsigned int)cred->uid : 0;

	json_object_object_add(d, "owner", json_object_new_int64((int64_t)owner));
	log_info("uid %u may not %s %s %s (owner %u)", uid,
	    authz_action_name(action), kind, name, (unsigned int)owner);
	rpc_error_data(call, RPC_E_PERMISSION_DENIED, d, "%s %s belongs to "
	    "uid %u: uid %u may not %s it", kind, name, (unsigned int)owner, uid,
	    authz_action_name(action));
}

bool
rpc_authz_machine(struct rpc_call *call, const struct machine *m,
    enum authz_action action)
{
	uid_t owner = machine_config(m)->owner;

	if (authz_may(rpc_caller(call), action, owner))
		return true;
	deny_owner(call, action, "machine", machine_name(m), owner);
	return false;
}

/* Answer PermissionDenied with a refusal (authz-path.h); clears it. */
static void
deny_refusal(struct rpc_call *call, struct authz_refusal *ref)
{
	rpc_error_data(call, RPC_E_PERMISSION_DENIED, ref->data, "%s", ref->msg);
	ref->data = NULL;
	authz_refusal_clear(ref);
}

void
rpc_permission_denied_file(struct rpc_call *call, const char *param,
    const char *path, int err, const char *what)
{
	struct authz_refusal ref = { 0 };

	authz_refusal_file(&ref, rpc_caller(call), param, path, err, what);
	deny_refusal(call, &ref);
}

bool
rpc_authz_file(struct rpc_call *call, const char *param, const char *path,
    int amode)
{
	struct authz_refusal ref = { 0 };

	if (authz_path_file(rpc_caller(call), param, path, amode, &ref) == 0)
		return true;
	deny_refusal(call, &ref);
	return false;
}

bool
rpc_authz_create(struct rpc_call *call, const char *param, const char *path)
{
	struct authz_refusal ref = { 0 };

	if (authz_path_create(rpc_caller(call), param, path, &ref) == 0)
		return true;
	deny_refusal(call, &ref);
	return false;
}

bool
rpc_authz_snapshot(struct rpc_call *call, const char *name, const char *dir,
    enum authz_action action, bool may_remove)
{
	const struct ucred	*cred = rpc_caller(call);
	char			*man;
	uid_t			 owner;
	bool			 ok;

	if (authz_is_root(cred))
		return true;
	if (strchr(name, '/') == NULL) {
		/* None there: the handler answers NoSuchSnapshot. */
		if (access(dir, F_OK) < 0 && errno == ENOENT)
			return true;
		owner = snapshot_owner_read(dir);
		if (authz_may(cred, action, owner))
			return true;
		deny_owner(call, action, "snapshot", name, owner);
		return false;
	}
	/*
	 * A path snapshot: as far as the caller could use it itself.  What
	 * the caller itself sees is not there is NoSuchSnapshot.
	 */
	if (cred != NULL && asuser_access(cred, dir, F_OK) == -ENOENT) {
		rpc_error(call, RPC_E_NO_SUCH_SNAPSHOT, "no snapshot at %s", dir);
		return false;
	}
	man = xasprintf("%s/%s", dir, SNAPSHOT_MANIFEST);
	ok = rpc_authz_file(call, "snapshot", dir, R_OK | X_OK) &&
	    rpc_authz_file(call, "snapshot", man, R_OK) &&
	    (!may_remove || rpc_authz_create(call, "snapshot", dir));
	free(man);
	return ok;
}

bool
rpc_authz_admin(struct rpc_call *call, const char *what)
{
	const struct ucred	*cred = rpc_caller(call);
	unsigned int		 uid = cred != NULL ? (unsigned int)cred->uid : 0;

	if (authz_may(cred, AUTHZ_ADMIN, 0))
		return true;
	log_info("uid %u may not %s: root only", uid, what);
	rpc_error_data(call, RPC_E_PERMISSION_DENIED, rpc_reason("root only"),
	    "uid %u may not %s: only root may", uid, what);
	return false;
}

bool
rpc_authz_images(struct rpc_call *call, const char *image,
    const char *const *disks, size_t ndisks)
{
	struct authz_refusal ref = { 0 };

	if (authz_path_images(rpc_caller(call), image, disks, ndisks, &ref) == 0)
		return true;
	deny_refusal(call, &ref);
	return false;
}

bool
rpc_authz_machine_dir(struct rpc_call *call, const char *dir, bool is_path)
{
	struct authz_refusal ref = { 0 };

	if (authz_path_machine_dir(rpc_caller(call), dir, is_path, &ref) == 0)
		return true;
	deny_refusal(call, &ref);
	return false;
}

int
rpc_authz_open_stream(struct rpc_call *call, const char *path, bool write)
{
	const struct ucred	*cred = rpc_caller(call);
	int			 fd, fl;

	if (cred == NULL)
		fd = -EPERM;
	else if (write)
		fd = asuser_open(cred, path, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_NOCTTY, 0600);
	else
		fd = asuser_open(cred, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	/* Non-blocking only for the open (a FIFO without a writer). */
	if (fd >= 0 && !write && ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) {
		int r = -errno;

		(void)close(fd);
		fd = r;
	}
	if (fd >= 0)
		return fd;
	if (fd == -EACCES || fd == -EPERM)
		rpc_permission_denied_file(call, "file", path, fd,
		    write ? "create" : "read");
	else
		rpc_error_errno(call, RPC_E_IO_ERROR, fd, "cannot %s %s",
		    write ? "create" : "open", path);
	return -1;
}


bool
rpc_authz_kernel(struct rpc_call *call, const char *kernel)
{
	struct authz_refusal	 ref = { 0 };

	if (snapshot_kernel_authz(rpc_caller(call), kernel, &ref) == 0)
		return true;
	deny_refusal(call, &ref);
	return false;
}
