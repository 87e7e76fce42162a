/* SPDX-License-Identifier: MIT */
/*
 * JSON-RPC framing, dispatch and errors, end to end through the real
 * server.c, server-conn.c and rpc.c: a listening socket in a temp dir, real
 * client sockets, and the event loop stepped by the test while it waits for
 * answers.  Every answer is compared byte for byte.
 *
 * The method table is this file's own (the real daemon.* and events.*
 * handlers plus test.* ones that defer, fail or produce big answers), handed
 * to rpc_init as daemon.c hands the real one; test-tables checks the real
 * table.  The server's handlers are rpc.c's, as daemon.c wires them, plus a
 * disconnect handler that counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "context.h"
#include "events.h"
#include "log.h"
#include "rpc-methods.h"
#include "server.h"
#include "util.h"

#include "test.h"

static struct event_base	*base;
static char			 dir[] = "/tmp/sbuml-test-rpc.XXXXXX";
static char			 sock_path[128];

/* ---- test-only methods ---- */

struct defer_params {
	int64_t	ms;
};
static const struct rpc_param defer_table[] = {
	{ "ms", RPC_PARAM_INT, offsetof(struct defer_params, ms), RPC_PARAM_REQUIRED, 0, 10000 },
	{ NULL, 0, 0, 0, 0, 0 }
};
static int		deferred_answered;	/* deferred callbacks run */
static int		deferred_client_gone;	/* ...that found the client gone */

/* Timer: answer a deferred call, then drop our reference. */
static void
defer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct rpc_call		*call = arg;
	struct json_object	*res;

	(void)fd;
	(void)events;
	deferred_answered++;
	if (rpc_call_client(call) == NULL)
		deferred_client_gone++;
	res = json_object_new_object();
	json_object_object_add(res, "deferred", json_object_new_boolean(1));
	rpc_reply(call, res);
	rpc_call_unref(call);
}

/* test.defer {"ms": N}: answer N ms later, from a timer. */
static int
test_defer(struct rpc_call *call, struct json_object *params)
{
	struct defer_params	p = { 0 };
	struct timeval		tv;

	if (rpc_parse_params(call, params, defer_table, &p) < 0)
		return (0);
	tv.tv_sec = p.ms / 1000;
	tv.tv_usec = (p.ms % 1000) * 1000;
	if (event_base_once(base, -1, EV_TIMEOUT, defer_cb, rpc_call_ref(call),
	    &tv) == -1)
		abort();
	return (RPC_DEFERRED);
}

/* test.forget: claims to defer but keeps no reference (a handler bug). */
static int
test_forget(struct rpc_call *call, struct json_object *params)
{
	(void)call;
	(void)params;
	return (RPC_DEFERRED);
}

/* test.fail: fails with -EIO without answering. */
static int
test_fail(struct rpc_call *call, struct json_object *params)
{
	(void)call;
	(void)params;
	return (-EIO);
}

struct params_params {
	const char		*name;
	int64_t			 count;
	bool			 flag;
	struct json_object	*list;
	struct json_object	*obj;
};
static const struct rpc_param params_table[] = {
	{ "name", RPC_PARAM_STRING, offsetof(struct params_params, name), RPC_PARAM_REQUIRED, 0, 0 },
	{ "count", RPC_PARAM_INT, offsetof(struct params_params, count), 0, 1, 100 },
	{ "flag", RPC_PARAM_BOOL, offsetof(struct params_params, flag), 0, 0, 0 },
	{ "list", RPC_PARAM_ARRAY, offsetof(struct params_params, list), 0, 0, 0 },
	{ "obj", RPC_PARAM_OBJECT, offsetof(struct params_params, obj), 0, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

/* test.params: echo the parsed parameters (defaults: count 7, flag false). */
static int
test_params(struct rpc_call *call, struct json_object *params)
{
	struct params_params	 p = { NULL, 7, false, NULL, NULL };
	struct json_object	*res;

	if (rpc_parse_params(call, params, params_table, &p) < 0)
		return (0);
	res = json_object_new_object();
	json_object_object_add(res, "name", json_object_new_string(p.name));
	json_object_object_add(res, "count", json_object_new_int64(p.count));
	json_object_object_add(res, "flag", json_object_new_boolean(p.flag));
	json_object_object_add(res, "list", p.list != NULL ?
	    json_object_new_int((int)json_object_array_length(p.list)) : NULL);
	json_object_object_add(res, "obj", json_object_get(p.obj));
	rpc_reply(call, res);
	return (0);
}

struct big_params {
	int64_t	size;
};
static const struct rpc_param big_table[] = {
	{ "size", RPC_PARAM_INT, offsetof(struct big_params, size), RPC_PARAM_REQUIRED, 1, 4 << 20 },
	{ NULL, 0, 0, 0, 0, 0 }
};

/* test.big {"size": N}: a string result of N bytes. */
static int
test_big(struct rpc_call *call, struct json_object *params)
{
	struct big_params	 p = { 0 };
	char			*s;

	if (rpc_parse_params(call, params, big_table, &p) < 0)
		return (0);
	s = xmalloc((size_t)p.size);
	memset(s, 'x', (size_t)p.size);
	rpc_reply(call, json_object_new_string_len(s, (int)p.size));
	free(s);
	return (0);
}

/* The table rpc.c dispatches through, sorted like the real one. */
/* What the hand-over callback got (test.handover). */
static int		 handover_calls;
static int		 handover_fd = -2;
static char		 handover_pending[256];

static void
handover_cb(int fd, struct evbuffer *pending, void *arg)
{
	size_t	n = pending != NULL ? evbuffer_get_length(pending) : 0;

	CHECK(arg == &handover_calls);
	handover_calls++;
	handover_fd = fd;
	CHECK(n < sizeof(handover_pending));
	if (pending != NULL)
		CHECK(evbuffer_remove(pending, handover_pending,
		    sizeof(handover_pending) - 1) == (int)n);
	handover_pending[n] = '\0';
}

/* test.handover: the connection becomes a raw stream after the answer. */
static int
test_handover(struct rpc_call *call, struct json_object *params)
{
	int	r;

	(void)params;
	r = server_client_handover(rpc_call_client(call), handover_cb,
	    &handover_calls);
	if (r < 0) {
		rpc_error(call, RPC_E_BAD_STATE, "handover: %d", r);
		return (0);
	}
	rpc_reply(call, NULL);
	return (0);
}

static const struct rpc_method test_methods[] = {
	{ "daemon.ping",		rpc_daemon_ping },
	{ "daemon.set-log-level",	rpc_daemon_set_log_level },
	{ "daemon.version",		rpc_daemon_version },
	{ "events.subscribe",		rpc_events_subscribe },
	{ "events.unsubscribe",		rpc_events_unsubscribe },
	{ "test.big",			test_big },
	{ "test.defer",			test_defer },
	{ "test.fail",			test_fail },
	{ "test.forget",		test_forget },
	{ "test.handover",		test_handover },
	{ "test.params",		test_params },
};

/* rpc_init's lookup, linear: the table is tiny. */
static const struct rpc_method *
test_method_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(test_methods) / sizeof(test_methods[0]); i++) {
		if (strcmp(test_methods[i].name, name) == 0)
			return (&test_methods[i]);
	}
	return (NULL);
}

