/* SPDX-License-Identifier: MIT */
/* Authorisation of paths and kernels; see authz-path.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asuser.h"
#include "authz.h"
#include "authz-path.h"
#include "context.h"
#include "log.h"
#include "util.h"

void
authz_refusal_clear(struct authz_refusal *ref)
{
	json_object_put(ref->data);
	free(ref->msg);
	ref->data = NULL;
	ref->msg = NULL;
}

/* The uid a refusal names (0 for a caller that has gone). */
static unsigned int
refusal_uid(const struct ucred *cred)
{
	return cred != NULL ? (unsigned int)cred->uid : 0;
}

void
authz_refusal_file(struct authz_refusal *ref, const struct ucred *cred,
    const char *param, const char *path, int err, const char *what)
{
	unsigned int uid = refusal_uid(cred);

	err = err < 0 ? -err : err;
	ref->data = json_object_new_object();
	json_object_object_add(ref->data, "param", json_object_new_string(param));
	json_object_object_add(ref->data, "path", json_object_new_string(path));
	if (strerrorname_np(err) != NULL)
		json_object_object_add(ref->data, "errno", json_object_new_string(
		    strerrorname_np(err)));
	log_info("uid %u may not %s %s (%s): %s", uid, what, path, param,
	    strerror(err));
	ref->msg = xasprintf("%s: uid %u cannot %s %s: %s", param, uid, what,
	    path, strerror(err));
}

int
authz_path_file(const struct ucred *cred, const char *param, const char *path,
    int amode, struct authz_refusal *ref)
{
	int r;

	if (authz_is_root(cred))
		return 0;
	r = cred == NULL ? -EPERM : asuser_access(cred, path, amode);
	/* What the caller itself sees is missing, the caller's checks say so. */
	if (r == 0 || r == -ENOENT)
		return 0;
	authz_refusal_file(ref, cred, param, path, r, amode & W_OK ? "write" :
	    "read");
	return -EACCES;
}

int
authz_path_create(const struct ucred *cred, const char *param,
    const char *path, struct authz_refusal *ref)
{
	int r;

	if (authz_is_root(cred))
		return 0;
	r = cred == NULL ? -EPERM : asuser_may_create(cred, path);
	if (r == 0)
		return 0;
	authz_refusal_file(ref, cred, param, path, r, "create");
	return -EACCES;
}

/*
 * A named image, <state_dir>/images/NAME.img: root made it for everyone
 * (sbumlctl image build), in a directory only root may write.
 */
static bool
is_named_image(const char *image)
{
	const char	*sd = daemon_config.state_dir, *rest;
	size_t		 len;

	if (sd == NULL || strncmp(image, sd, strlen(sd)) != 0)
		return false;
	rest = image + strlen(sd);
	if (strncmp(rest, "/images/", 8) != 0)
		return false;
	rest += 8;
	len = strlen(rest);
	return len > 4 && rest[0] != '.' && strchr(rest, '/') == NULL &&
	    strcmp(rest + len - 4, ".img") == 0;
}

/* The daemon's default image and the named images are everyone's. */
static bool
is_public_image(const char *image)
{
	return (daemon_config.image != NULL &&
	    strcmp(image, daemon_config.image) == 0) || is_named_image(image);
}

int
authz_path_images(const struct ucred *cred, const char *image,
    const char *const *disks, size_t ndisks, struct authz_refusal *ref)
{
	if (authz_is_root(cred))
		return 0;
	if (image != NULL && !is_public_image(image) &&
	    authz_path_file(cred, "image", image, R_OK, ref) < 0)
		return -EACCES;
	for (size_t i = 0; i < ndisks; i++)
		if (authz_path_file(cred, "disks", disks[i], R_OK, ref) < 0)
			return -EACCES;
	return 0;
}

int
authz_path_machine_dir(const struct ucred *cred, const char *dir, bool is_path,
    struct authz_refusal *ref)
{
	int r;

	if (!is_path || authz_is_root(cred))
		return 0;
	if (cred == NULL)
		r = -EPERM;
	else if ((r = asuser_access(cred, dir, W_OK | X_OK)) == -ENOENT)
		r = asuser_may_create(cred, dir);
	if (r == 0)
		return 0;
	authz_refusal_file(ref, cred, "machine", dir, r, "use the directory");
	return -EACCES;
}

/* A kernel the daemon materialised from a snapshot's chunks: <kernels_dir>/<id>. */
static bool
is_store_kernel(const char *kernel, const char *kernels_dir)
{
	size_t len = strlen(kernels_dir);

	return strncmp(kernel, kernels_dir, len) == 0 && kernel[len] == '/' &&
	    kernel[len + 1] != '\0' && kernel[len + 1] != '.' &&
	    strchr(kernel + len + 1, '/') == NULL;
}

int
authz_path_kernel(const struct ucred *cred, const char *kernel,
    const char *kernels_dir, struct authz_refusal *ref)
{
	unsigned int uid = refusal_uid(cred);

	if (authz_is_root(cred) || (daemon_config.kernel != NULL &&
	    strcmp(kernel, daemon_config.kernel) == 0) ||
	    is_store_kernel(kernel, kernels_dir))
		return 0;
	ref->data = json_object_new_object();
	json_object_object_add(ref->data, "param", json_object_new_string("kernel"));
	json_object_object_add(ref->data, "path", json_object_new_string(kernel));
	log_info("uid %u may not run kernel %s: root only", uid, kernel);
	ref->msg = xasprintf("kernel: uid %u may not run %s: only root may "
	    "choose a kernel other than the daemon's own (%s) or one that came "
	    "with a snapshot", uid, kernel, daemon_config.kernel != NULL ?
	    daemon_config.kernel : "none");
	return -EACCES;
}
