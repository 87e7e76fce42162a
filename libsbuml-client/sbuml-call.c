/* SPDX-License-Identifier: MIT */
/*
 * libsbuml-client: one call.  A request goes out with a fresh id; what comes
 * back is the answer to it, a late answer to a call that timed out (dropped),
 * an error answer with id null (the daemon refused us), or a notification
 * (job.progress to the call's callback, anything else to the event queue).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "sbuml-client-int.h"

/* Forget the error of the previous call. */
void
sbuml_error_clear(struct sbuml_client *c)
{
	if (c->err_obj != NULL)
		json_object_put(c->err_obj);
	c->err_obj = NULL;
	memset(&c->err, 0, sizeof(c->err));
}

/* Keep an answered error object; returns -EREMOTEIO, or -EPROTO if malformed. */
static int
error_set(struct sbuml_client *c, struct json_object *error)
{
	struct json_object *code, *message, *data = NULL, *name;

	if (!json_object_is_type(error, json_type_object) ||
	    !json_object_object_get_ex(error, "code", &code) ||
	    !json_object_is_type(code, json_type_int) ||
	    !json_object_object_get_ex(error, "message", &message) ||
	    !json_object_is_type(message, json_type_string))
		return -EPROTO;
	if (json_object_object_get_ex(error, "data", &data) &&
	    !json_object_is_type(data, json_type_object))
		data = NULL;	/* tolerated: data is optional in JSON-RPC */

	sbuml_error_clear(c);
	c->err_obj = json_object_get(error);
	c->err.code = json_object_get_int(code);
	c->err.message = json_object_get_string(message);
	c->err.data = data;
	c->err.name = "";
	if (data != NULL && json_object_object_get_ex(data, "name", &name) &&
	    json_object_is_type(name, json_type_string))
		c->err.name = json_object_get_string(name);
	return -EREMOTEIO;
}

/* The error object of the last -EREMOTEIO, or NULL. */
SBUML_EXPORT const struct sbuml_error *
sbuml_last_error(const struct sbuml_client *c)
{
	if (c == NULL || c->err_obj == NULL)
		return NULL;
	return &c->err;
}

/* Whether obj carries "jsonrpc": "2.0". */
static bool
is_jsonrpc2(struct json_object *obj)
{
	struct json_object *v;

	return json_object_object_get_ex(obj, "jsonrpc", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), "2.0") == 0;
}

/* A string member of obj, or "" (borrowed). */
static const char *
member_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

/* Hand a job.progress notification to the callback of the call in flight. */
static void
progress_call(struct sbuml_client *c, struct json_object *params)
{
	struct sbuml_progress p = {
		.job = member_str(params, "job"),
		.machine = member_str(params, "machine"),
		.snapshot = member_str(params, "snapshot"),
		.phase = member_str(params, "phase"),
		.params = params,
	};
	struct json_object *v;
	int64_t bytes;

	if (params != NULL && json_object_object_get_ex(params, "bytes", &v) &&
	    json_object_is_type(v, json_type_int) &&
	    (bytes = json_object_get_int64(v)) > 0)
		p.bytes = (uint64_t)bytes;
	c->progress(&p, c->progress_data);
}

/*
 * Dispatch one parsed message.  want_id is the id of the call in flight, or
 * -1 when none.  Returns 1 when obj answered that call (*ret_result set,
 * caller owns, may be NULL), 0 when it was queued or dropped, -EREMOTEIO for
 * an error answer, -EPROTO, -ENOMEM.  Borrows obj.
 */
int
sbuml_dispatch(struct sbuml_client *c, struct json_object *obj, int64_t want_id,
    struct json_object **ret_result)
{
	struct json_object *id, *method, *params = NULL, *result, *error;
	bool has_result, has_error;

	if (!json_object_is_type(obj, json_type_object) || !is_jsonrpc2(obj))
		return -EPROTO;

	if (!json_object_object_get_ex(obj, "id", &id)) {
		/* A notification: events and job progress. */
		if (!json_object_object_get_ex(obj, "method", &method) ||
		    !json_object_is_type(method, json_type_string))
			return -EPROTO;
		if (json_object_object_get_ex(obj, "params", &params) &&
		    json_object_is_type(params, json_type_null))
			params = NULL;
		if (c->progress != NULL && want_id >= 0 &&
		    strcmp(json_object_get_string(method), "job.progress") == 0) {
			progress_call(c, params);
			return 0;
		}
		return sbuml_event_push(c, json_object_get_string(method), params);
	}

	has_result = json_object_object_get_ex(obj, "result", &result);
	has_error = json_object_object_get_ex(obj, "error", &error);
	if (has_result == has_error)
		return -EPROTO;

	if (json_object_is_type(id, json_type_null)) {
		/*
		 * The daemon could not tell which request this answers (line
		 * too long, LimitExceeded at accept): it concerns us anyway.
		 */
		if (!has_error)
			return -EPROTO;
		return error_set(c, error);
	}
	if (!json_object_is_type(id, json_type_int))
		return -EPROTO;
	if (want_id < 0 || json_object_get_int64(id) != want_id)
		return 0;	/* late answer to a call that timed out */

	if (has_error)
		return error_set(c, error);
	if (ret_result != NULL)
		*ret_result = json_object_is_type(result, json_type_null) ?
		    NULL : json_object_get(result);
	return 1;
}

