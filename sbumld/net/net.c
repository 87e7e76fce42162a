/* SPDX-License-Identifier: MIT */
/* Networks and live NICs; see net.h and net-int.h. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "context.h"
#include "log.h"
#include "net-int.h"
#include "net-run.h"
#include "net-tap.h"
#include "util.h"

#define NET_BRIDGE_FILE	"bridge"	/* <state-dir>/net/<name>/bridge: it is up */
#define NET_MAX_HOLDERS	256

static struct net_network	 net_networks[NET_MAX_NETWORKS];
static size_t			 net_nnetworks;
static struct net_holder	*net_holders[NET_MAX_HOLDERS];
static size_t			 net_nholders;
static char			 net_default[NET_NAME_MAX + 1] = NET_NONE;

size_t	net_network_count(void) { return (net_nnetworks); }
struct net_network *net_network_at(size_t i) { return (&net_networks[i]); }
size_t	net_holder_count(void) { return (net_nholders); }
const struct net_holder *net_holder_at(size_t i) { return (net_holders[i]); }
const char *net_default_network(void) { return (net_default); }

char *
net_state_path(const char *file)
{
	return (file == NULL ? xasprintf("%s/net", daemon_config.state_dir) :
	    xasprintf("%s/net/%s", daemon_config.state_dir, file));
}

static struct net_network *
net_find(const char *name)
{
	for (size_t i = 0; i < net_nnetworks; i++)
		if (strcmp(net_networks[i].name, name) == 0)
			return (&net_networks[i]);
	return (NULL);
}

bool
net_exists(const char *name)
{
	return (net_find(name) != NULL);
}

/* Declare one network from "NAME[=CIDR]". */
static int
net_declare(const char *spec, char *err, size_t errlen)
{
	struct net_network	*net;
	char			 name[64];
	const char		*eq = strchr(spec, '=');
	size_t			 n = eq != NULL ? (size_t)(eq - spec) : strlen(spec);

	snprintf(name, sizeof(name), "%.*s", (int)(n < 63 ? n : 63), spec);
	if (n >= sizeof(name) || !net_name_valid(name)) {
		snprintf(err, errlen, "network %s: a name is 1-%d of [a-z0-9] "
		    "and not \"none\"", name, NET_NAME_MAX);
		return (-EINVAL);
	}
	if ((net = net_find(name)) == NULL) {
		if (net_nnetworks == NET_MAX_NETWORKS) {
			snprintf(err, errlen, "at most %d networks",
			    NET_MAX_NETWORKS);
			return (-EINVAL);
		}
		net = &net_networks[net_nnetworks++];
		memset(net, 0, sizeof(*net));
		snprintf(net->name, sizeof(net->name), "%.11s", name);
		if (strcmp(name, NET_DEFAULT) == 0)
			snprintf(net->bridge, sizeof(net->bridge), "%s",
			    NET_DEFAULT_BRIDGE);
		else
			snprintf(net->bridge, sizeof(net->bridge), "sbn-%.11s",
			    name);
		net->dir = xasprintf("%s/net/%s", daemon_config.state_dir, name);
	}
	if (eq != NULL) {
		if (net_subnet_parse(eq + 1, &net->subnet, err, errlen) < 0)
			return (-EINVAL);
		net->fixed = true;
	}
	return (0);
}

/* Delete a bridge of ours by name (gone already is fine). */
static void
net_bridge_delete(const char *bridge)
{
	const char *const argv[] = { "ip", "link", "delete", "dev", bridge, NULL };
	char	err[512];

	if (if_nametoindex(bridge) == 0)
		return;
	if (net_run(argv, NULL, err, sizeof(err)) < 0)
		log_warnx("network: %s", err);
}

