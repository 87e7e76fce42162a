/* SPDX-License-Identifier: MIT */
/*
 * sbumlctl snapshot commands: save, restore, check, snapshot list|info|delete,
 * and the classic sbumlsave / sbumlrestore, on top of the snapshot.*
 * helpers of libsbuml-client (doc/rpc.md "Snapshots").
 */
#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sbumlctl.h"

#define MIB	1048576.0

/* An integer member of obj (or of obj.sub when sub is set); -1 if absent. */
static int64_t
member_int(struct json_object *obj, const char *sub, const char *key)
{
	struct json_object *v;

	if (sub != NULL && (obj == NULL ||
	    !json_object_object_get_ex(obj, sub, &obj)))
		return -1;
	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

/* Sum of the integer members of obj.sub (the "sizes" object); 0 if none. */
static int64_t
member_sum(struct json_object *obj, const char *sub)
{
	struct json_object *o;
	int64_t sum = 0;

	if (obj == NULL || !json_object_object_get_ex(obj, sub, &o) ||
	    !json_object_is_type(o, json_type_object))
		return 0;
	json_object_object_foreach(o, key, val) {
		(void)key;
		if (json_object_is_type(val, json_type_int) &&
		    json_object_get_int64(val) > 0)
			sum += json_object_get_int64(val);
	}
	return sum;
}

/* save --progress: one stderr line per job.progress notification. */
static void
print_progress(const struct sbuml_progress *p, void *userdata)
{
	(void)userdata;
	fprintf(stderr, "saving: %.1f MiB written\n", (double)p->bytes / MIB);
}

/*
 * Which capture ran, for the line on stderr, into buf: " (copy-on-write)",
 * " (staged)", or " (staged: <why not cow>)" when cow was asked.  Empty for
 * a daemon that does not say (before "capture").
 */
static const char *
capture_words(struct json_object *res, char *buf, size_t len)
{
	struct json_object *c, *v;
	const char *method = NULL, *why = NULL;

	buf[0] = '\0';
	if (!json_object_object_get_ex(res, "capture", &c) ||
	    !json_object_is_type(c, json_type_object))
		return buf;
	if (json_object_object_get_ex(c, "method", &v) &&
	    json_object_is_type(v, json_type_string))
		method = json_object_get_string(v);
	if (json_object_object_get_ex(c, "fallback", &v) &&
	    json_object_is_type(v, json_type_string))
		why = json_object_get_string(v);
	if (method == NULL)
		return buf;
	if (strcmp(method, "cow") == 0)
		snprintf(buf, len, " (copy-on-write)");
	else if (why != NULL)
		snprintf(buf, len, " (%s: %s)", method, why);
	else
		snprintf(buf, len, " (%s)", method);
	return buf;
}

/*
 * snapshot.save of machine and the human (or --json) output: the path on
 * stdout, "paused for X ms (CAPTURE), Y MiB captured" on stderr.  Returns
 * an exit code.
 */
static int
do_save(struct ctl *ctl, const char *machine, const char *snapshot,
    const char *prefix, bool stop, bool progress, bool raw, bool cow)
{
	struct sbuml_save_options o = {
		.snapshot = snapshot,
		.prefix = prefix,
		.stop = stop,
		.progress = progress ? print_progress : NULL,
		.raw = raw,
		.capture = cow ? "cow" : NULL,
	};
	struct json_object *res = NULL;
	const char *path;
	char how[320];
	int64_t pause_us;
	int ex, r;

	if ((ex = ctl_connect(ctl)) != 0)
		return ex;
	r = sbuml_snapshot_save(ctl->client, machine, &o, &res);
	if (r < 0)
		return ctl_fail(ctl, r);
	if (ctl->json) {
		ex = ctl_print_json(res);
		goto out;
	}
	path = ctl_str(res, "path") != NULL ? ctl_str(res, "path") :
	    ctl_str(res, "snapshot");
	if (path == NULL) {
		ex = ctl_fail(ctl, -EPROTO);
		goto out;
	}
	printf("%s\n", path);
	pause_us = member_int(res, "timings", "pause_us");
	if (pause_us >= 0)
		fprintf(stderr, "paused for %.1f ms%s, %.1f MiB captured\n",
		    (double)pause_us / 1000, capture_words(res, how, sizeof(how)),
		    (double)member_sum(res, "sizes") / MIB);
	ex = 0;
out:
	json_object_put(res);
	return ex;
}

/* save MACHINE [SNAPSHOT] [--prefix P] [--stop] [--progress] [--raw] [--cow] */
int
cmd_save(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "prefix",	required_argument, NULL, 'p' },
		{ "stop",	no_argument,	   NULL, 'S' },
		{ "progress",	no_argument,	   NULL, 'P' },
		{ "raw",	no_argument,	   NULL, 'R' },
		{ "cow",	no_argument,	   NULL, 'C' },
		CTL_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	char *machine = NULL, *snapshot = NULL, *prefix = NULL;
	const char *prefix_arg = NULL;
	bool stop = false, progress = false, raw = false, cow = false;
	int opt, ex;

	while ((opt = getopt_long(argc, argv, ":hp:SPRC", opts, NULL)) != -1) {
		if (opt == 'p')
			prefix_arg = optarg;
		else if (opt == 'S')
			stop = true;
		else if (opt == 'P')
			progress = true;
		else if (opt == 'R')
			raw = true;
		else if (opt == 'C')
			cow = true;
		else if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	}
	if (argc - optind < 1 || argc - optind > 2)
		return ctl_usage(ctl, argc - optind < 1 ? "missing MACHINE" :
		    "too many arguments");
	if (argc - optind == 2 && prefix_arg != NULL)
		return ctl_usage(ctl, "give SNAPSHOT or --prefix, not both");
	if ((ex = ctl_machine_arg(ctl, argv[optind], &machine)) != 0)
		goto out;
	if (argc - optind == 2 &&
	    (ex = ctl_path_arg(ctl, argv[optind + 1], "SNAPSHOT", &snapshot)) != 0)
		goto out;
	if (prefix_arg != NULL &&
	    (ex = ctl_path_arg(ctl, prefix_arg, "--prefix", &prefix)) != 0)
		goto out;
	ex = do_save(ctl, machine, snapshot, prefix, stop, progress, raw, cow);
out:
	free(machine);
	free(snapshot);
	free(prefix);
	return ex;
}

