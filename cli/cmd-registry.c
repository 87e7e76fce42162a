/* SPDX-License-Identifier: MIT */
/*
 * Snapshots through OCI registries (doc/cli.md "push", "pull", "tags"):
 *
 *	sbumlctl push SNAPSHOT REF [--insecure] [--authfile FILE] [--from REPO]
 *	sbumlctl pull REF [SNAPSHOT] [--insecure] [--authfile FILE]
 *	sbumlctl tags REF [--insecure] [--authfile FILE]
 *	sbumlctl search REGISTRY[/PREFIX] [--tags] [--insecure] [--authfile FILE]
 *
 * The daemon does the transfer; the credentials are the user's own (the
 * daemon reads them with the user's rights): --authfile, else
 * $REGISTRY_AUTH_FILE, else the daemon looks in
 * ${XDG_RUNTIME_DIR}/containers/auth.json and ~/.docker/config.json.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbumlctl.h"

#define MIB	(1024.0 * 1024.0)

static int64_t
member_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int64(v);
}

/* The progress bar: one line on a terminal, redrawn. */
static void
print_bar(const struct sbuml_progress *p, void *userdata)
{
	int64_t	 total = member_int(p->params, "total_bytes");
	int64_t	 blobs = member_int(p->params, "blobs");
	int64_t	 tblobs = member_int(p->params, "total_blobs");
	double	 frac = total > 0 ? (double)p->bytes / (double)total : 0;
	char	 bar[31];
	int	 n;

	(void)userdata;
	if (frac > 1)
		frac = 1;
	n = (int)(frac * 30);
	memset(bar, '#', (size_t)n);
	memset(bar + n, '.', (size_t)(30 - n));
	bar[30] = '\0';
	fprintf(stderr, "\r%s [%s] %3.0f%% %.1f/%.1f MiB, %lld/%lld blobs%s",
	    p->job, bar, frac * 100, (double)p->bytes / MIB, (double)total / MIB,
	    (long long)blobs, (long long)tblobs,
	    strcmp(p->phase, "done") == 0 ? "\n" : "");
	fflush(stderr);
}

static void
print_moved(struct json_object *res, const char *arg)
{
	bool push = json_object_object_get_ex(res, "uploaded_blobs", NULL);

	(void)arg;
	printf("%s %s %s %s (digest %s): %lld of %lld blobs %s, %.1f MiB; %lld "
	    "there already", push ? "pushed" : "pulled", ctl_str(res, "snapshot"),
	    push ? "to" : "from", ctl_str(res, "ref"), ctl_str(res, "digest"),
	    (long long)member_int(res, push ? "uploaded_blobs" : "fetched_blobs"),
	    (long long)member_int(res, "blobs"), push ? "uploaded" : "fetched",
	    (double)member_int(res, "bytes") / MIB,
	    (long long)member_int(res, "present_blobs"));
	if (member_int(res, "mounted_blobs") > 0)
		printf("; %lld mounted from %s", (long long)member_int(res, "mounted_blobs"),
		    ctl_str(res, "mounted_from"));
	printf("\n");
}

