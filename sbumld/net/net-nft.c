/* SPDX-License-Identifier: MIT */
/*
 * The nftables table of sbumld, "table ip sbuml", written whole from the
 * networks that are up and the published ports of live machines, and
 * loaded with one `nft -f` (atomic: the old table goes in the same
 * transaction).  The script is kept in <state-dir>/net/sbuml.nft, which
 * also records that the table exists, for the clean-up after a crash.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>

#include "log.h"
#include "net-int.h"
#include "net-run.h"
#include "util.h"

#define NET_NFT_FILE	"sbuml.nft"

static void
net_nft_ip(uint32_t ip, char *buf, size_t len)
{
	struct in_addr	a = { .s_addr = ip };

	inet_ntop(AF_INET, &a, buf, (socklen_t)len);
}

/* One DNAT rule of a published port, for the prerouting or output chain. */
static void
net_nft_dnat(struct evbuffer *b, const struct net_holder *h,
    const struct net_publish *p)
{
	char		 host[INET_ADDRSTRLEN], guest[INET_ADDRSTRLEN];
	const char	*proto = p->proto == IPPROTO_UDP ? "udp" : "tcp";

	net_nft_ip(h->ip, guest, sizeof(guest));
	if (p->host_ip != 0) {
		net_nft_ip(p->host_ip, host, sizeof(host));
		evbuffer_add_printf(b, "\t\tip daddr %s %s dport %u dnat to "
		    "%s:%u comment \"%s\"\n", host, proto, p->host_port, guest,
		    p->guest_port, h->tap);
	} else
		evbuffer_add_printf(b, "\t\tfib daddr type local %s dport %u "
		    "dnat to %s:%u comment \"%s\"\n", proto, p->host_port, guest,
		    p->guest_port, h->tap);
}

static void
net_nft_dnat_chain(struct evbuffer *b, const char *chain, const char *hook,
    const char *prio)
{
	evbuffer_add_printf(b, "\tchain %s {\n\t\ttype nat hook %s priority "
	    "%s; policy accept;\n", chain, hook, prio);
	for (size_t i = 0; i < net_holder_count(); i++) {
		const struct net_holder *h = net_holder_at(i);

		for (size_t k = 0; k < h->npublish; k++)
			net_nft_dnat(b, h, &h->publish[k]);
	}
	evbuffer_add(b, "\t}\n", 3);
}

/* The script for the networks up now; NULL-free, caller frees. */
static char *
net_nft_script(bool *ret_any)
{
	struct evbuffer	*b = evbuffer_new();
	char		*s;
	size_t		 len;
	bool		 any = false;

	if (b == NULL)
		fatalx("out of memory");
	/* Declaring it first makes the delete valid when there is none. */
	evbuffer_add_printf(b, "table ip sbuml {}\ndelete table ip sbuml\n");
	for (size_t i = 0; i < net_network_count(); i++)
		any |= net_network_at(i)->up;
	if (any) {
		evbuffer_add_printf(b, "table ip sbuml {\n");
		net_nft_dnat_chain(b, "prerouting", "prerouting", "dstnat");
		net_nft_dnat_chain(b, "output", "output", "-100");
		evbuffer_add_printf(b, "\tchain postrouting {\n\t\ttype nat hook "
		    "postrouting priority srcnat; policy accept;\n");
		for (size_t i = 0; i < net_network_count(); i++) {
			struct net_network *n = net_network_at(i);
			char sub[32];

			if (!n->up)
				continue;
			net_subnet_format(&n->subnet, sub, sizeof(sub));
			evbuffer_add_printf(b, "\t\tip saddr %s ip daddr != %s "
			    "masquerade\n", sub, sub);
			/* Published 127.0.0.1 ports: the guest cannot answer loopback. */
			evbuffer_add_printf(b, "\t\toifname \"%s\" ip saddr "
			    "127.0.0.0/8 masquerade\n", n->bridge);
		}
		evbuffer_add_printf(b, "\t}\n\tchain forward {\n\t\ttype filter "
		    "hook forward priority filter; policy accept;\n\t}\n}\n");
	}
	len = evbuffer_get_length(b);
	s = xmalloc(len + 1);
	evbuffer_remove(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	*ret_any = any;
	return (s);
}

int
net_nft_sync(char *err, size_t errlen)
{
	char	*dir = net_state_path(NULL), *path = net_state_path(NET_NFT_FILE);
	char	*script;
	bool	 any;
	int	 r;
	const char *const argv[] = { "nft", "-f", path, NULL };

	script = net_nft_script(&any);
	if ((r = mkdir_p(dir, 0700)) < 0 ||
	    (r = write_file_atomic(path, script, strlen(script), 0600)) < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
	else if ((r = net_run(argv, NULL, err, errlen)) == 0 && !any)
		(void)unlink(path);
	free(script);
	free(path);
	free(dir);
	return (r);
}

void
net_nft_remove_stale(void)
{
	char	*path = net_state_path(NET_NFT_FILE), err[512];
	const char *const argv[] = { "nft", "delete", "table", "ip", "sbuml",
	    NULL };

	if (access(path, F_OK) == 0) {
		log_info("network: removing the nftables table left by an "
		    "earlier daemon");
		if (net_run(argv, NULL, err, sizeof(err)) < 0)
			log_warnx("network: %s", err);
		(void)unlink(path);
	}
	free(path);
}
