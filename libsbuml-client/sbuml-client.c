/* SPDX-License-Identifier: MIT */
/*
 * libsbuml-client: synchronous JSON-RPC 2.0 client for sbumld (doc/rpc.md).
 *
 * The socket is non-blocking and every wait goes through poll() against a
 * monotonic deadline, so no call can hang past its timeout.  Input is kept
 * in one buffer and cut into lines; each line is either the answer to the
 * call in flight (matched by id), a stale answer to a call that timed out
 * earlier (dropped), or a notification (queued for sbuml_next_event()).
 * This is a library: it never logs, never aborts and reports -errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "sbuml-client.h"

#define SBUML_EXPORT	__attribute__((visibility("default")))

/*
 * The daemon caps request lines at 1 MiB but not responses (a 10000-line
 * console answer can be large); cap what we buffer so a broken peer cannot
 * make us allocate without bound.
 */
#define LINE_MAX_BYTES	(64u * 1024 * 1024)
#define READ_CHUNK	65536

struct event {
	struct event		*next;
	char			*method;
	struct json_object	*params;	/* owned, may be NULL */
};

struct sbuml_client {
	int			 fd;
	char			*path;
	int			 timeout_ms;
	int			 dead;		/* 0, or -errno once unusable */
	int64_t			 next_id;

	char			*buf;		/* unparsed input */
	size_t			 len;
	size_t			 cap;

	struct event		*ev_head;
	struct event		*ev_tail;
	size_t			 ev_count;
	uint64_t		 ev_dropped;

	struct json_object	*err_obj;	/* owned error object, or NULL */
	struct sbuml_error	 err;		/* points into err_obj */

	/* Set only while sbuml_snapshot_save() waits: job.progress goes here. */
	sbuml_progress_fn	*progress;
	void			*progress_data;
};

/* Milliseconds of CLOCK_MONOTONIC, for deadlines. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail on Linux; 0 keeps deadlines sane anyway. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline for a timeout in ms; -1 means none. */
static int64_t
deadline_after(int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return now_ms() + timeout_ms;
}

/* Milliseconds left before deadline, as a poll() timeout. */
static int
remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Forget the error of the previous call. */
static void
error_clear(struct sbuml_client *c)
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

	error_clear(c);
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

/* Mark the connection unusable; returns r for tail calls. */
static int
client_kill(struct sbuml_client *c, int r)
{
	if (c->dead == 0)
		c->dead = r;
	return r;
}

/* Queue a notification, dropping the oldest when the queue is full. */
static int
event_push(struct sbuml_client *c, const char *method, struct json_object *params)
{
	struct event *ev, *old;

	ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return -ENOMEM;
	ev->method = strdup(method);
	if (ev->method == NULL) {
		free(ev);
		return -ENOMEM;
	}
	ev->params = params != NULL ? json_object_get(params) : NULL;

	if (c->ev_count >= SBUML_EVENT_QUEUE_MAX) {
		old = c->ev_head;
		c->ev_head = old->next;
		if (c->ev_head == NULL)
			c->ev_tail = NULL;
		free(old->method);
		json_object_put(old->params);
		free(old);
		c->ev_count--;
		c->ev_dropped++;
	}
	if (c->ev_tail != NULL)
		c->ev_tail->next = ev;
	else
		c->ev_head = ev;
	c->ev_tail = ev;
	c->ev_count++;
	return 0;
}

/* Unlink the oldest queued notification; NULL when the queue is empty. */
static struct event *
event_pop(struct sbuml_client *c)
{
	struct event *ev = c->ev_head;

	if (ev == NULL)
		return NULL;
	c->ev_head = ev->next;
	if (c->ev_head == NULL)
		c->ev_tail = NULL;
	c->ev_count--;
	return ev;
}

/*
 * Cut one complete line off the input buffer and parse it.  Returns 1 with
 * *ret_obj (caller owns), 0 when no complete line is buffered, -EPROTO for
 * a line that is not one JSON value (the line is consumed), -ENOMEM.
 */
static int
take_line(struct sbuml_client *c, struct json_object **ret_obj)
{
	struct json_tokener *tok;
	struct json_object *obj;
	char *nl;
	size_t linelen, end;
	int r = 0;

	for (;;) {
		nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl == NULL) {
			if (c->len >= LINE_MAX_BYTES)
				return client_kill(c, -EPROTO);
			return 0;
		}
		linelen = (size_t)(nl - c->buf);
		end = linelen;
		while (end > 0 && (c->buf[end - 1] == '\r' ||
		    c->buf[end - 1] == ' ' || c->buf[end - 1] == '\t'))
			end--;
		if (end > 0)
			break;
		/* Blank line: skip it. */
		memmove(c->buf, nl + 1, c->len - linelen - 1);
		c->len -= linelen + 1;
	}

	tok = json_tokener_new();
	if (tok == NULL)
		return -ENOMEM;
	obj = json_tokener_parse_ex(tok, c->buf, (int)end);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != end || obj == NULL) {
		/* Not JSON, trailing garbage, or the JSON null literal. */
		json_object_put(obj);
		r = -EPROTO;
	} else {
		*ret_obj = obj;
		r = 1;
	}
	json_tokener_free(tok);

	memmove(c->buf, nl + 1, c->len - linelen - 1);
	c->len -= linelen + 1;
	return r;
}

