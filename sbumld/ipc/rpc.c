/* SPDX-License-Identifier: MIT */
/*
 * JSON-RPC 2.0 over newline-framed lines (doc/rpc.md): parse a line, check
 * the envelope, look the method up (rpc_init's lookup), run its handler, and
 * write the response, alone or as part of a batch.
 *
 * Lifetimes.  A struct rpc_call is refcounted.  It starts with an implicit
 * reference that answering drops (so a handler that answers at once is done
 * with it) plus one held by the dispatcher while the handler runs.  A handler
 * deferring its answer takes its own reference.  The call holds a reference
 * on its client, so a late answer to a client that has gone away finds a
 * dead client and is dropped, and on the parsed request, so the strings
 * rpc_parse_params lends out stay valid.
 *
 * A batch is answered with one array once all its non-notification members
 * have answered, deferred ones included: each such member holds a reference
 * on the batch until it answers, the dispatcher another while it walks the
 * array, and whoever drops the last one sends the array.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json_visit.h>

#include "log.h"
#include "rpc.h"
#include "server.h"
#include "util.h"
#include "worker.h"

#define RPC_JSON_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

struct rpc_batch {
	unsigned int		 refs;
	struct client		*client;	/* reference */
	struct json_object	*responses;	/* array, in completion order */
};

struct rpc_call {
	unsigned int		 refs;
	bool			 answered;
	bool			 notification;	/* no "id": never answered on the wire */
	bool			 dispatching;	/* the handler is on the stack */
	struct client		*client;	/* reference */
	struct rpc_batch	*batch;		/* reference until answered, or NULL */
	struct json_object	*request;	/* reference: params are borrowed from it */
	struct json_object	*id;		/* borrowed from request; NULL is null */
	const char		*method;	/* borrowed from request, or "" */
};

static const struct {
	int		 code;
	const char	*name;
} rpc_error_names[] = {
	{ RPC_PARSE_ERROR,		"ParseError" },
	{ RPC_INVALID_REQUEST,		"InvalidRequest" },
	{ RPC_METHOD_NOT_FOUND,		"MethodNotFound" },
	{ RPC_INVALID_PARAMS,		"InvalidParams" },
	{ RPC_INTERNAL_ERROR,		"InternalError" },
	{ RPC_E_LIMIT_EXCEEDED,		"LimitExceeded" },
	{ RPC_E_NO_SUCH_MACHINE,	"NoSuchMachine" },
	{ RPC_E_MACHINE_EXISTS,		"MachineExists" },
	{ RPC_E_BAD_STATE,		"BadState" },
	{ RPC_E_BOOT_FAILED,		"BootFailed" },
	{ RPC_E_TIMEOUT,		"Timeout" },
	{ RPC_E_NOT_SUPPORTED,		"NotSupported" },
	{ RPC_E_SAVE_IN_PROGRESS,	"SaveInProgress" },
	{ RPC_E_NO_SUCH_SNAPSHOT,	"NoSuchSnapshot" },
	{ RPC_E_SNAPSHOT_EXISTS,	"SnapshotExists" },
	{ RPC_E_BAD_SNAPSHOT,		"BadSnapshot" },
	{ RPC_E_INCOMPATIBLE,		"Incompatible" },
	{ RPC_E_IO_ERROR,		"IoError" },
	{ RPC_E_PERMISSION_DENIED,	"PermissionDenied" },
};

/* The method table's lookup (rpc_init); NULL: no method is found. */
static rpc_method_lookup	rpc_lookup;

static void	rpc_error_v(struct rpc_call *, int, struct json_object *,
		    const char *, va_list) __attribute__((format(printf, 4, 0)));

/* Stable name of an error code for error.data.name; "InternalError" for a code we never send. */
const char *
rpc_error_name(int code)
{
	size_t	i;

	for (i = 0; i < sizeof(rpc_error_names) / sizeof(rpc_error_names[0]); i++) {
		if (rpc_error_names[i].code == code)
			return (rpc_error_names[i].name);
	}
	return ("InternalError");
}

/* Build an error object {"code","message","data":{"name",...extra}}; consumes extra. */
static struct json_object *
rpc_error_object(int code, const char *message, struct json_object *extra)
{
	struct json_object	*err, *data;

	data = json_object_new_object();
	json_object_object_add(data, "name",
	    json_object_new_string(rpc_error_name(code)));
	if (extra != NULL) {
		json_object_object_foreach(extra, key, val) {
			if (strcmp(key, "name") != 0)
				json_object_object_add(data, key,
				    json_object_get(val));
		}
		json_object_put(extra);
	}
	err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	json_object_object_add(err, "data", data);
	return (err);
}

