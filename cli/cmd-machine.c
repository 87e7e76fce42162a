/* SPDX-License-Identifier: MIT */
/*
 * sbumlctl machine commands: boot, list, halt, console, and the printers
 * of info, pause, resume, kill (run by ctl_cmd_one() from the command
 * table).  Each parses its options, resolves MACHINE, connects, calls the
 * typed helper of libsbuml-client and prints the result as a human
 * summary, or as raw JSON with --json.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sbumlctl.h"

/* At most this many published ports (doc/rpc.md). */
#define MAX_PUBLISH	16
/* At most this many extra disks (doc/rpc.md: ubd1 ... ubd7). */
#define MAX_DISKS	7
/* console --follow: window kept to find where new lines start. */
#define FOLLOW_KEEP	1000

/* Print a JSON value the way a human reads it (no quotes on strings). */
void
ctl_print_value(struct json_object *v)
{
	size_t i, n;

	switch (json_object_get_type(v)) {
	case json_type_null:
		fputs("-", stdout);
		break;
	case json_type_boolean:
		fputs(json_object_get_boolean(v) ? "yes" : "no", stdout);
		break;
	case json_type_string:
		fputs(json_object_get_string(v), stdout);
		break;
	case json_type_array:
		n = json_object_array_length(v);
		if (n == 0)
			fputs("-", stdout);
		for (i = 0; i < n; i++) {
			if (i > 0)
				fputs(", ", stdout);
			ctl_print_value(json_object_array_get_idx(v, i));
		}
		break;
	default:
		fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE), stdout);
		break;
	}
}

/* Print an "exit" member: {"status": N|null, "signal": N|null}. */
static void
print_exit(struct json_object *v)
{
	struct json_object *status = NULL, *sig = NULL;

	json_object_object_get_ex(v, "status", &status);
	json_object_object_get_ex(v, "signal", &sig);
	if (sig != NULL && json_object_is_type(sig, json_type_int) &&
	    json_object_get_int(sig) != 0)
		printf("killed by signal %d", json_object_get_int(sig));
	else if (status != NULL && json_object_is_type(status, json_type_int))
		printf("status %d", json_object_get_int(status));
	else
		fputs("unknown (re-adopted after a daemon restart)", stdout);
}

/* Print a machine object as "key: value" lines, known keys first. */
void
ctl_print_machine(struct json_object *m, const char *arg)
{
	static const char *const order[] = {
		"machine", "state", "pid", "dir", "mem_mb", "image", "kernel",
		"cmdline", "disks", "net", "savable", "uffd", "created", "started",
		"exit",
	};
	struct json_object *v;
	size_t i, j, n;
	bool known;

	(void)arg;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!json_object_object_get_ex(m, order[i], &v))
			continue;
		printf("%-9s ", strcmp(order[i], "mem_mb") == 0 ? "mem" :
		    order[i]);
		if (strcmp(order[i], "mem_mb") == 0)
			printf("%d MiB", json_object_get_int(v));
		else if (strcmp(order[i], "exit") == 0)
			print_exit(v);
		else
			ctl_print_value(v);
		putchar('\n');
	}
	/* Members newer than this client: show them rather than hide them. */
	json_object_object_foreach(m, key, val) {
		known = strcmp(key, "console_tail") == 0;
		for (j = 0; j < sizeof(order) / sizeof(order[0]) && !known; j++)
			known = strcmp(key, order[j]) == 0;
		if (known)
			continue;
		printf("%-9s ", key);
		ctl_print_value(val);
		putchar('\n');
	}
	if (json_object_object_get_ex(m, "console_tail", &v) &&
	    json_object_is_type(v, json_type_array)) {
		printf("console tail:\n");
		n = json_object_array_length(v);
		for (i = 0; i < n; i++)
			printf("  %s\n", json_object_get_string(
			    json_object_array_get_idx(v, i)));
	}
}

