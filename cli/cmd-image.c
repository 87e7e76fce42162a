/* SPDX-License-Identifier: MIT */
/*
 * sbumlctl image commands: build (root: runs mkdebian.sh into the daemon's
 * <state_dir>/images) and list (image.list).  Building runs in the CLI, not
 * in the daemon: mmdebstrap downloads and runs maintainer scripts for
 * minutes, which is the administrator's business, not a socket caller's.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "sbumlctl.h"

#define IMAGE_NAME_MAX	64

/* The daemon's rule for image names (sbumld/machine/machine-image.c). */
static bool
image_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > IMAGE_NAME_MAX || !isalnum((unsigned char)name[0]) ||
	    strstr(name, "..") != NULL)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' &&
		    *p != '-')
			return false;
	return true;
}

/*
 * boot --image ARG: is ARG an image name rather than a file?  A valid name
 * without '/' that is no file in the current directory (where a bare
 * "x.img" has always meant ./x.img).
 */
bool
ctl_image_is_name(const char *arg)
{
	struct stat st;

	return strchr(arg, '/') == NULL && image_name_valid(arg) &&
	    stat(arg, &st) == -1 && errno == ENOENT;
}

/* The helper script: $SBUML_MKDEBIAN (a build tree), else the installed one. */
static char *
mkdebian_path(void)
{
	static char installed[] = SBUML_LIBEXECDIR "/mkdebian.sh";
	char *env = getenv("SBUML_MKDEBIAN");

	return env != NULL && *env != '\0' ? env : installed;
}

/*
 * Run argv and wait; 0 if it exited 0, else exit 4 after saying why.  With
 * --json its output goes to stderr: stdout carries only the JSON.
 */