/* Build a response envelope; consumes value, takes its own reference on id. */
static struct json_object *
rpc_response(const char *key, struct json_object *value, struct json_object *id)
{
	struct json_object	*resp;

	resp = json_object_new_object();
	json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(resp, key, value);
	json_object_object_add(resp, "id", json_object_get(id));
	return (resp);
}

/* Serialize obj as one line to c (dropped if c has gone). */
static void
rpc_send(struct client *c, struct json_object *obj)
{
	const char	*s;
	size_t		 len;

	if (!server_client_is_alive(c))
		return;
	s = json_object_to_json_string_length(obj, RPC_JSON_FLAGS, &len);
	if (s == NULL)
		fatalx("json_object_to_json_string failed");
	server_client_send_line(c, s, len);
}

/* See rpc.h. */
char *
rpc_format_error(int code, const char *message)
{
	struct json_object	*resp;
	char			*line;

	resp = rpc_response("error", rpc_error_object(code, message, NULL), NULL);
	line = xstrdup(json_object_to_json_string_ext(resp, RPC_JSON_FLAGS));
	json_object_put(resp);
	return (line);
}

/* See rpc.h. */
char *
rpc_server_error_line(enum server_error why, const char *message)
{
	return (rpc_format_error(why == SERVER_ERROR_LIMIT ?
	    RPC_E_LIMIT_EXCEEDED : RPC_INVALID_REQUEST, message));
}

/* See rpc.h. */
void
rpc_init(rpc_method_lookup find)
{
	rpc_lookup = find;
}

/* A new batch, holding the dispatcher's reference. */
static struct rpc_batch *
rpc_batch_new(struct client *c)
{
	struct rpc_batch	*b;

	b = xcalloc(1, sizeof(*b));
	b->refs = 1;
	b->client = server_client_ref(c);
	b->responses = json_object_new_array();
	server_client_call_begin(c);
	return (b);
}

/* Drop a batch reference; the last one sends the collected responses (if any) and frees. */
static struct rpc_batch *
rpc_batch_unref(struct rpc_batch *b)
{
	if (b == NULL || --b->refs > 0)
		return (NULL);
	if (json_object_array_length(b->responses) > 0)
		rpc_send(b->client, b->responses);
	json_object_put(b->responses);
	server_client_call_end(b->client);
	server_client_unref(b->client);
	free(b);
	return (NULL);
}

/*
 * A new call for request (which may be anything, for envelope errors) with
 * the implicit and the dispatcher's references.  id is borrowed from request.
 */
static struct rpc_call *
rpc_call_new(struct client *c, struct rpc_batch *b, struct json_object *request,
    struct json_object *id, bool notification)
{
	struct rpc_call	*call;

	call = xcalloc(1, sizeof(*call));
	call->refs = 2;
	call->dispatching = true;
	call->notification = notification;
	call->client = server_client_ref(c);
	call->request = json_object_get(request);
	call->id = id;
	call->method = "";
	if (b != NULL && !notification) {
		b->refs++;
		call->batch = b;
	} else if (b == NULL && !notification)
		server_client_call_begin(c);
	return (call);
}

/* Take a reference to answer later (handlers return RPC_DEFERRED). */
struct rpc_call *
rpc_call_ref(struct rpc_call *call)
{
	call->refs++;
	return (call);
}

/*
 * Drop a reference.  If only the implicit one is left on an unanswered call
 * outside its handler, nobody can answer it any more: answer InternalError
 * so the client is not left waiting (this frees the call).
 */
struct rpc_call *
rpc_call_unref(struct rpc_call *call)
{
	if (call == NULL)
		return (NULL);
	if (--call->refs > 0) {
		if (call->refs == 1 && !call->answered && !call->dispatching) {
			log_warnx("%s: dropped without an answer", call->method);
			rpc_error(call, RPC_INTERNAL_ERROR,
			    "Internal error: the request was dropped without "
			    "an answer");
		}
		return (NULL);
	}
	/* Defensive: the implicit reference only goes by answering. */
	call->batch = rpc_batch_unref(call->batch);
	json_object_put(call->request);
	server_client_unref(call->client);
	free(call);
	return (NULL);
}

