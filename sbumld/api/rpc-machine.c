/* SPDX-License-Identifier: MIT */
/*
 * The machine.* methods (doc/rpc.md): parameter checking, mapping machine.c
 * results to JSON-RPC errors, and deferred answers for everything that
 * waits on a UML process (boot, pause, resume, halt, kill).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context.h"
#include "log.h"
#include "fsat.h"
#include "machine.h"
#include "machine-image.h"
#include "rpc-authz.h"
#include "rpc-methods.h"
#include "util.h"

#define CONSOLE_LINES_DEFAULT	50
#define CONSOLE_LINES_MAX	10000

/* Kernel options sbumld sets itself: a user cmdline may not override them. */
static const char *const reserved_options[] = {
	"mem=", "ubd", "root=", "uml_dir=", "umid=", "con=", "con0=",
	"mconsole=", "sbuml_restore=", "sbuml_net=", "eth", "vec",
};

/* Error for a machine in the wrong state: BadState with data.state. */
static void
rpc_bad_state(struct rpc_call *call, const struct machine *m, const char *what)
{
	struct json_object	*data;

	data = json_object_new_object();
	json_object_object_add(data, "state",
	    json_object_new_string(machine_state_to_string(machine_state(m))));
	rpc_error_data(call, RPC_E_BAD_STATE, data, "machine %s is %s: %s",
	    machine_name(m), machine_state_to_string(machine_state(m)), what);
}

/* -32602 naming param; see rpc-methods.h. */
void
rpc_bad_param(struct rpc_call *call, const char *param, const char *msg)
{
	struct json_object	*data;

	data = json_object_new_object();
	json_object_object_add(data, "param", json_object_new_string(param));
	rpc_error_data(call, RPC_INVALID_PARAMS, data, "%s", msg);
}

/*
 * Look the machine up for action; answers InvalidParams for a malformed
 * name, NoSuchMachine for an unknown one and PermissionDenied for one the
 * caller may not act on (and returns NULL).
 */
static struct machine *
rpc_find_machine(struct rpc_call *call, const char *name,
    enum authz_action action)
{
	struct machine	*m;
	char		 err[256], *dir;
	bool		 is_path;

	if ((m = machine_lookup(name)) != NULL)
		return (rpc_authz_machine(call, m, action) ? m : NULL);
	if (machine_name_resolve(name, &dir, &is_path, err, sizeof(err)) < 0) {
		rpc_bad_param(call, "machine", err);
		return (NULL);
	}
	free(dir);
	rpc_error(call, RPC_E_NO_SUCH_MACHINE, "no machine %s (see machine.list)",
	    name);
	return (NULL);
}

/* Answer a deferred call with the machine object, or the error err/msg. */
static void
rpc_machine_answer(struct rpc_call *call, struct machine *m, int err,
    const char *msg)
{
	struct json_object	*data;

	switch (err) {
	case 0:
		rpc_reply(call, machine_to_json(m));
		break;
	case -ETIMEDOUT:
		rpc_error(call, RPC_E_TIMEOUT, "%s: %s", machine_name(m), msg);
		break;
	case -ECHILD:
		rpc_bad_state(call, m, msg);
		break;
	case -ECANCELED:
		rpc_error(call, RPC_INTERNAL_ERROR, "%s: %s", machine_name(m), msg);
		break;
	case -EREMOTEIO:
		data = json_object_new_object();
		json_object_object_add(data, "mconsole", json_object_new_string(msg));
		rpc_error_data(call, RPC_INTERNAL_ERROR, data,
		    "%s: the kernel refused: %s", machine_name(m), msg);
		break;
	default:
		rpc_error_errno(call, RPC_INTERNAL_ERROR, err, "%s: %s",
		    machine_name(m), msg);
		break;
	}
}

/* machine_done_cb of pause, resume, halt and kill: answer and drop the reference. */
static void
rpc_machine_done(struct machine *m, int err, const char *msg, void *arg)
{
	struct rpc_call	*call = arg;

	rpc_machine_answer(call, m, err, msg);
	rpc_call_unref(call);
}