/* What a crashed daemon left: every <state-dir>/net/<name> it recorded as up. */
static void
net_remove_stale(void)
{
	char		*dir = net_state_path(NULL), *path, *buf;
	DIR		*d;
	struct dirent	*de;
	size_t		 len;

	net_nft_remove_stale();
	if ((d = opendir(dir)) == NULL) {
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!net_name_valid(de->d_name))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		net_dnsmasq_kill_stale(path);
		free(path);
		path = xasprintf("%s/%s/%s", dir, de->d_name, NET_BRIDGE_FILE);
		if (read_file(path, 64, &buf, &len) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			if (strcmp(buf, NET_DEFAULT_BRIDGE) == 0 ||
			    strncmp(buf, "sbn-", 4) == 0) {
				log_info("network %s: removing bridge %s left by "
				    "an earlier daemon", de->d_name, buf);
				net_bridge_delete(buf);
			}
			free(buf);
			(void)unlink(path);
		}
		free(path);
	}
	closedir(d);
	free(dir);
}

int
net_init(const char *const *specs, size_t nspecs, const char *default_network,
    char *err, size_t errlen)
{
	int	r;

	if ((r = net_declare(NET_DEFAULT, err, errlen)) < 0)
		return (r);
	for (size_t i = 0; i < nspecs; i++)
		if ((r = net_declare(specs[i], err, errlen)) < 0)
			return (r);
	if (strcmp(default_network, NET_NONE) != 0 &&
	    net_find(default_network) == NULL) {
		snprintf(err, errlen, "default network %s is not declared "
		    "(--network)", default_network);
		return (-EINVAL);
	}
	snprintf(net_default, sizeof(net_default), "%s", default_network);
	net_remove_stale();
	return (0);
}

/*
 * Make a /proc/sys file hold v ("0" or "1"): written only when it differs,
 * so that a daemon confined with a read-only /proc/sys (a container, or a
 * unit that adds ProtectKernelTunables) still works on a host that already
 * turned it on (sysctl.d).
 */
static int
net_sysctl(const char *path, const char *v)
{
	char	*cur = NULL;
	size_t	 len;
	int	 fd, r = 0;

	if (read_file(path, 64, &cur, &len) == 0 && len > 0 && cur[0] == v[0]) {
		free(cur);
		return (0);
	}
	free(cur);

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return (-errno);
	if (write_fd_all(fd, v, strlen(v)) < 0)
		r = -errno;
	close(fd);
	return (r);
}

/* A subnet for net: its own, or the first candidate clear of the host's routes and our networks. */
static int
net_pick_subnet(struct net_network *net, char *err, size_t errlen)
{
	struct net_subnet	*routes = NULL;
	char			*text = NULL, buf[32];
	size_t			 n = 0, len;
	int			 r;

	if (read_file("/proc/net/route", 1 << 20, &text, &len) == 0)
		(void)net_routes_parse(text, &routes, &n);
	free(text);
	for (size_t i = 0; i < net_nnetworks; i++) {
		if (!net_networks[i].up || &net_networks[i] == net)
			continue;
		routes = xrealloc(routes, (n + 1) * sizeof(*routes));
		routes[n++] = net_networks[i].subnet;
	}
	r = 0;
	if (net->fixed) {
		for (size_t i = 0; i < n; i++)
			if (net_subnet_overlaps(&net->subnet, &routes[i])) {
				net_subnet_format(&net->subnet, buf, sizeof(buf));
				snprintf(err, errlen, "network %s: subnet %s "
				    "overlaps a route of the host", net->name, buf);
				r = -EADDRINUSE;
			}
	} else if ((r = net_subnet_choose(routes, n, &net->subnet)) < 0)
		snprintf(err, errlen, "network %s: every candidate subnet "
		    "overlaps a route of the host; give one with --network",
		    net->name);
	free(routes);
	return (r);
}