/* Print "demo: running (pid 123)" for a state-changing command. */
void
ctl_print_state(struct json_object *m, const char *arg)
{
	struct json_object *pid;

	(void)arg;
	printf("%s: %s", ctl_str(m, "machine") ? ctl_str(m, "machine") : "?",
	    ctl_str(m, "state") ? ctl_str(m, "state") : "?");
	if (json_object_object_get_ex(m, "pid", &pid))
		printf(" (pid %d)", json_object_get_int(pid));
	putchar('\n');
}

/*
 * boot MACHINE [--image P] [--mem MB] [--cmdline S] [--disk P]... [--kernel P]
 *     [--net NET|none] [--publish [IP:]H:G[/proto]]...
 */
int
cmd_boot(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "image",	required_argument, NULL, 'i' },
		{ "mem",	required_argument, NULL, 'm' },
		{ "cmdline",	required_argument, NULL, 'c' },
		{ "disk",	required_argument, NULL, 'd' },
		{ "kernel",	required_argument, NULL, 'k' },
		{ "net",	required_argument, NULL, 'n' },
		{ "publish",	required_argument, NULL, 'p' },
		CTL_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct sbuml_boot_options o = { 0 };
	/* Paths the daemon wants absolute: image, kernel, disks. */
	char *image = NULL, *kernel = NULL, *disks[MAX_DISKS + 1] = { NULL };
	char *machine = NULL;
	const char *publish[MAX_PUBLISH + 1] = { NULL };
	size_t npublish = 0;
	struct json_object *res = NULL;
	unsigned long mem;
	size_t ndisks = 0, i;
	int opt, ex = 0, r;

	while ((opt = getopt_long(argc, argv, ":hi:m:c:d:k:n:p:", opts, NULL)) != -1) {
		switch (opt) {
		case 'i':
		case 'k':
		case 'd':
			if (opt == 'd' && ndisks == MAX_DISKS) {
				ex = ctl_usage(ctl, "at most %d --disk", MAX_DISKS);
				goto out;
			}
			/* An image name (sbumlctl image list) goes as it is. */
			if (opt == 'i' && ctl_image_is_name(optarg)) {
				free(image);
				if ((image = strdup(optarg)) == NULL) {
					ex = ctl_fail(ctl, -ENOMEM);
					goto out;
				}
				break;
			}
			/* Else a path: a bare "x.img" means ./x.img. */
			{
				char *p = NULL, *rel = NULL;

				if (strchr(optarg, '/') == NULL &&
				    asprintf(&rel, "./%s", optarg) == -1) {
					ex = ctl_fail(ctl, -ENOMEM);
					goto out;
				}
				ex = ctl_path_arg(ctl, rel != NULL ? rel : optarg,
				    opt == 'i' ? "--image" : opt == 'k' ?
				    "--kernel" : "--disk", &p);
				free(rel);
				if (ex != 0)
					goto out;
				if (opt == 'i') {
					free(image);
					image = p;
				} else if (opt == 'k') {
					free(kernel);
					kernel = p;
				} else
					disks[ndisks++] = p;
			}
			break;
		case 'm':
			if (ctl_parse_uint(optarg, 16, 16384, &mem) < 0) {
				ex = ctl_usage(ctl, "--mem wants MiB in 16...16384, "
				    "not '%s'", optarg);
				goto out;
			}
			o.mem_mb = (unsigned int)mem;
			break;
		case 'c':
			o.cmdline = optarg;
			break;
		case 'n':
			o.net = optarg;
			break;
		case 'p':
			/* The daemon checks the spec; this only bounds the list. */
			if (npublish == MAX_PUBLISH) {
				ex = ctl_usage(ctl, "at most %d --publish",
				    MAX_PUBLISH);
				goto out;
			}
			publish[npublish++] = optarg;
			break;
		default:
			if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
				goto out;
			break;
		}
	}
	if ((ex = ctl_sole_arg(ctl, argc, argv, "MACHINE", &machine)) != 0)
		goto out;
	o.machine = machine;
	o.image = image;
	o.kernel = kernel;
	o.disks = (const char *const *)disks;
	o.publish = publish;

	if ((ex = ctl_connect(ctl)) != 0)
		goto out;
	r = sbuml_machine_boot(ctl->client, &o, &res);
	ex = ctl_show(ctl, r, res, ctl_print_state, machine);
