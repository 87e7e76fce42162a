/* SPDX-License-Identifier: MIT */
/*
 * sbumlctl: command-line client of sbumld, on top of libsbuml-client.
 *
 *	sbumlctl [--socket PATH] [--json] [--timeout S] COMMAND [ARGS]
 *
 * The binary also answers to classic names (argv[0] = sbumlboot means
 * "sbumlctl boot"; sbumlsave and sbumlrestore have their own argument
 * conventions): ctl_classic[] maps them.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sbumlctl.h"

static const struct ctl_command ctl_commands[] = {
	{ "boot",	cmd_boot,	"MACHINE [--image P|NAME] [--mem MB] [--cmdline S] [--disk P]... [--kernel P] [--net NET|none] [--publish [IP:]H:G[/udp]]...",
	    "boot a new machine, or boot a stopped one again", NULL, NULL },
	{ "list",	cmd_list,	"",			"list machines", NULL, NULL },
	{ "info",	ctl_cmd_one,	"MACHINE",		"show a machine",
	    sbuml_machine_info, ctl_print_machine },
	{ "pause",	ctl_cmd_one,	"MACHINE",		"stop a machine's CPU",
	    sbuml_machine_pause, ctl_print_state },
	{ "resume",	ctl_cmd_one,	"MACHINE",		"continue a paused machine",
	    sbuml_machine_resume, ctl_print_state },
	{ "halt",	cmd_halt,	"MACHINE [--timeout S]", "shut a machine down cleanly",
	    NULL, NULL },
	{ "kill",	ctl_cmd_one,	"MACHINE",		"kill a machine at once",
	    sbuml_machine_kill, ctl_print_state },
	{ "console",	cmd_console,	"MACHINE [--lines N] [--follow] | "
	    "MACHINE --attach [--read-only]",
	    "print the console log, or attach to the console (Ctrl-] detaches)",
	    NULL, NULL },
	{ "delete",	ctl_cmd_one,	"MACHINE",		"remove a stopped machine and its directory",
	    sbuml_machine_delete, ctl_print_deleted },
	{ "save",	cmd_save,	"MACHINE [SNAPSHOT] [--prefix P] [--stop] [--raw] [--cow] [--progress]",
	    "snapshot a running or paused machine", NULL, NULL },
	{ "restore",	cmd_restore,	"SNAPSHOT|REF|URL MACHINE [--paused] [--lazy] [--same-identity] [--publish [IP:]H:G[/udp]]... [--snapshot NAME] [--insecure] [--authfile FILE]",
	    "start a new machine from a snapshot", NULL, NULL },
	{ "check",	cmd_check,	"SNAPSHOT",
	    "tell whether this host can restore a snapshot", NULL, NULL },
	{ "export",	cmd_export,	"SNAPSHOT FILE|- [--base PARENT]",
	    "write a snapshot as one stream, for another host", NULL, NULL },
	{ "import",	cmd_import,	"FILE|-|URL [SNAPSHOT] [--base PARENT] [--insecure]",
	    "add a snapshot from an export stream (a file, stdin or http(s))", NULL, NULL },
	{ "push",	cmd_push,	"SNAPSHOT REF [--insecure] [--authfile FILE] [--from REPO]",
	    "send a snapshot to an OCI registry (REF: HOST[:PORT]/REPO[:TAG])", NULL, NULL },
	{ "pull",	cmd_pull,	"REF [SNAPSHOT] [--insecure] [--authfile FILE]",
	    "add a snapshot from an OCI registry", NULL, NULL },
	{ "tags",	cmd_tags,	"REF [--insecure] [--authfile FILE]",
	    "list the tags of a registry repository", NULL, NULL },
	{ "search",	cmd_search,	"REGISTRY[/PREFIX] [--tags] [--insecure] [--authfile FILE]",
	    "list the repositories of a registry (and their tags)", NULL, NULL },
	{ "snapshot",	cmd_snapshot,	"list | info SNAPSHOT | delete SNAPSHOT | verify SNAPSHOT | gc",
	    "list, show, verify or delete snapshots; collect unused chunks", NULL, NULL },
	{ "image",	cmd_image,	"build NAME [--release R] [--packages a,b] [--size 4G] | list",
	    "build a Debian root image (root), list the images", NULL, NULL },
	{ "network",	cmd_network,	"list | info [NAME]",
	    "list the networks, show one and its machines", NULL, NULL },
	{ "events",	cmd_events,	"[--count N]",		"print daemon events as they happen",
	    NULL, NULL },
	{ "ping",	cmd_ping,	"",			"check that the daemon answers",
	    NULL, NULL },
	{ "version",	cmd_version,	"",			"show client and daemon versions",
	    NULL, NULL },
};
#define NCOMMANDS	(sizeof(ctl_commands) / sizeof(ctl_commands[0]))

/* The classic commands whose arguments differ from any sbumlctl command. */
static const struct ctl_command ctl_classic_own[] = {
	{ "sbumlsave",	cmd_sbumlsave,	"MACHINE PREFIX [-f] [-c]",
	    "save MACHINE as PREFIX-<unique>", NULL, NULL },
	{ "sbumlrestore", cmd_sbumlrestore, "NEWDIR SNAPSHOT [-c]",
	    "restore SNAPSHOT (or the one PREFIX-*) into NEWDIR", NULL, NULL },
	{ "sbumldelta",	cmd_sbumldelta,	"SNAPSHOT PARENT DELTAFILE",
	    "write what SNAPSHOT adds to PARENT as one file", NULL, NULL },
	{ "sbumlexpand", cmd_sbumlexpand, "DELTAFILE PARENT [NEWSNAPSHOT]",
	    "add the snapshot of DELTAFILE on a host that has PARENT", NULL, NULL },
};

