/* SPDX-License-Identifier: MIT */
/*
 * Machine names and paths, machine.json (configuration, written once per
 * machine and atomically) and run.json (private run state, rewritten on
 * every state change), and the <state-dir>/paths links that let a
 * restarted daemon find machines living outside the state directory.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "machine-config.h"
#include "util.h"

#define MACHINE_FILE_MAX	(64 * 1024)

/* Suffix whose length bounds a machine directory (doc/rpc.md). */
#define MCONSOLE_SUFFIX		"/uml/mconsole"

/* True if path may be handed to UML; see machine.h. */
bool
machine_path_is_safe(const char *path)
{
	/*
	 * UML joins argv into one command line split on blanks, and ubd
	 * options use ',' between the overlay and the backing file.
	 */
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == ',' || *p == '"' ||
		    *p == '\\')
			return (false);
	}
	return (true);
}

/* Check that a path is absolute and normalised. */
static bool
machine_path_is_normal(const char *path)
{
	const char	*c, *next;
	size_t		 len;

	if (path[0] != '/' || path[1] == '\0')
		return (false);
	for (c = path + 1; ; c = next + 1) {
		next = strchr(c, '/');
		len = next != NULL ? (size_t)(next - c) : strlen(c);
		/* Empty component: "//" or a trailing "/". */
		if (len == 0)
			return (false);
		if ((len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return (false);
		if (next == NULL)
			return (true);
	}
}

/* Resolve a machine name or path to its directory; see machine.h. */
int
machine_name_resolve(const char *name, char **ret_dir, bool *ret_is_path,
    char *err, size_t errlen)
{
	const char	*sd = daemon_config.state_dir;
	char		*dir;
	size_t		 len = strlen(name), sdlen = strlen(sd);

	if (strchr(name, '/') != NULL) {
		if (!machine_path_is_normal(name)) {
			snprintf(err, errlen, "machine path must be absolute and "
			    "normalised (no ., .., // or trailing /): %s", name);
			return (-EINVAL);
		}
		if (!machine_path_is_safe(name)) {
			snprintf(err, errlen, "machine path contains blanks, "
			    "commas, quotes or non-ASCII bytes: %s", name);
			return (-EINVAL);
		}
		if (len + strlen(MCONSOLE_SUFFIX) > MACHINE_PATH_MAX) {
			snprintf(err, errlen, "machine path too long: %s%s must "
			    "fit in %d bytes (a Unix socket address)", name,
			    MCONSOLE_SUFFIX, MACHINE_PATH_MAX);
			return (-EINVAL);
		}
		/* The state dir is sbumld's own: no machine may live in it. */
		if (strncmp(name, sd, sdlen) == 0 &&
		    (name[sdlen] == '/' || name[sdlen] == '\0')) {
			snprintf(err, errlen, "machine path %s is inside the "
			    "state directory %s", name, sd);
			return (-EINVAL);
		}
		*ret_dir = xstrdup(name);
		*ret_is_path = true;
		return (0);
	}
	if (len == 0 || len > MACHINE_NAME_MAX || !isalnum((unsigned char)name[0])) {
		snprintf(err, errlen, "machine name must be 1 to %d characters "
		    "starting with a letter or digit: \"%s\"", MACHINE_NAME_MAX,
		    name);
		return (-EINVAL);
	}
	for (const char *p = name; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' &&
		    *p != '-') {
			snprintf(err, errlen, "machine name may contain only "
			    "letters, digits, '_', '.' and '-': \"%s\"", name);
			return (-EINVAL);
		}
	}
	if (strstr(name, "..") != NULL) {
		snprintf(err, errlen, "machine name must not contain \"..\": "
		    "\"%s\"", name);
		return (-EINVAL);
	}
	dir = xasprintf("%s/machines/%s", sd, name);
	if (strlen(dir) + strlen(MCONSOLE_SUFFIX) > MACHINE_PATH_MAX) {
		snprintf(err, errlen, "machine name too long for the state "
		    "directory %s: %s%s must fit in %d bytes", sd, dir,
		    MCONSOLE_SUFFIX, MACHINE_PATH_MAX);
		free(dir);
		return (-EINVAL);
	}
	*ret_dir = dir;
	*ret_is_path = false;
	return (0);
}

/* Free a configuration's strings and zero it. */
void
machine_config_clear(struct machine_config *cfg)
{
	free(cfg->image);
	free(cfg->kernel);
	free(cfg->cmdline);
	for (size_t i = 0; i < cfg->ndisks; i++)
		free(cfg->disks[i]);
	memset(cfg, 0, sizeof(*cfg));
}

/* Serialise obj and write it to dir/file atomically; consumes obj. */
static int
machine_write_json(const char *dir, const char *file, struct json_object *obj)
{
	const char	*s;
	char		*path;
	int		 r;

	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	path = xasprintf("%s/%s", dir, file);
	{
		/* A trailing newline keeps the file friendly to cat. */
		char *buf = xasprintf("%s\n", s);

		r = write_file_atomic(path, buf, strlen(buf), 0600);
		free(buf);
	}
	free(path);
	json_object_put(obj);
	return (r);
}

/* Read and parse dir/file; *ret is an object the caller puts. */
static int
machine_read_json(const char *dir, const char *file, struct json_object **ret)
{
	struct json_object	*obj;
	char			*path, *buf = NULL;
	size_t			 len;
	int			 r;

	path = xasprintf("%s/%s", dir, file);
	r = read_file(path, MACHINE_FILE_MAX, &buf, &len);
	free(path);
	if (r < 0)
		return (r);
	obj = json_tokener_parse(buf);
	free(buf);
	if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return (-EBADMSG);
	}
	*ret = obj;
	return (0);
}