static int
run_wait(struct ctl *ctl, char *const argv[])
{
	pid_t pid, w;
	int status;

	(void)fflush(stdout);
	if ((pid = fork()) == -1)
		return ctl_fail(ctl, -errno);
	if (pid == 0) {
		if (ctl->json && dup2(STDERR_FILENO, STDOUT_FILENO) == -1)
			_exit(127);
		execv(argv[0], argv);
		fprintf(stderr, "sbumlctl: cannot run %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	while ((w = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	if (w == -1)
		return ctl_fail(ctl, -errno);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	fprintf(stderr, "sbumlctl: image build: %s failed (%s %d)\n", argv[0],
	    WIFEXITED(status) ? "exit status" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return CTL_EXIT_FAILURE;
}

/* The daemon's state directory, from daemon.version; malloc'd. */
static int
daemon_state_dir(struct ctl *ctl, char **ret)
{
	struct json_object *res = NULL;
	const char *sd;
	int r;

	if ((r = sbuml_daemon_version(ctl->client, &res)) < 0)
		return ctl_fail(ctl, r);
	sd = ctl_str(res, "state_dir");
	*ret = sd != NULL && sd[0] == '/' ? strdup(sd) : NULL;
	json_object_put(res);
	if (*ret == NULL)
		return ctl_fail(ctl, sd == NULL ? -EPROTO : -ENOMEM);
	return 0;
}

/* image build NAME [--release R] [--packages a,b] [--size 4G] */
static int
image_build(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "release",	required_argument, NULL, 'r' },
		{ "packages",	required_argument, NULL, 'p' },
		{ "size",	required_argument, NULL, 's' },
		CTL_COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	static char def_release[] = "bookworm", def_size[] = "4G";
	char *release = def_release, *packages = NULL, *size = def_size;
	char *sd = NULL, *out = NULL, *dir = NULL;
	int opt, ex;

	while ((opt = getopt_long(argc, argv, ":hr:p:s:", opts, NULL)) != -1) {
		if (opt == 'r')
			release = optarg;
		else if (opt == 'p')
			packages = optarg;
		else if (opt == 's')
			size = optarg;
		else if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	}
	if ((ex = ctl_nargs(ctl, argc, 1, "missing NAME")) != 0)
		return ex;
	if (!image_name_valid(argv[optind]))
		return ctl_usage(ctl, "image NAME must be 1 to %d letters, digits, "
		    "'_', '.' or '-', starting with a letter or digit: '%s'",
		    IMAGE_NAME_MAX, argv[optind]);
	if (geteuid() != 0) {
		fprintf(stderr, "sbumlctl: image build must run as root: it "
		    "runs mmdebstrap and writes into the daemon's state "
		    "directory (try: sudo sbumlctl image build %s)\n",
		    argv[optind]);
		return CTL_EXIT_FAILURE;
	}
	if ((ex = ctl_connect(ctl)) != 0 || (ex = daemon_state_dir(ctl, &sd)) != 0)
		return ex;
	if (asprintf(&dir, "%s/images", sd) == -1) {
		dir = NULL;
		ex = ctl_fail(ctl, -ENOMEM);
		goto done;
	}
	if (asprintf(&out, "%s/%s.img", dir, argv[optind]) == -1) {
		out = NULL;
		ex = ctl_fail(ctl, -ENOMEM);
		goto done;
	}
	/* sbumld makes it at start; 0700 like the state directory if not. */
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		ex = ctl_fail(ctl, -errno);
		goto done;
	}
	{
		char o_release[] = "--release", o_packages[] = "--packages",
		    o_size[] = "--size", o_end[] = "--", none[] = "";
		char *args[] = { mkdebian_path(), o_release, release,
		    o_packages, packages != NULL ? packages : none, o_size, size,
		    o_end, out, NULL };

		ex = run_wait(ctl, args);
	}
	if (ex == 0 && !ctl->json)
		printf("image %s: %s\n", argv[optind], out);
	else if (ex == 0) {
		struct json_object *res = json_object_new_object();

		json_object_object_add(res, "name",
		    json_object_new_string(argv[optind]));
		json_object_object_add(res, "path", json_object_new_string(out));
		ex = ctl_print_json(res);
		json_object_put(res);
	}
done:
	free(out);
	free(dir);
	free(sd);
	return ex;
}

static int
call_image_list(struct sbuml_client *client, struct json_object **ret)
{
	return sbuml_call(client, "image.list", NULL, ret);
}

/* A member as an integer, or -1. */
static long long
int_member(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return (long long)json_object_get_int64(v);
}

static void
print_image_table(struct json_object *array)
{
	size_t i, n = json_object_array_length(array);
	int w = (int)ctl_column_width(array, "name", 4);

	printf("%-*s  %-10s  %7s  %7s  %-20s  %s\n", w, "NAME", "RELEASE",
	    "SIZE", "ON DISK", "CREATED", "PACKAGES");
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(array, i);
		const char *rel = ctl_str(o, "release"), *cr = ctl_str(o, "created"),
		    *pk = ctl_str(o, "packages");

		printf("%-*s  %-10s  %6lldM  %6lldM  %-20s  %s\n", w,
		    ctl_str(o, "name") ? ctl_str(o, "name") : "?",
		    rel ? rel : "-", int_member(o, "size_mb"),
		    int_member(o, "disk_mb"), cr ? cr : "-", pk ? pk : "-");
	}
}

static int
image_list(struct ctl *ctl, int argc, char **argv)
{
	return ctl_run_list(ctl, argc, argv, call_image_list, "images",
	    print_image_table);
}

/* image build NAME [...] | list */
int
cmd_image(struct ctl *ctl, int argc, char **argv)
{
	/* Named "image X" so that usage and error messages say so. */
	static const struct ctl_command subs[] = {
		{ "image build", image_build,
		    "NAME [--release R] [--packages a,b] [--size 4G]",
		    "build a Debian root image (root only)", NULL, NULL },
		{ "image list", image_list, "", "list the named images",
		    NULL, NULL },
	};
	size_t i;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
		    strcmp(argv[1], "--help") == 0)) {
			printf("usage: sbumlctl [--socket PATH] [--json] "
			    "[--timeout S] image %s\n", ctl->cmd->usage);
			return CTL_EXIT_OK;
		}
		return ctl_usage(ctl, "missing build or list");
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name + strlen("image ")) == 0) {
			ctl->cmd = &subs[i];
			return subs[i].fn(ctl, argc - 1, argv + 1);
		}
	}
	return ctl_usage(ctl, "unknown image command '%s'", argv[1]);
}
