/* SPDX-License-Identifier: MIT */
/*
 * libsbuml-client: one wrapper per method of doc/rpc.md, building params
 * from C arguments and picking the timeout a method needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "sbuml-client-int.h"

/* Call method with params {key: value} and the given timeout (c non-NULL). */
static int
call_with_string_param(struct sbuml_client *c, const char *method,
    const char *key, const char *value, int timeout_ms,
    struct json_object **ret_result)
{
	struct json_object *params;
	int r;

	if (value == NULL)
		return -EINVAL;
	params = json_object_new_object();
	if (params == NULL)
		return -ENOMEM;
	r = sbuml_add_str(params, key, value);
	if (r == 0)
		r = sbuml_call_timeout(c, method, params, timeout_ms, ret_result);
	json_object_put(params);
	return r;
}

/* Call a method whose params are {"machine": machine}. */
static int
call_machine(struct sbuml_client *c, const char *method, const char *machine,
    struct json_object **ret_result)
{
	if (c == NULL)
		return -EINVAL;
	return call_with_string_param(c, method, "machine", machine,
	    c->timeout_ms, ret_result);
}

/* daemon.ping, checking the answer is {"pong": true}. */
SBUML_EXPORT int
sbuml_daemon_ping(struct sbuml_client *c)
{
	struct json_object *res = NULL, *pong;
	int r;

	r = sbuml_call(c, "daemon.ping", NULL, &res);
	if (r < 0)
		return r;
	if (res == NULL || !json_object_object_get_ex(res, "pong", &pong) ||
	    !json_object_get_boolean(pong))
		r = -EPROTO;
	json_object_put(res);
	return r;
}

/* daemon.version. */
SBUML_EXPORT int
sbuml_daemon_version(struct sbuml_client *c, struct json_object **ret_result)
{
	return sbuml_call(c, "daemon.version", NULL, ret_result);
}

/* daemon.set-log-level. */
SBUML_EXPORT int
sbuml_daemon_set_log_level(struct sbuml_client *c, const char *level)
{
	if (c == NULL)
		return -EINVAL;
	return call_with_string_param(c, "daemon.set-log-level", "level", level,
	    c->timeout_ms, NULL);
}

/* params[key] = the strings of v (NULL-terminated); none when v is NULL or empty. */
static int
sbuml_add_strv(struct json_object *params, const char *key,
    const char *const *v)
{
	struct json_object *arr, *s;
	int r;

	if (v == NULL || v[0] == NULL)
		return 0;
	arr = json_object_new_array();
	if ((r = sbuml_add_value(params, key, arr)) < 0)
		return r;
	for (size_t i = 0; v[i] != NULL; i++) {
		s = json_object_new_string(v[i]);
		if (s == NULL || json_object_array_add(arr, s) != 0) {
			json_object_put(s);
			return -ENOMEM;
		}
	}
	return 0;
}

/* machine.boot; only the options that are set go on the wire. */
SBUML_EXPORT int
sbuml_machine_boot(struct sbuml_client *c, const struct sbuml_boot_options *o,
    struct json_object **ret_result)
{
	struct json_object *params;
	int r;

	if (c == NULL || o == NULL || o->machine == NULL)
		return -EINVAL;
	params = json_object_new_object();
	if (params == NULL)
		return -ENOMEM;
	if ((r = sbuml_add_str(params, "machine", o->machine)) < 0 ||
	    (r = sbuml_add_str(params, "image", o->image)) < 0 ||
	    (r = sbuml_add_str(params, "kernel", o->kernel)) < 0 ||
	    (r = sbuml_add_str(params, "cmdline", o->cmdline)) < 0)
		goto out;
	if (o->mem_mb != 0 && (r = sbuml_add_int(params, "mem_mb", o->mem_mb)) < 0)
		goto out;
	if ((r = sbuml_add_strv(params, "disks", o->disks)) < 0)
		goto out;
	if ((r = sbuml_add_str(params, "net", o->net)) < 0 ||
	    (r = sbuml_add_strv(params, "publish", o->publish)) < 0)
		goto out;
	r = sbuml_call(c, "machine.boot", params, ret_result);
out:
	json_object_put(params);
	return r;
}

