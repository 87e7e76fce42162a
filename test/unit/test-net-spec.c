/* SPDX-License-Identifier: MIT */
/* net-spec.c: publish specs, subnets and route avoidance, IPv4 allocation, MACs, taps. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net-spec.h"

#include "test.h"

static uint32_t
ip(const char *s)
{
	struct in_addr	a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return (a.s_addr);
}

static void
test_publish(void)
{
	struct net_publish	p, q;
	char			err[256], buf[NET_PUBLISH_LEN];
	static const char *const bad[] = { "", "80", ":80", "8080:", "0:80",
	    "65536:80", "8080:80/sctp", "1.2.3:8080:80", "a:b", "8080:80:90:1",
	    "8080::80", "-1:80", "8080:8x", "1.2.3.4:8080:80:/tcp",
	    "123456:80" };

	CHECK(net_publish_parse("8080:80", &p, err, sizeof(err)) == 0);
	CHECK(p.host_port == 8080 && p.guest_port == 80 &&
	    p.proto == IPPROTO_TCP && p.host_ip == 0);
	net_publish_format(&p, buf, sizeof(buf));
	CHECK_STR(buf, "8080:80/tcp");
	CHECK(net_publish_parse("5353:53/udp", &p, err, sizeof(err)) == 0);
	CHECK(p.proto == IPPROTO_UDP);
	CHECK(net_publish_parse("127.0.0.1:8080:80/tcp", &p, err,
	    sizeof(err)) == 0);
	CHECK(p.host_ip == ip("127.0.0.1"));
	net_publish_format(&p, buf, sizeof(buf));
	CHECK_STR(buf, "127.0.0.1:8080:80/tcp");
	CHECK(net_publish_parse("65535:1", &p, err, sizeof(err)) == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(net_publish_parse(bad[i], &p, err, sizeof(err)) == -EINVAL);

	/* Clashes: same protocol and port, addresses that meet. */
	(void)net_publish_parse("8080:80", &p, err, sizeof(err));
	(void)net_publish_parse("127.0.0.1:8080:81", &q, err, sizeof(err));
	CHECK(net_publish_clash(&p, &q));
	(void)net_publish_parse("8080:80/udp", &q, err, sizeof(err));
	CHECK(!net_publish_clash(&p, &q));
	(void)net_publish_parse("127.0.0.1:8080:80", &p, err, sizeof(err));
	(void)net_publish_parse("127.0.0.2:8080:80", &q, err, sizeof(err));
	CHECK(!net_publish_clash(&p, &q));
}

static void
test_subnets(void)
{
	struct net_subnet	 s, t, *routes;
	char			 err[256], buf[32];
	size_t			 n;
	/* eth0 default, 10.234.0.0/16 routed, 192.168.1.0/24 on wlan0. */
	const char		*text =
	    "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
	    "eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	    "eth1\t0000EA0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
	    "wlan0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

	CHECK(net_subnet_parse("10.1.2.0/24", &s, err, sizeof(err)) == 0);
	net_subnet_format(&s, buf, sizeof(buf));
	CHECK_STR(buf, "10.1.2.0/24");
	CHECK(net_subnet_parse("10.1.2.1/24", &s, err, sizeof(err)) == -EINVAL);
	CHECK(net_subnet_parse("10.1.2.0/8", &s, err, sizeof(err)) == -EINVAL);
	CHECK(net_subnet_parse("10.1.2.0/30", &s, err, sizeof(err)) == -EINVAL);
	CHECK(net_subnet_parse("10.1.2.0", &s, err, sizeof(err)) == -EINVAL);
	CHECK(net_subnet_parse("10.1.2.0/2x", &s, err, sizeof(err)) == -EINVAL);

	CHECK(net_routes_parse(text, &routes, &n) == 0);
	CHECK(n == 2);
	net_subnet_format(&routes[0], buf, sizeof(buf));
	CHECK_STR(buf, "10.234.0.0/16");
	net_subnet_format(&routes[1], buf, sizeof(buf));
	CHECK_STR(buf, "192.168.1.0/24");
	/* Every 10.234.x/24 is taken by the /16: the first 192.168.234.0/24. */
	CHECK(net_subnet_choose(routes, n, &s) == 0);
	net_subnet_format(&s, buf, sizeof(buf));
	CHECK_STR(buf, "192.168.234.0/24");
	CHECK(net_subnet_choose(NULL, 0, &s) == 0);
	net_subnet_format(&s, buf, sizeof(buf));
	CHECK_STR(buf, "10.234.0.0/24");
	/* One /24 taken: the next. */
	(void)net_subnet_parse("10.234.0.0/24", &t, err, sizeof(err));
	CHECK(net_subnet_choose(&t, 1, &s) == 0);
	net_subnet_format(&s, buf, sizeof(buf));
	CHECK_STR(buf, "10.234.1.0/24");
	/* Nothing left: a route over everything private we try. */
	(void)net_subnet_parse("10.0.0.0/16", &t, err, sizeof(err));
	t.prefix = 0;
	t.addr = 0;
	CHECK(net_subnet_choose(&t, 1, &s) == -ENOSPC);
	CHECK(net_subnet_gateway(&routes[1]) == ip("192.168.1.1"));
	free(routes);
}