/* snapshot.restore and its output: "vm2: running (pid 123)". */
static int
do_restore(struct ctl *ctl, const char *snapshot, const char *machine,
    const struct sbuml_restore_options *o)
{
	struct json_object *res = NULL, *why;
	int ex, r;

	if (ctl->client == NULL && (ex = ctl_connect(ctl)) != 0)
		return ex;
	r = sbuml_snapshot_restore_opts(ctl->client, snapshot, machine, o, &res);
	/* Lazy asked for, eager done: say why (the result has it too). */
	if (r == 0 && o->memory != NULL && strcmp(o->memory, "lazy") == 0 &&
	    json_object_object_get_ex(res, "memory_reason", &why))
		fprintf(stderr, "restored eagerly: %s\n", json_object_get_string(why));
	ex = ctl_show(ctl, r, res, ctl_print_state, machine);
	json_object_put(res);
	return ex;
}

#define MAX_PUBLISH	16	/* doc/rpc.md */

/*
 * restore SNAPSHOT|REF|URL MACHINE [--paused] [--lazy] [--same-identity]
 * [--publish SPEC]... [--snapshot NAME] [--insecure] [--authfile FILE]
 * [--no-progress]
 */
int
cmd_restore(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "paused",	no_argument,	   NULL, 'p' },
		{ "same-identity", no_argument,	   NULL, 'I' },
		{ "publish",	required_argument, NULL, 'P' },
		{ "snapshot",	required_argument, NULL, 's' },
		{ "insecure",	no_argument,	   NULL, 'k' },
		{ "authfile",	required_argument, NULL, 'a' },
		{ "no-progress", no_argument,	   NULL, 'n' },
		{ "lazy",	no_argument,	   NULL, 'L' },
		CTL_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct sbuml_restore_options o = { 0 };
	struct ctl_source src = { .bar = true };
	const char *publish[MAX_PUBLISH + 1] = { NULL };
	size_t npublish = 0;
	char *machine = NULL, *snapshot = NULL;
	int opt, ex;

	while ((opt = getopt_long(argc, argv, ":hpIP:k", opts, NULL)) != -1) {
		if (opt == 'p')
			o.paused = true;
		else if (opt == 'I')
			o.same_identity = true;
		else if (opt == 'P') {
			if (npublish == MAX_PUBLISH)
				return ctl_usage(ctl, "at most %d --publish",
				    MAX_PUBLISH);
			publish[npublish++] = optarg;
			o.publish = publish;
		} else if (opt == 's')
			src.snapshot = optarg;
		else if (opt == 'k')
			src.reg.insecure = src.given = true;
		else if (opt == 'a')
			src.reg.auth_file = optarg;
		else if (opt == 'n')
			src.bar = false;
		else if (opt == 'L')
			o.memory = "lazy";
		else if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	}
	if ((ex = ctl_nargs(ctl, argc, 2, "want SNAPSHOT (or REF or URL) and MACHINE")) != 0)
		return ex;
	if ((ex = ctl_machine_arg(ctl, argv[optind + 1], &machine)) != 0)
		goto out;
	if (ctl_is_source(argv[optind])) {
		ex = ctl_restore_source(ctl, argv[optind], machine, &o, &src);
		goto out;
	}
	if (src.given || src.snapshot != NULL || src.reg.auth_file != NULL) {
		ex = ctl_usage(ctl, "--snapshot, --insecure and --authfile are for a "
		    "restore from a registry reference or a URL");
		goto out;
	}
	if ((ex = ctl_path_arg(ctl, argv[optind], "SNAPSHOT", &snapshot)) != 0)
		goto out;
	ctl->target = argv[optind];
	ex = do_restore(ctl, snapshot, machine, &o);