static int	disconnects;	/* server_handlers.disconnect calls */

/* server_handlers.disconnect: count the connections the server let go. */
static void
test_client_gone(struct client *c)
{
	CHECK(c != NULL);
	disconnects++;
}

static const struct server_handlers test_handlers = {
	.line = rpc_process_line,
	.disconnect = test_client_gone,
	.error_line = rpc_server_error_line,
};

/* ---- a test client ---- */

struct tc {
	int	 fd;
	char	*buf;
	size_t	 len, cap;
	int	 eof;		/* 1: EOF, 2: ECONNRESET */
};

/* Run whatever the event loop has ready, then wait up to 1 ms. */
static void
pump_once(int fd)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };

	event_base_loop(base, EVLOOP_NONBLOCK);
	(void)poll(&pfd, fd >= 0 ? 1 : 0, 1);
}

/* Keep the loop running for ms milliseconds. */
static void
pump(int ms)
{
	uint64_t	end = now_usec() + (uint64_t)ms * 1000;

	while (now_usec() < end)
		pump_once(-1);
}

/* Connect a new client and let the server accept it. */
static struct tc *
tc_connect(void)
{
	struct sockaddr_un	 sun;
	struct tc		*t;
	size_t			 before = server_client_count();
	int			 i;

	t = xcalloc(1, sizeof(*t));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sock_path);
	t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd == -1 || connect(t->fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1) {
		perror("connect");
		exit(1);
	}
	for (i = 0; i < 1000 && server_client_count() == before; i++)
		pump_once(-1);
	return (t);
}

/* Close a client. */
static void
tc_close(struct tc *t)
{
	close(t->fd);
	free(t->buf);
	free(t);
}

/* Send everything, running the loop while the socket is full. */
static void
tc_send_raw(struct tc *t, const char *s, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = send(t->fd, s, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN) {
				pump_once(-1);
				continue;
			}
			if (errno == EPIPE || errno == ECONNRESET)
				return;
			perror("send");
			exit(1);
		}
		s += n;
		len -= (size_t)n;
	}
}

/* Send a line (adds '\n'). */
static void
tc_send(struct tc *t, const char *line)
{
	tc_send_raw(t, line, strlen(line));
	tc_send_raw(t, "\n", 1);
}

/* Read what is there into the client's buffer; 0 if nothing was read. */
static int
tc_fill(struct tc *t)
{
	ssize_t	n;

	if (t->eof)
		return (0);
	if (t->cap - t->len < 65536) {
		t->cap = t->cap * 2 + 65536;
		t->buf = xrealloc(t->buf, t->cap);
	}
	n = recv(t->fd, t->buf + t->len, t->cap - t->len - 1, MSG_DONTWAIT);
	if (n == 0)
		t->eof = 1;
	else if (n == -1 && errno == ECONNRESET)
		t->eof = 2;
	else if (n == -1 && errno != EAGAIN) {
		perror("recv");
		exit(1);
	}
	if (n <= 0)
		return (0);
	t->len += (size_t)n;
	return (1);
}

/* The next answer line (malloc'd, no '\n'), or NULL on EOF or after timeout_ms. */
static char *
tc_recv(struct tc *t, int timeout_ms)
{
	uint64_t	 end = now_usec() + (uint64_t)timeout_ms * 1000;
	char		*nl, *line;
	size_t		 n;

	for (;;) {
		if (t->len > 0 && (nl = memchr(t->buf, '\n', t->len)) != NULL) {
			n = (size_t)(nl - t->buf);
			line = xmalloc(n + 1);
			memcpy(line, t->buf, n);
			line[n] = '\0';
			memmove(t->buf, nl + 1, t->len - n - 1);
			t->len -= n + 1;
			return (line);
		}
		if (t->eof || now_usec() > end)
			return (NULL);
		if (!tc_fill(t))
			pump_once(t->fd);
	}
}

