/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of networking, with no host side effects (unit tested in
 * test/unit/test-net-spec.c): network names, publish specs in podman's
 * syntax, subnets (parsing, overlap, choosing one clear of the host's
 * routes), IPv4 allocation inside a subnet, MAC addresses and tap names.
 */
#ifndef SBUMLD_NET_SPEC_H
#define SBUMLD_NET_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

/* A network name: [a-z0-9], 1..NET_NAME_MAX ("sbn-" + name is its bridge). */
#define NET_NAME_MAX		11
#define NET_NONE		"none"
#define NET_DEFAULT		"default"
#define NET_DEFAULT_BRIDGE	"sbuml0"
#define NET_MAX_PUBLISH		16	/* published ports per machine */
#define NET_MAC_LEN		17	/* "aa:bb:cc:dd:ee:ff" */
#define NET_TAP_LEN		15	/* IFNAMSIZ - 1 */
#define NET_PUBLISH_LEN		48	/* "255.255.255.255:65535:65535/tcp" and more */

/* One published port: host_ip:host_port -> guest's guest_port. */
struct net_publish {
	uint32_t	host_ip;	/* network order; 0: every local address */
	uint16_t	host_port;
	uint16_t	guest_port;
	uint8_t		proto;		/* IPPROTO_TCP or IPPROTO_UDP */
};

/* An IPv4 subnet; addr is network order with the host bits clear. */
struct net_subnet {
	uint32_t	addr;
	unsigned int	prefix;		/* 16 .. 29 */
};

/* Whether name is a valid network name (not "none"). */
bool	net_name_valid(const char *name);
/*
 * Parse "[IP:]HOSTPORT:GUESTPORT[/tcp|/udp]" (podman's --publish; ports
 * 1-65535, IP a dotted IPv4 address).  0, or -EINVAL with a message in err.
 */
int	net_publish_parse(const char *spec, struct net_publish *p, char *err,
	    size_t errlen);
/* The canonical spec of p ("[IP:]H:G/proto") into buf (NET_PUBLISH_LEN). */
void	net_publish_format(const struct net_publish *p, char *buf, size_t len);
/* Whether a and b claim the same host port (same protocol, addresses that meet). */
bool	net_publish_clash(const struct net_publish *a, const struct net_publish *b);

/* Parse "A.B.C.D/N" (16 <= N <= 29, host bits clear). 0 or -EINVAL (err). */
int	net_subnet_parse(const char *cidr, struct net_subnet *s, char *err,
	    size_t errlen);
void	net_subnet_format(const struct net_subnet *s, char *buf, size_t len);
bool	net_subnet_overlaps(const struct net_subnet *a, const struct net_subnet *b);
/* The gateway (first host address) of s, network order. */
uint32_t net_subnet_gateway(const struct net_subnet *s);
/*
 * The IPv4 routes of a /proc/net/route text (the default route left out:
 * it overlaps everything).  *ret (caller frees) and *ret_n; 0 or -ENOMEM.
 */
int	net_routes_parse(const char *text, struct net_subnet **ret, size_t *ret_n);
/*
 * The first candidate /24 (10.234.0.0/24, 10.234.1.0/24, ... then
 * 192.168.234.0/24 ...) that overlaps none of avoid[0..n).  0 or -ENOSPC.
 */
int	net_subnet_choose(const struct net_subnet *avoid, size_t n,
	    struct net_subnet *ret);
/*
 * An address of s for a guest: want if it is a host address of s other
 * than the gateway and not in used[0..nused), else the lowest free one.
 * Addresses network order.  0 or -ENOSPC (subnet full).
 */
int	net_ip_alloc(const struct net_subnet *s, const uint32_t *used,
	    size_t nused, uint32_t want, uint32_t *ret);
/* Whether ip is a guest address of s (not network, gateway or broadcast). */
bool	net_ip_in_subnet(const struct net_subnet *s, uint32_t ip);

/* A random locally administered unicast MAC into buf (NET_MAC_LEN + 1). 0 or -errno. */
int	net_mac_random(char *buf, size_t len);
/* Whether s is "xx:xx:xx:xx:xx:xx" (lower-case hex), unicast. */
bool	net_mac_valid(const char *s);
/*
 * The MAC of network name's bridge into buf (NET_MAC_LEN + 1): locally
 * administered unicast, the same for a name on every host and daemon run.
 */
void	net_bridge_mac(const char *name, char *buf, size_t len);
/* A random tap name "sbt" + 8 hex digits into buf (NET_TAP_LEN + 1). 0 or -errno. */
int	net_tap_random(char *buf, size_t len);
/* Whether s is a tap name net_tap_random makes. */
bool	net_tap_valid(const char *s);

#endif