out:
	free(machine);
	free(snapshot);
	return ex;
}

/*
 * check SNAPSHOT: snapshot.check, one line per check ("ok   kernel: ...",
 * "FAIL cpu: ...") and a verdict.  Exit 0 if this host can restore the
 * snapshot, 1 if it cannot (also with --json, which prints the answer).
 */
int
cmd_check(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *res = NULL, *checks, *v;
	char *snapshot = NULL;
	bool restorable;
	size_t i, nfail = 0;
	int ex, r;

	if ((ex = ctl_parse_common(ctl, argc, argv)) != 0 ||
	    (ex = ctl_sole_arg(ctl, argc, argv, "SNAPSHOT", &snapshot)) != 0)
		return ex;
	if ((ex = ctl_connect(ctl)) != 0)
		goto out;
	if ((r = sbuml_snapshot_check(ctl->client, snapshot, &res)) < 0) {
		ex = ctl_fail(ctl, r);
		goto out;
	}
	if (!json_object_object_get_ex(res, "restorable", &v) ||
	    !json_object_is_type(v, json_type_boolean) ||
	    !json_object_object_get_ex(res, "checks", &checks) ||
	    !json_object_is_type(checks, json_type_array)) {
		ex = ctl_fail(ctl, -EPROTO);
		goto out;
	}
	restorable = json_object_get_boolean(v);
	if (ctl->json) {
		ex = ctl_print_json(res);
		if (ex == 0 && !restorable)
			ex = CTL_EXIT_REMOTE;
		goto out;
	}
	for (i = 0; i < json_object_array_length(checks); i++) {
		struct json_object *c = json_object_array_get_idx(checks, i);
		bool ok = json_object_object_get_ex(c, "ok", &v) &&
		    json_object_get_boolean(v);

		nfail += !ok;
		printf("%-4s %s: %s\n", ok ? "ok" : "FAIL",
		    ctl_str(c, "check") != NULL ? ctl_str(c, "check") : "?",
		    ctl_str(c, "detail") != NULL ? ctl_str(c, "detail") : "");
	}
	if (restorable)
		printf("%s: this host can restore it\n", ctl->target);
	else
		printf("%s: this host cannot restore it (%zu check%s failed)\n",
		    ctl->target, nfail, nfail == 1 ? "" : "s");
	ex = restorable ? CTL_EXIT_OK : CTL_EXIT_REMOTE;
out:
	json_object_put(res);
	free(snapshot);
	return ex;
}

