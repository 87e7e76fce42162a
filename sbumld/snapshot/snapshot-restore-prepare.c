/* SPDX-License-Identifier: MIT */
/*
 * What a restore checks and copies before its machine's kernel starts
 * (snapshot-restore-prepare.h): the caller's rights to what the restore
 * would use, the new machine's configuration from the manifest, and the
 * disks of a format 1 snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz-path.h"
#include "fsutil.h"
#include "machine.h"
#include "snapshot.h"
#include "snapshot-kernel.h"
#include "snapshot-restore-prepare.h"
#include "uml.h"
#include "util.h"

/* A refusal (authz-path.h) reported as PermissionDenied; clears it. */
static void
fail_refusal(const struct snapshot_job_cb *cb, struct authz_refusal *ref)
{
	snapshot_job_fail(cb, SNAPSHOT_JOB_E_PERMISSION_DENIED, ref->data, "%s",
	    ref->msg);
	ref->data = NULL;
	authz_refusal_clear(ref);
}

/* May the caller run kernel (one of its build-id, which the manifest may name)? */
int
snapshot_restore_authz_kernel(const struct snapshot_caller *caller, const char *kernel,
    const struct snapshot_job_cb *cb)
{
	struct authz_refusal	 ref = { 0 };
	int			 r;

	if ((r = snapshot_kernel_authz(snapshot_caller_cred(caller), kernel,
	    &ref)) < 0)
		fail_refusal(cb, &ref);
	return r;
}

/*
 * May the caller use the new machine's directory and read the overlays'
 * base images itself, as for a boot?
 */
int
snapshot_restore_authz_files(const struct snapshot_caller *caller, const char *mdir,
    bool is_path, const struct machine_config *cfg,
    const struct snapshot_job_cb *cb)
{
	const struct ucred	*cred = snapshot_caller_cred(caller);
	struct authz_refusal	 ref = { 0 };

	if (authz_path_machine_dir(cred, mdir, is_path, &ref) < 0 ||
	    authz_path_images(cred, cfg->image, (const char *const *)cfg->disks,
	    cfg->ndisks, &ref) < 0) {
		fail_refusal(cb, &ref);
		return -EACCES;
	}
	return 0;
}

/* The new machine's configuration from the manifest's "machine" section. */
int
snapshot_restore_config(struct json_object *man, const char *kernel,
    struct machine_config *cfg, char *err, size_t errlen)
{
	struct json_object	*mach, *v, *disks;
	const char		*image;

	memset(cfg, 0, sizeof(*cfg));
	if (!json_object_object_get_ex(man, "machine", &mach) ||
	    (image = snapshot_json_str(mach, "image")) == NULL ||
	    !json_object_object_get_ex(mach, "mem_mb", &v) ||
	    !json_object_object_get_ex(mach, "disks", &disks) ||
	    !json_object_is_type(disks, json_type_array) ||
	    json_object_array_length(disks) > UML_MAX_DISKS) {
		snprintf(err, errlen, "the manifest's machine section is malformed");
		return -EBADMSG;
	}
	cfg->image = xstrdup(image);
	cfg->kernel = xstrdup(kernel);
	cfg->cmdline = xstrdup(snapshot_json_str(mach, "cmdline") ? snapshot_json_str(mach, "cmdline") : "");
	cfg->mem_mb = (unsigned int)json_object_get_int(v);
	for (size_t i = 0; i < json_object_array_length(disks); i++)
		cfg->disks[cfg->ndisks++] = xstrdup(json_object_get_string(
		    json_object_array_get_idx(disks, i)));
	/* The overlays refer to their base images by path: those must be here. */
	for (size_t i = 0; i <= cfg->ndisks; i++) {
		const char *p = i == 0 ? cfg->image : cfg->disks[i - 1];

		if (access(p, R_OK) < 0) {
			snprintf(err, errlen, "base image %s of the snapshot is not "
			    "readable here: %s", p, strerror(errno));
			machine_config_clear(cfg);
			return -ENOENT;
		}
	}
	return 0;
}

/* Copy capture/disk<N> to the machine's disk<N>.cow for every saved disk. */
int
snapshot_restore_copy_disks(const char *snapdir, const char *mdir, size_t ndisks, char *err,
    size_t errlen)
{
	for (size_t i = 0; i <= ndisks; i++) {
		char	*src = xasprintf("%s/%s/disk%zu", snapdir, SNAPSHOT_CAPTURE, i);
		char	*dst = xasprintf("%s/disk%zu.cow", mdir, i);
		int	 r = fs_copy_file(src, dst, 0600);

		if (r < 0)
			snprintf(err, errlen, "cannot copy %s to %s: %s", src, dst,
			    strerror(-r));
		free(src);
		free(dst);
		if (r < 0)
			return r;
	}
	return 0;
}
