/* SPDX-License-Identifier: MIT */
/*
 * A NIC's record in machine.json and in a snapshot's machine record
 * (doc/machine-layout.md): {"network", "mac", "ipv4", "publish": [spec]}.
 * Every field is checked on the way in: the file may be old or damaged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

struct json_object *
net_nic_config_json(const struct net_nic *nic)
{
	struct json_object	*o, *pub;
	char			 buf[NET_PUBLISH_LEN];
	struct in_addr		 a = { .s_addr = nic->ipv4 };

	if (nic->network[0] == '\0')
		return (NULL);
	o = json_object_new_object();
	json_object_object_add(o, "network", json_object_new_string(nic->network));
	json_object_object_add(o, "mac", json_object_new_string(nic->mac));
	if (nic->ipv4 != 0) {
		inet_ntop(AF_INET, &a, buf, sizeof(buf));
		json_object_object_add(o, "ipv4", json_object_new_string(buf));
	}
	pub = json_object_new_array();
	for (size_t i = 0; i < nic->npublish; i++) {
		net_publish_format(&nic->publish[i], buf, sizeof(buf));
		json_object_array_add(pub, json_object_new_string(buf));
	}
	json_object_object_add(o, "publish", pub);
	return (o);
}

/* A string member, or NULL (absent or not a string). */
static const char *
net_json_string(struct json_object *o, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

int
net_nic_config_parse(struct json_object *o, struct net_nic *nic, char *err,
    size_t errlen)
{
	struct json_object	*pub, *v;
	const char		*network, *mac, *ip;
	struct in_addr		 a;

	memset(nic, 0, sizeof(*nic));
	if (o == NULL)
		return (0);
	if (!json_object_is_type(o, json_type_object) ||
	    (network = net_json_string(o, "network")) == NULL ||
	    !net_name_valid(network) ||
	    (mac = net_json_string(o, "mac")) == NULL || !net_mac_valid(mac)) {
		snprintf(err, errlen, "\"net\" must be an object with a network "
		    "name and a MAC");
		return (-EBADMSG);
	}
	snprintf(nic->network, sizeof(nic->network), "%s", network);
	snprintf(nic->mac, sizeof(nic->mac), "%s", mac);
	if (json_object_object_get_ex(o, "ipv4", &v)) {
		if ((ip = net_json_string(o, "ipv4")) == NULL ||
		    inet_pton(AF_INET, ip, &a) != 1) {
			snprintf(err, errlen, "\"net\": \"ipv4\" must be an "
			    "IPv4 address");
			return (-EBADMSG);
		}
		nic->ipv4 = a.s_addr;
	}
	if (!json_object_object_get_ex(o, "publish", &pub))
		return (0);
	if (!json_object_is_type(pub, json_type_array) ||
	    json_object_array_length(pub) > NET_MAX_PUBLISH) {
		snprintf(err, errlen, "\"net\": \"publish\" must be an array of "
		    "at most %d specs", NET_MAX_PUBLISH);
		return (-EBADMSG);
	}
	for (size_t i = 0; i < json_object_array_length(pub); i++) {
		v = json_object_array_get_idx(pub, i);
		if (!json_object_is_type(v, json_type_string) ||
		    net_publish_parse(json_object_get_string(v),
		    &nic->publish[i], err, errlen) < 0) {
			if (!json_object_is_type(v, json_type_string))
				snprintf(err, errlen, "\"net\": \"publish\" must "
				    "hold strings");
			return (-EBADMSG);
		}
		nic->npublish++;
	}
	return (0);
}