static void
print_tags(struct json_object *res, const char *arg)
{
	struct json_object *tags;

	(void)arg;
	if (!json_object_object_get_ex(res, "tags", &tags) ||
	    !json_object_is_type(tags, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(tags); i++)
		printf("%s\n", json_object_get_string(json_object_array_get_idx(tags, i)));
}

/* $REGISTRY_AUTH_FILE, or NULL. */
static const char *
env_auth_file(void)
{
	const char *f = getenv("REGISTRY_AUTH_FILE");

	return f != NULL && f[0] != '\0' ? f : NULL;
}

/*
 * --insecure, --authfile, --no-progress, --from, --tags (only where tags
 * is not NULL) and the common options.
 */
static int
parse_registry_opts(struct ctl *ctl, int argc, char **argv,
    struct sbuml_registry_options *o, bool *tags)
{
	static const struct option opts[] = {
		{ "insecure",	no_argument,	   NULL, 'k' },
		{ "authfile",	required_argument, NULL, 'a' },
		{ "no-progress", no_argument,	   NULL, 'n' },
		{ "from",	required_argument, NULL, 'f' },
		{ "tags",	no_argument,	   NULL, 't' },
		CTL_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	bool	bar = isatty(STDERR_FILENO);
	int	opt, ex;

	o->auth_file = env_auth_file();
	while ((opt = getopt_long(argc, argv, ":hk", opts, NULL)) != -1) {
		if (opt == 'k')
			o->insecure = true;
		else if (opt == 'a')
			o->auth_file = optarg;
		else if (opt == 'n')
			bar = false;
		else if (opt == 'f')
			o->from = optarg;
		else if (opt == 't' && tags == NULL)
			return ctl_usage(ctl, "--tags is for search");
		else if (opt == 't')
			*tags = true;
		else if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	}
	if (bar && !ctl->json)
		o->progress = print_bar;
	return 0;
}

/* The auth file as an absolute path (the daemon does not know our cwd). */
static int
auth_file_arg(struct ctl *ctl, struct sbuml_registry_options *o, char **ret)
{
	*ret = NULL;
	if (o->auth_file == NULL)
		return 0;
	if ((*ret = realpath(o->auth_file, NULL)) == NULL) {
		fprintf(stderr, "%s: auth file %s: %m\n", ctl->progname, o->auth_file);
		return CTL_EXIT_FAILURE;
	}
	o->auth_file = *ret;
	return 0;
}

/* ctl_show of a call's outcome, once the call has filled *res. */
static int
show(struct ctl *ctl, int r, struct json_object **res, ctl_print_fn *print)
{
	return ctl_show(ctl, r, *res, print, NULL);
}

int
cmd_push(struct ctl *ctl, int argc, char **argv)
{
	struct sbuml_registry_options	 o = { 0 };
	struct json_object		*res = NULL;
	char				*snapshot = NULL, *auth = NULL;
	int				 ex;

	if ((ex = parse_registry_opts(ctl, argc, argv, &o, NULL)) != 0 ||
	    (ex = ctl_nargs(ctl, argc, 2, "want SNAPSHOT and REF")) != 0)
		return ex;
	ctl->target = argv[optind];
	if ((ex = ctl_path_arg(ctl, argv[optind], "SNAPSHOT", &snapshot)) == 0 &&
	    (ex = auth_file_arg(ctl, &o, &auth)) == 0 && (ex = ctl_connect(ctl)) == 0)
		ex = show(ctl, sbuml_snapshot_push(ctl->client, snapshot,
		    argv[optind + 1], &o, &res), &res, print_moved);
	json_object_put(res);
	free(snapshot);
	free(auth);
	return ex;
}

int
cmd_pull(struct ctl *ctl, int argc, char **argv)
{
	struct sbuml_registry_options	 o = { 0 };
	struct json_object		*res = NULL;
	char				*snapshot = NULL, *auth = NULL;
	int				 ex;

	if ((ex = parse_registry_opts(ctl, argc, argv, &o, NULL)) != 0)
		return ex;
	if (argc - optind < 1 || argc - optind > 2)
		return ctl_usage(ctl, argc - optind < 1 ? "missing REF" : "too many arguments");
	if (argc - optind == 2) {
		ctl->target = argv[optind + 1];
		ex = ctl_path_arg(ctl, argv[optind + 1], "SNAPSHOT", &snapshot);
	}
	if (ex == 0 && (ex = auth_file_arg(ctl, &o, &auth)) == 0 &&
	    (ex = ctl_connect(ctl)) == 0)
		ex = show(ctl, sbuml_snapshot_pull(ctl->client, argv[optind],
		    snapshot, &o, &res), &res, print_moved);
	json_object_put(res);
	free(snapshot);
	free(auth);
	return ex;
}

int
cmd_tags(struct ctl *ctl, int argc, char **argv)
{
	struct sbuml_registry_options	 o = { 0 };
	struct json_object		*res = NULL;
	char				*auth = NULL;
	int				 ex;

	if ((ex = parse_registry_opts(ctl, argc, argv, &o, NULL)) != 0 ||
	    (ex = ctl_nargs(ctl, argc, 1, "want REF")) != 0)
		return ex;
	o.progress = NULL;
	if ((ex = auth_file_arg(ctl, &o, &auth)) == 0 && (ex = ctl_connect(ctl)) == 0)
		ex = show(ctl, sbuml_snapshot_tags(ctl->client, argv[optind], &o,
		    &res), &res, print_tags);
	json_object_put(res);
	free(auth);
	return ex;
}

/* "demo/busybox" a line, or "demo/busybox v1 v2" with the tags. */
static void
print_repos(struct json_object *res, const char *arg)
{
	struct json_object *repos, *v;

	(void)arg;
	if (!json_object_object_get_ex(res, "repositories", &repos) ||
	    !json_object_is_type(repos, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(repos); i++) {
		struct json_object *r = json_object_array_get_idx(repos, i), *tags;

		printf("%s", ctl_str(r, "name"));
		if (json_object_object_get_ex(r, "tags", &tags) &&
		    json_object_is_type(tags, json_type_array))
			for (size_t j = 0; j < json_object_array_length(tags); j++)
				printf(" %s", json_object_get_string(
				    json_object_array_get_idx(tags, j)));
		printf("\n");
	}
	if (json_object_object_get_ex(res, "truncated", &v) && json_object_get_boolean(v))
		fprintf(stderr, "(the registry has more: the list stops at %zu)\n",
		    json_object_array_length(repos));
}

int
cmd_search(struct ctl *ctl, int argc, char **argv)
{
	struct sbuml_registry_options	 o = { 0 };
	struct json_object		*res = NULL;
	char				*auth = NULL;
	bool				 tags = false;
	int				 ex;

	if ((ex = parse_registry_opts(ctl, argc, argv, &o, &tags)) != 0 ||
	    (ex = ctl_nargs(ctl, argc, 1, "want REGISTRY[/PREFIX]")) != 0)
		return ex;
	o.progress = NULL;
	if ((ex = auth_file_arg(ctl, &o, &auth)) == 0 && (ex = ctl_connect(ctl)) == 0)
		ex = show(ctl, sbuml_snapshot_search(ctl->client, argv[optind],
		    tags, &o, &res), &res, print_repos);
	json_object_put(res);
	free(auth);
	return ex;
}

bool
ctl_is_source(const char *arg)
{
	const char	*slash = strchr(arg, '/');
	struct stat	 st;
	size_t		 n;

	if (strncmp(arg, "http://", 7) == 0 || strncmp(arg, "https://", 8) == 0 ||
	    strncmp(arg, "docker://", 9) == 0)
		return true;
	if (slash == NULL || slash == arg || lstat(arg, &st) == 0)
		return false;
	n = (size_t)(slash - arg);
	if (n == 9 && strncmp(arg, "localhost", 9) == 0)
		return true;
	if ((n == 1 && arg[0] == '.') || (n == 2 && strncmp(arg, "..", 2) == 0))
		return false;
	return memchr(arg, '.', n) != NULL || memchr(arg, ':', n) != NULL;
}

/* "from REF: snapshot s2 (pulled 63 blobs, 1.2 MiB)", then the machine's state. */
static void
print_restored(struct json_object *res, const char *machine)
{
	struct json_object *src;

	if (json_object_object_get_ex(res, "source", &src) &&
	    json_object_is_type(src, json_type_object)) {
		bool pulled = json_object_object_get_ex(src, "fetched_blobs", NULL);

		printf("%s %s into snapshot %s (%.1f MiB moved)\n",
		    pulled ? "pulled" : "imported",
		    pulled ? ctl_str(src, "ref") : "the stream", ctl_str(src, "snapshot"),
		    (double)member_int(src, "bytes") / MIB);
	}
	ctl_print_state(res, machine);
}

int
ctl_restore_source(struct ctl *ctl, const char *source, const char *machine,
    const struct sbuml_restore_options *o, struct ctl_source *src)
{
	struct json_object	*res = NULL;
	char			*auth = NULL, *snapshot = NULL;
	int			 ex = 0;

	if (strncmp(source, "docker://", 9) == 0)
		source += 9;
	if (src->reg.auth_file == NULL)
		src->reg.auth_file = env_auth_file();
	ctl->target = source;
	if (src->bar && isatty(STDERR_FILENO) && !ctl->json)
		src->reg.progress = print_bar;
	if (src->snapshot != NULL)
		ex = ctl_path_arg(ctl, src->snapshot, "--snapshot", &snapshot);
	if (ex == 0 && (ex = auth_file_arg(ctl, &src->reg, &auth)) == 0 &&
	    (ex = ctl_connect(ctl)) == 0) {
		int r = sbuml_snapshot_restore_from(ctl->client, source, snapshot,
		    machine, o, &src->reg, &res);

		ex = ctl_show(ctl, r, res, print_restored, machine);
	}
	json_object_put(res);
	free(snapshot);
	free(auth);
	return ex;
}