/* Wait until the server has closed the connection (EOF or reset); true if it did. */
static int
tc_wait_eof(struct tc *t, int timeout_ms)
{
	uint64_t	end = now_usec() + (uint64_t)timeout_ms * 1000;

	while (!t->eof && now_usec() < end) {
		if (!tc_fill(t))
			pump_once(t->fd);
		t->len = 0;
	}
	return (t->eof != 0);
}

/* Send request and compare the single answer to want. */
static void
expect(struct tc *t, const char *request, const char *want, int line)
{
	char	*got;

	tc_send(t, request);
	got = tc_recv(t, 2000);
	if (got == NULL || strcmp(got, want) != 0)
		fprintf(stderr, "line %d: request: %s\n", line, request);
	CHECK_STR(got, want);
	free(got);
}
#define EXPECT(t, req, want)	expect(t, req, want, __LINE__)

#define PING(id)	"{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":" id "}"
#define PONG(id)	"{\"jsonrpc\":\"2.0\",\"result\":{\"pong\":true},\"id\":" id "}"
#define ERR(code, msg, data, id) \
	"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":" code ",\"message\":\"" msg \
	"\",\"data\":{" data "}},\"id\":" id "}"

/* Nothing was answered to what was sent: the next answer is the one to a ping. */
static void
expect_silence(struct tc *t, int line)
{
	char	*got;

	tc_send(t, PING("\"after\""));
	got = tc_recv(t, 2000);
	if (got == NULL || strcmp(got, PONG("\"after\"")) != 0)
		fprintf(stderr, "line %d: something was answered\n", line);
	CHECK_STR(got, PONG("\"after\""));
	free(got);
}
#define EXPECT_SILENCE(t)	expect_silence(t, __LINE__)

/* ---- the tests ---- */

/* Calls, ids, daemon.* methods. */
static void
test_calls(struct tc *t)
{
	char	want[512];

	EXPECT(t, PING("1"), PONG("1"));
	EXPECT(t, PING("\"abc\""), PONG("\"abc\""));
	EXPECT(t, PING("null"), PONG("null"));
	EXPECT(t, PING("-5"), PONG("-5"));
	EXPECT(t, PING("1.5"), PONG("1.5"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"params\":{},\"id\":2}",
	    PONG("2"));
	/* CRLF and surrounding blanks are tolerated; blank lines are skipped. */
	EXPECT(t, "  " PING("3") " \r", PONG("3"));
	EXPECT(t, "\n \t\n" PING("4"), PONG("4"));

	snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"result\":"
	    "{\"version\":\"%s\",\"api\":1,\"kernel\":\"/k/linux\","
	    "\"image\":\"/i/root.img\",\"state_dir\":\"/s\"},\"id\":1}",
	    SBUML_VERSION);
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.version\",\"id\":1}", want);

	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.set-log-level\","
	    "\"params\":{\"level\":\"debug\"},\"id\":1}",
	    "{\"jsonrpc\":\"2.0\",\"result\":{\"level\":\"debug\"},\"id\":1}");
	CHECK(log_getlevel() == LOG_LEVEL_DEBUG);
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.set-log-level\","
	    "\"params\":{\"level\":\"loud\"},\"id\":1}",
	    ERR("-32602", "Parameter \\\"level\\\" must be one of \\\"debug\\\", "
	    "\\\"info\\\", \\\"warning\\\" or \\\"error\\\"",
	    "\"name\":\"InvalidParams\",\"param\":\"level\"", "1"));
	CHECK(log_getlevel() == LOG_LEVEL_DEBUG);
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.set-log-level\","
	    "\"params\":{\"level\":\"warning\"},\"id\":1}",
	    "{\"jsonrpc\":\"2.0\",\"result\":{\"level\":\"warning\"},\"id\":1}");
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
	    "\"params\":{\"x\":1},\"id\":1}",
	    ERR("-32602", "Unknown parameter \\\"x\\\"",
	    "\"name\":\"InvalidParams\",\"param\":\"x\"", "1"));
}

/* Notifications are executed and never answered, even when they fail. */
static void
test_notifications(struct tc *t)
{
	tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\"}");
	EXPECT_SILENCE(t);
	tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.set-log-level\","
	    "\"params\":{\"level\":\"error\"}}");
	EXPECT_SILENCE(t);
	CHECK(log_getlevel() == LOG_LEVEL_ERROR);
	log_setlevel(LOG_LEVEL_WARNING);
	tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\"}");
	tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.params\",\"params\":{}}");
	tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.fail\"}");
	EXPECT_SILENCE(t);
}