/* Print a snapshot object as "key value" lines, unknown members last. */
static void
print_snapshot(struct json_object *s, const char *arg)
{
	static const char *const known[] = {
		"snapshot", "path", "created", "state", "machine", "kernel",
		"timings", "sizes", "disk_usage",
	};
	struct json_object *m, *v;
	size_t i;
	bool first;

	(void)arg;
	for (i = 0; i < 4; i++) {
		if (!json_object_object_get_ex(s, known[i], &v))
			continue;
		printf("%-9s ", known[i]);
		ctl_print_value(v);
		putchar('\n');
	}
	if (json_object_object_get_ex(s, "machine", &m)) {
		printf("%-9s %s", "machine", ctl_str(m, "machine") != NULL ?
		    ctl_str(m, "machine") : "?");
		if (member_int(m, NULL, "mem_mb") >= 0)
			printf(" (%lld MiB)", (long long)member_int(m, NULL, "mem_mb"));
		putchar('\n');
	}
	if (json_object_object_get_ex(s, "kernel", &v) &&
	    ctl_str(v, "build_id") != NULL)
		printf("%-9s build-id %s\n", "kernel", ctl_str(v, "build_id"));
	if (json_object_object_get_ex(s, "timings", &v) &&
	    json_object_is_type(v, json_type_object)) {
		printf("%-9s ", "timings");
		first = true;
		json_object_object_foreach(v, key, val) {
			if (!json_object_is_type(val, json_type_int))
				continue;
			printf("%s%.*s %.1f ms", first ? "" : ", ",
			    (int)(strlen(key) > 3 && strcmp(key + strlen(key) - 3,
			    "_us") == 0 ? strlen(key) - 3 : strlen(key)), key,
			    (double)json_object_get_int64(val) / 1000);
			first = false;
		}
		putchar('\n');
	}
	if (json_object_object_get_ex(s, "sizes", &v) &&
	    json_object_is_type(v, json_type_object)) {
		printf("%-9s %.1f MiB (", "captured",
		    (double)member_sum(s, "sizes") / MIB);
		first = true;
		json_object_object_foreach(v, key, val) {
			if (!json_object_is_type(val, json_type_int))
				continue;
			printf("%s%s %.1f", first ? "" : ", ", key,
			    (double)json_object_get_int64(val) / MIB);
			first = false;
		}
		printf(")\n");
	}
	if (member_int(s, NULL, "disk_usage") >= 0)
		printf("%-9s %.1f MiB\n", "on disk",
		    (double)member_int(s, NULL, "disk_usage") / MIB);
	/* Members newer than this client: show them rather than hide them. */
	json_object_object_foreach(s, key, val) {
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (i < sizeof(known) / sizeof(known[0]))
			continue;
		printf("%-9s ", key);
		ctl_print_value(val);
		putchar('\n');
	}
}

