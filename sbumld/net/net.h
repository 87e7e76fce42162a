/* SPDX-License-Identifier: MIT */
/*
 * Host networks for machines, the libvirt way (doc/networking in
 * doc/rpc.md and doc/machine-layout.md): each network is a bridge
 * ("sbuml0" for "default", "sbn-<name>" for others) with the gateway
 * address of its subnet, NAT to the uplink and published ports in one
 * nftables table of ours ("table ip sbuml", rewritten whole on every
 * change), and a dnsmasq (a supervised child) for DHCP and DNS whose
 * dhcp-host lines sbumld writes: sbumld allocates every MAC's IPv4.
 *
 * A network comes up when its first NIC starts and stays up until the
 * daemon stops (net_shutdown), which removes the bridge, the table and
 * dnsmasq.  What a crashed daemon left behind (recorded under
 * <state-dir>/net/) is removed by net_init.  Everything here runs on the
 * event loop.
 */
#ifndef SBUMLD_NET_H
#define SBUMLD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <json-c/json.h>

#include "net-spec.h"

#define NET_MAX_NETWORKS	8

/* A machine's NIC as machine.json records it. */
struct net_nic {
	char			network[NET_NAME_MAX + 1];	/* "": none */
	char			mac[NET_MAC_LEN + 1];
	uint32_t		ipv4;		/* reservation, network order; 0 none yet */
	struct net_publish	publish[NET_MAX_PUBLISH];
	size_t			npublish;
};

/* net-nic.c: nic as machine.json's "net" object (NULL for no NIC). */
struct json_object *net_nic_config_json(const struct net_nic *nic);
/* Parse a "net" object (NULL: no NIC) into nic. 0 or -EBADMSG (err). */
int	net_nic_config_parse(struct json_object *o, struct net_nic *nic,
	    char *err, size_t errlen);

/*
 * Declare the networks (spec "NAME" or "NAME=A.B.C.D/N"; "default" always
 * exists) and the default network of a new machine ("none" allowed), and
 * remove what a crashed daemon left.  0 or -EINVAL (err).
 */
int	net_init(const char *const *specs, size_t nspecs,
	    const char *default_network, char *err, size_t errlen);
/* Tear every network down (machines keep their taps). */
void	net_shutdown(void);
/* The default network of a new machine ("none" for none). */
const char *net_default_network(void);
/* Whether name is a declared network. */
bool	net_exists(const char *name);

/*
 * Bring nic's network up if needed, reserve its IPv4 (nic->ipv4 if free,
 * else a new one, written back), check its published ports against every
 * other machine's (owner: the machine's name; -EADDRINUSE with the other
 * owner named), make the tap (into tap, NET_TAP_LEN + 1) owned by uid and
 * publish.  0 or -errno (err); on failure nothing stays.
 */
int	net_nic_start(const char *owner, struct net_nic *nic, uid_t uid,
	    char *tap, size_t taplen, char *err, size_t errlen);
/*
 * A machine re-adopted after a daemon restart: its tap exists; attach it
 * again and take its reservation and ports back.  0 or -errno (err).
 */
int	net_nic_readopt(const char *owner, struct net_nic *nic, const char *tap,
	    char *err, size_t errlen);
/* The machine stopped: delete its tap, release its address and ports. */
void	net_nic_stop(const char *owner, const char *tap);
/*
 * Whether nic's published ports are free of every machine but owner's:
 * 0, or -EADDRINUSE (err names the holder).
 */
int	net_publish_check(const char *owner, const struct net_nic *nic,
	    char *err, size_t errlen);
/* The machine whose live NIC has mac, or NULL. */
const char *net_mac_holder(const char *mac);
/* Whether ip is held by a live machine other than owner on network. */
bool	net_ip_held(const char *network, uint32_t ip, const char *owner);

/* The IPv4 dnsmasq leased to mac on network (network order), or 0. */
uint32_t net_lease_of(const char *network, const char *mac);
/* The "net" member of the machine object (doc/rpc.md); NULL for no NIC. */
struct json_object *net_nic_to_json(const struct net_nic *nic, const char *tap);
/* The network objects of doc/rpc.md: all of them, or one (NULL if unknown). */
struct json_object *net_list_json(void);
struct json_object *net_info_json(const char *name);

#endif
