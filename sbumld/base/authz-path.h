/* SPDX-License-Identifier: MIT */
/*
 * The file side of authorisation (authz.h decides on owners): could the
 * caller use a path itself (asuser.h), and may it run a kernel?  Each check
 * returns 0, or -EACCES with the refusal (a PermissionDenied in doc/rpc.md:
 * its message and error data) in *ref, which the caller clears.  A NULL
 * cred (a caller that has gone) may use nothing.
 */
#ifndef SBUMLD_AUTHZ_PATH_H
#define SBUMLD_AUTHZ_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <json-c/json.h>

struct authz_refusal {
	struct json_object	*data;	/* error data (param, path, errno, ...) */
	char			*msg;
};

/* Free what a refusal holds (data and msg; both may be NULL). */
void	authz_refusal_clear(struct authz_refusal *ref);
/*
 * Fill ref: "param: uid U cannot what path: strerror(err)", data param,
 * path and errno (what: "read", "create", ...).  Logs it.
 */
void	authz_refusal_file(struct authz_refusal *ref, const struct ucred *cred,
	    const char *param, const char *path, int err, const char *what);

/*
 * Could cred open path with amode (R_OK, W_OK) itself?  Root: yes without
 * asking.  A path cred sees missing (ENOENT) passes: the caller's own
 * checks answer it.  param names the parameter in the refusal.
 */
int	authz_path_file(const struct ucred *cred, const char *param,
	    const char *path, int amode, struct authz_refusal *ref);
/* Could cred create path itself (its parent writable and searchable)? */
int	authz_path_create(const struct ucred *cred, const char *param,
	    const char *path, struct authz_refusal *ref);
/*
 * Could cred read the image and disks a machine is to use itself?  The
 * daemon's own default image and the named images in <state_dir>/images
 * (root's, made for everyone) are everyone's.
 */
int	authz_path_images(const struct ucred *cred, const char *image,
	    const char *const *disks, size_t ndisks, struct authz_refusal *ref);
/*
 * Could cred use the directory of a path machine itself: write it, or
 * create it (its parent) if it is not there yet?  Plain names pass.
 */
int	authz_path_machine_dir(const struct ucred *cred, const char *dir,
	    bool is_path, struct authz_refusal *ref);
/*
 * May cred run kernel?  Anyone the daemon's own and those that came with a
 * snapshot (materialised in kernels_dir, "<store>/kernels"); any other is
 * root's.
 */
int	authz_path_kernel(const struct ucred *cred, const char *kernel,
	    const char *kernels_dir, struct authz_refusal *ref);

#endif