/*
 * Names under which the binary runs a command (installed as symlinks):
 * "sbumlctl COMMAND" when command is set, else ctl_classic_own[own].
 */
static const struct {
	const char	*progname;
	const char	*command;
	int		 own;
} ctl_classic[] = {
	{ "sbumlboot",	  "boot", -1 },
	{ "sbumlsave",	  NULL,	  0 },
	{ "sbumlrestore", NULL,	  1 },
	{ "sbumldelta",	  NULL,	  2 },
	{ "sbumlexpand",  NULL,	  3 },
};

/* Print the global usage to f. */
static void
usage_all(FILE *f)
{
	size_t i;

	fprintf(f, "usage: sbumlctl [--socket PATH] [--json] [--timeout S] COMMAND [ARGS]\n\n"
	    "commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-9s %s\n", ctl_commands[i].name, ctl_commands[i].help);
	fprintf(f, "\nexit status: 0 ok, 1 daemon error, 2 usage, 3 cannot connect, "
	    "4 protocol or other failure\n");
}

/* Print the usage line of the running command to f. */
static void
usage_cmd(struct ctl *ctl, FILE *f)
{
	if (ctl->classic)
		fprintf(f, "usage: %s [--socket PATH] [--json] [--timeout S] %s\n",
		    ctl->progname, ctl->cmd->usage);
	else
		fprintf(f, "usage: sbumlctl [--socket PATH] [--json] [--timeout S] %s %s\n",
		    ctl->cmd->name, ctl->cmd->usage);
}

/* Report a command-line error and the command's usage; returns exit 2. */
int
ctl_usage(struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		fprintf(stderr, "%s: ", ctl->progname);
		if (ctl->cmd != NULL && !ctl->classic)
			fprintf(stderr, "%s: ", ctl->cmd->name);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	if (ctl->cmd != NULL)
		usage_cmd(ctl, stderr);
	else
		usage_all(stderr);
	return CTL_EXIT_USAGE;
}

/*
 * Handle an option common to all commands, or getopt's error returns.
 * Returns 0 when handled, or an exit code (2 for errors).
 */
int
ctl_common_opt(struct ctl *ctl, int opt, const char *arg, char **argv)
{
	switch (opt) {
	case CTL_OPT_SOCKET:
		ctl->socket = arg;
		return 0;
	case CTL_OPT_JSON:
		ctl->json = true;
		return 0;
	case CTL_OPT_CLIENT_TIMEOUT:
		if (ctl_parse_seconds(arg, &ctl->timeout_ms) < 0)
			return ctl_usage(ctl, "invalid --timeout '%s'", arg);
		return 0;
	case CTL_OPT_HELP:
		usage_cmd(ctl, stdout);
		exit(CTL_EXIT_OK);
	case ':':
		return ctl_usage(ctl, "option '%s' needs an argument",
		    argv[optind - 1]);
	default:
		return ctl_usage(ctl, "unknown option '%s'", argv[optind - 1]);
	}
}

