/* SPDX-License-Identifier: MIT */
/* The pure parts of networking; see net-spec.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "net-spec.h"
#include "util.h"

bool
net_name_valid(const char *name)
{
	size_t	n = strlen(name);

	if (n == 0 || n > NET_NAME_MAX || strcmp(name, NET_NONE) == 0)
		return (false);
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9')))
			return (false);
	return (true);
}

/* A port 1-65535 written in decimal, nothing else. */
static int
net_port_parse(const char *s, uint16_t *ret)
{
	unsigned long	v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return (-EINVAL);
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return (-EINVAL);
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 65535)
		return (-EINVAL);
	*ret = (uint16_t)v;
	return (0);
}

int
net_publish_parse(const char *spec, struct net_publish *p, char *err,
    size_t errlen)
{
	char		 buf[NET_PUBLISH_LEN], *parts[3], *proto, *save = NULL, *w;
	size_t		 n = 0;
	struct in_addr	 a;

	memset(p, 0, sizeof(*p));
	p->proto = IPPROTO_TCP;
	if (strlen(spec) >= sizeof(buf))
		goto bad;
	strcpy(buf, spec);
	if ((proto = strchr(buf, '/')) != NULL) {
		*proto++ = '\0';
		if (strcmp(proto, "udp") == 0)
			p->proto = IPPROTO_UDP;
		else if (strcmp(proto, "tcp") != 0) {
			snprintf(err, errlen, "publish %s: protocol must be tcp "
			    "or udp", spec);
			return (-EINVAL);
		}
	}
	if (buf[0] == ':' || strstr(buf, "::") != NULL ||
	    buf[strlen(buf) > 0 ? strlen(buf) - 1 : 0] == ':')
		goto bad;
	for (w = strtok_r(buf, ":", &save); w != NULL;
	    w = strtok_r(NULL, ":", &save)) {
		if (n == 3)
			goto bad;
		parts[n++] = w;
	}
	if (n < 2)
		goto bad;
	if (n == 3) {
		if (inet_pton(AF_INET, parts[0], &a) != 1) {
			snprintf(err, errlen, "publish %s: %s is not an IPv4 "
			    "address", spec, parts[0]);
			return (-EINVAL);
		}
		p->host_ip = a.s_addr;
	}
	if (net_port_parse(parts[n - 2], &p->host_port) < 0 ||
	    net_port_parse(parts[n - 1], &p->guest_port) < 0) {
		snprintf(err, errlen, "publish %s: ports must be 1-65535", spec);
		return (-EINVAL);
	}
	return (0);
bad:
	snprintf(err, errlen, "publish %s: expected [IP:]HOSTPORT:GUESTPORT"
	    "[/tcp|/udp]", spec);
	return (-EINVAL);
}

void
net_publish_format(const struct net_publish *p, char *buf, size_t len)
{
	char		 ip[INET_ADDRSTRLEN] = "";
	struct in_addr	 a = { .s_addr = p->host_ip };

	if (p->host_ip != 0) {
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		strcat(ip, ":");
	}
	snprintf(buf, len, "%s%u:%u/%s", ip, p->host_port, p->guest_port,
	    p->proto == IPPROTO_UDP ? "udp" : "tcp");
}

bool
net_publish_clash(const struct net_publish *a, const struct net_publish *b)
{
	return (a->proto == b->proto && a->host_port == b->host_port &&
	    (a->host_ip == 0 || b->host_ip == 0 || a->host_ip == b->host_ip));
}

static uint32_t
net_mask(unsigned int prefix)
{
	return (prefix == 0 ? 0 : htonl(0xffffffffu << (32 - prefix)));
}

int
net_subnet_parse(const char *cidr, struct net_subnet *s, char *err,
    size_t errlen)
{
	char		 buf[32], *slash, *end;
	struct in_addr	 a;
	long		 prefix;

	if (strlen(cidr) >= sizeof(buf))
		goto bad;
	strcpy(buf, cidr);
	if ((slash = strchr(buf, '/')) == NULL)
		goto bad;
	*slash++ = '\0';
	errno = 0;
	prefix = strtol(slash, &end, 10);
	if (*slash == '\0' || *end != '\0' || prefix < 16 || prefix > 29 ||
	    inet_pton(AF_INET, buf, &a) != 1)
		goto bad;
	if ((a.s_addr & ~net_mask((unsigned int)prefix)) != 0) {
		snprintf(err, errlen, "subnet %s has host bits set", cidr);
		return (-EINVAL);
	}
	s->addr = a.s_addr;
	s->prefix = (unsigned int)prefix;
	return (0);
bad:
	snprintf(err, errlen, "subnet %s: expected A.B.C.D/N with N 16-29",
	    cidr);
	return (-EINVAL);
}

void
net_subnet_format(const struct net_subnet *s, char *buf, size_t len)
{
	char		 ip[INET_ADDRSTRLEN];
	struct in_addr	 a = { .s_addr = s->addr };

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, s->prefix);
}

bool
net_subnet_overlaps(const struct net_subnet *a, const struct net_subnet *b)
{
	uint32_t	m = net_mask(a->prefix < b->prefix ? a->prefix : b->prefix);

	return ((a->addr & m) == (b->addr & m));
}