/* BootFailed with the console tail in data.console. */
static void
rpc_boot_failed(struct rpc_call *call, struct machine *m, const char *msg)
{
	struct json_object	*data, *tail;

	data = json_object_new_object();
	if (machine_console_tail(m, MACHINE_CONSOLE_TAIL, &tail) < 0)
		tail = json_object_new_array();
	json_object_object_add(data, "console", tail);
	rpc_error_data(call, RPC_E_BOOT_FAILED, data, "%s: %s", machine_name(m),
	    msg);
}

/* machine_done_cb of boot. */
static void
rpc_boot_done(struct machine *m, int err, const char *msg, void *arg)
{
	struct rpc_call	*call = arg;

	if (err == 0 || err == -ECANCELED)
		rpc_machine_answer(call, m, err, msg);
	else
		rpc_boot_failed(call, m, msg);
	rpc_call_unref(call);
}

struct boot_params {
	const char		*machine;
	const char		*image;
	const char		*cmdline;
	const char		*kernel;
	int64_t			 mem_mb;
	struct json_object	*disks;
	const char		*net;
	struct json_object	*publish;
};

static const struct rpc_param boot_table[] = {
	{ "machine", RPC_PARAM_STRING, offsetof(struct boot_params, machine),
	    RPC_PARAM_REQUIRED, 0, 0 },
	{ "image", RPC_PARAM_STRING, offsetof(struct boot_params, image), 0, 0, 0 },
	{ "mem_mb", RPC_PARAM_INT, offsetof(struct boot_params, mem_mb), 0,
	    MACHINE_MEM_MIN, MACHINE_MEM_MAX },
	{ "cmdline", RPC_PARAM_STRING, offsetof(struct boot_params, cmdline),
	    0, 0, 0 },
	{ "disks", RPC_PARAM_ARRAY, offsetof(struct boot_params, disks), 0, 0, 0 },
	{ "kernel", RPC_PARAM_STRING, offsetof(struct boot_params, kernel),
	    0, 0, 0 },
	{ "net", RPC_PARAM_STRING, offsetof(struct boot_params, net), 0, 0, 0 },
	{ "publish", RPC_PARAM_ARRAY, offsetof(struct boot_params, publish),
	    0, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

/* Check a file parameter for UML; answers InvalidParams and returns false. */
static bool
rpc_check_file(struct rpc_call *call, const char *param, const char *path,
    bool exec)
{
	char	err[512];

	if (path == NULL) {
		snprintf(err, sizeof(err), "no %s given and the daemon has no "
		    "default", param);
		rpc_bad_param(call, param, err);
		return (false);
	}
	if (uml_check_file(param, path, exec, err, sizeof(err)) < 0) {
		rpc_bad_param(call, param, err);
		return (false);
	}
	if (!machine_path_is_safe(path)) {
		snprintf(err, sizeof(err), "%s path contains blanks, commas, "
		    "quotes or non-ASCII bytes: %s", param, path);
		rpc_bad_param(call, param, err);
		return (false);
	}
	return (true);
}

/* Check the extra kernel command line; answers and returns false if bad. */
static bool
rpc_check_cmdline(struct rpc_call *call, const char *cmdline)
{
	char	 err[256], *words, *w, *save = NULL;
	bool	 ok = true;

	if (strlen(cmdline) > MACHINE_CMDLINE_MAX) {
		rpc_bad_param(call, "cmdline", "cmdline is longer than 1024 bytes");
		return (false);
	}
	for (const char *p = cmdline; *p; p++) {
		if (*p < 0x20 || *p > 0x7e) {
			rpc_bad_param(call, "cmdline",
			    "cmdline must be printable ASCII");
			return (false);
		}
	}
	words = xstrdup(cmdline);
	for (w = strtok_r(words, " ", &save); ok && w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		for (size_t i = 0; i < sizeof(reserved_options) /
		    sizeof(reserved_options[0]); i++) {
			if (strncmp(w, reserved_options[i],
			    strlen(reserved_options[i])) == 0) {
				snprintf(err, sizeof(err), "cmdline option %s is "
				    "set by sbumld and cannot be given", w);
				rpc_bad_param(call, "cmdline", err);
				ok = false;
				break;
			}
		}
	}
	free(words);
	return (ok);
}

/*
 * An image without a '/' is a name in <state_dir>/images: *ret_path gets
 * its path (NULL for a path image).  Answers and returns -EINVAL if bad.
 */
static int
rpc_boot_named_image(struct rpc_call *call, const char *image, char **ret_path)
{
	char	err[512];
	int	r;

	*ret_path = NULL;
	if (image == NULL || strchr(image, '/') != NULL)
		return (0);
	if ((r = machine_image_resolve(image, ret_path, err, sizeof(err))) == 0)
		return (0);
	/* Not an image: a bad name, none, a symlink or hard link planted there. */
	if (r == -EINVAL || r == -ENOENT || r == -ELOOP || r == -EMLINK)
		rpc_bad_param(call, "image", err);
	else
		rpc_error_errno(call, RPC_E_IO_ERROR, r, "%s", err);
	return (-EINVAL);
}

/* The file checks of a new machine; answers and returns -EINVAL if bad. */
static int
rpc_boot_check_files(struct rpc_call *call, const struct boot_params *p,
    const char *image, const char *kernel, const char *cmdline, size_t *ret_n)
{
	size_t		 n = 0;

	/* As the caller first: nothing said about files it cannot reach. */
	if ((image != NULL && !rpc_authz_images(call, image, NULL, 0)) ||
	    (kernel != NULL && !rpc_authz_kernel(call, kernel)))
		return (-EINVAL);
	if (!rpc_check_file(call, "image", image, false) ||
	    !rpc_check_file(call, "kernel", kernel, true) ||
	    !rpc_check_cmdline(call, cmdline))
		return (-EINVAL);
	if (p->disks != NULL) {
		n = json_object_array_length(p->disks);
		if (n > UML_MAX_DISKS) {
			rpc_bad_param(call, "disks", "at most 7 disks");
			return (-EINVAL);
		}
		for (size_t i = 0; i < n; i++) {
			struct json_object *d = json_object_array_get_idx(p->disks, i);

			if (!json_object_is_type(d, json_type_string)) {
				rpc_bad_param(call, "disks",
				    "disks must be an array of strings");
				return (-EINVAL);
			}
			if (!rpc_authz_file(call, "disks",
			    json_object_get_string(d), R_OK) ||
			    !rpc_check_file(call, "disks",
			    json_object_get_string(d), false))
				return (-EINVAL);
		}
	}
	*ret_n = n;
	return (0);
}

/* Fill cfg with a new machine's checked configuration. */
static void
rpc_boot_fill_config(struct rpc_call *call, const struct boot_params *p,
    const char *image, const char *kernel, const char *cmdline, size_t n,
    struct machine_config *cfg)
{
	cfg->image = xstrdup(image);
	cfg->kernel = xstrdup(kernel);
	cfg->cmdline = xstrdup(cmdline);
	cfg->owner = rpc_caller_uid(call);
	cfg->mem_mb = p->mem_mb >= 0 ? (unsigned int)p->mem_mb :
	    MACHINE_MEM_DEFAULT;
	for (size_t i = 0; i < n; i++)
		cfg->disks[cfg->ndisks++] = xstrdup(
		    json_object_get_string(json_object_array_get_idx(p->disks, i)));
}

/* Build the configuration of a new machine; answers and returns -EINVAL if bad. */
static int
rpc_boot_config(struct rpc_call *call, const struct boot_params *p,
    struct machine_config *cfg)
{
	const char	*image = p->image != NULL ? p->image : daemon_config.image;
	const char	*kernel = p->kernel != NULL ? p->kernel :
	    daemon_config.kernel;
	const char	*cmdline = p->cmdline != NULL ? p->cmdline : "";
	char		*named = NULL;
	size_t		 n = 0;
	int		 r;

	memset(cfg, 0, sizeof(*cfg));
	if ((r = rpc_boot_named_image(call, image, &named)) < 0)
		return (r);
	if (named != NULL)
		image = named;
	r = rpc_boot_check_files(call, p, image, kernel, cmdline, &n);
	if (r == 0)
		rpc_boot_fill_config(call, p, image, kernel, cmdline, n, cfg);
	free(named);
	return (r);
}

/* machine.boot: create (or reuse a stopped/crashed) machine and boot it. */
int
rpc_machine_boot(struct rpc_call *call, struct json_object *params)
{
	struct boot_params	 p = { .mem_mb = -1 };
	struct machine_config	 cfg;
	struct machine		*m;
	const char		*extra = NULL;
	char			 err[512], *dir;
	bool			 is_path, created = false;
	int			 r;

	if (rpc_parse_params(call, params, boot_table, &p) < 0)
		return (0);
	if (machine_name_resolve(p.machine, &dir, &is_path, err, sizeof(err)) < 0) {
		rpc_bad_param(call, "machine", err);
		return (0);
	}
	/* A path machine's directory: one the caller could use itself. */
	if (!rpc_authz_machine_dir(call, dir, is_path)) {
		free(dir);
		return (0);
	}
	free(dir);
	m = machine_lookup(p.machine);
	/* A path machine whose registry link was lost is found in its dir. */
	if (m == NULL && is_path && (r = machine_load_path(p.machine, &m)) < 0 &&
	    r != -ENOENT) {
		rpc_error_errno(call, RPC_E_IO_ERROR, r, "cannot load the machine "
		    "in %s", p.machine);
		return (0);
	}

	if (m != NULL) {
		const struct machine_config *mc = machine_config(m);

		/* Its files again: what the caller could read then, it may not now. */
		if (!rpc_authz_machine(call, m, AUTHZ_CONTROL) ||
		    !rpc_authz_kernel(call, mc->kernel) ||
		    !rpc_authz_images(call, mc->image,
		    (const char *const *)mc->disks, mc->ndisks))
			return (0);
		if (machine_state_is_live(machine_state(m))) {
			rpc_error(call, RPC_E_MACHINE_EXISTS, "machine %s is already "
			    "%s", p.machine,
			    machine_state_to_string(machine_state(m)));
			return (0);
		}
		extra = p.image != NULL ? "image" : p.kernel != NULL ? "kernel" :
		    p.cmdline != NULL ? "cmdline" : p.disks != NULL ? "disks" :
		    p.mem_mb >= 0 ? "mem_mb" : p.net != NULL ? "net" :
		    p.publish != NULL ? "publish" : NULL;
		if (extra != NULL) {
			snprintf(err, sizeof(err), "machine %s exists: it boots "
			    "with its saved configuration (delete it to change "
			    "%s)", p.machine, extra);
			rpc_bad_param(call, extra, err);
			return (0);
		}
	} else {
		if (machine_count() >= MACHINE_MAX) {
			rpc_error(call, RPC_E_LIMIT_EXCEEDED, "at most %d machines; "
			    "delete one first", MACHINE_MAX);
			return (0);
		}
		if (rpc_boot_config(call, &p, &cfg) < 0)
			return (0);
		if (rpc_net_nic_config(call, p.machine, p.net, p.publish,
		    &cfg.nic) < 0) {
			machine_config_clear(&cfg);
			return (0);
		}
		r = machine_create(p.machine, &cfg, &m, err, sizeof(err));
		machine_config_clear(&cfg);
		if (r == -EEXIST) {
			rpc_error(call, RPC_E_MACHINE_EXISTS, "%s", err);
			return (0);
		} else if (r == -ENOSPC) {
			rpc_error(call, RPC_E_LIMIT_EXCEEDED, "%s", err);
			return (0);
		} else if (r == -EINVAL) {
			rpc_bad_param(call, "machine", err);
			return (0);
		} else if (r < 0) {
			rpc_error_errno(call, RPC_E_IO_ERROR, r, "%s", err);
			return (0);
		}
		created = true;
	}

	if ((r = machine_boot(m, rpc_boot_done, rpc_call_ref(call), err,
	    sizeof(err))) < 0) {
		rpc_call_unref(call);
		/* -EBUSY: a job (a restore filling in its disks) holds it. */
		if (r == -EBUSY)
			rpc_error(call, RPC_E_BAD_STATE, "%s", err);
		else
			rpc_boot_failed(call, m, err);
		if (created) {
			char	derr[256];

			/* A machine that never ran leaves nothing behind. */
			if (machine_delete(m, derr, sizeof(derr)) < 0)
				log_warnx("%s: cleanup: %s", p.machine, derr);
		}
		return (0);
	}
	return (RPC_DEFERRED);
}

struct machine_params {
	const char	*machine;
};

static const struct rpc_param machine_table[] = {
	{ "machine", RPC_PARAM_STRING, offsetof(struct machine_params, machine),
	    RPC_PARAM_REQUIRED, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

/*
 * Parse {"machine": name} into *p and find the machine for action.  NULL
 * when the call has been answered (bad params, bad name, NoSuchMachine,
 * PermissionDenied).
 */
static struct machine *
rpc_machine_param(struct rpc_call *call, struct json_object *params,
    struct machine_params *p, enum authz_action action)
{
	if (rpc_parse_params(call, params, machine_table, p) < 0)
		return (NULL);
	return (rpc_find_machine(call, p->machine, action));
}

/* Map the synchronous refusal of an operation to an error answer. */
static void
rpc_op_refused(struct rpc_call *call, struct machine *m, int r, const char *what)
{
	const struct machine_job	*job;

	switch (r) {
	case -EINVAL:
		rpc_bad_state(call, m, what);
		break;
	case -EBUSY:
		if ((job = machine_job(m)) != NULL)
			rpc_error(call, RPC_E_SAVE_IN_PROGRESS, "machine %s: a %s "
			    "is in progress", machine_name(m), job->kind);
		else
			rpc_bad_state(call, m, "another pause/resume is in progress");
		break;
	case -ENOSPC:
	case -EAGAIN:
		rpc_error(call, RPC_E_LIMIT_EXCEEDED, "machine %s: too many "
		    "pending calls", machine_name(m));
		break;
	default:
		rpc_error_errno(call, RPC_INTERNAL_ERROR, r, "machine %s",
		    machine_name(m));
		break;
	}
}

/* Shared body of pause and resume. */
static int
rpc_machine_stop_go(struct rpc_call *call, struct json_object *params,
    bool pause)
{
	struct machine_params	 p = { NULL };
	struct machine		*m;
	int			 r;

	if ((m = rpc_machine_param(call, params, &p, AUTHZ_CONTROL)) == NULL)
		return (0);
	r = pause ? machine_pause(m, rpc_machine_done, rpc_call_ref(call)) :
	    machine_resume(m, rpc_machine_done, rpc_call_ref(call));
	if (r < 0) {
		rpc_call_unref(call);
		rpc_op_refused(call, m, r, pause ? "pause needs a running machine" :
		    "resume needs a paused machine");
		return (0);
	}
	return (RPC_DEFERRED);
}

/* machine.pause: mconsole stop. */
int
rpc_machine_pause(struct rpc_call *call, struct json_object *params)
{
	return (rpc_machine_stop_go(call, params, true));
}

/* machine.resume: mconsole go. */
int
rpc_machine_resume(struct rpc_call *call, struct json_object *params)
{
	return (rpc_machine_stop_go(call, params, false));
}

struct halt_params {
	const char	*machine;
	int64_t		 timeout_s;
};

static const struct rpc_param halt_table[] = {
	{ "machine", RPC_PARAM_STRING, offsetof(struct halt_params, machine),
	    RPC_PARAM_REQUIRED, 0, 0 },
	{ "timeout_s", RPC_PARAM_INT, offsetof(struct halt_params, timeout_s),
	    0, 1, 600 },
	{ NULL, 0, 0, 0, 0, 0 }
};

/* machine.halt: ctrl-alt-del, then mconsole halt, then SIGKILL. */
int
rpc_machine_halt(struct rpc_call *call, struct json_object *params)
{
	struct halt_params	 p = { NULL, MACHINE_HALT_TIMEOUT_S };
	struct machine		*m;
	int			 r;

	if (rpc_parse_params(call, params, halt_table, &p) < 0)
		return (0);
	if ((m = rpc_find_machine(call, p.machine, AUTHZ_CONTROL)) == NULL)
		return (0);
	if ((r = machine_halt(m, (unsigned int)p.timeout_s, rpc_machine_done,
	    rpc_call_ref(call))) < 0) {
		rpc_call_unref(call);
		rpc_op_refused(call, m, r, "halt needs a running or paused machine");
		return (0);
	}
	return (RPC_DEFERRED);
}

/* machine.kill: SIGKILL of the instance and its helpers. */
int
rpc_machine_kill(struct rpc_call *call, struct json_object *params)
{
	struct machine_params	 p = { NULL };
	struct machine		*m;
	int			 r;

	if ((m = rpc_machine_param(call, params, &p, AUTHZ_CONTROL)) == NULL)
		return (0);
	if ((r = machine_kill(m, rpc_machine_done, rpc_call_ref(call))) < 0) {
		rpc_call_unref(call);
		rpc_op_refused(call, m, r, "only a live machine can be killed");
		return (0);
	}
	return (RPC_DEFERRED);
}

/* machine.info: the machine object. */
int
rpc_machine_info(struct rpc_call *call, struct json_object *params)
{
	struct machine_params	 p = { NULL };
	struct machine		*m;

	if ((m = rpc_machine_param(call, params, &p, AUTHZ_VIEW)) == NULL)
		return (0);
	rpc_reply(call, machine_to_json(m));
	return (0);
}

static const struct rpc_param no_params[] = {
	{ NULL, 0, 0, 0, 0, 0 }
};

/* machine.list: every machine the caller may see, sorted by name. */
int
rpc_machine_list(struct rpc_call *call, struct json_object *params)
{
	const struct ucred	*cred = rpc_caller(call);
	struct json_object	*res, *arr;
	struct machine		**list;
	size_t			 n;

	if (rpc_parse_params(call, params, no_params, NULL) < 0)
		return (0);
	list = machine_list(&n);
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		if (authz_may(cred, AUTHZ_VIEW, machine_config(list[i])->owner))
			json_object_array_add(arr, machine_to_json(list[i]));
	free(list);
	res = json_object_new_object();
	json_object_object_add(res, "machines", arr);
	rpc_reply(call, res);
	return (0);
}

struct console_params {
	const char	*machine;
	int64_t		 lines;
};

static const struct rpc_param console_table[] = {
	{ "machine", RPC_PARAM_STRING, offsetof(struct console_params, machine),
	    RPC_PARAM_REQUIRED, 0, 0 },
	{ "lines", RPC_PARAM_INT, offsetof(struct console_params, lines), 0,
	    1, CONSOLE_LINES_MAX },
	{ NULL, 0, 0, 0, 0, 0 }
};

/* machine.console: the last lines of console.log. */
int
rpc_machine_console(struct rpc_call *call, struct json_object *params)
{
	struct console_params	 p = { NULL, CONSOLE_LINES_DEFAULT };
	struct json_object	*res, *lines;
	struct machine		*m;
	int			 r;

	if (rpc_parse_params(call, params, console_table, &p) < 0)
		return (0);
	if ((m = rpc_find_machine(call, p.machine, AUTHZ_VIEW)) == NULL)
		return (0);
	if ((r = machine_console_tail(m, (size_t)p.lines, &lines)) < 0) {
		/* Say what a user planted there (symlink, FIFO, swapped dir). */
		rpc_error_errno(call, RPC_E_IO_ERROR, -r, "cannot read %s/"
		    "console.log (%s)", machine_dir(m), fs_strerror(r));
		return (0);
	}
	res = json_object_new_object();
	json_object_object_add(res, "lines", lines);
	rpc_reply(call, res);
	return (0);
}

struct attach_params {
	const char	*machine;
	bool		 write;
};

static const struct rpc_param attach_table[] = {
	{ "machine", RPC_PARAM_STRING, offsetof(struct attach_params, machine),
	    RPC_PARAM_REQUIRED, 0, 0 },
	{ "write", RPC_PARAM_BOOL, offsetof(struct attach_params, write), 0,
	    0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

/* Answer a refused machine.console-attach. */
static void
rpc_console_attach_error(struct rpc_call *call, struct machine *m, int r)
{
	switch (r) {
	case -EINVAL:
		rpc_bad_state(call, m, "only a live machine has a console to "
		    "attach to");
		break;
	case -EBUSY:
		rpc_error_data(call, RPC_E_BAD_STATE, rpc_reason("writer attached"),
		    "another client is writing to the console of %s; attach "
		    "with write false to follow it", machine_name(m));
		break;
	case -ENOSPC:
		rpc_error(call, RPC_E_LIMIT_EXCEEDED, "too many console streams "
		    "(%d per machine, %d per user, %d in all)",
		    MACHINE_CONSOLE_MAX_STREAMS, MACHINE_CONSOLE_MAX_PER_UID,
		    MACHINE_CONSOLE_MAX_TOTAL);
		break;
	case -ENOTTY:
		rpc_error(call, RPC_E_NOT_SUPPORTED, "machine %s has no console "
		    "input (started by an older sbumld): boot it again",
		    machine_name(m));
		break;
	default:
		rpc_error_errno(call, RPC_E_IO_ERROR, r, "cannot attach to the "
		    "console of %s", machine_name(m));
	}
}

/*
 * machine.console-attach: after the reply the connection becomes a raw
 * byte stream of the console (machine-console.c, doc/rpc.md).
 */
int
rpc_machine_console_attach(struct rpc_call *call, struct json_object *params)
{
	struct attach_params	 p = { NULL, true };
	struct machine_console	*s;
	struct json_object	*res;
	struct machine		*m;
	int			 r;

	if (rpc_parse_params(call, params, attach_table, &p) < 0)
		return (0);
	if ((m = rpc_find_machine(call, p.machine, AUTHZ_VIEW)) == NULL)
		return (0);
	/* Typing into the console is controlling the machine. */
	if (p.write && !rpc_authz_machine(call, m, AUTHZ_CONTROL))
		return (0);
	if ((r = machine_console_attach(m, rpc_caller_uid(call), p.write,
	    &s)) < 0) {
		rpc_console_attach_error(call, m, r);
		return (0);
	}
	if ((r = server_client_handover(rpc_call_client(call),
	    machine_console_start, s)) < 0) {
		machine_console_start(-1, NULL, s);
		if (r == -EBUSY)
			rpc_error(call, RPC_INVALID_REQUEST, "this connection "
			    "is already being attached");
		return (r == -EBUSY ? 0 : r);
	}
	res = json_object_new_object();
	json_object_object_add(res, "machine",
	    json_object_new_string(machine_name(m)));
	json_object_object_add(res, "write", json_object_new_boolean(p.write));
	json_object_object_add(res, "stream", json_object_new_string("raw"));
	rpc_reply(call, res);
	return (0);
}

/* machine.delete: remove a stopped/crashed machine and its files. */
int
rpc_machine_delete(struct rpc_call *call, struct json_object *params)
{
	struct machine_params	 p = { NULL };
	struct json_object	*res;
	struct machine		*m;
	char			 err[512], *name;
	int			 r;

	if ((m = rpc_machine_param(call, params, &p, AUTHZ_CONTROL)) == NULL)
		return (0);
	if (machine_state_is_live(machine_state(m))) {
		rpc_bad_state(call, m, "halt or kill it first");
		return (0);
	}
	name = xstrdup(machine_name(m));
	if ((r = machine_delete(m, err, sizeof(err))) < 0) {
		if (r == -EBUSY)
			rpc_bad_state(call, m, err);
		else
			rpc_error_errno(call, RPC_E_IO_ERROR, r, "%s", err);
		free(name);
		return (0);
	}
	res = json_object_new_object();
	json_object_object_add(res, "deleted", json_object_new_string(name));
	free(name);
	rpc_reply(call, res);
	return (0);
}