/* Batches: mixed, empty, only notifications, too big. */
static void
test_batches(struct tc *t)
{
	char	*big, *p;
	int	 i;

	EXPECT(t, "[" PING("1") ",{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\"},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":2},5,"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"test.params\",\"params\":"
	    "{\"name\":\"n\"},\"id\":\"p\"}]",
	    "[" PONG("1") ","
	    ERR("-32601", "Method not found: \\\"nope\\\"",
	    "\"name\":\"MethodNotFound\"", "2") ","
	    ERR("-32600", "Invalid request: expected a JSON object",
	    "\"name\":\"InvalidRequest\"", "null") ","
	    "{\"jsonrpc\":\"2.0\",\"result\":{\"name\":\"n\",\"count\":7,"
	    "\"flag\":false,\"list\":null,\"obj\":null},\"id\":\"p\"}]");
	EXPECT(t, "[]", ERR("-32600", "Invalid request: empty batch",
	    "\"name\":\"InvalidRequest\"", "null"));
	EXPECT(t, "[ ]", ERR("-32600", "Invalid request: empty batch",
	    "\"name\":\"InvalidRequest\"", "null"));
	tc_send(t, "[{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\"},"
	    "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\"}]");
	EXPECT_SILENCE(t);

	/* 64 members are fine, 65 are not. */
	big = xmalloc(65 * 64 + 16);
	p = big;
	*p++ = '[';
	for (i = 0; i < 64; i++)
		p += sprintf(p, "%s" PING("%d"), i ? "," : "", i);
	strcpy(p, "]");
	tc_send(t, big);
	p = tc_recv(t, 2000);
	CHECK(p != NULL && p[0] == '[' && strstr(p, PONG("63") "]") != NULL);
	free(p);
	p = big + strlen(big) - 1;
	sprintf(p, "," PING("64") "]");
	EXPECT(t, big, ERR("-32600", "Invalid request: a batch may hold at "
	    "most 64 requests, not 65", "\"name\":\"InvalidRequest\"", "null"));
	free(big);
}

