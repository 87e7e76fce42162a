/* SPDX-License-Identifier: MIT */
/*
 * Machine names and paths, machine.json (configuration, written once per
 * machine and atomically) and run.json (private run state, rewritten on
 * every state change), and the <state-dir>/paths links that let a
 * restarted daemon find machines living outside the state directory.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "context.h"
#include "machine-config.h"
#include "machine.h"
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

/* Serialise obj and write it to dirfd/file atomically; consumes obj. */
static int
machine_write_json(int dirfd, const char *file, struct json_object *obj)
{
	const char	*s;
	char		*buf;
	int		 r;

	s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	/* A trailing newline keeps the file friendly to cat. */
	buf = xasprintf("%s\n", s);
	r = fs_write_file_atomic_at(dirfd, file, buf, strlen(buf), 0600);
	free(buf);
	json_object_put(obj);
	return (r);
}

/* Parse a JSON object from buf; *ret is an object the caller puts. */
static int
machine_parse_json(const char *buf, size_t len, struct json_object **ret)
{
	struct json_tokener	*tok;
	struct json_object	*obj;

	if (len > MACHINE_FILE_MAX || len > INT_MAX)
		return (-EFBIG);
	if ((tok = json_tokener_new()) == NULL)
		return (-ENOMEM);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	/* Trailing bytes after the object (other than blanks) are an error. */
	if (obj != NULL && json_tokener_get_error(tok) == json_tokener_success) {
		size_t off = json_tokener_get_parse_end(tok);

		while (off < len && (buf[off] == ' ' || buf[off] == '\n' ||
		    buf[off] == '\t' || buf[off] == '\r'))
			off++;
		if (off < len && buf[off] != '\0') {
			json_object_put(obj);
			obj = NULL;
		}
	} else {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return (-EBADMSG);
	}
	*ret = obj;
	return (0);
}

/*
 * Read and parse dirfd/file (a regular file, never followed); with
 * require_ours it must belong to the daemon's uid.
 */
static int
machine_read_json(int dirfd, const char *file, bool require_ours,
    struct json_object **ret)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len;
	int		 fd, r;

	if ((fd = fs_openat_file(dirfd, file, O_RDONLY, 0)) < 0)
		return (fd);
	if (require_ours && (fstat(fd, &st) == -1 || st.st_uid != geteuid())) {
		(void)close(fd);
		return (-EPERM);
	}
	r = read_fd(fd, MACHINE_FILE_MAX, &buf, &len);
	(void)close(fd);
	if (r < 0)
		return (r);
	r = machine_parse_json(buf, len, ret);
	free(buf);
	return (r);
}

/* Add a u64 as a decimal string (JSON numbers cannot hold every u64). */
static void
json_add_u64_string(struct json_object *obj, const char *key, uint64_t v)
{
	char	buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	json_object_object_add(obj, key, json_object_new_string(buf));
}

/* Write machine.json; see machine-config.h. */
int
machine_config_write(int dirfd, const char *name,
    const struct machine_config *cfg, const struct fs_id *dir_id)
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
	if (cfg->nic.network[0] != '\0')
		json_object_object_add(obj, "net", net_nic_config_json(&cfg->nic));
	if (dir_id != NULL) {
		json_add_u64_string(obj, "dir_dev", (uint64_t)dir_id->dev);
		json_add_u64_string(obj, "dir_ino", (uint64_t)dir_id->ino);
	}
	return (machine_write_json(dirfd, MACHINE_CONFIG_FILE, obj));
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

/* A required string field; sets err naming it if missing or mistyped. */
static const char *
config_string(struct json_object *obj, const char *key, char *err,
    size_t errlen)
{
	const char	*s = json_string_member(obj, key);

	if (s == NULL)
		snprintf(err, errlen, "machine.json: \"%s\" must be a string",
		    key);
	return (s);
}

/* An optional u64-as-string field: 0 and *ret, 1 if absent, -EBADMSG. */
static int
config_u64_string(struct json_object *obj, const char *key, uint64_t *ret,
    char *err, size_t errlen)
{
	struct json_object	*v;
	const char		*s;
	char			*end;

	if (!json_object_object_get_ex(obj, key, &v))
		return (1);
	if (!json_object_is_type(v, json_type_string) ||
	    (s = json_object_get_string(v))[0] < '0' || s[0] > '9') {
		snprintf(err, errlen, "machine.json: \"%s\" must be a decimal "
		    "string", key);
		return (-EBADMSG);
	}
	errno = 0;
	*ret = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0') {
		snprintf(err, errlen, "machine.json: \"%s\" is not a number: %s",
		    key, s);
		return (-EBADMSG);
	}
	return (0);
}