/* Write machine.json; see machine-config.h. */
int
machine_config_write(const char *dir, const char *name,
    const struct machine_config *cfg)
{
	struct json_object	*obj, *disks;

	obj = json_object_new_object();
	json_object_object_add(obj, "machine", json_object_new_string(name));
	json_object_object_add(obj, "image", json_object_new_string(cfg->image));
	json_object_object_add(obj, "mem_mb",
	    json_object_new_int64(cfg->mem_mb));
	json_object_object_add(obj, "cmdline",
	    json_object_new_string(cfg->cmdline));
	disks = json_object_new_array();
	for (size_t i = 0; i < cfg->ndisks; i++)
		json_object_array_add(disks,
		    json_object_new_string(cfg->disks[i]));
	json_object_object_add(obj, "disks", disks);
	json_object_object_add(obj, "kernel",
	    json_object_new_string(cfg->kernel));
	json_object_object_add(obj, "created",
	    json_object_new_string(cfg->created));
	json_object_object_add(obj, "owner",
	    json_object_new_int64((int64_t)cfg->owner));
	return (machine_write_json(dir, MACHINE_CONFIG_FILE, obj));
}

/* A string member of obj, or NULL. */
static const char *
json_string_member(struct json_object *obj, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

/* An integer member of obj; false if missing or not an integer. */
static bool
json_int_member(struct json_object *obj, const char *key, int64_t *ret)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return (false);
	*ret = json_object_get_int64(v);
	return (true);
}

/* Read machine.json; see machine-config.h. */
int
machine_config_read(const char *dir, struct machine_config *cfg,
    char **ret_name)
{
	struct json_object	*obj = NULL, *disks;
	const char		*name, *image, *kernel, *cmdline, *created;
	int64_t			 mem, owner = 0;
	size_t			 n;
	int			 r;

	memset(cfg, 0, sizeof(*cfg));
	if ((r = machine_read_json(dir, MACHINE_CONFIG_FILE, &obj)) < 0)
		return (r);
	r = -EBADMSG;
	name = json_string_member(obj, "machine");
	image = json_string_member(obj, "image");
	kernel = json_string_member(obj, "kernel");
	cmdline = json_string_member(obj, "cmdline");
	created = json_string_member(obj, "created");
	if (name == NULL || image == NULL || kernel == NULL || cmdline == NULL ||
	    !json_int_member(obj, "mem_mb", &mem) ||
	    mem < MACHINE_MEM_MIN || mem > MACHINE_MEM_MAX ||
	    strlen(cmdline) > MACHINE_CMDLINE_MAX)
		goto out;
	/* No owner (written before owners were recorded): root's. */
	if (json_object_object_get_ex(obj, "owner", NULL) &&
	    (!json_int_member(obj, "owner", &owner) || owner < 0 ||
	    owner >= (int64_t)UINT32_MAX))
		goto out;
	if (!json_object_object_get_ex(obj, "disks", &disks) ||
	    !json_object_is_type(disks, json_type_array) ||
	    (n = json_object_array_length(disks)) > UML_MAX_DISKS)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(disks, i);

		if (!json_object_is_type(d, json_type_string))
			goto out;
		cfg->disks[cfg->ndisks++] = xstrdup(json_object_get_string(d));
	}
	cfg->image = xstrdup(image);
	cfg->kernel = xstrdup(kernel);
	cfg->cmdline = xstrdup(cmdline);
	cfg->mem_mb = (unsigned int)mem;
	cfg->owner = (uid_t)owner;
	snprintf(cfg->created, sizeof(cfg->created), "%s",
	    created != NULL ? created : "");
	*ret_name = xstrdup(name);
	r = 0;
out:
	if (r < 0)
		machine_config_clear(cfg);
	json_object_put(obj);
	return (r);
}