/* Lines that are not JSON, or not one JSON text. */
static void
test_parse_errors(struct tc *t)
{
	char	deep[200];

	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":1",
	    ERR("-32700", "Parse error: unexpected end of data at byte 46",
	    "\"name\":\"ParseError\"", "null"));
	EXPECT(t, "not json", ERR("-32700", "Parse error: null expected at "
	    "byte 1", "\"name\":\"ParseError\"", "null"));
	EXPECT(t, PING("1") " x", ERR("-32700", "Parse error: unexpected data "
	    "after the JSON text at byte 48", "\"name\":\"ParseError\"", "null"));
	EXPECT(t, PING("1") PING("2"), ERR("-32700", "Parse error: unexpected "
	    "data after the JSON text at byte 47", "\"name\":\"ParseError\"",
	    "null"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":1,}",
	    ERR("-32700", "Parse error: unexpected character at byte 47",
	    "\"name\":\"ParseError\"", "null"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\",\"id\":1}",
	    ERR("-32700", "Parse error: invalid utf-8 string at byte 27",
	    "\"name\":\"ParseError\"", "null"));
	memset(deep, '[', 40);
	memset(deep + 40, ']', 40);
	deep[80] = '\0';
	EXPECT(t, deep, ERR("-32700", "Parse error: nesting too deep at byte 32",
	    "\"name\":\"ParseError\"", "null"));
	/* Numbers json-c takes even in strict mode, but JSON does not. */
	EXPECT(t, PING("2.E5"), ERR("-32700", "Parse error: invalid or "
	    "out-of-range number 2.E5", "\"name\":\"ParseError\"", "null"));
	EXPECT(t, PING("NaN"), ERR("-32700", "Parse error: invalid or "
	    "out-of-range number NaN", "\"name\":\"ParseError\"", "null"));
	EXPECT(t, PING("1e400"), ERR("-32700", "Parse error: invalid or "
	    "out-of-range number 1e400", "\"name\":\"ParseError\"", "null"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\","
	    "\"params\":{\"a\":[-Infinity]},\"id\":1}", ERR("-32700",
	    "Parse error: invalid or out-of-range number -Infinity",
	    "\"name\":\"ParseError\"", "null"));
	EXPECT(t, PING("-1.25e-3"), PONG("-1.25e-3"));
	EXPECT(t, PING("0"), PONG("0"));
	/* A NUL byte inside the line. */
	tc_send_raw(t, "{\"a\":1}\0x\n", 10);
	{
		char	*got = tc_recv(t, 2000);

		CHECK_STR(got, ERR("-32700", "Parse error: NUL byte in the "
		    "request line", "\"name\":\"ParseError\"", "null"));
		free(got);
	}
	EXPECT(t, "42", ERR("-32600", "Invalid request: expected a JSON object",
	    "\"name\":\"InvalidRequest\"", "null"));
	EXPECT_SILENCE(t);
}

/* Well-formed JSON that is not a valid request. */
static void
test_envelope_errors(struct tc *t)
{
#define INVALID(msg, id)	ERR("-32600", "Invalid request: " msg, \
				    "\"name\":\"InvalidRequest\"", id)
	EXPECT(t, "{\"jsonrpc\":\"1.0\",\"method\":\"daemon.ping\",\"id\":1}",
	    INVALID("\\\"jsonrpc\\\" must be \\\"2.0\\\"", "1"));
	EXPECT(t, "{\"jsonrpc\":2,\"method\":\"daemon.ping\",\"id\":1}",
	    INVALID("\\\"jsonrpc\\\" must be \\\"2.0\\\"", "1"));
	EXPECT(t, "{\"method\":\"daemon.ping\",\"id\":\"x\"}",
	    INVALID("\\\"jsonrpc\\\" must be \\\"2.0\\\"", "\"x\""));
	/* Invalid requests are answered even without an id. */
	EXPECT(t, "{\"jsonrpc\":\"1.0\",\"method\":\"daemon.ping\"}",
	    INVALID("\\\"jsonrpc\\\" must be \\\"2.0\\\"", "null"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":42,\"id\":1}",
	    INVALID("\\\"method\\\" must be a string", "1"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"id\":1}",
	    INVALID("\\\"method\\\" must be a string", "1"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":[1]}",
	    INVALID("\\\"id\\\" must be a string, a number or null", "null"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":{}}",
	    INVALID("\\\"id\\\" must be a string, a number or null", "null"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":true}",
	    INVALID("\\\"id\\\" must be a string, a number or null", "null"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"params\":\"x\",\"id\":1}",
	    INVALID("\\\"params\\\" must be an object", "1"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"params\":null,\"id\":1}",
	    INVALID("\\\"params\\\" must be an object", "1"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"parmas\":{},\"id\":1}",
	    INVALID("unknown member \\\"parmas\\\"", "1"));
	/* By-position params are valid JSON-RPC, but sbumld takes them by name. */
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"params\":[1],\"id\":1}",
	    ERR("-32602", "Invalid params: parameters must be passed by name, "
	    "as an object", "\"name\":\"InvalidParams\"", "1"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"no.such.method\",\"id\":1}",
	    ERR("-32601", "Method not found: \\\"no.such.method\\\"",
	    "\"name\":\"MethodNotFound\"", "1"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"\",\"id\":1}",
	    ERR("-32601", "Method not found: \\\"\\\"",
	    "\"name\":\"MethodNotFound\"", "1"));
#undef INVALID
}

/* rpc_parse_params: every type, required, unknown, ranges. */
static void
test_params_table(struct tc *t)
{
#define CALL(params)	"{\"jsonrpc\":\"2.0\",\"method\":\"test.params\"," \
			"\"params\":" params ",\"id\":1}"
#define BADPARAM(msg, param)	ERR("-32602", msg, \
				    "\"name\":\"InvalidParams\",\"param\":\"" param "\"", "1")
	EXPECT(t, CALL("{\"name\":\"a\",\"count\":100,\"flag\":true,"
	    "\"list\":[1,2],\"obj\":{\"k\":\"v\"}}"),
	    "{\"jsonrpc\":\"2.0\",\"result\":{\"name\":\"a\",\"count\":100,"
	    "\"flag\":true,\"list\":2,\"obj\":{\"k\":\"v\"}},\"id\":1}");
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.params\",\"id\":1}",
	    BADPARAM("Missing parameter \\\"name\\\"", "name"));
	EXPECT(t, CALL("{}"), BADPARAM("Missing parameter \\\"name\\\"", "name"));
	EXPECT(t, CALL("{\"name\":\"a\",\"bogus\":1}"),
	    BADPARAM("Unknown parameter \\\"bogus\\\"", "bogus"));
	/* Unknown members are reported before missing ones. */
	EXPECT(t, CALL("{\"nmae\":\"a\"}"),
	    BADPARAM("Unknown parameter \\\"nmae\\\"", "nmae"));
	EXPECT(t, CALL("{\"name\":7}"),
	    BADPARAM("Parameter \\\"name\\\" must be a string", "name"));
	EXPECT(t, CALL("{\"name\":null}"),
	    BADPARAM("Parameter \\\"name\\\" must be a string", "name"));
	EXPECT(t, CALL("{\"name\":\"a\\u0000b\"}"),
	    BADPARAM("Parameter \\\"name\\\" must not contain NUL characters", "name"));
	EXPECT(t, CALL("{\"name\":\"a\",\"count\":\"5\"}"),
	    BADPARAM("Parameter \\\"count\\\" must be an integer", "count"));
	EXPECT(t, CALL("{\"name\":\"a\",\"count\":5.0}"),
	    BADPARAM("Parameter \\\"count\\\" must be an integer", "count"));
	EXPECT(t, CALL("{\"name\":\"a\",\"count\":0}"),
	    BADPARAM("Parameter \\\"count\\\" must be between 1 and 100", "count"));
	EXPECT(t, CALL("{\"name\":\"a\",\"count\":101}"),
	    BADPARAM("Parameter \\\"count\\\" must be between 1 and 100", "count"));
	EXPECT(t, CALL("{\"name\":\"a\",\"count\":-5}"),
	    BADPARAM("Parameter \\\"count\\\" must be between 1 and 100", "count"));
	EXPECT(t, CALL("{\"name\":\"a\",\"count\":99999999999999999999}"),
	    BADPARAM("Parameter \\\"count\\\" must be between 1 and 100", "count"));
	EXPECT(t, CALL("{\"name\":\"a\",\"flag\":1}"),
	    BADPARAM("Parameter \\\"flag\\\" must be true or false", "flag"));
	EXPECT(t, CALL("{\"name\":\"a\",\"list\":{}}"),
	    BADPARAM("Parameter \\\"list\\\" must be an array", "list"));
	EXPECT(t, CALL("{\"name\":\"a\",\"obj\":[]}"),
	    BADPARAM("Parameter \\\"obj\\\" must be an object", "obj"));
	/* Without a range, int64 limits apply; beyond them json-c would clamp. */
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.big\",\"params\":"
	    "{\"size\":99999999999},\"id\":1}",
	    BADPARAM("Parameter \\\"size\\\" must be between 1 and 4194304", "size"));
#undef CALL
#undef BADPARAM
}

/* Handlers that fail or forget their call still produce exactly one answer. */
static void
test_handler_bugs(struct tc *t)
{
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.fail\",\"id\":1}",
	    ERR("-32603", "Internal error in test.fail: Input/output error",
	    "\"name\":\"InternalError\",\"errno\":\"EIO\"", "1"));
	EXPECT(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.forget\",\"id\":1}",
	    ERR("-32603", "Internal error: the request was dropped without an "
	    "answer", "\"name\":\"InternalError\"", "1"));
}

/* Deferred answers: alone, overtaken by a quick call, inside a batch. */
static void
test_deferred(struct tc *t)
{
#define DEFER(ms, id)	"{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\"," \
			"\"params\":{\"ms\":" ms "},\"id\":" id "}"
#define DEFERRED(id)	"{\"jsonrpc\":\"2.0\",\"result\":{\"deferred\":true},\"id\":" id "}"
	EXPECT(t, DEFER("0", "1"), DEFERRED("1"));

	/* Answers come in completion order: the ping overtakes the deferred call. */
	tc_send(t, DEFER("100", "\"slow\""));
	EXPECT(t, PING("2"), PONG("2"));
	{
		char	*got = tc_recv(t, 2000);

		CHECK_STR(got, DEFERRED("\"slow\""));
		free(got);
	}

	/* A batch waits for its deferred member; members in completion order. */
	EXPECT(t, "[" DEFER("50", "1") "," PING("2") ","
	    "{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\",\"params\":{\"ms\":10}}]",
	    "[" PONG("2") "," DEFERRED("1") "]");
	/* A batch of one deferred notification: executed, never answered. */
	deferred_answered = 0;
	tc_send(t, "[{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\",\"params\":{\"ms\":10}}]");
	pump(50);
	CHECK(deferred_answered == 1);
	EXPECT_SILENCE(t);
#undef DEFER
#undef DEFERRED
}

/* The client disconnects before its deferred answer: the answer is dropped, nothing leaks. */
static void
test_deferred_gone(void)
{
	struct tc	*t = tc_connect();
	size_t		 n = server_client_count();
	int		 gone = disconnects;

	deferred_answered = deferred_client_gone = 0;
	tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\","
	    "\"params\":{\"ms\":100},\"id\":1}");
	tc_send(t, "[{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\","
	    "\"params\":{\"ms\":100},\"id\":2}," PING("3") "]");
	pump(20);
	tc_close(t);
	pump(20);
	CHECK(server_client_count() == n - 1);
	CHECK(disconnects == gone + 1);
	CHECK(deferred_answered == 0);
	pump(200);
	CHECK(deferred_answered == 2);
	CHECK(deferred_client_gone == 2);
}

/* A client that half-closes after its requests still gets every answer, then EOF. */
static void
test_half_close(void)
{
	struct tc	*t = tc_connect();
	size_t		 n;
	char		*got;

	/* A round trip first: the server has surely accepted us then. */
	tc_send(t, PING("0"));
	got = tc_recv(t, 2000);
	CHECK_STR(got, PONG("0"));
	free(got);
	n = server_client_count();
	tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\","
	    "\"params\":{\"ms\":50},\"id\":1}");
	tc_send(t, "[{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\","
	    "\"params\":{\"ms\":20},\"id\":2}]");
	tc_send(t, PING("3"));
	tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\"}");
	CHECK(shutdown(t->fd, SHUT_WR) == 0);
	got = tc_recv(t, 2000);
	CHECK_STR(got, PONG("3"));
	free(got);
	got = tc_recv(t, 2000);
	CHECK_STR(got, "[{\"jsonrpc\":\"2.0\",\"result\":{\"deferred\":true},\"id\":2}]");
	free(got);
	CHECK(server_client_count() == n);
	got = tc_recv(t, 2000);
	CHECK_STR(got, "{\"jsonrpc\":\"2.0\",\"result\":{\"deferred\":true},\"id\":1}");
	free(got);
	CHECK(tc_wait_eof(t, 2000));
	CHECK(t->eof == 1);
	pump(5);
	CHECK(server_client_count() == n - 1);
	tc_close(t);

	/* Nothing owed: closed at once. */
	t = tc_connect();
	CHECK(shutdown(t->fd, SHUT_WR) == 0);
	CHECK(tc_wait_eof(t, 2000));
	tc_close(t);
	pump(5);
	CHECK(server_client_count() == n - 1);
}

/* A line longer than SERVER_MAX_LINE: -32600, connection closed, others unaffected. */
static void
test_long_line(struct tc *other)
{
	struct tc	*t;
	char		*big, *got;
	size_t		 n = SERVER_MAX_LINE + 2;

	/* Exactly SERVER_MAX_LINE bytes before the newline is still allowed. */
	t = tc_connect();
	big = xmalloc(n);
	memset(big, ' ', n);
	memcpy(big, PING("1"), strlen(PING("1")));
	big[SERVER_MAX_LINE] = '\0';
	EXPECT(t, big, PONG("1"));

	/* One more byte, and no newline at all: refused before it ends. */
	memset(big, '[', n);
	tc_send_raw(t, big, SERVER_MAX_LINE + 1);
	got = tc_recv(t, 2000);
	CHECK_STR(got, ERR("-32600", "Invalid request: line longer than 1048576 "
	    "bytes; closing the connection", "\"name\":\"InvalidRequest\"", "null"));
	free(got);
	/* Whatever the client still sends is swallowed; it then sees a clean EOF. */
	tc_send_raw(t, big, 100000);
	CHECK(tc_wait_eof(t, 2000));
	CHECK(t->eof == 1);
	EXPECT(other, PING("\"still\""), PONG("\"still\""));
	tc_close(t);

	/* A long line whose newline arrives at once is refused too. */
	t = tc_connect();
	big[n - 1] = '\n';
	tc_send_raw(t, big, n);
	got = tc_recv(t, 2000);
	CHECK(got != NULL && strstr(got, "\"code\":-32600") != NULL);
	free(got);
	CHECK(tc_wait_eof(t, 2000));
	tc_close(t);
	free(big);
	EXPECT(other, PING("\"still\""), PONG("\"still\""));
}

/* SERVER_MAX_CLIENTS: the next connection gets one LimitExceeded line and EOF. */
static void
test_client_limit(struct tc *other)
{
	struct tc	*extra[SERVER_MAX_CLIENTS], *t;
	char		*got;
	size_t		 i, n = 0;

	while (server_client_count() < SERVER_MAX_CLIENTS)
		extra[n++] = tc_connect();
	t = tc_connect();
	got = tc_recv(t, 2000);
	CHECK_STR(got, ERR("-32000", "Too many clients (at most 64); try again "
	    "later", "\"name\":\"LimitExceeded\"", "null"));
	free(got);
	CHECK(tc_wait_eof(t, 2000));
	CHECK(t->eof == 1);
	tc_close(t);
	CHECK(server_client_count() == SERVER_MAX_CLIENTS);
	EXPECT(other, PING("5"), PONG("5"));

	/* Once one goes, a new one is welcome. */
	tc_close(extra[--n]);
	pump(20);
	t = tc_connect();
	EXPECT(t, PING("6"), PONG("6"));
	tc_close(t);
	for (i = 0; i < n; i++)
		tc_close(extra[i]);
	pump(20);
}

/* A client that never reads is cut off at SERVER_MAX_OUTPUT; the daemon carries on. */
static void
test_output_limit(struct tc *other)
{
	struct tc	*t = tc_connect();
	size_t		 n = server_client_count();
	int		 i;

	for (i = 0; i < 24 && server_client_count() == n; i++)
		tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.big\","
		    "\"params\":{\"size\":1000000},\"id\":1}");
	pump(50);
	CHECK(server_client_count() == n - 1);
	CHECK(tc_wait_eof(t, 5000));
	tc_close(t);
	EXPECT(other, PING("7"), PONG("7"));
}

/* Events go to subscribers only, until they unsubscribe. */
static void
test_events(struct tc *t)
{
	struct tc	*sub = tc_connect();
	struct json_object *params;
	char		*got;

	EXPECT(sub, "{\"jsonrpc\":\"2.0\",\"method\":\"events.subscribe\",\"id\":1}",
	    "{\"jsonrpc\":\"2.0\",\"result\":{\"subscribed\":true},\"id\":1}");
	params = json_object_new_object();
	json_object_object_add(params, "machine", json_object_new_string("demo"));
	events_broadcast("machine.state", params);
	pump(10);
	got = tc_recv(sub, 2000);
	CHECK_STR(got, "{\"jsonrpc\":\"2.0\",\"method\":\"machine.state\","
	    "\"params\":{\"machine\":\"demo\"}}");
	free(got);
	EXPECT_SILENCE(t);

	EXPECT(sub, "{\"jsonrpc\":\"2.0\",\"method\":\"events.unsubscribe\",\"id\":2}",
	    "{\"jsonrpc\":\"2.0\",\"result\":{\"subscribed\":false},\"id\":2}");
	events_broadcast("machine.state", NULL);
	EXPECT_SILENCE(sub);

	/* events_notify: one client; a NULL client drops it. */
	events_notify(NULL, "x", json_object_new_object());
	tc_close(sub);
}

/* Standalone error lines (rpc_format_error). */
static void
test_format_error(void)
{
	char	*s = rpc_format_error(RPC_E_NO_SUCH_MACHINE, "No \"x\"");

	CHECK_STR(s, ERR("-32001", "No \\\"x\\\"", "\"name\":\"NoSuchMachine\"",
	    "null"));
	free(s);
}

/* Bind (and maybe listen on) a Unix socket at path; returns the fd. */
static int
make_socket(const char *path, int do_listen)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    (do_listen && listen(fd, 1) == -1)) {
		perror("make_socket");
		exit(1);
	}
	return (fd);
}

