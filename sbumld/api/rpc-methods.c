/* SPDX-License-Identifier: MIT */
/*
 * The method table: the whole RPC surface of sbumld on one screen.  Kept
 * sorted by name for bsearch (test-tables checks the order).
 */
#include <stdlib.h>
#include <string.h>

#include "rpc-methods.h"

const struct rpc_method rpc_methods[] = {
	{ "daemon.ping",		rpc_daemon_ping },
	{ "daemon.set-log-level",	rpc_daemon_set_log_level },
	{ "daemon.version",		rpc_daemon_version },
	{ "events.subscribe",		rpc_events_subscribe },
	{ "events.unsubscribe",		rpc_events_unsubscribe },
	{ "image.list",			rpc_image_list },
	{ "machine.boot",		rpc_machine_boot },
	{ "machine.console",		rpc_machine_console },
	{ "machine.console-attach",	rpc_machine_console_attach },
	{ "machine.delete",		rpc_machine_delete },
	{ "machine.halt",		rpc_machine_halt },
	{ "machine.info",		rpc_machine_info },
	{ "machine.kill",		rpc_machine_kill },
	{ "machine.list",		rpc_machine_list },
	{ "machine.pause",		rpc_machine_pause },
	{ "machine.resume",		rpc_machine_resume },
	{ "network.info",		rpc_network_info },
	{ "network.list",		rpc_network_list },
	{ "snapshot.check",		rpc_snapshot_check },
	{ "snapshot.delete",		rpc_snapshot_delete },
	{ "snapshot.export",		rpc_snapshot_export },
	{ "snapshot.import",		rpc_snapshot_import },
	{ "snapshot.info",		rpc_snapshot_info },
	{ "snapshot.list",		rpc_snapshot_list },
	{ "snapshot.pull",		rpc_snapshot_pull },
	{ "snapshot.push",		rpc_snapshot_push },
	{ "snapshot.restore",		rpc_snapshot_restore },
	{ "snapshot.save",		rpc_snapshot_save },
	{ "snapshot.search",		rpc_snapshot_search },
	{ "snapshot.tags",		rpc_snapshot_tags },
	{ "snapshot.verify",		rpc_snapshot_verify },
	{ "store.gc",			rpc_store_gc },
};
const size_t rpc_methods_count = sizeof(rpc_methods) / sizeof(rpc_methods[0]);

static int
method_cmp(const void *key, const void *elem)
{
	const struct rpc_method *m = elem;

	return strcmp(key, m->name);
}

/* Look a method up by its exact name; NULL if there is none. */
const struct rpc_method *
rpc_method_find(const char *name)
{
	return bsearch(name, rpc_methods, rpc_methods_count,
	    sizeof(rpc_methods[0]), method_cmp);
}