/* The snapshot list table: NAME STATE PAUSE_MS SIZE_MB CREATED. */
static void
print_snapshot_table(struct json_object *snaps)
{
	struct json_object *s;
	char pause[32], size[32];
	size_t i, n, w = ctl_column_width(snaps, "snapshot", 4);

	n = json_object_array_length(snaps);
	printf("%-*s  %-7s  %8s  %8s  %s\n", (int)w, "NAME", "STATE", "PAUSE_MS",
	    "SIZE_MB", "CREATED");
	for (i = 0; i < n; i++) {
		s = json_object_array_get_idx(snaps, i);
		snprintf(pause, sizeof(pause), "-");
		if (member_int(s, "timings", "pause_us") >= 0)
			snprintf(pause, sizeof(pause), "%.1f",
			    (double)member_int(s, "timings", "pause_us") / 1000);
		/* Format 2: the directory plus the chunks the save added. */
		snprintf(size, sizeof(size), "-");
		if (member_int(s, NULL, "disk_usage") >= 0)
			snprintf(size, sizeof(size), "%.1f",
			    (double)(member_int(s, NULL, "disk_usage") +
			    (member_int(s, "store", "new_bytes") > 0 ?
			    member_int(s, "store", "new_bytes") : 0)) / MIB);
		printf("%-*s  %-7s  %8s  %8s  %s\n", (int)w,
		    ctl_str(s, "snapshot") ? ctl_str(s, "snapshot") : "?",
		    ctl_str(s, "state") ? ctl_str(s, "state") : "?", pause, size,
		    ctl_str(s, "created") ? ctl_str(s, "created") : "-");
	}
}

/* snapshot list: NAME STATE PAUSE_MS SIZE_MB CREATED. */
static int
snap_list(struct ctl *ctl, int argc, char **argv)
{
	return ctl_run_list(ctl, argc, argv, sbuml_snapshot_list, "snapshots",
	    print_snapshot_table);
}

/* snapshot list | info SNAPSHOT | delete SNAPSHOT */
/* Human output of snapshot.verify. */
static void
print_verified(struct json_object *res, const char *arg)
{
	(void)res;
	printf("%s: ok, every chunk verified\n", arg);
}

/* Human output of store.gc: what it removed. */
static void
print_gc(struct json_object *res, const char *arg)
{
	(void)arg;
	printf("%s\n", json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
}

/* snapshot gc */
static int
snap_gc(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *res = NULL;
	int ex, r;

	if ((ex = ctl_start(ctl, argc, argv)) != 0)
		return ex;
	/* The call first: the order of a function's arguments is unspecified. */
	r = sbuml_store_gc(ctl->client, &res);
	ex = ctl_show(ctl, r, res, print_gc, NULL);
	json_object_put(res);
	return ex;
}

int
cmd_snapshot(struct ctl *ctl, int argc, char **argv)
{
	/* Named "snapshot X" so that usage and error messages say so. */
	static const struct ctl_command subs[] = {
		{ "snapshot list",   snap_list,   "",
		    "list the named snapshots", NULL, NULL },
		{ "snapshot info",   ctl_cmd_one, "SNAPSHOT",
		    "check a snapshot and show it", sbuml_snapshot_info,
		    print_snapshot },
		{ "snapshot delete", ctl_cmd_one, "SNAPSHOT",
		    "remove a snapshot", sbuml_snapshot_delete,
		    ctl_print_deleted },
		{ "snapshot verify", ctl_cmd_one, "SNAPSHOT",
		    "check every chunk of a snapshot", sbuml_snapshot_verify,
		    print_verified },
		{ "snapshot gc", snap_gc, "",
		    "remove chunks no snapshot uses", NULL, NULL },
	};
	size_t i;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
		    strcmp(argv[1], "--help") == 0)) {
			printf("usage: sbumlctl [--socket PATH] [--json] "
			    "[--timeout S] snapshot %s\n", ctl->cmd->usage);
			return CTL_EXIT_OK;
		}
		return ctl_usage(ctl, "missing list, info, delete, verify or gc");
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name + strlen("snapshot ")) == 0) {
			ctl->cmd = &subs[i];
			/* argv[1] becomes the argv[0] getopt skips. */
			return subs[i].fn(ctl, argc - 1, argv + 1);
		}
	}
	return ctl_usage(ctl, "unknown snapshot command '%s'", argv[1]);
}