/* Binding the path: never over a live daemon or a non-socket; a stale socket is replaced. */
static void
test_listen_path(void)
{
	struct tc	*t;
	int		 fd;

	/* Not a socket: refused and left alone. */
	snprintf(sock_path, sizeof(sock_path), "%s/file", dir);
	fd = open(sock_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(server_init(base, sock_path, &test_handlers) == -EEXIST);
	CHECK(access(sock_path, F_OK) == 0);
	unlink(sock_path);

	/* Someone listens there: refused, their socket stays. */
	snprintf(sock_path, sizeof(sock_path), "%s/live.sock", dir);
	fd = make_socket(sock_path, 1);
	CHECK(server_init(base, sock_path, &test_handlers) == -EADDRINUSE);
	CHECK(access(sock_path, F_OK) == 0);
	close(fd);
	unlink(sock_path);

	/* A stale socket (bound, nobody listening): replaced. */
	snprintf(sock_path, sizeof(sock_path), "%s/stale.sock", dir);
	close(make_socket(sock_path, 0));
	CHECK(server_init(base, sock_path, &test_handlers) == 0);
	t = tc_connect();
	EXPECT(t, PING("1"), PONG("1"));
	tc_close(t);
	pump(10);
	server_shutdown();
	CHECK(access(sock_path, F_OK) == -1 && errno == ENOENT);

	/* Too long for sun_path. */
	CHECK(server_init(base, "/tmp/" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    &test_handlers) == -ENAMETOOLONG);
}

#define HANDOVER(id) "{\"jsonrpc\":\"2.0\",\"method\":\"test.handover\",\"id\":" id "}"
#define NULL_RESULT(id) "{\"jsonrpc\":\"2.0\",\"result\":null,\"id\":" id "}"

/* Run the loop until the hand-over callback ran (or 2 s passed). */
static void
wait_handover(int calls)
{
	uint64_t	end = now_usec() + 2000000;

	while (handover_calls < calls && now_usec() < end)
		pump_once(-1);
	CHECK(handover_calls == calls);
}

/*
 * server_client_handover: after the answers, the socket is the handler's,
 * with the bytes sent behind the request; the server forgets the client.
 */
static void
test_handover_stream(void)
{
	struct tc	*t = tc_connect();
	size_t		 n = server_client_count();
	char		*got, buf[16];

	/* A deferred call before it is answered first; bytes after it are raw. */
	tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\","
	    "\"params\":{\"ms\":50},\"id\":1}");
	tc_send_raw(t, HANDOVER("2") "\n" PING("3") "\nraw", strlen(HANDOVER("2"))
	    + strlen(PING("3")) + 5);
	got = tc_recv(t, 2000);
	CHECK_STR(got, NULL_RESULT("2"));
	free(got);
	pump(10);
	CHECK(handover_calls == 0);	/* the deferred answer is still owed */
	got = tc_recv(t, 2000);
	CHECK_STR(got, "{\"jsonrpc\":\"2.0\",\"result\":{\"deferred\":true},\"id\":1}");
	free(got);
	wait_handover(1);
	CHECK(handover_fd >= 0);
	CHECK_STR(handover_pending, PING("3") "\nraw");
	pump(10);
	CHECK(server_client_count() == n - 1);
	/* Both ways, and no answer to the ping. */
	CHECK(write(handover_fd, "out", 3) == 3);
	tc_send_raw(t, "in", 2);
	pump(10);
	CHECK(read(handover_fd, buf, sizeof(buf)) == 2 && memcmp(buf, "in", 2) == 0);
	while (t->len < 3 && !t->eof)
		if (!tc_fill(t))
			pump_once(t->fd);
	CHECK(t->len == 3 && memcmp(t->buf, "out", 3) == 0);
	close(handover_fd);
	CHECK(tc_wait_eof(t, 1000));
	tc_close(t);

	/* Asked twice in one batch: the second is refused. */
	t = tc_connect();
	tc_send(t, "[" HANDOVER("4") "," HANDOVER("5") "]");
	got = tc_recv(t, 2000);
	CHECK(got != NULL && strstr(got, NULL_RESULT("4")) != NULL &&
	    strstr(got, "handover: -16") != NULL);
	free(got);
	wait_handover(2);
	CHECK(handover_fd >= 0 && handover_pending[0] == '\0');
	close(handover_fd);
	tc_close(t);

	/* The client goes before the hand-over: the callback gets -1. */
	t = tc_connect();
	tc_send(t, "{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\","
	    "\"params\":{\"ms\":100},\"id\":6}");
	tc_send(t, HANDOVER("7"));
	got = tc_recv(t, 2000);
	CHECK_STR(got, NULL_RESULT("7"));
	free(got);
	tc_close(t);
	wait_handover(3);
	CHECK(handover_fd == -1);
	pump(150);
}