uint32_t
net_subnet_gateway(const struct net_subnet *s)
{
	return (htonl(ntohl(s->addr) + 1));
}

int
net_routes_parse(const char *text, struct net_subnet **ret, size_t *ret_n)
{
	struct net_subnet	*v = NULL;
	size_t			 n = 0;
	const char		*line = text;

	while (line != NULL && *line != '\0') {
		char		 iface[32];
		unsigned int	 dst, gw, flags, refcnt, use, metric, mask;

		if (sscanf(line, "%31s %x %x %x %u %u %u %x", iface, &dst, &gw,
		    &flags, &refcnt, &use, &metric, &mask) == 8 && mask != 0) {
			unsigned int	prefix = (unsigned int)__builtin_popcount(mask);

			v = xrealloc(v, (n + 1) * sizeof(*v));
			/* /proc/net/route prints the words in host order of the
			 * network-order value: they are already network order. */
			v[n].addr = dst & mask;
			v[n].prefix = prefix;
			n++;
		}
		if ((line = strchr(line, '\n')) != NULL)
			line++;
	}
	*ret = v;
	*ret_n = n;
	return (0);
}

/* The i-th candidate subnet; false past the end of the list. */
static bool
net_candidate(unsigned int i, struct net_subnet *s)
{
	if (i < 256)
		s->addr = htonl(0x0aea0000u | (i << 8));	/* 10.234.i.0 */
	else if (i < 256 + 21)
		s->addr = htonl(0xc0a8ea00u + ((i - 256) << 8)); /* 192.168.234+ */
	else
		return (false);
	s->prefix = 24;
	return (true);
}

int
net_subnet_choose(const struct net_subnet *avoid, size_t n,
    struct net_subnet *ret)
{
	struct net_subnet	s;

	for (unsigned int i = 0; net_candidate(i, &s); i++) {
		bool	clear = true;

		for (size_t j = 0; j < n && clear; j++)
			clear = !net_subnet_overlaps(&s, &avoid[j]);
		if (clear) {
			*ret = s;
			return (0);
		}
	}
	return (-ENOSPC);
}

bool
net_ip_in_subnet(const struct net_subnet *s, uint32_t ip)
{
	uint32_t	h = ntohl(ip), base = ntohl(s->addr);
	uint32_t	size = 1u << (32 - s->prefix);

	return ((ip & net_mask(s->prefix)) == s->addr && h > base + 1 &&
	    h < base + size - 1);
}

static bool
net_ip_used(const uint32_t *used, size_t nused, uint32_t ip)
{
	for (size_t i = 0; i < nused; i++)
		if (used[i] == ip)
			return (true);
	return (false);
}

int
net_ip_alloc(const struct net_subnet *s, const uint32_t *used, size_t nused,
    uint32_t want, uint32_t *ret)
{
	uint32_t	base = ntohl(s->addr), size = 1u << (32 - s->prefix);

	if (want != 0 && net_ip_in_subnet(s, want) &&
	    !net_ip_used(used, nused, want)) {
		*ret = want;
		return (0);
	}
	for (uint32_t h = base + 2; h < base + size - 1; h++) {
		if (!net_ip_used(used, nused, htonl(h))) {
			*ret = htonl(h);
			return (0);
		}
	}
	return (-ENOSPC);
}

int
net_mac_random(char *buf, size_t len)
{
	uint8_t	b[6];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return (-errno);
	b[0] = (uint8_t)((b[0] & 0xfe) | 0x02);	/* unicast, local */
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2],
	    b[3], b[4], b[5]);
	return (0);
}

static bool
net_is_lower_hex(char c)
{
	return ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
}

bool
net_mac_valid(const char *s)
{
	if (strlen(s) != NET_MAC_LEN)
		return (false);
	for (size_t i = 0; i < NET_MAC_LEN; i++)
		if (i % 3 == 2 ? s[i] != ':' : !net_is_lower_hex(s[i]))
			return (false);
	/* The multicast bit is the low bit of the first octet. */
	return ((strtoul(s, NULL, 16) & 1) == 0);
}

void
net_bridge_mac(const char *name, char *buf, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	const char	*p;

	for (p = "sbuml bridge "; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	for (p = name; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	snprintf(buf, len, "02:%02x:%02x:%02x:%02x:%02x",
	    (unsigned int)(h >> 32 & 0xff), (unsigned int)(h >> 24 & 0xff),
	    (unsigned int)(h >> 16 & 0xff), (unsigned int)(h >> 8 & 0xff),
	    (unsigned int)(h & 0xff));
}

int
net_tap_random(char *buf, size_t len)
{
	uint32_t	v;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		return (-errno);
	snprintf(buf, len, "sbt%08x", v);
	return (0);
}

bool
net_tap_valid(const char *s)
{
	if (strlen(s) != 11 || strncmp(s, "sbt", 3) != 0)
		return (false);
	for (size_t i = 3; i < 11; i++)
		if (!net_is_lower_hex(s[i]))
			return (false);
	return (true);
}
