/* SPDX-License-Identifier: MIT */
/*
 * The network.* methods and the network parameters of machine.boot and
 * snapshot.restore ("net", "publish", doc/rpc.md): checked here, carried
 * out by net.h when the machine starts.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "log.h"
#include "machine.h"
#include "net.h"
#include "rpc-authz.h"
#include "rpc-methods.h"

#define RPC_NET_PRIVILEGED_PORT	1024	/* below: an admin's to publish */

/* Drop the machines of a network object the caller may not see. */
static void
rpc_net_filter(struct rpc_call *call, struct json_object *net)
{
	const struct ucred	*cred = rpc_caller(call);
	struct json_object	*ms, *kept, *name;

	if (!json_object_object_get_ex(net, "machines", &ms))
		return;
	kept = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(ms); i++) {
		struct json_object	*m = json_object_array_get_idx(ms, i);
		struct machine		*mm;

		if (!json_object_object_get_ex(m, "machine", &name))
			continue;
		mm = machine_lookup(json_object_get_string(name));
		if (mm != NULL && authz_may(cred, AUTHZ_VIEW,
		    machine_config(mm)->owner))
			json_object_array_add(kept, json_object_get(m));
	}
	json_object_object_add(net, "machines", kept);
}

static const struct rpc_param no_params[] = {
	{ NULL, 0, 0, 0, 0, 0 }
};

/* network.list: {"networks": [...]}, each with the machines the caller may see. */
int
rpc_network_list(struct rpc_call *call, struct json_object *params)
{
	struct json_object	*res, *arr;

	if (rpc_parse_params(call, params, no_params, NULL) < 0)
		return (0);
	arr = net_list_json();
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		rpc_net_filter(call, json_object_array_get_idx(arr, i));
	res = json_object_new_object();
	json_object_object_add(res, "networks", arr);
	rpc_reply(call, res);
	return (0);
}

struct network_params {
	const char	*network;
};

static const struct rpc_param network_table[] = {
	{ "network", RPC_PARAM_STRING, offsetof(struct network_params, network),
	    0, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

/* network.info: one network object (default: the default network). */
int
rpc_network_info(struct rpc_call *call, struct json_object *params)
{
	struct network_params	 p = { NULL };
	struct json_object	*net;
	char			 msg[128];

	if (rpc_parse_params(call, params, network_table, &p) < 0)
		return (0);
	if (p.network == NULL)
		p.network = strcmp(net_default_network(), NET_NONE) != 0 ?
		    net_default_network() : NET_DEFAULT;
	if ((net = net_info_json(p.network)) == NULL) {
		snprintf(msg, sizeof(msg), "no network %.*s", 64, p.network);
		rpc_bad_param(call, "network", msg);
		return (0);
	}
	rpc_net_filter(call, net);
	rpc_reply(call, net);
	return (0);
}

/* See rpc-methods.h. */
int
rpc_net_publish_parse(struct rpc_call *call, struct json_object *publish,
    struct net_nic *nic)
{
	char	err[256];
	size_t	n;

	if (publish == NULL)
		return (0);
	if ((n = json_object_array_length(publish)) > NET_MAX_PUBLISH) {
		snprintf(err, sizeof(err), "at most %d published ports",
		    NET_MAX_PUBLISH);
		rpc_bad_param(call, "publish", err);
		return (-1);
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object	*v = json_object_array_get_idx(publish, i);
		struct net_publish	*p = &nic->publish[nic->npublish];

		if (!json_object_is_type(v, json_type_string)) {
			rpc_bad_param(call, "publish",
			    "publish must be an array of strings");
			return (-1);
		}
		if (net_publish_parse(json_object_get_string(v), p, err,
		    sizeof(err)) < 0) {
			rpc_bad_param(call, "publish", err);
			return (-1);
		}
		if (p->host_port < RPC_NET_PRIVILEGED_PORT &&
		    !rpc_authz_admin(call, "publish a host port below 1024"))
			return (-1);
		nic->npublish++;
	}
	return (0);
}

/*
 * A boot that names no network gets the daemon's default one, unless this
 * host cannot give a UML a tap (a container's 0600 /dev/net/tun): then it
 * boots without one, as before networks existed, instead of failing the
 * classic sbumlboot workflow.  Asking for a network or a published port
 * still gets the error.
 */
static const char *
rpc_net_implicit_network(const char *owner, struct json_object *publish)
{
	const char	*network = net_default_network();
	char		 err[256];

	if (strcmp(network, NET_NONE) == 0 ||
	    (publish != NULL && json_object_array_length(publish) > 0) ||
	    machine_nic_check_tun(err, sizeof(err)) == 0)
		return (network);
	log_warnx("%s: no network (%s)", owner, err);
	return (NET_NONE);
}

/* See rpc-methods.h. */
int
rpc_net_nic_config(struct rpc_call *call, const char *owner,
    const char *network, struct json_object *publish, struct net_nic *nic)
{
	char	err[256];
	int	r;

	memset(nic, 0, sizeof(*nic));
	if (network == NULL)
		network = rpc_net_implicit_network(owner, publish);
	if (strcmp(network, NET_NONE) == 0) {
		if (publish != NULL && json_object_array_length(publish) > 0) {
			rpc_bad_param(call, "publish", "a machine without a "
			    "network (net none) publishes no ports");
			return (-1);
		}
		return (0);
	}
	if (!net_exists(network)) {
		snprintf(err, sizeof(err), "no network %.*s (see network.list)",
		    64, network);
		rpc_bad_param(call, "net", err);
		return (-1);
	}
	snprintf(nic->network, sizeof(nic->network), "%s", network);
	if ((r = net_mac_random(nic->mac, sizeof(nic->mac))) < 0) {
		rpc_error_errno(call, RPC_INTERNAL_ERROR, r, "no random MAC");
		return (-1);
	}
	if (rpc_net_publish_parse(call, publish, nic) < 0)
		return (-1);
	if (net_publish_check(owner, nic, err, sizeof(err)) < 0) {
		rpc_bad_param(call, "publish", err);
		return (-1);
	}
	return (0);
}