/* The disks array into cfg; -EBADMSG with err set. */
static int
config_disks(struct json_object *obj, struct machine_config *cfg, char *err,
    size_t errlen)
{
	struct json_object	*disks, *d;
	size_t			 n;

	if (!json_object_object_get_ex(obj, "disks", &disks) ||
	    !json_object_is_type(disks, json_type_array)) {
		snprintf(err, errlen, "machine.json: \"disks\" must be an array");
		return (-EBADMSG);
	}
	if ((n = json_object_array_length(disks)) > UML_MAX_DISKS) {
		snprintf(err, errlen, "machine.json: \"disks\" has %zu entries, "
		    "at most %d", n, UML_MAX_DISKS);
		return (-EBADMSG);
	}
	for (size_t i = 0; i < n; i++) {
		d = json_object_array_get_idx(disks, i);
		if (!json_object_is_type(d, json_type_string)) {
			snprintf(err, errlen, "machine.json: \"disks\"[%zu] must "
			    "be a string", i);
			return (-EBADMSG);
		}
		cfg->disks[cfg->ndisks++] = xstrdup(json_object_get_string(d));
	}
	return (0);
}

/* Parse machine.json; see machine-config.h. */
int
machine_config_parse(const char *buf, size_t len, struct machine_config *cfg,
    char **ret_name, struct fs_id *ret_dir_id, char *err, size_t errlen)
{
	struct json_object	*obj = NULL;
	const char		*name, *image, *kernel, *cmdline, *created;
	uint64_t		 dev = 0, ino = 0;
	int64_t			 mem, owner = 0;
	int			 r, rd, ri;

	memset(cfg, 0, sizeof(*cfg));
	if (ret_dir_id != NULL)
		*ret_dir_id = FS_ID_NONE;
	if ((r = machine_parse_json(buf, len, &obj)) < 0) {
		snprintf(err, errlen, "machine.json: %s", r == -EFBIG ?
		    "too large" : "not a JSON object");
		return (r);
	}
	r = -EBADMSG;
	if ((name = config_string(obj, "machine", err, errlen)) == NULL ||
	    (image = config_string(obj, "image", err, errlen)) == NULL ||
	    (kernel = config_string(obj, "kernel", err, errlen)) == NULL ||
	    (cmdline = config_string(obj, "cmdline", err, errlen)) == NULL)
		goto out;
	if (!json_int_member(obj, "mem_mb", &mem) || mem < MACHINE_MEM_MIN ||
	    mem > MACHINE_MEM_MAX) {
		snprintf(err, errlen, "machine.json: \"mem_mb\" must be an "
		    "integer from %d to %d", MACHINE_MEM_MIN, MACHINE_MEM_MAX);
		goto out;
	}
	if (strlen(cmdline) > MACHINE_CMDLINE_MAX) {
		snprintf(err, errlen, "machine.json: \"cmdline\" is longer than "
		    "%d bytes", MACHINE_CMDLINE_MAX);
		goto out;
	}
	if (json_object_object_get_ex(obj, "created", NULL) &&
	    (created = config_string(obj, "created", err, errlen)) == NULL)
		goto out;
	created = json_string_member(obj, "created");
	if ((rd = config_u64_string(obj, "dir_dev", &dev, err, errlen)) < 0 ||
	    (ri = config_u64_string(obj, "dir_ino", &ino, err, errlen)) < 0)
		goto out;
	if (rd != ri) {
		snprintf(err, errlen, "machine.json: \"dir_dev\" and \"dir_ino\" "
		    "go together");
		goto out;
	}
	/* No owner (written before owners were recorded): root's. */
	if (json_object_object_get_ex(obj, "owner", NULL) &&
	    (!json_int_member(obj, "owner", &owner) || owner < 0 ||
	    owner >= (int64_t)UINT32_MAX)) {
		snprintf(err, errlen, "machine.json: \"owner\" must be a uid");
		goto out;
	}
	if ((r = config_disks(obj, cfg, err, errlen)) < 0)
		goto out;
	{
		struct json_object *net = NULL;
		char nerr[200];

		(void)json_object_object_get_ex(obj, "net", &net);
		if ((r = net_nic_config_parse(net, &cfg->nic, nerr,
		    sizeof(nerr))) < 0) {
			snprintf(err, errlen, "machine.json: %s", nerr);
			goto out;
		}
	}
	cfg->image = xstrdup(image);
	cfg->kernel = xstrdup(kernel);
	cfg->cmdline = xstrdup(cmdline);
	cfg->mem_mb = (unsigned int)mem;
	cfg->owner = (uid_t)owner;
	snprintf(cfg->created, sizeof(cfg->created), "%s",
	    created != NULL ? created : "");
	if (ret_dir_id != NULL && rd == 0) {
		ret_dir_id->dev = (dev_t)dev;
		ret_dir_id->ino = (ino_t)ino;
	}
	*ret_name = xstrdup(name);
	r = 0;
out:
	if (r < 0)
		machine_config_clear(cfg);
	json_object_put(obj);
	return (r);
}

