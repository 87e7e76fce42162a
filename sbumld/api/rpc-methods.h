/* SPDX-License-Identifier: MIT */
/* Every RPC handler, grouped by namespace (one rpc-<namespace>.c file each). */
#ifndef SBUMLD_RPC_METHODS_H
#define SBUMLD_RPC_METHODS_H

#include <stdbool.h>

#include "rpc.h"

/* The method table (rpc-methods.c), sorted by name (checked by test-tables). */
extern const struct rpc_method rpc_methods[];
extern const size_t rpc_methods_count;
/* rpc_init's lookup: the method named name, or NULL. */
const struct rpc_method *rpc_method_find(const char *name);

/* rpc-daemon.c */
int	rpc_daemon_ping(struct rpc_call *, struct json_object *);
int	rpc_daemon_version(struct rpc_call *, struct json_object *);
int	rpc_daemon_set_log_level(struct rpc_call *, struct json_object *);
int	rpc_events_subscribe(struct rpc_call *, struct json_object *);
int	rpc_events_unsubscribe(struct rpc_call *, struct json_object *);

/* rpc-image.c */
int	rpc_image_list(struct rpc_call *, struct json_object *);

/* rpc-machine.c */
int	rpc_machine_boot(struct rpc_call *, struct json_object *);
int	rpc_machine_console(struct rpc_call *, struct json_object *);
int	rpc_machine_console_attach(struct rpc_call *, struct json_object *);
int	rpc_machine_delete(struct rpc_call *, struct json_object *);
int	rpc_machine_halt(struct rpc_call *, struct json_object *);
int	rpc_machine_info(struct rpc_call *, struct json_object *);
int	rpc_machine_kill(struct rpc_call *, struct json_object *);
int	rpc_machine_list(struct rpc_call *, struct json_object *);
int	rpc_machine_pause(struct rpc_call *, struct json_object *);
int	rpc_machine_resume(struct rpc_call *, struct json_object *);

/* -32602 InvalidParams with data.param (rpc-machine.c). */
void	rpc_bad_param(struct rpc_call *call, const char *param, const char *msg);

/* rpc-net.c */
int	rpc_network_info(struct rpc_call *, struct json_object *);
int	rpc_network_list(struct rpc_call *, struct json_object *);
struct net_nic;
/*
 * The NIC of a new machine owner from the "net" (NULL: the daemon's
 * default network) and "publish" (NULL or an array of specs) parameters:
 * a new MAC, checked ports (below 1024: admin only; none held by another
 * machine).  0, or -1 once the call has been answered.
 */
int	rpc_net_nic_config(struct rpc_call *call, const char *owner,
	    const char *network, struct json_object *publish,
	    struct net_nic *nic);
/*
 * Parse "publish" (NULL, or an array of specs; below 1024 an admin's) into
 * nic->publish.  0, or -1 once the call has been answered.
 */
int	rpc_net_publish_parse(struct rpc_call *call, struct json_object *publish,
	    struct net_nic *nic);

/* rpc-snapshot.c */
int	rpc_snapshot_check(struct rpc_call *, struct json_object *);
int	rpc_snapshot_delete(struct rpc_call *, struct json_object *);
int	rpc_snapshot_info(struct rpc_call *, struct json_object *);
int	rpc_snapshot_list(struct rpc_call *, struct json_object *);
int	rpc_snapshot_restore(struct rpc_call *, struct json_object *);
int	rpc_snapshot_save(struct rpc_call *, struct json_object *);
int	rpc_snapshot_verify(struct rpc_call *, struct json_object *);
int	rpc_store_gc(struct rpc_call *, struct json_object *);

/* rpc-transfer.c */
int	rpc_snapshot_export(struct rpc_call *, struct json_object *);
int	rpc_snapshot_import(struct rpc_call *, struct json_object *);
int	rpc_snapshot_push(struct rpc_call *, struct json_object *);
int	rpc_snapshot_pull(struct rpc_call *, struct json_object *);
int	rpc_snapshot_tags(struct rpc_call *, struct json_object *);
int	rpc_snapshot_search(struct rpc_call *, struct json_object *);
/*
 * The caller's credentials (base64 "user:password", caller frees) for the
 * registry of the reference refstr, from auth_file (absolute, may be NULL:
 * the caller's usual places), read with the caller's rights: *ret, NULL
 * for none.  0, or -1 once the call has been answered (a bad auth file).
 */
int	rpc_registry_credentials(struct rpc_call *call, const char *refstr,
	    const char *auth_file, char **ret);

/* rpc-restore-source.c */
struct snapshot_restore_net;
/*
 * snapshot.restore with "source": pull or import it into snapshot (NULL:
 * the name it carries), then restore that as machine.  Answers the call
 * (RPC_DEFERRED, or 0 once answered).
 */
int	rpc_restore_source(struct rpc_call *call, const char *source,
	    const char *snapshot, const char *machine, bool cont,
	    const struct snapshot_restore_net *net, bool insecure,
	    const char *auth_file);

#endif