/* Check that a client handle is usable for a call. */
static int
client_check(struct sbuml_client *c)
{
	if (c == NULL)
		return -EINVAL;
	sbuml_error_clear(c);
	return c->dead;
}

/* Add a member, taking ownership of v even on failure; 0 or -ENOMEM. */
int
sbuml_add_value(struct json_object *obj, const char *key, struct json_object *v)
{
	if (v == NULL)
		return -ENOMEM;
	if (json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* Add an integer member; returns 0 or -ENOMEM. */
int
sbuml_add_int(struct json_object *obj, const char *key, int64_t v)
{
	return sbuml_add_value(obj, key, json_object_new_int64(v));
}

/* Add a string member unless s is NULL; returns 0 or -ENOMEM. */
int
sbuml_add_str(struct json_object *obj, const char *key, const char *s)
{
	if (s == NULL)
		return 0;
	return sbuml_add_value(obj, key, json_object_new_string(s));
}

/* Add a boolean member; returns 0 or -ENOMEM. */
int
sbuml_add_bool(struct json_object *obj, const char *key, bool v)
{
	return sbuml_add_value(obj, key, json_object_new_boolean(v));
}

/* Serialise and send one request line with the given id. */
static int
send_request(struct sbuml_client *c, int64_t id, const char *method,
    struct json_object *params, int pass_fd, int64_t deadline)
{
	struct json_object *req;
	const char *s;
	char *line = NULL;
	size_t len;
	int r = -ENOMEM;

	req = json_object_new_object();
	if (req == NULL)
		return -ENOMEM;
	if (sbuml_add_str(req, "jsonrpc", "2.0") < 0 || sbuml_add_int(req, "id", id) < 0 ||
	    sbuml_add_str(req, "method", method) < 0)
		goto out;
	/* object_add steals a reference: take one so the caller keeps its own. */
	if (params != NULL && sbuml_add_value(req, "params", json_object_get(params)) < 0)
		goto out;

	/* PLAIN never emits a raw newline, so the line framing holds. */
	s = json_object_to_json_string_ext(req,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL)
		goto out;
	len = strlen(s);
	line = malloc(len + 1);
	if (line == NULL)
		goto out;
	memcpy(line, s, len);
	line[len] = '\n';
	r = sbuml_send_all(c, line, len + 1, pass_fd, deadline);
out:
	free(line);
	json_object_put(req);
	return r;
}

/*
 * The daemon hung up before our request went out.  It may have said why
 * first (LimitExceeded with id null): read what is buffered and return
 * -EREMOTEIO if so, else r.
 */
static int
salvage_error(struct sbuml_client *c, int r)
{
	struct json_object *obj = NULL;
	int t;

	for (;;) {
		/* Only what already arrived: a deadline that has passed. */
		if (sbuml_next_message(c, sbuml_deadline_after(0), false, &obj) < 0)
			return r;
		t = sbuml_dispatch(c, obj, -1, NULL);
		json_object_put(obj);
		if (t == -EREMOTEIO)
			return t;
	}
}

/* Send one request (passing pass_fd if >= 0) and wait for its answer. */
int
sbuml_call_fd(struct sbuml_client *c, const char *method, struct json_object *params,
    int pass_fd, int timeout_ms, struct json_object **ret_result)
{
	struct json_object *obj = NULL, *result = NULL;
	int64_t id, deadline;
	int r;

	if ((r = client_check(c)) != 0)
		return r;
	if (method == NULL || *method == '\0' || timeout_ms == 0 ||
	    (params != NULL && !json_object_is_type(params, json_type_object)))
		return -EINVAL;

	deadline = sbuml_deadline_after(timeout_ms);
	id = c->next_id++;
	if ((r = send_request(c, id, method, params, pass_fd, deadline)) < 0)
		return r == -ECONNRESET ? salvage_error(c, r) : r;

	for (;;) {
		if ((r = sbuml_next_message(c, deadline, false, &obj)) < 0)
			return r;
		r = sbuml_dispatch(c, obj, id, &result);
		json_object_put(obj);
		if (r < 0)
			return r;
		if (r == 1)
			break;
	}
	if (ret_result != NULL)
		*ret_result = result;
	else
		json_object_put(result);
	return 0;
}

/* Send one request and wait for its answer, queueing notifications. */
SBUML_EXPORT int
sbuml_call_timeout(struct sbuml_client *c, const char *method,
    struct json_object *params, int timeout_ms, struct json_object **ret_result)
{
	return sbuml_call_fd(c, method, params, -1, timeout_ms, ret_result);
}

/* As sbuml_call_timeout(), passing the descriptor fd with the request. */
SBUML_EXPORT int
sbuml_call_with_fd(struct sbuml_client *c, const char *method,
    struct json_object *params, int fd, int timeout_ms,
    struct json_object **ret_result)
{
	if (fd < 0)
		return -EBADF;
	return sbuml_call_fd(c, method, params, fd, timeout_ms, ret_result);
}

/* sbuml_call_timeout() with the handle's timeout. */
SBUML_EXPORT int
sbuml_call(struct sbuml_client *c, const char *method,
    struct json_object *params, struct json_object **ret_result)
{
	if (c == NULL)
		return -EINVAL;
	return sbuml_call_timeout(c, method, params, c->timeout_ms, ret_result);
}
