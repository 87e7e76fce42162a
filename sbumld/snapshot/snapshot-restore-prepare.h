/* SPDX-License-Identifier: MIT */
/* What a restore checks and copies before its kernel starts (snapshot-restore-prepare.c). */
#ifndef SBUMLD_SNAPSHOT_RESTORE_PREPARE_H
#define SBUMLD_SNAPSHOT_RESTORE_PREPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "net.h"
#include "snapshot-job.h"

/* What a restore does with the saved NIC (doc/restore.md). */
struct snapshot_restore_net {
	/* Keep the saved MAC, address and published ports (the original is gone). */
	bool		same_identity;
	/* A new identity's published ports (publish[]/npublish only); none if not given. */
	bool		publish_given;
	struct net_nic	publish;
};

struct machine_config;

/*
 * May the caller run kernel (an installed binary of the snapshot's build,
 * which the manifest may name)?  0, or -EACCES after reporting
 * PermissionDenied through cb.
 */
int	snapshot_restore_authz_kernel(const struct snapshot_caller *caller,
	    const char *kernel, const struct snapshot_job_cb *cb);
/*
 * May the caller use the new machine's directory mdir (is_path: a path
 * machine) and read the base images of cfg itself, as for a boot?  0, or
 * -EACCES after reporting PermissionDenied through cb.
 */
int	snapshot_restore_authz_files(const struct snapshot_caller *caller,
	    const char *mdir, bool is_path, const struct machine_config *cfg,
	    const struct snapshot_job_cb *cb);
/*
 * The new machine's configuration (*cfg, caller clears) from the
 * manifest's "machine" section, running kernel; its base images must be
 * readable here.  0, -EBADMSG (malformed) or -ENOENT (an image missing),
 * message in err.
 */
int	snapshot_restore_config(struct json_object *man, const char *kernel,
	    struct machine_config *cfg, char *err, size_t errlen);
/*
 * Copy capture/disk<N> of the format 1 snapshot in snapdir to the machine
 * directory mdir's disk<N>.cow, for N = 0..ndisks.  0 or -errno, message
 * in err.
 */
/*
 * The new machine name's NIC in cfg->nic (cleared: none) from the saved one
 * (the manifest's machine.net) and opts (NULL: a new identity, no ports):
 * a new MAC and no address unless same_identity, which is refused while a
 * live machine has the MAC or the ports.  *ret_saved_mac (caller frees):
 * the saved MAC, NULL without a NIC.  0, or a SNAPSHOT_JOB_E_* > 0 with a
 * message in err.
 */
int	snapshot_restore_nic(struct json_object *man, const char *name,
	    const struct snapshot_restore_net *opts, struct machine_config *cfg,
	    char **ret_saved_mac, char *err, size_t errlen);
int	snapshot_restore_copy_disks(const char *snapdir, const char *mdir,
	    size_t ndisks, char *err, size_t errlen);

#endif
