/* SPDX-License-Identifier: MIT */
/*
 * Moving snapshots between hosts: "sbumlctl export" and "sbumlctl import",
 * and the classic delta pair sbumldelta / sbumlexpand.  The stream file is
 * opened here, as the user running the command, and its descriptor passed
 * to sbumld with the request: the daemon never opens the user's paths, and
 * "-" (stdout, stdin) works through pipes and ssh.
 *
 *	sbumlctl export SNAPSHOT FILE|- [--base PARENT]
 *	sbumlctl import FILE|-|URL [SNAPSHOT] [--base PARENT] [--insecure]
 *	sbumldelta SNAPSHOT PARENT DELTAFILE
 *	sbumlexpand DELTAFILE PARENT [NEWSNAPSHOT]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbumlctl.h"

/* Where an export goes: a temporary sibling of FILE, renamed on success. */
struct out_file {
	const char	*path;		/* FILE, or NULL for stdout */
	bool		 overwrite;	/* --overwrite: may replace FILE */
	char		*tmp;
	int		 fd;
};

static int
out_open(struct ctl *ctl, const char *arg, struct out_file *o)
{
	struct stat st;
	char *d, *b;

	o->tmp = NULL;
	if (strcmp(arg, "-") == 0) {
		if (isatty(STDOUT_FILENO))
			return ctl_usage(ctl, "refusing to write a binary stream to "
			    "a terminal: give a FILE or redirect stdout");
		o->path = NULL;
		o->fd = STDOUT_FILENO;
		return 0;
	}
	o->path = arg;
	/* Guest memory: never replace a file by accident (the rename checks again). */
	if (!o->overwrite && lstat(arg, &st) == 0) {
		fprintf(stderr, "%s: %s exists: not replacing it (give --overwrite "
		    "to replace it)\n", ctl->progname, arg);
		return CTL_EXIT_FAILURE;
	}
	if ((d = strdup(arg)) == NULL || (b = strdup(arg)) == NULL ||
	    asprintf(&o->tmp, "%s/.%s.partial-XXXXXX", dirname(d), basename(b)) < 0) {
		fprintf(stderr, "%s: out of memory\n", ctl->progname);
		exit(CTL_EXIT_FAILURE);
	}
	free(d);
	free(b);
	if ((o->fd = mkostemp(o->tmp, O_CLOEXEC)) < 0) {
		fprintf(stderr, "%s: cannot create a file beside %s: %s\n",
		    ctl->progname, arg, strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		return CTL_EXIT_FAILURE;
	}
	return 0;
}

/* Give the finished file its name: never over an existing one unless asked. */
static int
out_rename(const struct out_file *o)
{
	if (o->overwrite)
		return rename(o->tmp, o->path);
	if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* No RENAME_NOREPLACE here: link refuses an existing name too. */
	if (link(o->tmp, o->path) < 0)
		return -1;
	return unlink(o->tmp);
}

/*
 * Finish the export file: keep it (ok) under its name, or remove it.  It
 * stays mode 0600 (mkostemp's): it holds the guest's memory.
 */
static int
out_close(struct ctl *ctl, struct out_file *o, bool ok)
{
	int ex = 0;

	if (o->tmp == NULL)
		return 0;
	if (ok && (fsync(o->fd) < 0 || out_rename(o) < 0)) {
		fprintf(stderr, "%s: cannot write %s: %s\n", ctl->progname, o->path,
		    strerror(errno));
		ex = CTL_EXIT_FAILURE;
		ok = false;
	}
	close(o->fd);
	if (!ok)
		(void)unlink(o->tmp);
	free(o->tmp);
	o->tmp = NULL;
	return ex;
}

/* Human output goes to stderr when the stream itself is on stdout. */
static void
print_export(FILE *f, struct json_object *res, const char *file)
{
	struct json_object *base, *v;
	long long skipped = 0;

	if (json_object_object_get_ex(res, "skipped_chunks", &v))
		skipped = json_object_get_int64(v);
	fprintf(f, "exported %s to %s: %lld bytes, %lld chunks", ctl_str(res, "snapshot"),
	    file ? file : "stdout",
	    json_object_object_get_ex(res, "bytes", &v) ? (long long)json_object_get_int64(v) : 0,
	    json_object_object_get_ex(res, "chunks", &v) ? (long long)json_object_get_int64(v) : 0);
	if (json_object_object_get_ex(res, "base", &base) && base != NULL)
		fprintf(f, " (%lld more are in %s)", skipped, ctl_str(base, "snapshot"));
	fputc('\n', f);
}

static int
do_export(struct ctl *ctl, const char *snapshot, const char *base, const char *file,
    bool overwrite)
{
	struct sbuml_transfer t = { snapshot, base, -1, NULL, NULL, false };
	struct json_object *res = NULL;
	struct out_file o = { .overwrite = overwrite };
	int ex, r;

	if ((ex = ctl_connect(ctl)) != 0 || (ex = out_open(ctl, file, &o)) != 0)
		return ex;
	t.fd = o.fd;
	r = sbuml_snapshot_export(ctl->client, &t, &res);
	if ((ex = out_close(ctl, &o, r == 0)) != 0) {
		json_object_put(res);
		return ex;
	}
	if (r < 0)
		ex = ctl_fail(ctl, r);
	else if (ctl->json && o.path != NULL)
		ex = ctl_print_json(res);
	else if (ctl->json)
		fprintf(stderr, "%s\n", json_object_to_json_string_ext(res,
		    JSON_C_TO_STRING_PLAIN));
	else
		print_export(o.path ? stdout : stderr, res, o.path);
	json_object_put(res);
	return ex;
}

static void
print_import(struct json_object *res, const char *arg)
{
	struct json_object *v, *base;

	(void)arg;
	printf("imported %s (id %.12s): %lld bytes, %lld new chunks",
	    ctl_str(res, "snapshot"), ctl_str(res, "id"),
	    json_object_object_get_ex(res, "bytes", &v) ? (long long)json_object_get_int64(v) : 0,
	    json_object_object_get_ex(res, "new_chunks", &v) ? (long long)json_object_get_int64(v) : 0);
	if (json_object_object_get_ex(res, "base", &base) && base != NULL)
		printf(" (a delta against %s)", ctl_str(base, "snapshot"));
	putchar('\n');
}

static bool
is_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

static int
do_import(struct ctl *ctl, const char *file, const char *snapshot, const char *base,
    bool insecure)
{
	struct sbuml_transfer t = { snapshot, base, -1, NULL, NULL, insecure };
	struct json_object *res = NULL;
	int ex, r;

	if (is_url(file))
		t.url = file;	/* the daemon downloads it */
	else if (insecure)
		return ctl_usage(ctl, "--insecure is for an http(s) URL");
	else if (strcmp(file, "-") == 0)
		t.fd = STDIN_FILENO;
	else if ((t.fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "%s: %s: %s\n", ctl->progname, file, strerror(errno));
		return CTL_EXIT_FAILURE;
	}
	if ((ex = ctl_connect(ctl)) == 0) {
		r = sbuml_snapshot_import(ctl->client, &t, &res);
		ex = ctl_show(ctl, r, res, print_import, snapshot);
	}
	if (t.fd != STDIN_FILENO && t.fd >= 0)
		close(t.fd);
	json_object_put(res);
	return ex;
}

/*
 * Parse "--base PARENT", "--overwrite" (export only: ret_overwrite not NULL)
 * and the common options.  0 or an exit code.
 */
static int
parse_base(struct ctl *ctl, int argc, char **argv, const char **ret_base,
    bool *ret_overwrite, bool *ret_insecure)
{
	static const struct option opts[] = {
		{ "base",	required_argument, NULL, 'b' },
		{ "overwrite",	no_argument,	   NULL, 'O' },
		{ "insecure",	no_argument,	   NULL, 'k' },
		CTL_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	int opt, ex;

	while ((opt = getopt_long(argc, argv, ":hb:", opts, NULL)) != -1) {
		if (opt == 'b')
			*ret_base = optarg;
		else if (opt == 'O' && ret_overwrite != NULL)
			*ret_overwrite = true;
		else if (opt == 'O')
			return ctl_usage(ctl, "--overwrite is for export only");
		else if (opt == 'k' && ret_insecure != NULL)
			*ret_insecure = true;
		else if (opt == 'k')
			return ctl_usage(ctl, "--insecure is for import from a URL only");
		else if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	}
	return 0;
}

int
cmd_export(struct ctl *ctl, int argc, char **argv)
{
	const char *base_arg = NULL;
	char *snapshot = NULL, *base = NULL;
	bool overwrite = false;
	int ex;

	if ((ex = parse_base(ctl, argc, argv, &base_arg, &overwrite, NULL)) != 0 ||
	    (ex = ctl_nargs(ctl, argc, 2, "want SNAPSHOT and FILE (- for stdout)")) != 0)
		return ex;
	ctl->target = argv[optind];
	if ((ex = ctl_path_arg(ctl, argv[optind], "SNAPSHOT", &snapshot)) == 0 &&
	    (base_arg == NULL ||
	    (ex = ctl_path_arg(ctl, base_arg, "--base", &base)) == 0))
		ex = do_export(ctl, snapshot, base, argv[optind + 1], overwrite);
	free(snapshot);
	free(base);
	return ex;
}

int
cmd_import(struct ctl *ctl, int argc, char **argv)
{
	const char *base_arg = NULL;
	char *snapshot = NULL, *base = NULL;
	bool insecure = false;
	int ex;

	if ((ex = parse_base(ctl, argc, argv, &base_arg, NULL, &insecure)) != 0)
		return ex;
	if (argc - optind < 1 || argc - optind > 2)
		return ctl_usage(ctl, argc - optind < 1 ? "missing FILE (- for stdin)" :
		    "too many arguments");
	if (argc - optind == 2) {
		ctl->target = argv[optind + 1];
		ex = ctl_path_arg(ctl, argv[optind + 1], "SNAPSHOT", &snapshot);
	}
	if (ex == 0 && base_arg != NULL)
		ex = ctl_path_arg(ctl, base_arg, "--base", &base);
	if (ex == 0)
		ex = do_import(ctl, argv[optind], snapshot, base, insecure);
	free(snapshot);
	free(base);
	return ex;
}

/* sbumldelta SNAPSHOT PARENT DELTAFILE: the chunks of SNAPSHOT that PARENT lacks. */
int
cmd_sbumldelta(struct ctl *ctl, int argc, char **argv)
{
	char *snapshot = NULL, *parent = NULL;
	int ex;

	if ((ex = ctl_parse_common(ctl, argc, argv)) != 0 ||
	    (ex = ctl_nargs(ctl, argc, 3, "want SNAPSHOT, PARENT and DELTAFILE")) != 0)
		return ex;
	ctl->target = argv[optind];
	if ((ex = ctl_path_arg(ctl, argv[optind], "SNAPSHOT", &snapshot)) == 0 &&
	    (ex = ctl_path_arg(ctl, argv[optind + 1], "PARENT", &parent)) == 0)
		ex = do_export(ctl, snapshot, parent, argv[optind + 2], false);
	free(snapshot);
	free(parent);
	return ex;
}

/* sbumlexpand DELTAFILE PARENT [NEWSNAPSHOT]: the snapshot again, on a host with PARENT. */
int
cmd_sbumlexpand(struct ctl *ctl, int argc, char **argv)
{
	char *snapshot = NULL, *parent = NULL;
	int ex;

	if ((ex = ctl_parse_common(ctl, argc, argv)) != 0)
		return ex;
	if (argc - optind < 2 || argc - optind > 3)
		return ctl_usage(ctl, argc - optind < 2 ? "want DELTAFILE and PARENT" :
		    "too many arguments");
	if (argc - optind == 3) {
		ctl->target = argv[optind + 2];
		ex = ctl_path_arg(ctl, argv[optind + 2], "NEWSNAPSHOT", &snapshot);
	}
	if (ex == 0)
		ex = ctl_path_arg(ctl, argv[optind + 1], "PARENT", &parent);
	if (ex == 0)
		ex = do_import(ctl, argv[optind], snapshot, parent, false);
	free(snapshot);
	free(parent);
	return ex;
}