/* Parse an unsigned decimal in [min, max]; 0 or -EINVAL. */
int
ctl_parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *ret)
{
	unsigned long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parse a duration in seconds ("30", "0.5"); 0 means forever (-1 ms). */
int
ctl_parse_seconds(const char *s, int *ret_ms)
{
	double v;
	char *end;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0 ||
	    v * 1000 > INT_MAX)
		return -EINVAL;
	if (v == 0) {
		*ret_ms = -1;
		return 0;
	}
	*ret_ms = v * 1000 < 1 ? 1 : (int)(v * 1000);
	return 0;
}

/* The socket path ctl_connect() uses, for messages. */
static const char *
socket_path(const struct ctl *ctl)
{
	const char *p = ctl->socket;

	if (p == NULL || *p == '\0')
		p = getenv(SBUML_SOCKET_ENV);
	if (p == NULL || *p == '\0')
		p = SBUML_DEFAULT_SOCKET;
	return p;
}

/* Connect to the daemon; returns 0 or exit 3 after printing why. */
int
ctl_connect(struct ctl *ctl)
{
	int r;

	r = sbuml_connect(ctl->socket, &ctl->client);
	if (r < 0) {
		fprintf(stderr, "%s: cannot connect to sbumld at %s: %s\n",
		    ctl->progname, socket_path(ctl), strerror(-r));
		return CTL_EXIT_CONNECT;
	}
	if (ctl->timeout_ms != 0 &&
	    (r = sbuml_set_timeout(ctl->client, ctl->timeout_ms)) < 0) {
		fprintf(stderr, "%s: %s\n", ctl->progname, strerror(-r));
		return CTL_EXIT_FAILURE;
	}
	return 0;
}

/*
 * Report a failed library call as "prog: cmd target: Name: message" and
 * return the matching exit code (1 daemon error, 4 anything else).
 */
int
ctl_fail(struct ctl *ctl, int r)
{
	const struct sbuml_error *e;
	char what[512];

	snprintf(what, sizeof(what), "%s%s%s",
	    ctl->classic ? "" : ctl->cmd->name,
	    ctl->target != NULL && !ctl->classic ? " " : "",
	    ctl->target != NULL ? ctl->target : "");
	fprintf(stderr, "%s: %s%s", ctl->progname, what, what[0] ? ": " : "");

	switch (r) {
	case -EREMOTEIO:
		e = sbuml_last_error(ctl->client);
		if (e != NULL && e->name[0] != '\0')
			fprintf(stderr, "%s: %s\n", e->name, e->message);
		else if (e != NULL)
			fprintf(stderr, "error %d: %s\n", e->code, e->message);
		else
			fprintf(stderr, "the daemon answered an error\n");
		return CTL_EXIT_REMOTE;
	case -ETIMEDOUT:
		fprintf(stderr, "no answer from sbumld within the timeout "
		    "(--timeout S sets it)\n");
		return CTL_EXIT_FAILURE;
	case -ECONNRESET:
		fprintf(stderr, "sbumld closed the connection\n");
		return CTL_EXIT_FAILURE;
	case -EPROTO:
		fprintf(stderr, "protocol error: malformed answer from sbumld\n");
		return CTL_EXIT_FAILURE;
	default:
		fprintf(stderr, "%s\n", strerror(-r));
		return CTL_EXIT_FAILURE;
	}
}

/*
 * Turn a MACHINE (or SNAPSHOT, PREFIX) argument into what the daemon wants:
 * names pass through; anything with a '/' or a leading '.' is a path, made
 * absolute as realpath(parent) + "/" + basename, since the directory itself
 * may not exist yet (boot, save).  what names the argument in messages.
 * *ret is malloc'd.  Returns 0 or exit 2 / 4.
 */
int
ctl_path_arg(struct ctl *ctl, const char *arg, const char *what, char **ret)
{
	char *copy = NULL, *dcopy = NULL, *parent = NULL, *base, *out = NULL;
	size_t len;
	int ex = CTL_EXIT_FAILURE;

	if (*arg == '\0')
		return ctl_usage(ctl, "empty %s", what);
	if (strchr(arg, '/') == NULL && arg[0] != '.') {
		if ((*ret = strdup(arg)) == NULL)
			goto oom;
		return 0;
	}

	if ((copy = strdup(arg)) == NULL || (dcopy = strdup(arg)) == NULL)
		goto oom;
	/* "dir/" names dir: drop trailing slashes (but keep a lone "/"). */
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/') {
		len--;
		copy[len] = dcopy[len] = '\0';
	}
	base = basename(copy);
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
	    strcmp(base, "/") == 0) {
		/* No last component to keep: the whole path must exist. */
		if ((out = realpath(arg, NULL)) == NULL)
			goto resolve_fail;
	} else {
		if ((parent = realpath(dirname(dcopy), NULL)) == NULL)
			goto resolve_fail;
		if (asprintf(&out, "%s%s%s", parent,
		    strcmp(parent, "/") == 0 ? "" : "/", base) == -1) {
			out = NULL;
			goto oom;
		}
	}
	*ret = out;
	ex = 0;
	goto out;

