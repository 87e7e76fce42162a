/* SPDX-License-Identifier: MIT */
/* sbumlctl network commands: list (network.list) and info [NAME] (network.info). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "sbumlctl.h"

static int
call_network_list(struct sbuml_client *client, struct json_object **ret)
{
	return sbuml_call(client, "network.list", NULL, ret);
}

static const char *
str_or_dash(struct json_object *o, const char *key)
{
	return ctl_str(o, key) != NULL ? ctl_str(o, key) : "-";
}

static size_t
machines_of(struct json_object *net)
{
	struct json_object *ms;

	if (!json_object_object_get_ex(net, "machines", &ms) ||
	    !json_object_is_type(ms, json_type_array))
		return 0;
	return json_object_array_length(ms);
}

static bool
bool_member(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	    json_object_get_boolean(v);
}

static void
print_network_table(struct json_object *array)
{
	size_t i, n = json_object_array_length(array);

	printf("%-11s  %-14s  %-18s  %-4s  %-7s  %s\n", "NAME", "BRIDGE",
	    "SUBNET", "UP", "DEFAULT", "MACHINES");
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(array, i);

		printf("%-11s  %-14s  %-18s  %-4s  %-7s  %zu\n",
		    str_or_dash(o, "name"), str_or_dash(o, "bridge"),
		    str_or_dash(o, "subnet"), bool_member(o, "up") ? "yes" : "no",
		    bool_member(o, "default") ? "yes" : "", machines_of(o));
	}
}

static int
network_list(struct ctl *ctl, int argc, char **argv)
{
	return ctl_run_list(ctl, argc, argv, call_network_list, "networks",
	    print_network_table);
}

static void
print_network(struct json_object *o, const char *arg)
{
	struct json_object *ms, *pub;

	(void)arg;
	printf("network   %s\nbridge    %s\nsubnet    %s\ngateway   %s\n"
	    "up        %s\ndhcp      %s\ndefault   %s\n", str_or_dash(o, "name"),
	    str_or_dash(o, "bridge"), str_or_dash(o, "subnet"),
	    str_or_dash(o, "gateway"), bool_member(o, "up") ? "yes" : "no",
	    bool_member(o, "dhcp") ? "running" : "no",
	    bool_member(o, "default") ? "yes" : "no");
	if (machines_of(o) == 0)
		return;
	json_object_object_get_ex(o, "machines", &ms);
	printf("machines:\n");
	for (size_t i = 0; i < json_object_array_length(ms); i++) {
		struct json_object *m = json_object_array_get_idx(ms, i);

		printf("  %-16s %s %-11s %-15s lease %-15s", str_or_dash(m, "machine"),
		    str_or_dash(m, "mac"), str_or_dash(m, "tap"),
		    str_or_dash(m, "ipv4"), str_or_dash(m, "ipv4_leased"));
		if (json_object_object_get_ex(m, "publish", &pub) &&
		    json_object_array_length(pub) > 0) {
			printf(" publish");
			for (size_t k = 0; k < json_object_array_length(pub); k++)
				printf(" %s", json_object_get_string(
				    json_object_array_get_idx(pub, k)));
		}
		putchar('\n');
	}
}

/* network info [NAME]: the default network without NAME. */
static int
network_info(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params = NULL, *res = NULL;
	int ex, r;

	if ((ex = ctl_parse_common(ctl, argc, argv)) != 0)
		return ex;
	if (argc - optind > 1)
		return ctl_usage(ctl, "too many arguments");
	if ((params = json_object_new_object()) == NULL)
		return ctl_fail(ctl, -ENOMEM);
	if (argc - optind == 1)
		json_object_object_add(params, "network",
		    json_object_new_string(argv[optind]));
	if ((ex = ctl_connect(ctl)) == 0) {
		r = sbuml_call(ctl->client, "network.info", params, &res);
		ex = ctl_show(ctl, r, res, print_network, NULL);
	}
	json_object_put(params);
	json_object_put(res);
	return ex;
}

/* network list | info [NAME] */
int
cmd_network(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_command subs[] = {
		{ "network list", network_list, "", "list the networks",
		    NULL, NULL },
		{ "network info", network_info, "[NAME]",
		    "show a network and its machines", NULL, NULL },
	};

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
		    strcmp(argv[1], "--help") == 0)) {
			printf("usage: sbumlctl [--socket PATH] [--json] "
			    "[--timeout S] network %s\n", ctl->cmd->usage);
			return CTL_EXIT_OK;
		}
		return ctl_usage(ctl, "missing list or info");
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name + strlen("network ")) == 0) {
			ctl->cmd = &subs[i];
			return subs[i].fn(ctl, argc - 1, argv + 1);
		}
	}
	return ctl_usage(ctl, "unknown network command '%s'", argv[1]);
}