/*
 * Wait until the socket is readable or the deadline passes, then read what
 * is there.  Returns 0, -ETIMEDOUT, -ECONNRESET (EOF), -ENOMEM or -errno.
 */
static int
fill(struct sbuml_client *c, int64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	ssize_t n;
	size_t ncap;
	char *nbuf;
	int r;

	for (;;) {
		r = poll(&pfd, 1, remaining_ms(deadline));
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;

		if (c->cap - c->len < READ_CHUNK) {
			ncap = c->len + READ_CHUNK;
			nbuf = realloc(c->buf, ncap);
			if (nbuf == NULL)
				return -ENOMEM;
			c->buf = nbuf;
			c->cap = ncap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ECONNRESET || errno == EPIPE)
				return client_kill(c, -ECONNRESET);
			return client_kill(c, -errno);
		}
		if (n == 0)
			return client_kill(c, -ECONNRESET);
		c->len += (size_t)n;
		return 0;
	}
}

/*
 * Send part of a request; pass_fd >= 0 rides along (SCM_RIGHTS) with the
 * first bytes, so the daemon has it before it reads the line.
 */
static ssize_t
send_part(struct sbuml_client *c, const char *data, size_t len, int pass_fd)
{
	/* sendmsg() only reads iov_base; the cast drops const through uintptr_t. */
	struct iovec iov = { (void *)(uintptr_t)data, len };
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr msg;
	struct cmsghdr *cm;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (pass_fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.space;
		msg.msg_controllen = sizeof(ctl.space);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	/* MSG_NOSIGNAL: a library must not kill its caller with SIGPIPE. */
	return sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Write all of data before the deadline; a partial write kills the handle. */
static int
send_all(struct sbuml_client *c, const char *data, size_t len, int pass_fd,
    int64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
	size_t off = 0;
	ssize_t n;
	int r;

	while (off < len) {
		n = send_part(c, data + off, len - off, off == 0 ? pass_fd : -1);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EPIPE || errno == ECONNRESET)
			return client_kill(c, -ECONNRESET);
		if (errno != EAGAIN)
			return client_kill(c, -errno);
		r = poll(&pfd, 1, remaining_ms(deadline));
		if (r == -1 && errno != EINTR)
			return client_kill(c, -errno);
		if (r == 0) {
			/* Half a request on the wire desynchronises the stream. */
			if (off > 0)
				return client_kill(c, -ETIMEDOUT);
			return -ETIMEDOUT;
		}
	}
	return 0;
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
static int
dispatch(struct sbuml_client *c, struct json_object *obj, int64_t want_id,
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
		return event_push(c, json_object_get_string(method), params);
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
	error_clear(c);
	return c->dead;
}

/* Add a member, taking ownership of v even on failure; 0 or -ENOMEM. */
static int
add_value(struct json_object *obj, const char *key, struct json_object *v)
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
static int
add_int(struct json_object *obj, const char *key, int64_t v)
{
	return add_value(obj, key, json_object_new_int64(v));
}

/* Add a string member unless s is NULL; returns 0 or -ENOMEM. */
static int
add_str(struct json_object *obj, const char *key, const char *s)
{
	if (s == NULL)
		return 0;
	return add_value(obj, key, json_object_new_string(s));
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
	if (add_str(req, "jsonrpc", "2.0") < 0 || add_int(req, "id", id) < 0 ||
	    add_str(req, "method", method) < 0)
		goto out;
	/* object_add steals a reference: take one so the caller keeps its own. */
	if (params != NULL && add_value(req, "params", json_object_get(params)) < 0)
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
	r = send_all(c, line, len + 1, pass_fd, deadline);
out:
	free(line);
	json_object_put(req);
	return r;
}

/*
 * Read the next message before the deadline: 1 with *ret_obj (caller owns)
 * or -errno.  stop_if_dead: a dead handle returns c->dead instead of
 * reading on once its buffered lines are used up.
 */
static int
next_message(struct sbuml_client *c, int64_t deadline, bool stop_if_dead,
    struct json_object **ret_obj)
{
	int r;

	while ((r = take_line(c, ret_obj)) == 0) {
		if (stop_if_dead && c->dead != 0)
			return c->dead;
		if ((r = fill(c, deadline)) < 0)
			return r;
	}
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
		if (next_message(c, deadline_after(0), false, &obj) < 0)
			return r;
		t = dispatch(c, obj, -1, NULL);
		json_object_put(obj);
		if (t == -EREMOTEIO)
			return t;
	}
}

/* Connect to the daemon socket; see sbuml-client.h. */
SBUML_EXPORT int
sbuml_connect(const char *path, struct sbuml_client **ret_client)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sbuml_client *c;
	int fd, flags, r;

	if (ret_client == NULL)
		return -EINVAL;
	if (path == NULL || *path == '\0')
		path = getenv(SBUML_SOCKET_ENV);
	if (path == NULL || *path == '\0')
		path = SBUML_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->fd = -1;
	c->timeout_ms = SBUML_DEFAULT_TIMEOUT_MS;
	c->next_id = 1;
	c->path = strdup(path);
	if (c->path == NULL) {
		r = -ENOMEM;
		goto fail;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		r = -errno;
		goto fail;
	}
	c->fd = fd;
	/* Blocking connect: a Unix socket connects at once or fails. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		r = -errno;
		goto fail;
	}
	/* Non-blocking from now on: every wait is a poll() with a deadline. */
	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		r = -errno;
		goto fail;
	}
	*ret_client = c;
	return 0;