resolve_fail:
	fprintf(stderr, "%s: %s: cannot resolve the directory of %s %s: %s\n",
	    ctl->progname, ctl->cmd->name, what, arg, strerror(errno));
	ex = CTL_EXIT_USAGE;
	goto out;
oom:
	fprintf(stderr, "%s: %s\n", ctl->progname, strerror(ENOMEM));
	ex = CTL_EXIT_FAILURE;
out:
	free(parent);
	free(copy);
	free(dcopy);
	return ex;
}

/* ctl_path_arg() for the command's MACHINE, which messages then name. */
int
ctl_machine_arg(struct ctl *ctl, const char *arg, char **ret)
{
	ctl->target = arg;
	return ctl_path_arg(ctl, arg, "MACHINE", ret);
}

/* Print obj as one line of JSON; returns 0 or exit 4. */
int
ctl_print_json(struct json_object *obj)
{
	const char *s;

	s = json_object_to_json_string_ext(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL || printf("%s\n", s) < 0)
		return CTL_EXIT_FAILURE;
	return 0;
}

/* A string member of obj, or NULL (borrowed from obj). */
const char *
ctl_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Parse the common options only (a command without its own); 0 or an exit code. */
int
ctl_parse_common(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	int opt, ex;

	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
		if ((ex = ctl_common_opt(ctl, opt, optarg, argv)) != 0)
			return ex;
	return 0;
}

/* Check that n arguments follow the options; 0, or exit 2 saying missing. */
int
ctl_nargs(struct ctl *ctl, int argc, int n, const char *missing)
{
	if (argc - optind < n)
		return ctl_usage(ctl, "%s", missing);
	if (argc - optind > n)
		return ctl_usage(ctl, "too many arguments");
	return 0;
}

/*
 * After the options: exactly one WHAT argument (MACHINE, SNAPSHOT), which
 * messages then name, resolved by ctl_path_arg() into *ret (malloc'd).
 */
int
ctl_sole_arg(struct ctl *ctl, int argc, char **argv, const char *what,
    char **ret)
{
	if (argc - optind < 1)
		return ctl_usage(ctl, "missing %s", what);
	if (argc - optind > 1)
		return ctl_usage(ctl, "too many arguments");
	ctl->target = argv[optind];
	return ctl_path_arg(ctl, argv[optind], what, ret);
}

/* Parse a command that takes no arguments and connect; 0 or an exit code. */
int
ctl_start(struct ctl *ctl, int argc, char **argv)
{
	int ex;

	if ((ex = ctl_parse_common(ctl, argc, argv)) != 0 ||
	    (ex = ctl_nargs(ctl, argc, 0, "")) != 0)
		return ex;
	return ctl_connect(ctl);
}

/* Report a failed call (r < 0), else print res as JSON or with print. */
int
ctl_show(struct ctl *ctl, int r, struct json_object *res, ctl_print_fn *print,
    const char *arg)
{
	if (r < 0)
		return ctl_fail(ctl, r);
	if (ctl->json)
		return ctl_print_json(res);
	print(res, arg);
	return 0;
}

/*
 * "CMD [common options] ARG": resolve ARG (its name is the command's usage,
 * "MACHINE" or "SNAPSHOT"), connect, and run ctl->cmd->call and ->print.
 */
int
ctl_cmd_one(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *res = NULL;
	char *arg = NULL;
	int ex, r;

	if ((ex = ctl_parse_common(ctl, argc, argv)) != 0 ||
	    (ex = ctl_sole_arg(ctl, argc, argv, ctl->cmd->usage, &arg)) != 0)
		return ex;
	if ((ex = ctl_connect(ctl)) != 0)
		goto out;
	r = ctl->cmd->call(ctl->client, arg, &res);
	ex = ctl_show(ctl, r, res, ctl->cmd->print, arg);
out:
	json_object_put(res);
	free(arg);
	return ex;
}