/* Read machine.json; see machine-config.h. */
int
machine_config_read(int dirfd, bool require_ours, struct machine_config *cfg,
    char **ret_name, struct fs_id *ret_dir_id, char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len;
	int		 fd, r;

	memset(cfg, 0, sizeof(*cfg));
	if ((fd = fs_openat_file(dirfd, MACHINE_CONFIG_FILE, O_RDONLY, 0)) < 0) {
		snprintf(err, errlen, "%s: %s", MACHINE_CONFIG_FILE,
		    fs_strerror(fd));
		return (fd);
	}
	if (require_ours && (fstat(fd, &st) == -1 || st.st_uid != geteuid())) {
		snprintf(err, errlen, "%s is not sbumld's own file",
		    MACHINE_CONFIG_FILE);
		(void)close(fd);
		return (-EPERM);
	}
	r = read_fd(fd, MACHINE_FILE_MAX, &buf, &len);
	(void)close(fd);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", MACHINE_CONFIG_FILE, strerror(-r));
		return (r);
	}
	r = machine_config_parse(buf, len, cfg, ret_name, ret_dir_id, err,
	    errlen);
	free(buf);
	return (r);
}

/* Write run.json; see machine-config.h. */
int
machine_run_write(int dirfd, const struct machine_run *run)
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
	if (run->tap[0] != '\0')
		json_object_object_add(obj, "tap", json_object_new_string(run->tap));
	if (run->pid > 0)
		json_object_object_add(obj, "uffd",
		    json_object_new_boolean(run->uffd));
	if (run->memory[0] != '\0')
		json_object_object_add(obj, "memory",
		    json_object_new_string(run->memory));
	if (run->memory_reason[0] != '\0')
		json_object_object_add(obj, "memory_reason",
		    json_object_new_string(run->memory_reason));
	if (run->has_exit) {
		exit = json_object_new_object();
		json_object_object_add(exit, "status", run->status_known ?
		    json_object_new_int(run->status) : NULL);
		json_object_object_add(exit, "signal", run->signal_known ?
		    json_object_new_int(run->signal) : NULL);
		json_object_object_add(obj, "exit", exit);
	}
	return (machine_write_json(dirfd, MACHINE_RUN_FILE, obj));
}