/* The call's connection, or NULL once it has gone away. */
struct client *
rpc_call_client(struct rpc_call *call)
{
	return (server_client_is_alive(call->client) ? call->client : NULL);
}

/* The method name ("" for an invalid request). */
const char *
rpc_call_method(struct rpc_call *call)
{
	return (call->method);
}

/*
 * Answer once: send (or add to the batch) {"jsonrpc","<key>": value,"id"},
 * then drop the implicit reference.  Consumes value.  Notifications are
 * executed but never answered on the wire.
 */
static void
rpc_answer(struct rpc_call *call, const char *key, struct json_object *value)
{
	struct json_object	*resp;

	if (call->answered) {
		log_warnx("%s: answered twice, ignoring the second answer",
		    call->method);
		json_object_put(value);
		return;
	}
	call->answered = true;
	if (call->notification) {
		json_object_put(value);
	} else {
		resp = rpc_response(key, value, call->id);
		if (call->batch != NULL) {
			json_object_array_add(call->batch->responses, resp);
			call->batch = rpc_batch_unref(call->batch);
		} else {
			rpc_send(call->client, resp);
			json_object_put(resp);
			server_client_call_end(call->client);
		}
	}
	rpc_call_unref(call);
}

/* Answer with a result; consumes result (NULL sends null). */
void
rpc_reply(struct rpc_call *call, struct json_object *result)
{
	rpc_answer(call, "result", result);
}

/* Format the message and answer with an error; consumes data. */
static void
rpc_error_v(struct rpc_call *call, int code, struct json_object *data,
    const char *fmt, va_list ap)
{
	char	*msg;

	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("vasprintf");
	if (code == RPC_INTERNAL_ERROR)
		log_warnx("%s: %s", call->method, msg);
	rpc_answer(call, "error", rpc_error_object(code, msg, data));
	free(msg);
}

/* Answer with an error. */
void
rpc_error(struct rpc_call *call, int code, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	rpc_error_v(call, code, NULL, fmt, ap);
	va_end(ap);
}

/* Answer with an error carrying extra error.data members; consumes data. */
void
rpc_error_data(struct rpc_call *call, int code, struct json_object *data,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	rpc_error_v(call, code, data, fmt, ap);
	va_end(ap);
}

/* error.data carrying a reason; see rpc.h. */
struct json_object *
rpc_reason(const char *reason)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "reason", json_object_new_string(reason));
	return (d);
}

/* Answer with an error for a failed host operation; see rpc.h. */
void
rpc_error_errno(struct rpc_call *call, int code, int err, const char *fmt, ...)
{
	struct json_object	*data;
	const char		*name;
	char			*msg;
	va_list			 ap;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	data = json_object_new_object();
	if ((name = strerrorname_np(err)) != NULL)
		json_object_object_add(data, "errno",
		    json_object_new_string(name));
	rpc_error_data(call, code, data, "%s: %s", msg, strerror(err));
	free(msg);
}

/* See rpc.h. */
void
rpc_error_limit_jobs(struct rpc_call *call)
{
	struct json_object *data = json_object_new_object();

	json_object_object_add(data, "limit", json_object_new_string("jobs"));
	json_object_object_add(data, "client_jobs",
	    json_object_new_int(WORKER_MAX_CLIENT_JOBS));
	json_object_object_add(data, "jobs", json_object_new_int(WORKER_MAX_JOBS));
	rpc_error_data(call, RPC_E_LIMIT_EXCEEDED, data, "too many jobs: at most "
	    "%d per connection and %d in all may be queued or running (export, "
	    "import, verify, info, check, list, delete, gc); try again when one "
	    "has finished",
	    WORKER_MAX_CLIENT_JOBS, WORKER_MAX_JOBS);
}

/*
 * Check the request envelope.  On success sets *ret_method, *ret_params
 * (borrowed, NULL if absent) and returns 0; otherwise returns the error code
 * and puts the message in *ret_msg (malloc'd).  *ret_id / *ret_has_id are set
 * as soon as the id is known good, so errors can still echo it.
 */