/* Start a server in a temp dir, run every case against it, shut it down. */
int
main(void)
{
	struct tc	*t;
	struct stat	 st;

	signal(SIGPIPE, SIG_IGN);
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	log_init(1, LOG_LEVEL_WARNING);
	if (getenv("TEST_VERBOSE") != NULL)
		log_setlevel(LOG_LEVEL_DEBUG);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	snprintf(sock_path, sizeof(sock_path), "%s/rpc.sock", dir);
	daemon_config.kernel = "/k/linux";
	daemon_config.image = "/i/root.img";
	daemon_config.state_dir = "/s";
	daemon_config.socket_path = sock_path;

	base = event_base_new();
	rpc_init(test_method_find);
	CHECK(server_init(base, sock_path, &test_handlers) == 0);
	CHECK(stat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    (st.st_mode & 07777) == 0660);

	t = tc_connect();
	test_calls(t);
	test_notifications(t);
	test_batches(t);
	test_parse_errors(t);
	test_envelope_errors(t);
	test_params_table(t);
	test_handler_bugs(t);
	test_deferred(t);
	test_deferred_gone();
	test_handover_stream();
	test_half_close();
	test_long_line(t);
	test_client_limit(t);
	test_output_limit(t);
	test_events(t);
	test_format_error();

	/* Shut down with a client still connected: it sees EOF, our socket is unlinked. */
	pump(10);
	server_shutdown();
	CHECK(server_client_count() == 0);
	CHECK(access(sock_path, F_OK) == -1 && errno == ENOENT);
	CHECK(tc_wait_eof(t, 1000));
	tc_close(t);

	test_listen_path();

	event_base_free(base);
	CHECK(rmdir(dir) == 0);
	return (test_summary());
}