/* "CMD [common options]": run a list call and print the array under key. */
int
ctl_run_list(struct ctl *ctl, int argc, char **argv, ctl_list_fn *list,
    const char *key, ctl_table_fn *table)
{
	struct json_object *res = NULL, *array;
	int ex, r;

	if ((ex = ctl_start(ctl, argc, argv)) != 0)
		return ex;
	r = list(ctl->client, &res);
	if (r < 0)
		ex = ctl_fail(ctl, r);
	else if (ctl->json)
		ex = ctl_print_json(res);
	else if (!json_object_object_get_ex(res, key, &array) ||
	    !json_object_is_type(array, json_type_array))
		ex = ctl_fail(ctl, -EPROTO);
	else
		table(array);
	json_object_put(res);
	return ex;
}

/* Width of a table column: the longest key string in array, at least min. */
size_t
ctl_column_width(struct json_object *array, const char *key, size_t min)
{
	const char *s;
	size_t i, n = json_object_array_length(array), w = min;

	for (i = 0; i < n; i++) {
		s = ctl_str(json_object_array_get_idx(array, i), key);
		if (s != NULL && strlen(s) > w)
			w = strlen(s);
	}
	return w;
}

/* Print "NAME: deleted" for a *.delete result; arg when it names nothing. */
void
ctl_print_deleted(struct json_object *res, const char *arg)
{
	printf("%s: deleted\n", ctl_str(res, "deleted") ?
	    ctl_str(res, "deleted") : arg);
}

/* Find a command by exact name; NULL if there is none. */
static const struct ctl_command *
command_find(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(ctl_commands[i].name, name) == 0)
			return &ctl_commands[i];
	return NULL;
}

/* Pick the command (from argv[0] or the first argument) and run it. */
int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket",	required_argument,	NULL, 's' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "timeout",	required_argument,	NULL, 't' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl ctl = { .progname = "sbumlctl" };
	const char *name;
	size_t i;
	int opt, ex;

	name = argc > 0 && argv[0] != NULL ? strrchr(argv[0], '/') : NULL;
	name = name != NULL ? name + 1 : (argc > 0 && argv[0] != NULL ? argv[0] : "");
	for (i = 0; i < sizeof(ctl_classic) / sizeof(ctl_classic[0]); i++) {
		if (strcmp(name, ctl_classic[i].progname) == 0) {
			ctl.progname = ctl_classic[i].progname;
			ctl.classic = true;
			ctl.cmd = ctl_classic[i].command != NULL ?
			    command_find(ctl_classic[i].command) :
			    &ctl_classic_own[ctl_classic[i].own];
		}
	}

	if (!ctl.classic) {
		/* '+': stop at the command; its own options follow it. */
		opterr = 0;
		while ((opt = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
			switch (opt) {
			case 's':
				ctl.socket = optarg;
				break;
			case 'j':
				ctl.json = true;
				break;
			case 't':
				if (ctl_parse_seconds(optarg, &ctl.timeout_ms) < 0)
					return ctl_usage(&ctl, "invalid --timeout '%s'",
					    optarg);
				break;
			case 'h':
				usage_all(stdout);
				return CTL_EXIT_OK;
			case 'V':
				printf("sbumlctl %s\n", SBUML_VERSION);
				return CTL_EXIT_OK;
			case ':':
				return ctl_usage(&ctl, "option '%s' needs an argument",
				    argv[optind - 1]);
			default:
				return ctl_usage(&ctl, "unknown option '%s'",
				    argv[optind - 1]);
			}
		}
		if (optind >= argc)
			return ctl_usage(&ctl, "missing COMMAND");
		ctl.cmd = command_find(argv[optind]);
		if (ctl.cmd == NULL)
			return ctl_usage(&ctl, "unknown command '%s'", argv[optind]);
		argc -= optind;
		argv += optind;
	}

	/* The command parses its own options: start getopt afresh (glibc). */
	optind = 0;
	opterr = 0;
	ex = ctl.cmd->fn(&ctl, argc, argv);

	sbuml_close(ctl.client);
	if (fflush(stdout) == EOF && ex == 0) {
		fprintf(stderr, "%s: writing output: %s\n", ctl.progname,
		    strerror(errno));
		ex = CTL_EXIT_FAILURE;
	}
	return ex;
}