/* sbumlsave MACHINE PREFIX [-f] [-c] */
int
cmd_sbumlsave(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	char *machine = NULL, *prefix = NULL;
	bool cont = false;
	int opt, ex;

	while ((opt = getopt_long(argc, argv, ":hfc", opts, NULL)) != -1) {
		if (opt == 'f')
			;	/* freeze: what always happens during a save */
		else if (opt == 'c')
			cont = true;
		else if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	}
	if ((ex = ctl_nargs(ctl, argc, 2, "want MACHINE and PREFIX")) != 0)
		return ex;
	if ((ex = ctl_machine_arg(ctl, argv[optind], &machine)) != 0 ||
	    (ex = ctl_path_arg(ctl, argv[optind + 1], "PREFIX", &prefix)) != 0)
		goto out;
	ex = do_save(ctl, machine, NULL, prefix, !cont, false, false, false);
out:
	free(machine);
	free(prefix);
	return ex;
}

/* Copy s with the glob(7) metacharacters backslash-escaped; NULL on ENOMEM. */
static char *
glob_escape(const char *s)
{
	char *out, *o;

	out = malloc(strlen(s) * 2 + 1);
	if (out == NULL)
		return NULL;
	for (o = out; *s != '\0'; s++) {
		if (strchr("\\*?[", *s) != NULL)
			*o++ = '\\';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* Report an ambiguous PREFIX with its candidates; returns exit 2. */
static int
ambiguous(struct ctl *ctl, const char *arg, const char *const *names, size_t n,
    size_t strip)
{
	size_t i;

	fprintf(stderr, "%s: %s matches %zu snapshots, name one of them:\n",
	    ctl->progname, arg, n);
	for (i = 0; i < n; i++)
		fprintf(stderr, "  %.*s\n", (int)(strlen(names[i]) - strip),
		    names[i]);
	return CTL_EXIT_USAGE;
}

/*
 * SNAPSHOT of sbumlrestore, absolute path abs: itself if it exists, else
 * the one directory abs-* holding a manifest.json.  *ret is malloc'd;
 * returns 0 or an exit code (2 when several match).
 */
static int
resolve_path_prefix(struct ctl *ctl, const char *arg, const char *abs,
    char **ret)
{
	static const char tail[] = "-*/manifest.json";
	struct stat st;
	glob_t g = { 0 };
	char *esc = NULL, *pattern = NULL;
	int ex = CTL_EXIT_FAILURE, r;

	if (stat(abs, &st) == 0 || errno != ENOENT) {
		/* There (or unreadable): the daemon judges it. */
		*ret = strdup(abs);
		return *ret != NULL ? 0 : ctl_fail(ctl, -ENOMEM);
	}
	if ((esc = glob_escape(abs)) == NULL ||
	    asprintf(&pattern, "%s%s", esc, tail) == -1) {
		pattern = NULL;
		ex = ctl_fail(ctl, -ENOMEM);
		goto out;
	}
	r = glob(pattern, 0, NULL, &g);
	if (r == GLOB_NOSPACE) {
		ex = ctl_fail(ctl, -ENOMEM);
		goto out;
	}
	if (r != 0 || g.gl_pathc == 0) {
		/* No match (or unreadable): NoSuchSnapshot from the daemon. */
		*ret = strdup(abs);
	} else if (g.gl_pathc == 1) {
		*ret = strndup(g.gl_pathv[0], strlen(g.gl_pathv[0]) -
		    strlen("/manifest.json"));
	} else {
		ex = ambiguous(ctl, arg, (const char *const *)g.gl_pathv, g.gl_pathc,
		    strlen("/manifest.json"));
		goto out;
	}
	ex = *ret != NULL ? 0 : ctl_fail(ctl, -ENOMEM);
out:
	globfree(&g);	/* safe on the zeroed or partly filled g */
	free(pattern);
	free(esc);
	return ex;
}

/*
 * SNAPSHOT of sbumlrestore given as a name: itself if snapshot.list has it,
 * else the one named snapshot "NAME-*".  A daemon error on snapshot.list
 * leaves the name as it is.  *ret is malloc'd; 0 or an exit code.
 */
static int
resolve_name_prefix(struct ctl *ctl, const char *name, char **ret)
{
	struct json_object *res = NULL, *snaps;
	const char *s, **match = NULL;
	size_t i, n, nmatch = 0, len = strlen(name);
	int ex, r;

	r = sbuml_snapshot_list(ctl->client, &res);
	if (r < 0 && r != -EREMOTEIO)
		return ctl_fail(ctl, r);
	if (r < 0 || !json_object_object_get_ex(res, "snapshots", &snaps) ||
	    !json_object_is_type(snaps, json_type_array)) {
		json_object_put(res);
		*ret = strdup(name);
		return *ret != NULL ? 0 : ctl_fail(ctl, -ENOMEM);
	}
	n = json_object_array_length(snaps);
	if (n > 0 && (match = calloc(n, sizeof(*match))) == NULL) {
		ex = ctl_fail(ctl, -ENOMEM);
		goto out;
	}
	for (i = 0; i < n; i++) {
		s = ctl_str(json_object_array_get_idx(snaps, i), "snapshot");
		if (s == NULL)
			continue;
		if (strcmp(s, name) == 0) {
			nmatch = 0;
			break;
		}
		if (strncmp(s, name, len) == 0 && s[len] == '-')
			match[nmatch++] = s;
	}
	if (nmatch > 1) {
		ex = ambiguous(ctl, name, match, nmatch, 0);
		goto out;
	}
	*ret = strdup(nmatch == 1 ? match[0] : name);
	ex = *ret != NULL ? 0 : ctl_fail(ctl, -ENOMEM);
out:
	free(match);
	json_object_put(res);
	return ex;
}

/* sbumlrestore NEWDIR SNAPSHOT [-c] */
int
cmd_sbumlrestore(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	char *machine = NULL, *abs = NULL, *snapshot = NULL;
	const char *arg;
	bool cont = false;
	int opt, ex;

	while ((opt = getopt_long(argc, argv, ":hc", opts, NULL)) != -1) {
		if (opt == 'c')
			cont = true;
		else if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	}
	if ((ex = ctl_nargs(ctl, argc, 2, "want NEWDIR and SNAPSHOT")) != 0)
		return ex;
	arg = argv[optind + 1];
	if ((ex = ctl_machine_arg(ctl, argv[optind], &machine)) != 0 ||
	    (ex = ctl_path_arg(ctl, arg, "SNAPSHOT", &abs)) != 0)
		goto out;
	if (strchr(arg, '/') != NULL || arg[0] == '.') {
		if ((ex = resolve_path_prefix(ctl, arg, abs, &snapshot)) != 0)
			goto out;
		if ((ex = ctl_connect(ctl)) != 0)
			goto out;
	} else {
		if ((ex = ctl_connect(ctl)) != 0 ||
		    (ex = resolve_name_prefix(ctl, abs, &snapshot)) != 0)
			goto out;
	}
	ctl->target = snapshot;
	{
		struct sbuml_restore_options o = { .paused = !cont };

		ex = do_restore(ctl, snapshot, machine, &o);
	}
out:
	free(machine);
	free(abs);
	free(snapshot);
	return ex;
}