out:
	json_object_put(res);
	for (i = 0; i < ndisks; i++)
		free(disks[i]);
	free(image);
	free(kernel);
	free(machine);
	return ex;
}

/* The list table: NAME STATE PID MEM DIR, sorted by the daemon. */
static void
print_machine_table(struct json_object *machines)
{
	struct json_object *m, *v;
	size_t i, n, w = ctl_column_width(machines, "machine", 4);
	char pid[16], mem[16];

	n = json_object_array_length(machines);
	printf("%-*s  %-8s  %7s  %6s  %s\n", (int)w, "NAME", "STATE", "PID",
	    "MEM", "DIR");
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(machines, i);
		snprintf(pid, sizeof(pid), "-");
		if (json_object_object_get_ex(m, "pid", &v))
			snprintf(pid, sizeof(pid), "%d", json_object_get_int(v));
		snprintf(mem, sizeof(mem), "-");
		if (json_object_object_get_ex(m, "mem_mb", &v))
			snprintf(mem, sizeof(mem), "%dM", json_object_get_int(v));
		printf("%-*s  %-8s  %7s  %6s  %s\n", (int)w,
		    ctl_str(m, "machine") ? ctl_str(m, "machine") : "?",
		    ctl_str(m, "state") ? ctl_str(m, "state") : "?", pid, mem,
		    ctl_str(m, "dir") ? ctl_str(m, "dir") : "-");
	}
}

/* list: a NAME STATE PID MEM DIR table, sorted by the daemon. */
int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	return ctl_run_list(ctl, argc, argv, sbuml_machine_list, "machines",
	    print_machine_table);
}

/* halt MACHINE [--timeout S]: here --timeout is the guest's grace period. */
int
cmd_halt(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout",	required_argument, NULL, 't' },
		CTL_COMMON_OPTS_NOTIMEOUT,
		{ NULL, 0, NULL, 0 }
	};
	struct json_object *res = NULL;
	char *machine = NULL;
	unsigned long t = 0;
	int opt, ex, r;

	while ((opt = getopt_long(argc, argv, ":ht:", opts, NULL)) != -1) {
		if (opt == 't') {
			if (ctl_parse_uint(optarg, 1, 600, &t) < 0)
				return ctl_usage(ctl, "--timeout wants seconds in "
				    "1...600, not '%s'", optarg);
		} else if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	}
	if ((ex = ctl_sole_arg(ctl, argc, argv, "MACHINE", &machine)) != 0)
		return ex;
	if ((ex = ctl_connect(ctl)) != 0)
		goto out;
	r = sbuml_machine_halt(ctl->client, machine, (unsigned int)t, &res);
	ex = ctl_show(ctl, r, res, ctl_print_state, machine);
out:
	json_object_put(res);
	free(machine);
	return ex;
}

/* The console lines array of a machine.console result, or NULL. */
static struct json_object *
console_lines(struct json_object *res)
{
	struct json_object *lines;

	if (!json_object_object_get_ex(res, "lines", &lines) ||
	    !json_object_is_type(lines, json_type_array))
		return NULL;
	return lines;
}

/* Whether line i of array a equals line j of array b. */
static bool
line_eq(struct json_object *a, size_t i, struct json_object *b, size_t j)
{
	const char *x = json_object_get_string(json_object_array_get_idx(a, i));
	const char *y = json_object_get_string(json_object_array_get_idx(b, j));

	return x != NULL && y != NULL && strcmp(x, y) == 0;
}