static void
net_down(struct net_network *net)
{
	char	*path, err[512];

	net_dnsmasq_stop(net->dns);
	net->dns = NULL;
	net_bridge_delete(net->bridge);
	net->up = false;
	if (net_nft_sync(err, sizeof(err)) < 0)
		log_warnx("network %s: %s", net->name, err);
	path = xasprintf("%s/%s", net->dir, NET_BRIDGE_FILE);
	(void)unlink(path);
	free(path);
}

/* Bridge, address, forwarding, record, NAT, dnsmasq. */
static int
net_up(struct net_network *net, char *err, size_t errlen)
{
	char		 cidr[32], gw[INET_ADDRSTRLEN], *path;
	char		 mac[NET_MAC_LEN + 1];
	struct in_addr	 a;
	int		 r;

	if (net->up)
		return (0);
	/*
	 * The gateway's MAC must never change: a bridge without an address
	 * of its own takes the lowest of its ports' (all zeroes with none),
	 * so a tap coming or going moved it, and guests went on sending to
	 * the old one from their ARP caches until the entry expired (up to a
	 * minute).  A same-identity restore (its cache is the saved one) then
	 * did not answer the host, which knew its unchanged MAC and had no
	 * reason to ARP.  One derived from the network's name stays the same
	 * after a daemon restart and on another host (a migration).
	 */
	net_bridge_mac(net->name, mac, sizeof(mac));
	if ((r = net_pick_subnet(net, err, errlen)) < 0)
		return (r);
	a.s_addr = net_subnet_gateway(&net->subnet);
	inet_ntop(AF_INET, &a, gw, sizeof(gw));
	snprintf(cidr, sizeof(cidr), "%s/%u", gw, net->subnet.prefix);
	if ((r = mkdir_p(net->dir, 0700)) < 0) {
		snprintf(err, errlen, "%s: %s", net->dir, strerror(-r));
		return (r);
	}
	/* Recorded first: a crash from here on leaves something to clean. */
	path = xasprintf("%s/%s", net->dir, NET_BRIDGE_FILE);
	r = write_file_atomic(path, net->bridge, strlen(net->bridge), 0600);
	free(path);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", net->dir, strerror(-r));
		return (r);
	}
	{
		const char *const add[] = { "ip", "link", "add", "name",
		    net->bridge, "address", mac, "type", "bridge", NULL };
		const char *const addr[] = { "ip", "address", "add", cidr, "dev",
		    net->bridge, NULL };
		const char *const upv[] = { "ip", "link", "set", "dev",
		    net->bridge, "up", NULL };

		if ((r = net_run(add, NULL, err, errlen)) < 0 ||
		    (r = net_run(addr, NULL, err, errlen)) < 0 ||
		    (r = net_run(upv, NULL, err, errlen)) < 0)
			goto fail;
	}
	if ((r = net_sysctl("/proc/sys/net/ipv4/ip_forward", "1")) < 0) {
		snprintf(err, errlen, "IPv4 forwarding is off and cannot be "
		    "turned on (%s): set net.ipv4.ip_forward=1 in /etc/sysctl.d",
		    strerror(-r));
		goto fail;
	}
	/* DNAT of 127.0.0.1:port to a guest routes a loopback source out. */
	path = xasprintf("/proc/sys/net/ipv4/conf/%s/route_localnet",
	    net->bridge);
	r = net_sysctl(path, "1");
	free(path);
	if (r < 0)
		log_warnx("network %s: route_localnet: %s (127.0.0.1 ports "
		    "will not reach guests)", net->name, strerror(-r));
	net->up = true;
	if ((r = net_nft_sync(err, errlen)) < 0 ||
	    (r = net_dnsmasq_start(net->dir, net->bridge, &net->subnet,
	    &net->dns, err, errlen)) < 0)
		goto fail;
	log_info("network %s: up on bridge %s, %s", net->name, net->bridge, cidr);
	return (0);
fail:
	net_down(net);
	return (r);
}