fail:
	sbuml_close(c);
	return r;
}

/* Close the socket and free everything the handle owns. */
SBUML_EXPORT struct sbuml_client *
sbuml_close(struct sbuml_client *c)
{
	struct event *ev;

	if (c == NULL)
		return NULL;
	/* close() errors cannot be acted on here; the fd is gone either way. */
	if (c->fd != -1)
		(void)close(c->fd);
	while ((ev = event_pop(c)) != NULL) {
		free(ev->method);
		json_object_put(ev->params);
		free(ev);
	}
	error_clear(c);
	free(c->buf);
	free(c->path);
	free(c);
	return NULL;
}

/* Set the per-call timeout (ms, negative: none). */
SBUML_EXPORT int
sbuml_set_timeout(struct sbuml_client *c, int timeout_ms)
{
	if (c == NULL || timeout_ms == 0)
		return -EINVAL;
	c->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
	return 0;
}

/* The per-call timeout in ms. */
SBUML_EXPORT int
sbuml_get_timeout(const struct sbuml_client *c)
{
	return c != NULL ? c->timeout_ms : -EINVAL;
}

/* The socket, for poll() by callers with an event loop. */
SBUML_EXPORT int
sbuml_get_fd(const struct sbuml_client *c)
{
	return c != NULL ? c->fd : -EINVAL;
}

/* The socket path the handle connected to. */
SBUML_EXPORT const char *
sbuml_get_path(const struct sbuml_client *c)
{
	return c != NULL ? c->path : NULL;
}

/* The error object of the last -EREMOTEIO, or NULL. */
SBUML_EXPORT const struct sbuml_error *
sbuml_last_error(const struct sbuml_client *c)
{
	if (c == NULL || c->err_obj == NULL)
		return NULL;
	return &c->err;
}

/* Notifications dropped because the queue was full. */
SBUML_EXPORT uint64_t
sbuml_events_dropped(const struct sbuml_client *c)
{
	return c != NULL ? c->ev_dropped : 0;
}