/* machine.list. */
SBUML_EXPORT int
sbuml_machine_list(struct sbuml_client *c, struct json_object **ret_result)
{
	return sbuml_call(c, "machine.list", NULL, ret_result);
}

/* machine.info. */
SBUML_EXPORT int
sbuml_machine_info(struct sbuml_client *c, const char *machine,
    struct json_object **ret_result)
{
	return call_machine(c, "machine.info", machine, ret_result);
}

/* machine.pause. */
SBUML_EXPORT int
sbuml_machine_pause(struct sbuml_client *c, const char *machine,
    struct json_object **ret_result)
{
	return call_machine(c, "machine.pause", machine, ret_result);
}

/* machine.resume. */
SBUML_EXPORT int
sbuml_machine_resume(struct sbuml_client *c, const char *machine,
    struct json_object **ret_result)
{
	return call_machine(c, "machine.resume", machine, ret_result);
}

/* machine.halt, waiting long enough for the guest's grace period. */
SBUML_EXPORT int
sbuml_machine_halt(struct sbuml_client *c, const char *machine,
    unsigned int timeout_s, struct json_object **ret_result)
{
	struct json_object *params;
	int64_t need_ms;
	int timeout_ms, r;

	if (c == NULL || machine == NULL)
		return -EINVAL;
	params = json_object_new_object();
	if (params == NULL)
		return -ENOMEM;
	if ((r = sbuml_add_str(params, "machine", machine)) < 0 ||
	    (timeout_s != 0 && (r = sbuml_add_int(params, "timeout_s", timeout_s)) < 0))
		goto out;

	/* cad wait + 5 s halt grace + SIGKILL; keep a margin on top. */
	timeout_ms = c->timeout_ms;
	need_ms = ((int64_t)(timeout_s != 0 ? timeout_s : 30) + 30) * 1000;
	if (timeout_ms > 0 && need_ms > timeout_ms)
		timeout_ms = need_ms > INT_MAX ? INT_MAX : (int)need_ms;
	r = sbuml_call_timeout(c, "machine.halt", params, timeout_ms, ret_result);
out:
	json_object_put(params);
	return r;
}

/* machine.kill. */
SBUML_EXPORT int
sbuml_machine_kill(struct sbuml_client *c, const char *machine,
    struct json_object **ret_result)
{
	return call_machine(c, "machine.kill", machine, ret_result);
}

/* machine.console. */
SBUML_EXPORT int
sbuml_machine_console(struct sbuml_client *c, const char *machine,
    unsigned int lines, struct json_object **ret_result)
{
	struct json_object *params;
	int r;

	if (c == NULL || machine == NULL)
		return -EINVAL;
	params = json_object_new_object();
	if (params == NULL)
		return -ENOMEM;
	if ((r = sbuml_add_str(params, "machine", machine)) == 0 &&
	    (lines == 0 || (r = sbuml_add_int(params, "lines", lines)) == 0))
		r = sbuml_call(c, "machine.console", params, ret_result);
	json_object_put(params);
	return r;
}