static void
test_alloc(void)
{
	struct net_subnet	s;
	char			err[64];
	uint32_t		used[3], got;

	(void)net_subnet_parse("10.9.0.0/29", &s, err, sizeof(err));
	/* Hosts .2 .. .6 (.1 the gateway, .7 broadcast). */
	CHECK(net_ip_alloc(&s, NULL, 0, 0, &got) == 0 && got == ip("10.9.0.2"));
	used[0] = ip("10.9.0.2");
	CHECK(net_ip_alloc(&s, used, 1, 0, &got) == 0 && got == ip("10.9.0.3"));
	/* A free reservation is kept; a used or foreign one is not. */
	CHECK(net_ip_alloc(&s, used, 1, ip("10.9.0.5"), &got) == 0 &&
	    got == ip("10.9.0.5"));
	CHECK(net_ip_alloc(&s, used, 1, ip("10.9.0.2"), &got) == 0 &&
	    got == ip("10.9.0.3"));
	CHECK(net_ip_alloc(&s, used, 1, ip("10.9.1.5"), &got) == 0 &&
	    got == ip("10.9.0.3"));
	CHECK(net_ip_alloc(&s, used, 1, ip("10.9.0.1"), &got) == 0 &&
	    got == ip("10.9.0.3"));
	CHECK(net_ip_alloc(&s, used, 1, ip("10.9.0.7"), &got) == 0 &&
	    got == ip("10.9.0.3"));
	used[0] = ip("10.9.0.2");
	used[1] = ip("10.9.0.3");
	used[2] = ip("10.9.0.4");
	CHECK(net_ip_alloc(&s, used, 3, 0, &got) == 0 && got == ip("10.9.0.5"));
	{
		uint32_t full[5] = { ip("10.9.0.2"), ip("10.9.0.3"),
		    ip("10.9.0.4"), ip("10.9.0.5"), ip("10.9.0.6") };

		CHECK(net_ip_alloc(&s, full, 5, 0, &got) == -ENOSPC);
	}
}

static void
test_names(void)
{
	char	mac[NET_MAC_LEN + 1], mac2[NET_MAC_LEN + 1], tap[NET_TAP_LEN + 1];

	CHECK(net_name_valid("default"));
	CHECK(net_name_valid("lab2"));
	CHECK(!net_name_valid("none"));
	CHECK(!net_name_valid(""));
	CHECK(!net_name_valid("Lab"));
	CHECK(!net_name_valid("a-b"));
	CHECK(!net_name_valid("abcdefghijkl"));
	CHECK(net_mac_random(mac, sizeof(mac)) == 0);
	CHECK(net_mac_valid(mac));
	CHECK((strtoul(mac, NULL, 16) & 3) == 2);
	CHECK(net_mac_random(mac2, sizeof(mac2)) == 0);
	CHECK(strcmp(mac, mac2) != 0);
	CHECK(!net_mac_valid("03:00:00:00:00:01"));
	CHECK(!net_mac_valid("02:00:00:00:00:0G"));
	CHECK(!net_mac_valid("02:00:00:00:00:01:"));
	/* A bridge's MAC is its network's, whatever host or run. */
	net_bridge_mac("default", mac, sizeof(mac));
	CHECK(net_mac_valid(mac));
	CHECK(strncmp(mac, "02:", 3) == 0);
	net_bridge_mac("default", mac2, sizeof(mac2));
	CHECK(strcmp(mac, mac2) == 0);
	net_bridge_mac("lab2", mac2, sizeof(mac2));
	CHECK(net_mac_valid(mac2));
	CHECK(strcmp(mac, mac2) != 0);
	CHECK(net_tap_random(tap, sizeof(tap)) == 0);
	CHECK(net_tap_valid(tap));
	CHECK(strlen(tap) <= NET_TAP_LEN);
	CHECK(!net_tap_valid("eth0"));
	CHECK(!net_tap_valid("sbt0000000g"));
}

int
main(void)
{
	test_publish();
	test_subnets();
	test_alloc();
	test_names();
	return (test_summary());
}