void
net_shutdown(void)
{
	for (size_t i = 0; i < net_nnetworks; i++)
		if (net_networks[i].up)
			net_down(&net_networks[i]);
	for (size_t i = 0; i < net_nholders; i++) {
		free(net_holders[i]->owner);
		free(net_holders[i]);
	}
	net_nholders = 0;
	for (size_t i = 0; i < net_nnetworks; i++)
		free(net_networks[i].dir);
	net_nnetworks = 0;
}

static ssize_t
net_holder_index(const char *owner)
{
	for (size_t i = 0; i < net_nholders; i++)
		if (strcmp(net_holders[i]->owner, owner) == 0)
			return ((ssize_t)i);
	return (-1);
}

int
net_publish_check(const char *owner, const struct net_nic *nic, char *err,
    size_t errlen)
{
	char	spec[NET_PUBLISH_LEN];

	for (size_t i = 0; i < nic->npublish; i++) {
		for (size_t j = i + 1; j < nic->npublish; j++)
			if (net_publish_clash(&nic->publish[i], &nic->publish[j])) {
				net_publish_format(&nic->publish[j], spec,
				    sizeof(spec));
				snprintf(err, errlen, "publish %s: the host port "
				    "is given twice", spec);
				return (-EADDRINUSE);
			}
		for (size_t h = 0; h < net_nholders; h++) {
			const struct net_holder *o = net_holders[h];

			if (strcmp(o->owner, owner) == 0)
				continue;
			for (size_t k = 0; k < o->npublish; k++) {
				if (!net_publish_clash(&nic->publish[i],
				    &o->publish[k]))
					continue;
				net_publish_format(&nic->publish[i], spec,
				    sizeof(spec));
				snprintf(err, errlen, "publish %s: host port %u "
				    "is published by machine %s", spec,
				    nic->publish[i].host_port, o->owner);
				return (-EADDRINUSE);
			}
		}
	}
	return (0);
}

const char *
net_mac_holder(const char *mac)
{
	for (size_t i = 0; i < net_nholders; i++)
		if (strcmp(net_holders[i]->mac, mac) == 0)
			return (net_holders[i]->owner);
	return (NULL);
}

bool
net_ip_held(const char *network, uint32_t ip, const char *owner)
{
	for (size_t i = 0; i < net_nholders; i++)
		if (strcmp(net_holders[i]->net->name, network) == 0 &&
		    net_holders[i]->ip == ip &&
		    strcmp(net_holders[i]->owner, owner) != 0)
			return (true);
	return (false);
}

/* An address for nic on net: its reservation if free, else the lowest free one. */
static int
net_alloc_ip(struct net_network *net, struct net_nic *nic, char *err,
    size_t errlen)
{
	uint32_t	used[NET_MAX_HOLDERS], ip;
	size_t		n = 0;

	for (size_t i = 0; i < net_nholders; i++)
		if (net_holders[i]->net == net)
			used[n++] = net_holders[i]->ip;
	if (net_ip_alloc(&net->subnet, used, n, nic->ipv4, &ip) < 0) {
		snprintf(err, errlen, "network %s is full", net->name);
		return (-ENOSPC);
	}
	nic->ipv4 = ip;
	return (0);
}

/* Record a holder for owner; publish and tell dnsmasq. On failure it is gone again. */
static int
net_hold(const char *owner, struct net_network *net, const struct net_nic *nic,
    const char *tap, char *err, size_t errlen)
{
	struct net_holder	*h;
	int			 r;

	if (net_nholders == NET_MAX_HOLDERS) {
		snprintf(err, errlen, "too many machines on networks");
		return (-ENOSPC);
	}
	h = xcalloc(1, sizeof(*h));
	h->owner = xstrdup(owner);
	h->net = net;
	snprintf(h->mac, sizeof(h->mac), "%s", nic->mac);
	h->ip = nic->ipv4;
	snprintf(h->tap, sizeof(h->tap), "%s", tap);
	memcpy(h->publish, nic->publish, sizeof(h->publish));
	h->npublish = nic->npublish;
	net_holders[net_nholders++] = h;
	if ((r = net_dnsmasq_hosts(net, err, errlen)) < 0 ||
	    (r = net_nft_sync(err, errlen)) < 0) {
		net_holders[--net_nholders] = NULL;
		free(h->owner);
		free(h);
		(void)net_nft_sync(err + strlen(err), 0);
	}
	return (r);
}