/* Write run.json; see machine-config.h. */
int
machine_run_write(const char *dir, const struct machine_run *run)
{
	struct json_object	*obj, *exit;
	char			 buf[32];

	obj = json_object_new_object();
	json_object_object_add(obj, "comment",
	    json_object_new_string("private data of sbumld, do not parse"));
	json_object_object_add(obj, "state",
	    json_object_new_string(machine_state_to_string(run->state)));
	if (run->pid > 0) {
		json_object_object_add(obj, "pid", json_object_new_int64(run->pid));
		/* A string: start times are u64 clock ticks. */
		snprintf(buf, sizeof(buf), "%" PRIu64, run->starttime);
		json_object_object_add(obj, "starttime",
		    json_object_new_string(buf));
	}
	json_object_object_add(obj, "savable",
	    json_object_new_boolean(run->savable));
	if (run->started[0] != '\0')
		json_object_object_add(obj, "started",
		    json_object_new_string(run->started));
	if (run->has_exit) {
		exit = json_object_new_object();
		json_object_object_add(exit, "status", run->status_known ?
		    json_object_new_int(run->status) : NULL);
		json_object_object_add(exit, "signal", run->signal_known ?
		    json_object_new_int(run->signal) : NULL);
		json_object_object_add(obj, "exit", exit);
	}
	return (machine_write_json(dir, MACHINE_RUN_FILE, obj));
}

/* Read run.json; see machine-config.h. */
int
machine_run_read(const char *dir, struct machine_run *run)
{
	struct json_object	*obj = NULL, *exit, *v;
	const char		*s;
	char			*end;
	int64_t			 pid;
	int			 r;

	memset(run, 0, sizeof(*run));
	if ((r = machine_read_json(dir, MACHINE_RUN_FILE, &obj)) < 0)
		return (r);
	r = -EBADMSG;
	if ((s = json_string_member(obj, "state")) == NULL ||
	    machine_state_from_string(s, &run->state) < 0)
		goto out;
	if (json_int_member(obj, "pid", &pid)) {
		if (pid <= 1 || pid > INT_MAX ||
		    (s = json_string_member(obj, "starttime")) == NULL)
			goto out;
		errno = 0;
		run->starttime = strtoull(s, &end, 10);
		if (errno != 0 || *s == '\0' || *end != '\0')
			goto out;
		run->pid = (pid_t)pid;
	}
	if (json_object_object_get_ex(obj, "savable", &v) &&
	    json_object_is_type(v, json_type_boolean))
		run->savable = json_object_get_boolean(v);
	if ((s = json_string_member(obj, "started")) != NULL)
		snprintf(run->started, sizeof(run->started), "%s", s);
	if (json_object_object_get_ex(obj, "exit", &exit) &&
	    json_object_is_type(exit, json_type_object)) {
		run->has_exit = true;
		if (json_object_object_get_ex(exit, "status", &v) &&
		    json_object_is_type(v, json_type_int)) {
			run->status_known = true;
			run->status = json_object_get_int(v);
		}
		if (json_object_object_get_ex(exit, "signal", &v) &&
		    json_object_is_type(v, json_type_int)) {
			run->signal_known = true;
			run->signal = json_object_get_int(v);
		}
	}
	r = 0;
out:
	json_object_put(obj);
	return (r);
}

/*
 * <state-dir>/paths/<16 hex digits of FNV-1a 64 of the path>: fixed length
 * whatever the path, and the link target says which path it stands for.
 */
char *
machine_paths_link(const char *path)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return (xasprintf("%s/paths/%016" PRIx64, daemon_config.state_dir, h));
}

/* Record a path machine; see machine-config.h. */
int
machine_paths_add(const char *path)
{
	char	*link, *dir, target[PATH_MAX];
	ssize_t	 n;
	int	 r = 0;

	dir = xasprintf("%s/paths", daemon_config.state_dir);
	r = mkdir_p(dir, 0700);
	free(dir);
	if (r < 0)
		return (r);
	link = machine_paths_link(path);
	if (symlink(path, link) == -1) {
		r = -errno;
		if (r == -EEXIST) {
			/* Ours already, or a (vanishingly unlikely) collision. */
			n = readlink(link, target, sizeof(target) - 1);
			if (n >= 0) {
				target[n] = '\0';
				r = strcmp(target, path) == 0 ? 0 : -EEXIST;
			}
		}
	}
	free(link);
	return (r);
}

/* Forget a path machine; see machine-config.h. */
int
machine_paths_remove(const char *path)
{
	char	*link;
	int	 r = 0;

	link = machine_paths_link(path);
	if (unlink(link) == -1 && errno != ENOENT)
		r = -errno;
	free(link);
	return (r);
}