/*
 * Where the new lines of window cur start, given the previous window prev
 * (both are tails of the same growing log).  The largest offset o at which
 * cur[..o) ends with the tail of prev wins; comparing the whole of prev
 * (when o allows) makes a false match need a periodic log.  machine.console
 * has no cursor, so this is the best a client can do (see doc/cli.md).
 */
static size_t
follow_offset(struct json_object *prev, struct json_object *cur)
{
	size_t np = prev != NULL ? json_object_array_length(prev) : 0;
	size_t nc = json_object_array_length(cur);
	size_t o, m, k;

	if (np == 0)
		return 0;
	for (o = nc; o > 0; o--) {
		m = o < np ? o : np;
		for (k = 1; k <= m; k++)
			if (!line_eq(cur, o - k, prev, np - k))
				break;
		if (k > m)
			return o;
	}
	return 0;
}

/* console MACHINE [--lines N] [--follow] | --attach [--read-only] */
int
cmd_console(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lines",	required_argument, NULL, 'n' },
		{ "follow",	no_argument,	   NULL, 'f' },
		{ "attach",	no_argument,	   NULL, 'a' },
		{ "read-only",	no_argument,	   NULL, 'r' },
		CTL_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	const struct timespec half = { .tv_sec = 0, .tv_nsec = 500000000 };
	struct json_object *res = NULL, *prev = NULL, *lines;
	char *machine = NULL;
	unsigned long nlines = 50;
	bool follow = false, attach = false, read_only = false, tail = false;
	size_t i, n, o, want;
	int opt, ex, r;

	while ((opt = getopt_long(argc, argv, ":hn:far", opts, NULL)) != -1) {
		if (opt == 'n') {
			if (ctl_parse_uint(optarg, 1, 10000, &nlines) < 0)
				return ctl_usage(ctl, "--lines wants 1...10000, "
				    "not '%s'", optarg);
			tail = true;
		} else if (opt == 'f')
			follow = tail = true;
		else if (opt == 'a')
			attach = true;
		else if (opt == 'r')
			attach = read_only = true;
		else if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	}
	if (attach && (tail || ctl->json))
		return ctl_usage(ctl, "--attach does not go with --lines, "
		    "--follow or --json");
	if ((ex = ctl_sole_arg(ctl, argc, argv, "MACHINE", &machine)) != 0)
		return ex;
	if (attach) {
		ex = ctl_console_attach(ctl, machine, !read_only);
		goto out;
	}
	if ((ex = ctl_connect(ctl)) != 0)
		goto out;

	want = nlines;
	for (;;) {
		r = sbuml_machine_console(ctl->client, machine,
		    (unsigned int)want, &res);
		if (r < 0) {
			ex = ctl_fail(ctl, r);
			goto out;
		}
		if ((lines = console_lines(res)) == NULL) {
			ex = ctl_fail(ctl, -EPROTO);
			goto out;
		}
		if (ctl->json && !follow) {
			ex = ctl_print_json(res);
			goto out;
		}
		n = json_object_array_length(lines);
		o = follow_offset(prev != NULL ? console_lines(prev) : NULL, lines);
		for (i = o; i < n; i++) {
			if (ctl->json) {
				if ((ex = ctl_print_json(
				    json_object_array_get_idx(lines, i))) != 0)
					goto out;
			} else
				printf("%s\n", json_object_get_string(
				    json_object_array_get_idx(lines, i)));
		}
		if (!follow)
			break;
		if (fflush(stdout) == EOF) {
			ex = CTL_EXIT_FAILURE;
			goto out;
		}
		json_object_put(prev);
		prev = res;
		res = NULL;
		/* Ask for a bit more than we keep, so new lines overlap it. */
		want = (n < FOLLOW_KEEP ? n : FOLLOW_KEEP) + FOLLOW_KEEP;
		/* nanosleep only fails on a signal; following resumes then. */
		(void)nanosleep(&half, NULL);
	}
out:
	json_object_put(prev);
	json_object_put(res);
	free(machine);
	return ex;
}