/* Send one request (passing pass_fd if >= 0) and wait for its answer. */
static int
call_fd(struct sbuml_client *c, const char *method, struct json_object *params,
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

	deadline = deadline_after(timeout_ms);
	id = c->next_id++;
	if ((r = send_request(c, id, method, params, pass_fd, deadline)) < 0)
		return r == -ECONNRESET ? salvage_error(c, r) : r;

	for (;;) {
		if ((r = next_message(c, deadline, false, &obj)) < 0)
			return r;
		r = dispatch(c, obj, id, &result);
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
	return call_fd(c, method, params, -1, timeout_ms, ret_result);
}

/* As sbuml_call_timeout(), passing the descriptor fd with the request. */
SBUML_EXPORT int
sbuml_call_with_fd(struct sbuml_client *c, const char *method,
    struct json_object *params, int fd, int timeout_ms,
    struct json_object **ret_result)
{
	if (fd < 0)
		return -EBADF;
	return call_fd(c, method, params, fd, timeout_ms, ret_result);
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

/* Hand out the oldest queued notification, reading more if needed. */
SBUML_EXPORT int
sbuml_next_event(struct sbuml_client *c, int timeout_ms, char **ret_method,
    struct json_object **ret_params)
{
	struct json_object *obj = NULL;
	struct event *ev;
	int64_t deadline;
	int r;

	if (c == NULL || ret_method == NULL)
		return -EINVAL;
	error_clear(c);
	deadline = deadline_after(timeout_ms);
	while (c->ev_head == NULL) {
		/* A dead handle still hands out what it got before dying. */
		if ((r = next_message(c, deadline, true, &obj)) < 0)
			return r;
		r = dispatch(c, obj, -1, NULL);
		json_object_put(obj);
		if (r < 0)
			return r;
	}

	ev = event_pop(c);
	*ret_method = ev->method;
	if (ret_params != NULL)
		*ret_params = ev->params;
	else
		json_object_put(ev->params);
	free(ev);
	return 0;
}

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
	r = add_str(params, key, value);
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

/* events.subscribe. */
SBUML_EXPORT int
sbuml_events_subscribe(struct sbuml_client *c)
{
	return sbuml_call(c, "events.subscribe", NULL, NULL);
}

/* events.unsubscribe. */
SBUML_EXPORT int
sbuml_events_unsubscribe(struct sbuml_client *c)
{
	return sbuml_call(c, "events.unsubscribe", NULL, NULL);
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

/* machine.boot; only the options that are set go on the wire. */
SBUML_EXPORT int
sbuml_machine_boot(struct sbuml_client *c, const struct sbuml_boot_options *o,
    struct json_object **ret_result)
{
	struct json_object *params, *disks, *disk;
	size_t i;
	int r;

	if (c == NULL || o == NULL || o->machine == NULL)
		return -EINVAL;
	params = json_object_new_object();
	if (params == NULL)
		return -ENOMEM;
	if ((r = add_str(params, "machine", o->machine)) < 0 ||
	    (r = add_str(params, "image", o->image)) < 0 ||
	    (r = add_str(params, "kernel", o->kernel)) < 0 ||
	    (r = add_str(params, "cmdline", o->cmdline)) < 0)
		goto out;
	if (o->mem_mb != 0 && (r = add_int(params, "mem_mb", o->mem_mb)) < 0)
		goto out;
	if (o->disks != NULL && o->disks[0] != NULL) {
		disks = json_object_new_array();
		if ((r = add_value(params, "disks", disks)) < 0)
			goto out;
		for (i = 0; o->disks[i] != NULL; i++) {
			disk = json_object_new_string(o->disks[i]);
			if (disk == NULL || json_object_array_add(disks, disk) != 0) {
				json_object_put(disk);
				r = -ENOMEM;
				goto out;
			}
		}
	}
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
	if ((r = add_str(params, "machine", machine)) < 0 ||
	    (timeout_s != 0 && (r = add_int(params, "timeout_s", timeout_s)) < 0))
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
	if ((r = add_str(params, "machine", machine)) == 0 &&
	    (lines == 0 || (r = add_int(params, "lines", lines)) == 0))
		r = sbuml_call(c, "machine.console", params, ret_result);
	json_object_put(params);
	return r;
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

/* Add a boolean member; returns 0 or -ENOMEM. */
static int
add_bool(struct json_object *obj, const char *key, bool v)
{
	return add_value(obj, key, json_object_new_boolean(v));
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
	if ((r = add_str(params, "machine", machine)) < 0 ||
	    (r = add_str(params, "snapshot", o->snapshot)) < 0 ||
	    (r = add_str(params, "prefix", o->prefix)) < 0 ||
	    (o->stop && (r = add_bool(params, "continue", false)) < 0) ||
	    (o->raw && (r = add_bool(params, "store", false)) < 0))
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
	struct json_object *params;
	int r;

	if (c == NULL || snapshot == NULL || machine == NULL)
		return -EINVAL;
	params = json_object_new_object();
	if (params == NULL)
		return -ENOMEM;
	if ((r = add_str(params, "snapshot", snapshot)) == 0 &&
	    (r = add_str(params, "machine", machine)) == 0 &&
	    (r = add_bool(params, "continue", cont)) == 0)
		r = sbuml_call_timeout(c, "snapshot.restore", params,
		    snapshot_timeout(c), ret_result);
	json_object_put(params);
	return r;
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

	if (c == NULL || t == NULL || (t->fd >= 0) == (t->file != NULL))
		return -EINVAL;
	if ((params = json_object_new_object()) == NULL)
		return -ENOMEM;
	if ((r = add_str(params, "snapshot", t->snapshot)) < 0 ||
	    (r = add_str(params, "base", t->base)) < 0 ||
	    (r = add_str(params, "file", t->file)) < 0 ||
	    (t->fd >= 0 && (r = add_bool(params, "fd", true)) < 0))
		goto out;
	r = call_fd(c, method, params, t->fd, snapshot_timeout(c), ret_result);
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

/* store.gc. */
SBUML_EXPORT int
sbuml_store_gc(struct sbuml_client *c, struct json_object **ret_result)
{
	if (c == NULL)
		return -EINVAL;
	return sbuml_call_timeout(c, "store.gc", NULL, snapshot_timeout(c),
	    ret_result);
}
