/* SPDX-License-Identifier: MIT */
/*
 * sbumlctl daemon commands: ping, version, events.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "sbumlctl.h"

/* Seconds of CLOCK_MONOTONIC as a double, for the ping round trip. */
static double
mono_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return 0;
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ping: daemon.ping, with the round-trip time. */
int
cmd_ping(struct ctl *ctl, int argc, char **argv)
{
	double t0;
	int ex, r;

	if ((ex = ctl_start(ctl, argc, argv)) != 0)
		return ex;
	t0 = mono_s();
	r = sbuml_daemon_ping(ctl->client);
	if (r < 0)
		return ctl_fail(ctl, r);
	if (ctl->json)
		printf("{\"pong\":true}\n");
	else
		printf("pong from %s in %.3f ms\n", sbuml_get_path(ctl->client),
		    (mono_s() - t0) * 1000);
	return 0;
}

/* Print this client's version and the daemon.version result res. */
static void
print_version(struct json_object *res, const char *arg)
{
	struct json_object *api;

	(void)arg;
	printf("sbumlctl   %s\n", SBUML_VERSION);
	printf("sbumld     %s", ctl_str(res, "version") ?
	    ctl_str(res, "version") : "?");
	if (json_object_object_get_ex(res, "api", &api))
		printf(" (api %d)", json_object_get_int(api));
	printf("\nkernel     %s\nimage      %s\nstate_dir  %s\n",
	    ctl_str(res, "kernel") ? ctl_str(res, "kernel") : "-",
	    ctl_str(res, "image") ? ctl_str(res, "image") : "-",
	    ctl_str(res, "state_dir") ? ctl_str(res, "state_dir") : "-");
}

/* version: this client's and the daemon's versions and defaults. */
int
cmd_version(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *res = NULL;
	int ex, r;

	if ((ex = ctl_start(ctl, argc, argv)) != 0)
		return ex;
	r = sbuml_daemon_version(ctl->client, &res);
	ex = ctl_show(ctl, r, res, print_version, NULL);
	json_object_put(res);
	return ex;
}

/* Print one event for humans: machine.state gets a readable line. */
static void
print_event(const char *method, struct json_object *params)
{
	struct json_object *pid;

	if (strcmp(method, "machine.state") == 0 && ctl_str(params, "machine")) {
		printf("%s: %s -> %s", ctl_str(params, "machine"),
		    ctl_str(params, "previous") ? ctl_str(params, "previous") : "?",
		    ctl_str(params, "state") ? ctl_str(params, "state") : "?");
		if (json_object_object_get_ex(params, "pid", &pid) &&
		    json_object_is_type(pid, json_type_int))
			printf(" (pid %d)", json_object_get_int(pid));
		putchar('\n');
		return;
	}
	printf("%s %s\n", method, params != NULL ?
	    json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE) : "{}");
}

/* events [--count N]: subscribe and print events until N have come. */
int
cmd_events(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count",	required_argument, NULL, 'n' },
		CTL_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct json_object *params = NULL, *line;
	unsigned long count = 0, seen = 0;
	char *method = NULL;
	int opt, ex = 0, r;

	while ((opt = getopt_long(argc, argv, ":hn:", opts, NULL)) != -1) {
		if (opt == 'n') {
			if (ctl_parse_uint(optarg, 1, ~0UL, &count) < 0)
				return ctl_usage(ctl, "--count wants a positive "
				    "number, not '%s'", optarg);
		} else if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	}
	if ((ex = ctl_nargs(ctl, argc, 0, "")) != 0 ||
	    (ex = ctl_connect(ctl)) != 0)
		return ex;
	if ((r = sbuml_events_subscribe(ctl->client)) < 0)
		return ctl_fail(ctl, r);

	while (count == 0 || seen < count) {
		/* Events have no deadline: wait until one comes. */
		r = sbuml_next_event(ctl->client, -1, &method, &params);
		if (r < 0)
			return ctl_fail(ctl, r);
		seen++;
		if (ctl->json) {
			line = json_object_new_object();
			if (line == NULL || json_object_object_add(line, "method",
			    json_object_new_string(method)) != 0 ||
			    json_object_object_add(line, "params",
			    params != NULL ? json_object_get(params) : NULL) != 0) {
				json_object_put(line);
				ex = ctl_fail(ctl, -ENOMEM);
			} else {
				ex = ctl_print_json(line);
				json_object_put(line);
			}
		} else
			print_event(method, params);
		free(method);
		json_object_put(params);
		method = NULL;
		params = NULL;
		if (ex != 0)
			return ex;
		/* Piped into a script: each event must get there at once. */
		if (fflush(stdout) == EOF)
			return CTL_EXIT_FAILURE;
	}
	return 0;
}
