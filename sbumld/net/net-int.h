/* SPDX-License-Identifier: MIT */
/*
 * What the files of the network module share (net.h is the contract):
 *
 *	net.c		networks and the live NICs: up, down, allocation, JSON
 *	net-nft.c	the nftables table "ip sbuml": NAT and published ports
 *	net-dnsmasq.c	one dnsmasq per network: config, dhcp-host lines, leases,
 *			supervision
 */
#ifndef SBUMLD_NET_INT_H
#define SBUMLD_NET_INT_H

#include <net/if.h>
#include <stdbool.h>
#include <sys/types.h>

#include "net.h"

struct event;

struct net_dnsmasq {
	char		*dir;		/* the network's state dir */
	char		 bridge[IFNAMSIZ];
	struct net_subnet subnet;
	pid_t		 pid;		/* 0: not running */
	unsigned int	 restarts;	/* in the current minute */
	uint64_t	 window_start;
	struct event	*ev_restart;
	bool		 stopping;
};

struct net_network {
	char		  name[NET_NAME_MAX + 1];
	char		  bridge[IFNAMSIZ];
	struct net_subnet subnet;
	bool		  fixed;	/* subnet given in the configuration */
	bool		  up;
	char		 *dir;		/* <state-dir>/net/<name> */
	struct net_dnsmasq *dns;
};

/* A machine with a started NIC. */
struct net_holder {
	char		*owner;
	struct net_network *net;
	char		 mac[NET_MAC_LEN + 1];
	uint32_t	 ip;
	char		 tap[NET_TAP_LEN + 1];
	struct net_publish publish[NET_MAX_PUBLISH];
	size_t		 npublish;
};

/* net.c: the tables net-nft.c renders. */
size_t	net_network_count(void);
struct net_network *net_network_at(size_t i);
size_t	net_holder_count(void);
const struct net_holder *net_holder_at(size_t i);
/* <state-dir>/net (caller frees). */
char	*net_state_path(const char *file);

/* net-nft.c */
/* Write and load the whole table from the tables above (none up: remove it). 0 or -errno (err). */
int	net_nft_sync(char *err, size_t errlen);
/* Remove the table a crashed daemon left, if its record says there is one. */
void	net_nft_remove_stale(void);

/* net-dnsmasq.c */
int	net_dnsmasq_start(const char *dir, const char *bridge,
	    const struct net_subnet *s, struct net_dnsmasq **ret, char *err,
	    size_t errlen);
/* Write the dhcp-host lines of net from the holders; dnsmasq starts again on it. 0 or -errno (err). */
int	net_dnsmasq_hosts(struct net_network *net, char *err, size_t errlen);
/* Stop and free d (NULL is fine). */
void	net_dnsmasq_stop(struct net_dnsmasq *d);
/* Kill the dnsmasq a crashed daemon left running for dir. */
void	net_dnsmasq_kill_stale(const char *dir);
/* The address leased to mac in dir's lease file, or 0. */
uint32_t net_dnsmasq_lease(const char *dir, const char *mac);

#endif