static int
rpc_check_envelope(struct json_object *req, const char **ret_method,
    struct json_object **ret_params, struct json_object **ret_id,
    bool *ret_has_id, char **ret_msg)
{
	struct json_object	*v;

	*ret_id = NULL;
	*ret_has_id = false;
	if (!json_object_is_type(req, json_type_object)) {
		*ret_msg = xstrdup("Invalid request: expected a JSON object");
		return (RPC_INVALID_REQUEST);
	}
	if (json_object_object_get_ex(req, "id", &v)) {
		switch (json_object_get_type(v)) {
		case json_type_null:
		case json_type_int:
		case json_type_double:
		case json_type_string:
			*ret_id = v;
			*ret_has_id = true;
			break;
		default:
			*ret_msg = xstrdup("Invalid request: \"id\" must be a "
			    "string, a number or null");
			return (RPC_INVALID_REQUEST);
		}
	}
	if (!json_object_object_get_ex(req, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0) {
		*ret_msg = xstrdup("Invalid request: \"jsonrpc\" must be \"2.0\"");
		return (RPC_INVALID_REQUEST);
	}
	if (!json_object_object_get_ex(req, "method", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		*ret_msg = xstrdup("Invalid request: \"method\" must be a string");
		return (RPC_INVALID_REQUEST);
	}
	*ret_method = json_object_get_string(v);
	*ret_params = NULL;
	if (json_object_object_get_ex(req, "params", &v)) {
		switch (json_object_get_type(v)) {
		case json_type_object:
		case json_type_array:	/* valid JSON-RPC; refused later as -32602 */
			*ret_params = v;
			break;
		default:
			*ret_msg = xstrdup("Invalid request: \"params\" must be "
			    "an object");
			return (RPC_INVALID_REQUEST);
		}
	}
	/* A misspelt "params" would otherwise run the method with defaults. */
	json_object_object_foreach(req, key, val) {
		(void)val;
		if (strcmp(key, "jsonrpc") != 0 && strcmp(key, "method") != 0 &&
		    strcmp(key, "params") != 0 && strcmp(key, "id") != 0) {
			*ret_msg = xasprintf("Invalid request: unknown member "
			    "\"%s\"", key);
			return (RPC_INVALID_REQUEST);
		}
	}
	return (0);
}

/* Run one request (alone or a batch member); its answer goes to c or into b. */
static void
rpc_dispatch(struct client *c, struct rpc_batch *b, struct json_object *req)
{
	const struct rpc_method	*m;
	struct json_object	*params, *id;
	struct rpc_call		*call;
	const char		*method = NULL;
	char			*msg = NULL;
	bool			 has_id;
	int			 code, r;

	code = rpc_check_envelope(req, &method, &params, &id, &has_id, &msg);
	if (code != 0) {
		/* Invalid requests are answered even without an id (JSON-RPC 2.0 §5). */
		log_debug("%s: %s", server_client_name(c), msg);
		call = rpc_call_new(c, b, req, id, false);
		call->dispatching = false;
		rpc_error(call, code, "%s", msg);
		rpc_call_unref(call);
		free(msg);
		return;
	}

	call = rpc_call_new(c, b, req, id, !has_id);
	call->method = method;
	log_debug("%s: %s%s", server_client_name(c), method,
	    has_id ? "" : " (notification)");
	if (rpc_lookup == NULL || (m = rpc_lookup(method)) == NULL) {
		rpc_error(call, RPC_METHOD_NOT_FOUND,
		    "Method not found: \"%s\"", method);
		goto out;
	}
	if (params != NULL && !json_object_is_type(params, json_type_object)) {
		rpc_error(call, RPC_INVALID_PARAMS, "Invalid params: parameters "
		    "must be passed by name, as an object");
		goto out;
	}
	r = m->fn(call, params);
	if (!call->answered) {
		if (r < 0)
			rpc_error_errno(call, RPC_INTERNAL_ERROR, r,
			    "Internal error in %s", method);
		else if (r != RPC_DEFERRED)
			rpc_error(call, RPC_INTERNAL_ERROR, "Internal error: "
			    "%s returned without an answer", method);
	}
out:
	call->dispatching = false;
	rpc_call_unref(call);
}

/* Answer a line that could not be turned into requests (id null). */
static void
rpc_line_error(struct client *c, int code, const char *message)
{
	char	*line;

	log_debug("%s: %s", server_client_name(c), message);
	line = rpc_format_error(code, message);
	server_client_send_line(c, line, strlen(line));
	free(line);
}

/* Does s follow the JSON number grammar (RFC 8259 section 6)? */
static bool
rpc_json_number_ok(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		s += strspn(s, "0123456789");
	else
		return (false);
	if (*s == '.') {
		s++;
		if (strspn(s, "0123456789") == 0)
			return (false);
		s += strspn(s, "0123456789");
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (strspn(s, "0123456789") == 0)
			return (false);
		s += strspn(s, "0123456789");
	}
	return (*s == '\0');
}

/*
 * json_c_visit callback: refuse the non-JSON numbers json-c accepts even in
 * strict mode ("NaN", "Infinity", "1.", "2.E5") and those that overflow a
 * double.  json-c re-serializes a parsed double from its original text, so
 * an id like 2.E5 would otherwise be echoed back as invalid JSON.
 */
static int
rpc_check_number(struct json_object *jso, int flags, struct json_object *parent,
    const char *key, size_t *index, void *arg)
{
	const char	**bad = arg;

	(void)flags;
	(void)parent;
	(void)key;
	(void)index;
	if (!json_object_is_type(jso, json_type_double))
		return (JSON_C_VISIT_RETURN_CONTINUE);
	if (!rpc_json_number_ok(json_object_get_string(jso)) ||
	    !isfinite(json_object_get_double(jso))) {
		*bad = json_object_get_string(jso);
		return (JSON_C_VISIT_RETURN_STOP);
	}
	return (JSON_C_VISIT_RETURN_CONTINUE);
}

/* Parse a line strictly: exactly one JSON text, valid UTF-8, bounded depth. NULL and *ret_msg on error. */
static struct json_object *
rpc_parse_line(const char *line, size_t len, char **ret_msg)
{
	struct json_tokener	*tok;
	struct json_object	*obj;
	enum json_tokener_error	 jerr;
	const char		*bad;
	size_t			 end;

	if (memchr(line, '\0', len) != NULL) {
		*ret_msg = xstrdup("Parse error: NUL byte in the request line");
		return (NULL);
	}
	if ((tok = json_tokener_new_ex(RPC_MAX_DEPTH)) == NULL)
		fatalx("json_tokener_new_ex failed");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8 | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	/* Include the terminating NUL so a bare number or literal completes. */
	obj = json_tokener_parse_ex(tok, line, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (obj == NULL) {
		*ret_msg = xasprintf("Parse error: %s at byte %zu",
		    jerr == json_tokener_continue ? "unexpected end of data" :
		    json_tokener_error_desc(jerr), end);
		return (NULL);
	}
	/* The tokener stops after one value; anything but blanks after it is garbage. */
	for (; end < len; end++) {
		if (strchr(" \t\r", line[end]) == NULL) {
			*ret_msg = xasprintf("Parse error: unexpected data "
			    "after the JSON text at byte %zu", end);
			json_object_put(obj);
			return (NULL);
		}
	}
	bad = NULL;
	if (json_c_visit(obj, 0, rpc_check_number, &bad) < 0)
		fatalx("json_c_visit failed");
	if (bad != NULL) {
		*ret_msg = xasprintf("Parse error: invalid or out-of-range "
		    "number %.32s", bad);
		json_object_put(obj);
		return (NULL);
	}
	return (obj);
}

/* One line from a client: a request or a batch.  Blank lines are ignored. */
void
rpc_process_line(struct client *c, const char *line, size_t len)
{
	struct json_object	*obj;
	struct rpc_batch	*b;
	char			*msg;
	size_t			 i, n;

	if (strspn(line, " \t\r") == len)
		return;
	if ((obj = rpc_parse_line(line, len, &msg)) == NULL) {
		rpc_line_error(c, RPC_PARSE_ERROR, msg);
		free(msg);
		return;
	}
	if (!json_object_is_type(obj, json_type_array)) {
		rpc_dispatch(c, NULL, obj);
		goto out;
	}
	n = json_object_array_length(obj);
	if (n == 0) {
		rpc_line_error(c, RPC_INVALID_REQUEST,
		    "Invalid request: empty batch");
		goto out;
	}
	if (n > RPC_MAX_BATCH) {
		msg = xasprintf("Invalid request: a batch may hold at most %d "
		    "requests, not %zu", RPC_MAX_BATCH, n);
		rpc_line_error(c, RPC_INVALID_REQUEST, msg);
		free(msg);
		goto out;
	}
	b = rpc_batch_new(c);
	for (i = 0; i < n; i++)
		rpc_dispatch(c, b, json_object_array_get_idx(obj, i));
	rpc_batch_unref(b);
out:
	json_object_put(obj);
}
