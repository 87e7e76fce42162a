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

/* A new identity: a new MAC, no address yet, the ports asked for. */
static int
snapshot_restore_new_identity(const struct snapshot_restore_net *opts,
    struct net_nic *nic, char *err, size_t errlen)
{
	int	r;

	nic->ipv4 = 0;
	nic->npublish = 0;
	if (opts != NULL && opts->publish_given) {
		memcpy(nic->publish, opts->publish.publish, sizeof(nic->publish));
		nic->npublish = opts->publish.npublish;
	}
	if ((r = net_mac_random(nic->mac, sizeof(nic->mac))) < 0) {
		snprintf(err, errlen, "no random MAC: %s", strerror(-r));
		return SNAPSHOT_JOB_E_INTERNAL;
	}
	return 0;
}

int
snapshot_restore_nic(struct json_object *man, const char *name,
    const struct snapshot_restore_net *opts, struct machine_config *cfg,
    char **ret_saved_mac, char *err, size_t errlen)
{
	struct json_object	*mach, *net = NULL;
	struct net_nic		*nic = &cfg->nic;
	const char		*holder;
	char			 nerr[256];
	int			 r;

	*ret_saved_mac = NULL;
	memset(nic, 0, sizeof(*nic));
	if (json_object_object_get_ex(man, "machine", &mach))
		(void)json_object_object_get_ex(mach, "net", &net);
	if (net_nic_config_parse(net, nic, nerr, sizeof(nerr)) < 0) {
		snprintf(err, errlen, "the manifest's machine.net: %s", nerr);
		return SNAPSHOT_JOB_E_BAD_SNAPSHOT;
	}
	if (nic->network[0] == '\0') {
		if (opts != NULL && opts->publish_given && opts->publish.npublish > 0) {
			snprintf(err, errlen, "the snapshot's machine has no "
			    "network interface: it publishes no ports");
			return SNAPSHOT_JOB_E_INVALID_PARAMS;
		}
		return 0;
	}
	if (!net_exists(nic->network)) {
		snprintf(err, errlen, "the snapshot's machine was on network %s, "
		    "which this daemon does not have (sbumld --network)",
		    nic->network);
		return SNAPSHOT_JOB_E_INCOMPATIBLE;
	}
	*ret_saved_mac = xstrdup(nic->mac);
	if (opts == NULL || !opts->same_identity)
		r = snapshot_restore_new_identity(opts, nic, err, errlen);
	else if ((holder = net_mac_holder(nic->mac)) != NULL) {
		snprintf(err, errlen, "machine %s still runs with MAC %s: stop "
		    "it before a restore with the same identity, or restore a "
		    "clone (a new identity)", holder, nic->mac);
		r = SNAPSHOT_JOB_E_BAD_STATE;
	} else if (nic->ipv4 != 0 && net_ip_held(nic->network, nic->ipv4, name)) {
		snprintf(err, errlen, "the address of the saved machine is held "
		    "by another machine now: it cannot keep its identity");
		r = SNAPSHOT_JOB_E_BAD_STATE;
	} else if (net_publish_check(name, nic, nerr, sizeof(nerr)) < 0) {
		snprintf(err, errlen, "%s: the ports cannot move over", nerr);
		r = SNAPSHOT_JOB_E_BAD_STATE;
	} else
		r = 0;
	if (r == 0 && opts != NULL && !opts->same_identity &&
	    net_publish_check(name, nic, nerr, sizeof(nerr)) < 0) {
		snprintf(err, errlen, "%s", nerr);
		r = SNAPSHOT_JOB_E_INVALID_PARAMS;
	}
	if (r != 0) {
		free(*ret_saved_mac);
		*ret_saved_mac = NULL;
		memset(nic, 0, sizeof(*nic));
	}
	return r;
}