/* The checks and the network of a NIC about to start. */
static int
net_prepare(const char *owner, struct net_nic *nic, struct net_network **ret,
    char *err, size_t errlen)
{
	struct net_network	*net;
	int			 r;

	if ((net = net_find(nic->network)) == NULL) {
		snprintf(err, errlen, "no network %s", nic->network);
		return (-ENOENT);
	}
	if (!net_mac_valid(nic->mac)) {
		snprintf(err, errlen, "bad MAC %s", nic->mac);
		return (-EINVAL);
	}
	if (net_holder_index(owner) >= 0) {
		snprintf(err, errlen, "machine %s already has a NIC up", owner);
		return (-EBUSY);
	}
	for (size_t i = 0; i < net_nholders; i++)
		if (strcmp(net_holders[i]->mac, nic->mac) == 0) {
			snprintf(err, errlen, "MAC %s is in use by machine %s",
			    nic->mac, net_holders[i]->owner);
			return (-EADDRINUSE);
		}
	if ((r = net_publish_check(owner, nic, err, errlen)) < 0 ||
	    (r = net_up(net, err, errlen)) < 0 ||
	    (r = net_alloc_ip(net, nic, err, errlen)) < 0)
		return (r);
	*ret = net;
	return (0);
}

int
net_nic_start(const char *owner, struct net_nic *nic, uid_t uid, char *tap,
    size_t taplen, char *err, size_t errlen)
{
	struct net_network	*net;
	char			 derr[256];
	int			 r;

	if ((r = net_prepare(owner, nic, &net, err, errlen)) < 0)
		return (r);
	if ((r = net_tap_random(tap, taplen)) < 0) {
		snprintf(err, errlen, "getrandom: %s", strerror(-r));
		return (r);
	}
	if ((r = net_tap_create(tap, uid, net->bridge, err, errlen)) < 0)
		return (r);
	if ((r = net_hold(owner, net, nic, tap, err, errlen)) < 0) {
		if (net_tap_delete(tap, derr, sizeof(derr)) < 0)
			log_warnx("%s", derr);
		return (r);
	}
	return (0);
}

int
net_nic_readopt(const char *owner, struct net_nic *nic, const char *tap,
    char *err, size_t errlen)
{
	struct net_network	*net;
	int			 r;

	if ((r = net_prepare(owner, nic, &net, err, errlen)) < 0 ||
	    (r = net_tap_attach(tap, net->bridge, err, errlen)) < 0)
		return (r);
	return (net_hold(owner, net, nic, tap, err, errlen));
}

void
net_nic_stop(const char *owner, const char *tap)
{
	struct net_network	*net = NULL;
	ssize_t			 i;
	char			 err[512];

	if (tap != NULL && tap[0] != '\0' && net_tap_delete(tap, err,
	    sizeof(err)) < 0)
		log_warnx("machine %s: %s", owner, err);
	if ((i = net_holder_index(owner)) < 0)
		return;
	net = net_holders[i]->net;
	free(net_holders[i]->owner);
	free(net_holders[i]);
	net_holders[i] = net_holders[--net_nholders];
	if (net->up && net_dnsmasq_hosts(net, err, sizeof(err)) < 0)
		log_warnx("network %s: %s", net->name, err);
	if (net_nft_sync(err, sizeof(err)) < 0)
		log_warnx("network %s: %s", net->name, err);
}

uint32_t
net_lease_of(const char *network, const char *mac)
{
	struct net_network	*net = net_find(network);

	if (net == NULL || !net->up)
		return (0);
	return (net_dnsmasq_lease(net->dir, mac));
}