/* Read run.json; see machine-config.h. */
int
machine_run_read(int dirfd, struct machine_run *run)
{
	struct json_object	*obj = NULL, *exit, *v;
	const char		*s;
	char			*end;
	int64_t			 pid;
	int			 r;

	memset(run, 0, sizeof(*run));
	if ((r = machine_read_json(dirfd, MACHINE_RUN_FILE, false, &obj)) < 0)
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
	/* Absent (written before it existed, or no process): false. */
	if (json_object_object_get_ex(obj, "uffd", &v) &&
	    json_object_is_type(v, json_type_boolean))
		run->uffd = json_object_get_boolean(v);
	if ((s = json_string_member(obj, "started")) != NULL)
		snprintf(run->started, sizeof(run->started), "%s", s);
	if ((s = json_string_member(obj, "tap")) != NULL) {
		if (!net_tap_valid(s))
			goto out;
		snprintf(run->tap, sizeof(run->tap), "%s", s);
	}
	/* Absent: booted, or written before a daemon kept it. */
	if ((s = json_string_member(obj, "memory")) != NULL) {
		if (strcmp(s, "lazy") != 0 && strcmp(s, "eager") != 0)
			goto out;
		snprintf(run->memory, sizeof(run->memory), "%s", s);
	}
	if ((s = json_string_member(obj, "memory_reason")) != NULL)
		snprintf(run->memory_reason, sizeof(run->memory_reason), "%s", s);
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

/* Write fill.json; see machine-config.h. */
int
machine_fill_write(int dirfd, const struct machine_fill *f, pid_t pager_pid)
{
	struct json_object	*obj;
	int			 state;

	/* Acquire: a FAILED state's reason was written before it. */
	state = atomic_load_explicit(&f->state, memory_order_acquire);
	obj = json_object_new_object();
	json_object_object_add(obj, "comment",
	    json_object_new_string("private data of sbumld, do not parse"));
	json_object_object_add(obj, "state",
	    json_object_new_string(machine_fill_state_name(state)));
	json_add_u64_string(obj, "filled_pages", atomic_load(&f->filled));
	json_add_u64_string(obj, "chunks", atomic_load(&f->chunks));
	json_add_u64_string(obj, "total_chunks", atomic_load(&f->total));
	json_add_u64_string(obj, "faults", atomic_load(&f->faults));
	if (state == MACHINE_FILL_FAILED)
		json_object_object_add(obj, "reason",
		    json_object_new_string(f->reason));
	if (pager_pid > 0)
		json_object_object_add(obj, "pager_pid",
		    json_object_new_int64(pager_pid));
	return (machine_write_json(dirfd, MACHINE_FILL_FILE, obj));
}

/* A u64 written by json_add_u64_string; false if absent or malformed. */
static bool
json_u64_string_member(struct json_object *obj, const char *key, uint64_t *ret)
{
	const char	*s = json_string_member(obj, key);
	char		*end;

	if (s == NULL || *s < '0' || *s > '9')
		return (false);
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return (errno == 0 && *end == '\0');
}

/* Read fill.json; see machine-config.h. */
int
machine_fill_read(int dirfd, struct machine_fill *f, pid_t *ret_pager_pid)
{
	struct json_object	*obj = NULL;
	const char		*s;
	uint64_t		 filled, chunks, total, faults;
	int64_t			 pid = 0;
	int			 state, r;

	if ((r = machine_read_json(dirfd, MACHINE_FILL_FILE, true, &obj)) < 0)
		return (r);
	r = -EBADMSG;
	if ((s = json_string_member(obj, "state")) == NULL)
		goto out;
	for (state = MACHINE_FILL_WAITING; state <= MACHINE_FILL_FAILED; state++)
		if (strcmp(s, machine_fill_state_name(state)) == 0)
			break;
	if (state > MACHINE_FILL_FAILED ||
	    !json_u64_string_member(obj, "filled_pages", &filled) ||
	    !json_u64_string_member(obj, "chunks", &chunks) ||
	    !json_u64_string_member(obj, "total_chunks", &total) ||
	    !json_u64_string_member(obj, "faults", &faults) || chunks > total)
		goto out;
	if (json_int_member(obj, "pager_pid", &pid) && (pid <= 1 || pid > INT_MAX))
		goto out;
	atomic_store(&f->filled, filled);
	atomic_store(&f->chunks, chunks);
	atomic_store(&f->total, total);
	atomic_store(&f->faults, faults);
	if (state == MACHINE_FILL_FAILED)
		snprintf(f->reason, sizeof(f->reason), "%s",
		    (s = json_string_member(obj, "reason")) != NULL ? s :
		    "unknown");
	atomic_store_explicit(&f->state, state, memory_order_release);
	if (ret_pager_pid != NULL)
		*ret_pager_pid = (pid_t)pid;
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
machine_paths_add(const char *path, const struct machine_config *cfg,
    const struct fs_id *dir_id)
{
	struct stat	 st;
	char		*rec, *dir;
	int		 fd, r;

	dir = xasprintf("%s/paths", daemon_config.state_dir);
	r = mkdir_p(dir, 0700);
	free(dir);
	if (r < 0)
		return (r);
	rec = machine_paths_link(path);
	/* An older daemon's symlink: replaced by the record. */
	if (lstat(rec, &st) == 0 && S_ISLNK(st.st_mode) && unlink(rec) == -1) {
		r = -errno;
		goto out;
	}
	if (mkdir(rec, 0700) == -1 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	if ((fd = fs_open_dir(rec, NULL, NULL)) < 0) {
		r = fd;
		goto out;
	}
	r = machine_config_write(fd, path, cfg, dir_id);
	(void)close(fd);
out:
	free(rec);
	return (r);
}

/* Forget a path machine; see machine-config.h. */
int
machine_paths_remove(const char *path)
{
	struct stat	 st;
	char		*rec;
	int		 fd, r = 0;

	rec = machine_paths_link(path);
	if (lstat(rec, &st) == -1) {
		if (errno != ENOENT)
			r = -errno;
	} else if (!S_ISDIR(st.st_mode)) {
		if (unlink(rec) == -1)
			r = -errno;
	} else if ((fd = fs_open_dir(rec, NULL, NULL)) < 0) {
		r = fd;
	} else {
		if ((r = fs_unlink_at(fd, MACHINE_FILL_FILE)) == 0 &&
		    (r = fs_unlink_at(fd, MACHINE_RUN_FILE)) == 0)
			r = fs_unlink_at(fd, MACHINE_CONFIG_FILE);
		(void)close(fd);
		if (r == 0 && rmdir(rec) == -1)
			r = -errno;
	}
	free(rec);
	return (r);
}
