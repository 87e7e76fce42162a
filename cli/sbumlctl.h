/* SPDX-License-Identifier: MIT */
/*
 * sbumlctl: shared state of the command-line client and the prototypes of
 * each file.  Commands live in cmd-<namespace>.c and are listed in the
 * ctl_commands[] table of sbumlctl.c (vmctl/tmux style).
 */
#ifndef SBUMLCTL_H
#define SBUMLCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "sbuml-client.h"

/* Exit codes (doc/cli.md, sbumlctl(1)). */
enum ctl_exit {
	CTL_EXIT_OK		= 0,	/* success */
	CTL_EXIT_REMOTE		= 1,	/* the daemon answered an error */
	CTL_EXIT_USAGE		= 2,	/* bad command line */
	CTL_EXIT_CONNECT	= 3,	/* cannot connect to the daemon */
	CTL_EXIT_FAILURE	= 4,	/* protocol, timeout or local failure */
};

struct ctl {
	const char		*progname;	/* "sbumlctl", "sbumlboot", ... */
	const char		*socket;	/* --socket, or NULL */
	bool			 json;		/* --json: raw JSON output */
	int			 timeout_ms;	/* --timeout; -1: forever */
	bool			 classic;	/* invoked as sbumlboot etc. */
	const struct ctl_command *cmd;		/* the command running */
	const char		*target;	/* its machine argument, for messages */
	struct sbuml_client	*client;	/* after ctl_connect() */
};

/* A library call on one MACHINE or SNAPSHOT argument (sbuml_machine_info...). */
typedef int ctl_call_fn(struct sbuml_client *, const char *arg,
    struct json_object **ret_result);
/* Human output of a call's result; arg is the resolved argument, or NULL. */
typedef void ctl_print_fn(struct json_object *res, const char *arg);
/* A list call (sbuml_machine_list, sbuml_snapshot_list). */
typedef int ctl_list_fn(struct sbuml_client *, struct json_object **ret_result);
/* Human output of the array a list call returns. */
typedef void ctl_table_fn(struct json_object *array);

struct ctl_command {
	const char	*name;
	int		(*fn)(struct ctl *, int argc, char **argv);
	const char	*usage;		/* arguments after the name */
	const char	*help;		/* one line */
	/* For fn = ctl_cmd_one only (else NULL): what it calls and prints. */
	ctl_call_fn	*call;
	ctl_print_fn	*print;
};

/*
 * Options every command accepts after its name, so that the classic
 * commands (sbumlboot DIR --socket P) take them too.  Commands that have
 * their own --timeout use CTL_COMMON_OPTS_NOTIMEOUT.
 */
#define CTL_OPT_SOCKET		0x1001
#define CTL_OPT_JSON		0x1002
#define CTL_OPT_CLIENT_TIMEOUT	0x1003
#define CTL_OPT_HELP		'h'
#define CTL_COMMON_OPTS_NOTIMEOUT					\
	{ "socket",	required_argument, NULL, CTL_OPT_SOCKET },	\
	{ "json",	no_argument,	   NULL, CTL_OPT_JSON },	\
	{ "help",	no_argument,	   NULL, CTL_OPT_HELP }
#define CTL_COMMON_OPTS							\
	CTL_COMMON_OPTS_NOTIMEOUT,					\
	{ "timeout",	required_argument, NULL, CTL_OPT_CLIENT_TIMEOUT }

/* sbumlctl.c */
int	ctl_usage(struct ctl *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	ctl_common_opt(struct ctl *, int opt, const char *arg, char **argv);
int	ctl_connect(struct ctl *);
int	ctl_fail(struct ctl *, int r);
int	ctl_parse_uint(const char *s, unsigned long min, unsigned long max,
	    unsigned long *ret);
int	ctl_parse_seconds(const char *s, int *ret_ms);
int	ctl_path_arg(struct ctl *, const char *arg, const char *what,
	    char **ret);
int	ctl_machine_arg(struct ctl *, const char *arg, char **ret);
int	ctl_print_json(struct json_object *);
const char *ctl_str(struct json_object *obj, const char *key);
int	ctl_parse_common(struct ctl *, int argc, char **argv);
int	ctl_nargs(struct ctl *, int argc, int n, const char *missing);
int	ctl_sole_arg(struct ctl *, int argc, char **argv, const char *what,
	    char **ret);
int	ctl_start(struct ctl *, int argc, char **argv);
int	ctl_show(struct ctl *, int r, struct json_object *res,
	    ctl_print_fn *print, const char *arg);
int	ctl_cmd_one(struct ctl *, int argc, char **argv);
int	ctl_run_list(struct ctl *, int argc, char **argv, ctl_list_fn *list,
	    const char *key, ctl_table_fn *table);
void	ctl_print_deleted(struct json_object *res, const char *arg);
size_t	ctl_column_width(struct json_object *array, const char *key,
	    size_t min);

/* cmd-machine.c */
int	cmd_boot(struct ctl *, int, char **);
int	cmd_list(struct ctl *, int, char **);
int	cmd_halt(struct ctl *, int, char **);
int	cmd_console(struct ctl *, int, char **);

/* cmd-console.c: console MACHINE --attach; an exit code. */
int	ctl_console_attach(struct ctl *, const char *machine, bool write);

/* cmd-snapshot.c */
int	cmd_save(struct ctl *, int, char **);
int	cmd_restore(struct ctl *, int, char **);
int	cmd_check(struct ctl *, int, char **);
int	cmd_snapshot(struct ctl *, int, char **);
int	cmd_sbumlsave(struct ctl *, int, char **);
int	cmd_sbumlrestore(struct ctl *, int, char **);

/* cmd-transfer.c */
int	cmd_export(struct ctl *, int, char **);
int	cmd_import(struct ctl *, int, char **);
int	cmd_push(struct ctl *, int, char **);
int	cmd_pull(struct ctl *, int, char **);
int	cmd_tags(struct ctl *, int, char **);
int	cmd_search(struct ctl *, int, char **);
/* restore from a registry or a URL (cmd-registry.c). */
struct ctl_source {
	struct sbuml_registry_options	 reg;
	const char			*snapshot;	/* --snapshot, or NULL */
	bool				 given;		/* --insecure */
	bool				 bar;		/* unless --no-progress */
};
/*
 * Is arg a source rather than a snapshot: an http(s) URL, docker://REF, or
 * a reference whose first component is a registry host ("localhost", or
 * with a '.' or ':') that is no path here?
 */
bool	ctl_is_source(const char *arg);
int	ctl_restore_source(struct ctl *, const char *source, const char *machine,
	    const struct sbuml_restore_options *o, struct ctl_source *src);
int	cmd_sbumldelta(struct ctl *, int, char **);
int	cmd_sbumlexpand(struct ctl *, int, char **);

/* cmd-machine.c */
void	ctl_print_value(struct json_object *);
void	ctl_print_state(struct json_object *, const char *arg);
void	ctl_print_machine(struct json_object *, const char *arg);

/* cmd-image.c */
int	cmd_image(struct ctl *, int, char **);
bool	ctl_image_is_name(const char *arg);

/* cmd-network.c */
int	cmd_network(struct ctl *, int, char **);

/* cmd-daemon.c */
int	cmd_events(struct ctl *, int, char **);
int	cmd_ping(struct ctl *, int, char **);
int	cmd_version(struct ctl *, int, char **);

#endif