/* machine.console-attach: the handle becomes the console stream. */
SBUML_EXPORT int
sbuml_console_attach(struct sbuml_client *c, const char *machine, bool write,
    int *ret_fd, char **ret_pending, size_t *ret_pending_len)
{
	struct json_object *params;
	char *pending = NULL;
	int r, fd;

	if (c == NULL || machine == NULL || ret_fd == NULL ||
	    ret_pending == NULL || ret_pending_len == NULL)
		return -EINVAL;
	params = json_object_new_object();
	if (params == NULL)
		return -ENOMEM;
	if ((r = sbuml_add_str(params, "machine", machine)) == 0 &&
	    (r = sbuml_add_bool(params, "write", write)) == 0)
		r = sbuml_call(c, "machine.console-attach", params, NULL);
	json_object_put(params);
	if (r < 0)
		return r;
	/* Console bytes that came in the same read as the answer. */
	if (c->len > 0 && (pending = malloc(c->len)) == NULL)
		return -ENOMEM;
	/* Blocking, as the header promises (the handle's socket may not be). */
	if ((fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (r = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, r & ~O_NONBLOCK) == -1) {
		r = -errno;
		if (fd >= 0)
			(void)close(fd);
		free(pending);
		return r;
	}
	if (pending != NULL)
		memcpy(pending, c->buf, c->len);
	*ret_fd = fd;
	*ret_pending = pending;
	*ret_pending_len = c->len;
	c->len = 0;
	/* The connection speaks no JSON-RPC any more. */
	c->dead = -ENOTCONN;
	return 0;
}

/* machine.delete. */
SBUML_EXPORT int
sbuml_machine_delete(struct sbuml_client *c, const char *machine,
    struct json_object **ret_result)
{
	return call_machine(c, "machine.delete", machine, ret_result);
}

/* The timeout of a snapshot.* call: the handle's, but at least 15 min. */
static int
snapshot_timeout(const struct sbuml_client *c)
{
	if (c->timeout_ms < 0 || c->timeout_ms >= SBUML_SNAPSHOT_TIMEOUT_MS)
		return c->timeout_ms;
	return SBUML_SNAPSHOT_TIMEOUT_MS;
}

/* Call a snapshot method whose params are {"snapshot": snapshot}. */
static int
call_snapshot(struct sbuml_client *c, const char *method, const char *snapshot,
    struct json_object **ret_result)
{
	if (c == NULL)
		return -EINVAL;
	return call_with_string_param(c, method, "snapshot", snapshot,
	    snapshot_timeout(c), ret_result);
}

/* snapshot.save, feeding job.progress to the optional callback. */
SBUML_EXPORT int
sbuml_snapshot_save(struct sbuml_client *c, const char *machine,
    const struct sbuml_save_options *o, struct json_object **ret_result)
{
	static const struct sbuml_save_options defaults = { 0 };
	struct json_object *params;
	int r;

	if (c == NULL || machine == NULL)
		return -EINVAL;
	if (o == NULL)
		o = &defaults;
	if (o->snapshot != NULL && o->prefix != NULL)
		return -EINVAL;
	params = json_object_new_object();
	if (params == NULL)
		return -ENOMEM;
	if ((r = sbuml_add_str(params, "machine", machine)) < 0 ||
	    (r = sbuml_add_str(params, "snapshot", o->snapshot)) < 0 ||
	    (r = sbuml_add_str(params, "prefix", o->prefix)) < 0 ||
	    (o->stop && (r = sbuml_add_bool(params, "continue", false)) < 0) ||
	    (o->raw && (r = sbuml_add_bool(params, "store", false)) < 0) ||
	    (r = sbuml_add_str(params, "capture", o->capture)) < 0)
		goto out;

	c->progress = o->progress;
	c->progress_data = o->progress_data;
	r = sbuml_call_timeout(c, "snapshot.save", params, snapshot_timeout(c),
	    ret_result);
	c->progress = NULL;
	c->progress_data = NULL;
out:
	json_object_put(params);
	return r;
}

/* snapshot.restore into a new machine. */
SBUML_EXPORT int
sbuml_snapshot_restore(struct sbuml_client *c, const char *snapshot,
    const char *machine, bool cont, struct json_object **ret_result)
{
	struct sbuml_restore_options o = { .paused = !cont };

	return sbuml_snapshot_restore_opts(c, snapshot, machine, &o, ret_result);
}

/*
 * snapshot.restore, from source (a reference or URL, with reg's options
 * and progress) if not NULL.
 */
static int
call_restore(struct sbuml_client *c, const char *snapshot, const char *machine,
    const struct sbuml_restore_options *o, const char *source,
    const struct sbuml_registry_options *reg, struct json_object **ret_result)
{
	struct json_object *params = json_object_new_object();
	int r;

	if (params == NULL)
		return -ENOMEM;
	if ((r = sbuml_add_str(params, "snapshot", snapshot)) == 0 &&
	    (r = sbuml_add_str(params, "machine", machine)) == 0 &&
	    (r = sbuml_add_bool(params, "continue", o == NULL || !o->paused)) == 0 &&
	    (o == NULL || !o->same_identity ||
	    (r = sbuml_add_bool(params, "same_identity", true)) == 0) &&
	    (o == NULL || (r = sbuml_add_strv(params, "publish", o->publish)) == 0) &&
	    (o == NULL || (r = sbuml_add_str(params, "memory", o->memory)) == 0) &&
	    (r = sbuml_add_str(params, "source", source)) == 0 && reg != NULL &&
	    (r = sbuml_add_str(params, "auth_file", reg->auth_file)) == 0 && reg->insecure)
		r = sbuml_add_bool(params, "insecure", true);
	if (r == 0) {
		c->progress = reg ? reg->progress : NULL;
		c->progress_data = reg ? reg->progress_data : NULL;
		r = sbuml_call_timeout(c, "snapshot.restore", params,
		    snapshot_timeout(c), ret_result);
		c->progress = NULL;
		c->progress_data = NULL;
	}
	json_object_put(params);
	return r;
}

/* snapshot.restore with options. */
SBUML_EXPORT int
sbuml_snapshot_restore_opts(struct sbuml_client *c, const char *snapshot,
    const char *machine, const struct sbuml_restore_options *o,
    struct json_object **ret_result)
{
	if (c == NULL || snapshot == NULL || machine == NULL)
		return -EINVAL;
	return call_restore(c, snapshot, machine, o, NULL, NULL, ret_result);
}

/* snapshot.restore with "source": pulled or imported first, with progress. */
SBUML_EXPORT int
sbuml_snapshot_restore_from(struct sbuml_client *c, const char *source,
    const char *snapshot, const char *machine, const struct sbuml_restore_options *o,
    const struct sbuml_registry_options *reg, struct json_object **ret_result)
{
	if (c == NULL || source == NULL || machine == NULL)
		return -EINVAL;
	return call_restore(c, snapshot, machine, o, source, reg, ret_result);
}

/* snapshot.list. */
SBUML_EXPORT int
sbuml_snapshot_list(struct sbuml_client *c, struct json_object **ret_result)
{
	if (c == NULL)
		return -EINVAL;
	return sbuml_call_timeout(c, "snapshot.list", NULL, snapshot_timeout(c),
	    ret_result);
}

/* snapshot.info. */
SBUML_EXPORT int
sbuml_snapshot_info(struct sbuml_client *c, const char *snapshot,
    struct json_object **ret_result)
{
	return call_snapshot(c, "snapshot.info", snapshot, ret_result);
}

/* snapshot.check. */
SBUML_EXPORT int
sbuml_snapshot_check(struct sbuml_client *c, const char *snapshot,
    struct json_object **ret_result)
{
	return call_snapshot(c, "snapshot.check", snapshot, ret_result);
}

/* snapshot.delete. */
SBUML_EXPORT int
sbuml_snapshot_delete(struct sbuml_client *c, const char *snapshot,
    struct json_object **ret_result)
{
	return call_snapshot(c, "snapshot.delete", snapshot, ret_result);
}

/* snapshot.verify. */
SBUML_EXPORT int
sbuml_snapshot_verify(struct sbuml_client *c, const char *snapshot,
    struct json_object **ret_result)
{
	return call_snapshot(c, "snapshot.verify", snapshot, ret_result);
}

/* snapshot.export / snapshot.import: the stream is t->fd (passed) or t->file. */
static int
call_transfer(struct sbuml_client *c, const char *method,
    const struct sbuml_transfer *t, struct json_object **ret_result)
{
	struct json_object *params;
	int r;

	if (c == NULL || t == NULL ||
	    (t->fd >= 0) + (t->file != NULL) + (t->url != NULL) != 1)
		return -EINVAL;
	if ((params = json_object_new_object()) == NULL)
		return -ENOMEM;
	if ((r = sbuml_add_str(params, "snapshot", t->snapshot)) < 0 ||
	    (r = sbuml_add_str(params, "base", t->base)) < 0 ||
	    (r = sbuml_add_str(params, "file", t->file)) < 0 ||
	    (r = sbuml_add_str(params, "url", t->url)) < 0 ||
	    (t->insecure && (r = sbuml_add_bool(params, "insecure", true)) < 0) ||
	    (t->fd >= 0 && (r = sbuml_add_bool(params, "fd", true)) < 0))
		goto out;
	r = sbuml_call_fd(c, method, params, t->fd, snapshot_timeout(c), ret_result);
out:
	json_object_put(params);
	return r;
}

/* snapshot.export. */
SBUML_EXPORT int
sbuml_snapshot_export(struct sbuml_client *c, const struct sbuml_transfer *t,
    struct json_object **ret_result)
{
	if (t == NULL || t->snapshot == NULL)
		return -EINVAL;
	return call_transfer(c, "snapshot.export", t, ret_result);
}

/* snapshot.import. */
SBUML_EXPORT int
sbuml_snapshot_import(struct sbuml_client *c, const struct sbuml_transfer *t,
    struct json_object **ret_result)
{
	return call_transfer(c, "snapshot.import", t, ret_result);
}

/* snapshot.push, .pull, .tags: the registry parameters, progress to the callback. */
static int
call_registry(struct sbuml_client *c, const char *method, const char *snapshot,
    const char *ref, const struct sbuml_registry_options *o,
    struct json_object **ret_result)
{
	static const struct sbuml_registry_options defaults = { 0 };
	struct json_object *params;
	int r;

	if (c == NULL || ref == NULL)
		return -EINVAL;
	if (o == NULL)
		o = &defaults;
	if ((params = json_object_new_object()) == NULL)
		return -ENOMEM;
	if ((r = sbuml_add_str(params, "snapshot", snapshot)) < 0 ||
	    (r = sbuml_add_str(params, "ref", ref)) < 0 ||
	    (r = sbuml_add_str(params, "auth_file", o->auth_file)) < 0 ||
	    (r = sbuml_add_str(params, "from", o->from)) < 0 ||
	    (o->insecure && (r = sbuml_add_bool(params, "insecure", true)) < 0))
		goto out;
	c->progress = o->progress;
	c->progress_data = o->progress_data;
	r = sbuml_call_timeout(c, method, params, snapshot_timeout(c), ret_result);
	c->progress = NULL;
	c->progress_data = NULL;
out:
	json_object_put(params);
	return r;
}

SBUML_EXPORT int
sbuml_snapshot_push(struct sbuml_client *c, const char *snapshot, const char *ref,
    const struct sbuml_registry_options *o, struct json_object **ret_result)
{
	if (snapshot == NULL)
		return -EINVAL;
	return call_registry(c, "snapshot.push", snapshot, ref, o, ret_result);
}

SBUML_EXPORT int
sbuml_snapshot_pull(struct sbuml_client *c, const char *ref, const char *snapshot,
    const struct sbuml_registry_options *o, struct json_object **ret_result)
{
	return call_registry(c, "snapshot.pull", snapshot, ref, o, ret_result);
}

SBUML_EXPORT int
sbuml_snapshot_search(struct sbuml_client *c, const char *registry, bool tags,
    const struct sbuml_registry_options *o, struct json_object **ret_result)
{
	struct json_object *params;
	int r;

	if (c == NULL || registry == NULL)
		return -EINVAL;
	if ((params = json_object_new_object()) == NULL)
		return -ENOMEM;
	if ((r = sbuml_add_str(params, "registry", registry)) == 0 &&
	    (!tags || (r = sbuml_add_bool(params, "tags", true)) == 0) &&
	    (o == NULL || (r = sbuml_add_str(params, "auth_file", o->auth_file)) == 0) &&
	    o != NULL && o->insecure)
		r = sbuml_add_bool(params, "insecure", true);
	if (r == 0)
		r = sbuml_call_timeout(c, "snapshot.search", params, snapshot_timeout(c),
		    ret_result);
	json_object_put(params);
	return r;
}

SBUML_EXPORT int
sbuml_snapshot_tags(struct sbuml_client *c, const char *ref,
    const struct sbuml_registry_options *o, struct json_object **ret_result)
{
	return call_registry(c, "snapshot.tags", NULL, ref, o, ret_result);
}

/* store.gc. */
SBUML_EXPORT int
sbuml_store_gc(struct sbuml_client *c, struct json_object **ret_result)
{
	if (c == NULL)
		return -EINVAL;
	return sbuml_call_timeout(c, "store.gc", NULL, snapshot_timeout(c),
	    ret_result);
}