static struct json_object *
net_ip_json(uint32_t ip)
{
	char		 buf[INET_ADDRSTRLEN];
	struct in_addr	 a = { .s_addr = ip };

	if (ip == 0)
		return (NULL);
	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	return (json_object_new_string(buf));
}

static struct json_object *
net_publish_json(const struct net_publish *p, size_t n)
{
	struct json_object	*a = json_object_new_array();
	char			 spec[NET_PUBLISH_LEN];

	for (size_t i = 0; i < n; i++) {
		net_publish_format(&p[i], spec, sizeof(spec));
		json_object_array_add(a, json_object_new_string(spec));
	}
	return (a);
}

struct json_object *
net_nic_to_json(const struct net_nic *nic, const char *tap)
{
	struct json_object	*obj;

	if (nic->network[0] == '\0')
		return (NULL);
	obj = json_object_new_object();
	json_object_object_add(obj, "network",
	    json_object_new_string(nic->network));
	json_object_object_add(obj, "mac", json_object_new_string(nic->mac));
	json_object_object_add(obj, "tap", tap != NULL && tap[0] != '\0' ?
	    json_object_new_string(tap) : NULL);
	json_object_object_add(obj, "ipv4", net_ip_json(nic->ipv4));
	json_object_object_add(obj, "ipv4_leased",
	    net_ip_json(net_lease_of(nic->network, nic->mac)));
	json_object_object_add(obj, "publish",
	    net_publish_json(nic->publish, nic->npublish));
	return (obj);
}

static struct json_object *
net_network_json(const struct net_network *net)
{
	struct json_object	*o = json_object_new_object(), *ms;
	char			 buf[32];

	json_object_object_add(o, "name", json_object_new_string(net->name));
	json_object_object_add(o, "bridge", json_object_new_string(net->bridge));
	json_object_object_add(o, "up", json_object_new_boolean(net->up));
	json_object_object_add(o, "default", json_object_new_boolean(
	    strcmp(net->name, net_default) == 0));
	if (net->up || net->fixed) {
		net_subnet_format(&net->subnet, buf, sizeof(buf));
		json_object_object_add(o, "subnet", json_object_new_string(buf));
	} else
		json_object_object_add(o, "subnet", NULL);
	json_object_object_add(o, "gateway", net->up ?
	    net_ip_json(net_subnet_gateway(&net->subnet)) : NULL);
	json_object_object_add(o, "dhcp", json_object_new_boolean(
	    net->dns != NULL && net->dns->pid > 0));
	ms = json_object_new_array();
	for (size_t i = 0; i < net_nholders; i++) {
		const struct net_holder *h = net_holders[i];
		struct json_object *m;

		if (h->net != net)
			continue;
		m = json_object_new_object();
		json_object_object_add(m, "machine",
		    json_object_new_string(h->owner));
		json_object_object_add(m, "mac", json_object_new_string(h->mac));
		json_object_object_add(m, "tap", json_object_new_string(h->tap));
		json_object_object_add(m, "ipv4", net_ip_json(h->ip));
		json_object_object_add(m, "ipv4_leased", net_ip_json(
		    net->up ? net_dnsmasq_lease(net->dir, h->mac) : 0));
		json_object_object_add(m, "publish",
		    net_publish_json(h->publish, h->npublish));
		json_object_array_add(ms, m);
	}
	json_object_object_add(o, "machines", ms);
	return (o);
}

struct json_object *
net_list_json(void)
{
	struct json_object	*a = json_object_new_array();

	for (size_t i = 0; i < net_nnetworks; i++)
		json_object_array_add(a, net_network_json(&net_networks[i]));
	return (a);
}

struct json_object *
net_info_json(const char *name)
{
	struct net_network	*net = net_find(name);

	return (net != NULL ? net_network_json(net) : NULL);
}
