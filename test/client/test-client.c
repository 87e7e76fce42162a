/* SPDX-License-Identifier: MIT */
/*
 * Unit test of libsbuml-client against a scripted fake JSON-RPC server
 * (libvirt's qemumonitortestutils idea): a thread listens on a Unix socket
 * in a temp dir, accepts one client and plays a script of steps: read a
 * request line, send lines (with %ID% replaced by the id of the last
 * request read), sleep, or hang up.  Requests it read are kept so the test
 * can check what the library put on the wire.
 *
 * Prints "N passed, M failed" last and exits non-zero on any failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "sbuml-client.h"

enum step_kind { S_END, S_EXPECT, S_SEND, S_RAW, S_SLEEP, S_CLOSE };

struct step {
	enum step_kind	 kind;
	const char	*text;	/* S_SEND: line without '\n'; S_RAW: bytes as is */
	int		 ms;	/* S_SLEEP */
};

#define MAX_GOT		16

struct fake {
	char		 dir[64];
	char		 path[96];
	int		 lfd;
	const struct step *script;
	pthread_t	 thread;
	char		 got[MAX_GOT][4096];	/* request lines read */
	int		 ngot;
	long long	 last_id;
	bool		 error;		/* the fake itself failed */
};

static int failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: %s: check failed: %s\n",	\
		    __FILE__, __LINE__, __func__, #cond);		\
		failures++;						\
	}								\
} while (0)

/* Sleep for ms milliseconds. */
static void
sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Read one '\n'-terminated line from fd into a malloc'd string; NULL on EOF. */
static char *
read_line(int fd)
{
	size_t len = 0, cap = 256;
	char *s = malloc(cap), *ns;
	char ch;
	ssize_t n;

	if (s == NULL)
		return NULL;
	for (;;) {
		n = read(fd, &ch, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(s);
			return NULL;
		}
		if (ch == '\n')
			break;
		if (len + 2 > cap) {
			if ((ns = realloc(s, cap *= 2)) == NULL) {
				free(s);
				return NULL;
			}
			s = ns;
		}
		s[len++] = ch;
	}
	s[len] = '\0';
	return s;
}

/* Write all of s to fd; 0 or -1. */
static int
write_all(int fd, const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, s, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send text with every %ID% replaced by id; 0 or -1. */
static int
send_templated(int fd, const char *text, long long id, bool newline)
{
	char buf[8192], num[32];
	const char *p;
	size_t len = 0, nl;

	snprintf(num, sizeof(num), "%lld", id);
	for (p = text; *p != '\0' && len < sizeof(buf) - 40; ) {
		if (strncmp(p, "%ID%", 4) == 0) {
			nl = strlen(num);
			memcpy(buf + len, num, nl);
			len += nl;
			p += 4;
		} else
			buf[len++] = *p++;
	}
	if (newline)
		buf[len++] = '\n';
	return write_all(fd, buf, len);
}

/* The fake server thread: accept one client and play the script. */
static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct json_object *req, *id;
	const struct step *s;
	char *line;
	int fd;

	fd = accept(f->lfd, NULL, NULL);
	if (fd == -1) {
		f->error = true;
		return NULL;
	}
	for (s = f->script; s->kind != S_END; s++) {
		switch (s->kind) {
		case S_EXPECT:
			line = read_line(fd);
			if (line == NULL) {
				f->error = true;
				goto out;
			}
			req = json_tokener_parse(line);
			if (req != NULL && json_object_object_get_ex(req, "id", &id))
				f->last_id = json_object_get_int64(id);
			json_object_put(req);
			if (f->ngot < MAX_GOT)
				snprintf(f->got[f->ngot++], sizeof(f->got[0]),
				    "%s", line);
			free(line);
			break;
		case S_SEND:
		case S_RAW:
			if (send_templated(fd, s->text, f->last_id,
			    s->kind == S_SEND) == -1)
				f->error = true;
			break;
		case S_SLEEP:
			sleep_ms(s->ms);
			break;
		case S_CLOSE:
			goto out;
		case S_END:
			break;
		}
	}
	/* Drain until the client hangs up, so it never sees EPIPE early. */
	while ((line = read_line(fd)) != NULL)
		free(line);
out:
	close(fd);
	return NULL;
}

/* Start a fake server playing script; its socket path is f->path. */
static int
fake_start(struct fake *f, const struct step *script)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->script = script;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sbuml-client-test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd == -1 ||
	    bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(f->lfd, 4) == -1 ||
	    pthread_create(&f->thread, NULL, fake_main, f) != 0) {
		perror("fake_start");
		return -1;
	}
	return 0;
}

/* Wait for the fake to finish and clean up; f->got stays readable. */
static void
fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	CHECK(!f->error);
}

/* Connect a client to the fake; aborts the test case on failure. */
static struct sbuml_client *
connect_fake(struct fake *f)
{
	struct sbuml_client *c = NULL;
	int r;

	r = sbuml_connect(f->path, &c);
	CHECK(r == 0);
	return r == 0 ? c : NULL;
}

/* Whether request line got[i] parses and has params equal to want_json. */
static bool
params_equal(const char *line, const char *want_json)
{
	struct json_object *req, *params, *want;
	bool eq = false;

	req = json_tokener_parse(line);
	want = json_tokener_parse(want_json);
	if (req != NULL && want != NULL &&
	    json_object_object_get_ex(req, "params", &params))
		eq = json_object_equal(params, want);
	if (!eq)
		fprintf(stderr, "  got request %s\n  want params %s\n", line,
		    want_json);
	json_object_put(req);
	json_object_put(want);
	return eq;
}

#define OK(result)	"{\"jsonrpc\":\"2.0\",\"id\":%ID%,\"result\":" result "}"

/* A plain call: result returned and owned by the caller; request well formed. */
static void
t_call_ok(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"pong\":true}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"machines\":[]}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("null"), 0 },
		{ S_END, NULL, 0 },
	};
	struct json_object *res = NULL, *req, *v, *m;
	struct sbuml_client *c;
	struct fake f;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_daemon_ping(c) == 0);
		CHECK(sbuml_last_error(c) == NULL);
		CHECK(sbuml_call(c, "machine.list", NULL, &res) == 0);
		CHECK(res != NULL && json_object_object_get_ex(res, "machines", &m) &&
		    json_object_is_type(m, json_type_array));
		json_object_put(res);
		res = (struct json_object *)1;
		CHECK(sbuml_call(c, "x.null", NULL, &res) == 0);
		CHECK(res == NULL);
		CHECK(sbuml_get_fd(c) >= 0);
		CHECK(strcmp(sbuml_get_path(c), f.path) == 0);
		c = sbuml_close(c);
	}
	fake_stop(&f);
	CHECK(f.ngot == 3);
	if (f.ngot >= 2) {
		req = json_tokener_parse(f.got[1]);
		CHECK(req != NULL);
		CHECK(json_object_object_get_ex(req, "jsonrpc", &v) &&
		    strcmp(json_object_get_string(v), "2.0") == 0);
		CHECK(json_object_object_get_ex(req, "method", &v) &&
		    strcmp(json_object_get_string(v), "machine.list") == 0);
		CHECK(json_object_object_get_ex(req, "id", &v) &&
		    json_object_is_type(v, json_type_int));
		CHECK(!json_object_object_get_ex(req, "params", &v));
		json_object_put(req);
	}
}

/* An error answer: -EREMOTEIO with code, data.name and message surfaced. */
static void
t_error(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 },
		{ S_SEND, "{\"jsonrpc\":\"2.0\",\"id\":%ID%,\"error\":{\"code\":-32001,"
		    "\"message\":\"no machine named ghost\",\"data\":{\"name\":"
		    "\"NoSuchMachine\",\"machine\":\"ghost\"}}}", 0 },
		{ S_EXPECT, NULL, 0 },
		{ S_SEND, "{\"jsonrpc\":\"2.0\",\"id\":%ID%,\"error\":{\"code\":-32601,"
		    "\"message\":\"no such method\"}}", 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"pong\":true}"), 0 },
		{ S_END, NULL, 0 },
	};
	struct json_object *res = NULL, *v;
	const struct sbuml_error *e;
	struct sbuml_client *c;
	struct fake f;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_machine_info(c, "ghost", &res) == -EREMOTEIO);
		CHECK(res == NULL);
		e = sbuml_last_error(c);
		CHECK(e != NULL);
		if (e != NULL) {
			CHECK(e->code == SBUML_E_NO_SUCH_MACHINE);
			CHECK(strcmp(e->name, "NoSuchMachine") == 0);
			CHECK(strcmp(e->message, "no machine named ghost") == 0);
			CHECK(e->data != NULL &&
			    json_object_object_get_ex(e->data, "machine", &v));
		}
		/* No data: name is "" rather than NULL. */
		CHECK(sbuml_call(c, "nope", NULL, NULL) == -EREMOTEIO);
		e = sbuml_last_error(c);
		CHECK(e != NULL && e->code == -32601 && e->name[0] == '\0' &&
		    e->data == NULL);
		/* A later success clears the error. */
		CHECK(sbuml_daemon_ping(c) == 0);
		CHECK(sbuml_last_error(c) == NULL);
		sbuml_close(c);
	}
	fake_stop(&f);
}

/* Malformed answers give -EPROTO; the connection stays usable after. */
static void
t_malformed(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 }, { S_SEND, "this is not json", 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, "{\"jsonrpc\":\"2.0\",\"id\":%ID%}", 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, "{\"id\":%ID%,\"result\":{}}", 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{}") " trailing", 0 },
		{ S_EXPECT, NULL, 0 },
		{ S_SEND, "{\"jsonrpc\":\"2.0\",\"id\":%ID%,\"error\":{\"code\":\"x\"}}", 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, "[1,2]", 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"pong\":false}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"pong\":true}"), 0 },
		{ S_END, NULL, 0 },
	};
	struct sbuml_client *c;
	struct fake f;
	int i;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		for (i = 0; i < 6; i++)
			CHECK(sbuml_call(c, "daemon.ping", NULL, NULL) == -EPROTO);
		/* Well-formed JSON-RPC, but not what daemon.ping promises. */
		CHECK(sbuml_daemon_ping(c) == -EPROTO);
		CHECK(sbuml_daemon_ping(c) == 0);
		sbuml_close(c);
	}
	fake_stop(&f);
}

/* A notification before the answer is queued and handed out later. */
static void
t_notification(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"subscribed\":true}"), 0 },
		{ S_EXPECT, NULL, 0 },
		{ S_SEND, "{\"jsonrpc\":\"2.0\",\"method\":\"machine.state\",\"params\":"
		    "{\"machine\":\"demo\",\"state\":\"paused\",\"previous\":\"running\"}}", 0 },
		{ S_SEND, "{\"jsonrpc\":\"2.0\",\"method\":\"job.progress\"}", 0 },
		{ S_SEND, OK("{\"machine\":\"demo\",\"state\":\"paused\"}"), 0 },
		{ S_SLEEP, NULL, 100 },
		{ S_END, NULL, 0 },
	};
	struct json_object *res = NULL, *params = NULL, *v;
	struct sbuml_client *c;
	struct fake f;
	char *method = NULL;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_events_subscribe(c) == 0);
		CHECK(sbuml_machine_pause(c, "demo", &res) == 0);
		CHECK(res != NULL && json_object_object_get_ex(res, "state", &v) &&
		    strcmp(json_object_get_string(v), "paused") == 0);
		json_object_put(res);

		CHECK(sbuml_next_event(c, 0, &method, &params) == 0);
		CHECK(method != NULL && strcmp(method, "machine.state") == 0);
		CHECK(params != NULL &&
		    json_object_object_get_ex(params, "machine", &v) &&
		    strcmp(json_object_get_string(v), "demo") == 0);
		free(method);
		json_object_put(params);
		method = NULL;
		params = (struct json_object *)1;
		CHECK(sbuml_next_event(c, 0, &method, &params) == 0);
		CHECK(method != NULL && strcmp(method, "job.progress") == 0);
		CHECK(params == NULL);
		free(method);
		method = NULL;
		CHECK(sbuml_next_event(c, 0, &method, NULL) == -ETIMEDOUT);
		CHECK(method == NULL);
		CHECK(sbuml_events_dropped(c) == 0);
		sbuml_close(c);
	}
	fake_stop(&f);
}

/* The daemon hangs up mid-call: an error, no crash, no SIGPIPE later. */
static void
t_disconnect(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 }, { S_RAW, "{\"jsonrpc\":", 0 }, { S_CLOSE, NULL, 0 },
		{ S_END, NULL, 0 },
	};
	struct sbuml_client *c;
	struct fake f;
	char *method = NULL;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_daemon_ping(c) == -ECONNRESET);
		fake_stop(&f);
		/* Dead handle: every later call fails the same way. */
		CHECK(sbuml_daemon_ping(c) == -ECONNRESET);
		CHECK(sbuml_machine_list(c, NULL) == -ECONNRESET);
		CHECK(sbuml_next_event(c, 100, &method, NULL) == -ECONNRESET);
		sbuml_close(c);
	} else
		fake_stop(&f);
}

/* No answer in time: -ETIMEDOUT; the late answer is dropped, not misread. */
static void
t_timeout(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 }, { S_SLEEP, NULL, 400 },
		{ S_SEND, OK("{\"n\":1}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"n\":2}"), 0 },
		{ S_EXPECT, NULL, 0 },	/* and never answer */
		{ S_END, NULL, 0 },
	};
	struct json_object *res = NULL, *v;
	struct sbuml_client *c;
	struct fake f;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_set_timeout(c, 0) == -EINVAL);
		CHECK(sbuml_get_timeout(c) == SBUML_DEFAULT_TIMEOUT_MS);
		CHECK(sbuml_set_timeout(c, 150) == 0);
		CHECK(sbuml_call(c, "slow", NULL, &res) == -ETIMEDOUT);
		CHECK(res == NULL);
		CHECK(sbuml_set_timeout(c, 5000) == 0);
		CHECK(sbuml_call(c, "fast", NULL, &res) == 0);
		CHECK(res != NULL && json_object_object_get_ex(res, "n", &v) &&
		    json_object_get_int(v) == 2);
		json_object_put(res);
		res = NULL;
		/* Per-call timeout overrides the handle's. */
		CHECK(sbuml_call_timeout(c, "slow", NULL, 100, &res) == -ETIMEDOUT);
		sbuml_close(c);
	}
	fake_stop(&f);
}

/* Connection failures map to -errno; $SBUML_SOCKET is honoured. */
static void
t_connect(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"pong\":true}"), 0 },
		{ S_END, NULL, 0 },
	};
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sbuml_client *c = NULL;
	char dir[] = "/tmp/sbuml-client-test.XXXXXX", path[96], longp[200];
	struct fake f;
	int fd;

	CHECK(sbuml_connect("/nonexistent/sbumld.sock", &c) == -ENOENT);
	CHECK(c == NULL);
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	CHECK(sbuml_connect(longp, &c) == -ENAMETOOLONG);
	CHECK(sbuml_connect(NULL, NULL) == -EINVAL);

	/* Bound but not listening: refused. */
	if (mkdtemp(dir) != NULL) {
		snprintf(path, sizeof(path), "%s/sock", dir);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		CHECK(fd != -1 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
		CHECK(sbuml_connect(path, &c) == -ECONNREFUSED);
		close(fd);
		unlink(path);
		rmdir(dir);
	} else
		failures++;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	CHECK(setenv(SBUML_SOCKET_ENV, f.path, 1) == 0);
	CHECK(sbuml_connect(NULL, &c) == 0);
	CHECK(unsetenv(SBUML_SOCKET_ENV) == 0);
	if (c != NULL) {
		CHECK(strcmp(sbuml_get_path(c), f.path) == 0);
		CHECK(sbuml_daemon_ping(c) == 0);
		c = sbuml_close(c);
	}
	fake_stop(&f);
	CHECK(sbuml_close(NULL) == NULL);
}

/* Typed helpers put the right params on the wire. */
static void
t_params(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{}"), 0 },
		{ S_END, NULL, 0 },
	};
	static const char *const disks[] = { "/tmp/a.img", "/tmp/b.img", NULL };
	struct sbuml_boot_options full = {
		.machine = "/srv/vm/demo", .image = "/img/root.img",
		.kernel = "/k/linux", .cmdline = "quiet", .mem_mb = 256,
		.disks = disks,
	};
	struct sbuml_boot_options bare = { .machine = "demo" };
	struct sbuml_client *c;
	struct fake f;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_machine_boot(c, &full, NULL) == 0);
		CHECK(sbuml_machine_boot(c, &bare, NULL) == 0);
		CHECK(sbuml_machine_halt(c, "demo", 5, NULL) == 0);
		CHECK(sbuml_machine_console(c, "demo", 0, NULL) == 0);
		CHECK(sbuml_daemon_set_log_level(c, "debug") == 0);
		CHECK(sbuml_machine_boot(c, NULL, NULL) == -EINVAL);
		CHECK(sbuml_machine_info(c, NULL, NULL) == -EINVAL);
		CHECK(sbuml_call(c, "", NULL, NULL) == -EINVAL);
		sbuml_close(c);
	}
	fake_stop(&f);
	CHECK(f.ngot == 5);
	if (f.ngot == 5) {
		CHECK(params_equal(f.got[0], "{\"machine\":\"/srv/vm/demo\","
		    "\"image\":\"/img/root.img\",\"kernel\":\"/k/linux\","
		    "\"cmdline\":\"quiet\",\"mem_mb\":256,"
		    "\"disks\":[\"/tmp/a.img\",\"/tmp/b.img\"]}"));
		CHECK(params_equal(f.got[1], "{\"machine\":\"demo\"}"));
		CHECK(params_equal(f.got[2], "{\"machine\":\"demo\",\"timeout_s\":5}"));
		CHECK(params_equal(f.got[3], "{\"machine\":\"demo\"}"));
		CHECK(params_equal(f.got[4], "{\"level\":\"debug\"}"));
	}
}

/*
 * sbuml_console_attach: the answer, then raw bytes (some in the same
 * write as the answer: handed back as pending), then EOF; the handle
 * makes no more calls.
 */
static void
t_console_attach(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 },
		{ S_RAW, "{\"jsonrpc\":\"2.0\",\"id\":%ID%,\"result\":{\"machine\":"
		    "\"demo\",\"write\":false,\"stream\":\"raw\"}}\nearly", 0 },
		{ S_SLEEP, NULL, 50 },
		{ S_RAW, " late", 0 },
		{ S_CLOSE, NULL, 0 },
		{ S_END, NULL, 0 },
	};
	struct sbuml_client *c;
	struct fake f;
	char *pending = NULL, buf[64];
	size_t npending = 0, len = 0;
	ssize_t n;
	int fd = -1;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_console_attach(c, NULL, false, &fd, &pending,
		    &npending) == -EINVAL);
		CHECK(sbuml_console_attach(c, "demo", false, &fd, &pending,
		    &npending) == 0);
		CHECK(fd >= 0 && fd != sbuml_get_fd(c));
		CHECK(npending == 5 && pending != NULL &&
		    memcmp(pending, "early", 5) == 0);
		free(pending);
		CHECK(sbuml_daemon_ping(c) == -ENOTCONN);
		sbuml_close(c);
		while (fd >= 0 && len < sizeof(buf) &&
		    (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
			len += (size_t)n;
		CHECK(len == 5 && memcmp(buf, " late", 5) == 0);
		if (fd >= 0)
			close(fd);
	}
	fake_stop(&f);
	CHECK(f.ngot == 1);
	if (f.ngot == 1)
		CHECK(params_equal(f.got[0], "{\"machine\":\"demo\",\"write\":false}"));
}

/* An answer split over several writes, with blank lines and \r\n. */
static void
t_split(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 },
		{ S_RAW, "\n{\"jsonrpc\":\"2.0\",\"id\":%ID%,", 0 }, { S_SLEEP, NULL, 50 },
		{ S_RAW, "\"result\":{\"pong\"", 0 }, { S_SLEEP, NULL, 50 },
		{ S_RAW, ":true}}\r\n", 0 },
		{ S_END, NULL, 0 },
	};
	struct sbuml_client *c;
	struct fake f;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_daemon_ping(c) == 0);
		sbuml_close(c);
	}
	fake_stop(&f);
}

/*
 * An error with "id": null (LimitExceeded at accept) answers the pending
 * call, whether the daemon has hung up before the request goes out
 * (salvaged after EPIPE) or after.
 */
static void
t_id_null(void)
{
	static const struct step script[] = {
		{ S_SEND, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,"
		    "\"message\":\"too many clients\",\"data\":{\"name\":\"LimitExceeded\"}}}", 0 },
		{ S_CLOSE, NULL, 0 },
		{ S_END, NULL, 0 },
	};
	const struct sbuml_error *e;
	struct sbuml_client *c;
	struct fake f;
	int round;

	for (round = 0; round < 2; round++) {
		if (fake_start(&f, script) < 0) {
			failures++;
			return;
		}
		if ((c = connect_fake(&f)) != NULL) {
			if (round == 1)
				fake_stop(&f);	/* hung up before we write */
			CHECK(sbuml_daemon_ping(c) == -EREMOTEIO);
			e = sbuml_last_error(c);
			CHECK(e != NULL && e->code == SBUML_E_LIMIT_EXCEEDED &&
			    strcmp(e->name, "LimitExceeded") == 0);
			CHECK(sbuml_daemon_ping(c) == -ECONNRESET);
			sbuml_close(c);
		}
		if (round == 0 || c == NULL)
			fake_stop(&f);
	}
}

/* sbuml_next_event waits for an event that comes later, then sees EOF. */
static void
t_event_wait(void)
{
	static const struct step script[] = {
		{ S_SLEEP, NULL, 100 },
		{ S_SEND, "{\"jsonrpc\":\"2.0\",\"method\":\"machine.state\",\"params\":"
		    "{\"machine\":\"m\",\"state\":\"stopped\"}}", 0 },
		{ S_SLEEP, NULL, 100 },
		{ S_CLOSE, NULL, 0 },
		{ S_END, NULL, 0 },
	};
	struct sbuml_client *c;
	struct json_object *params = NULL;
	struct fake f;
	char *method = NULL;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_next_event(c, 20, &method, NULL) == -ETIMEDOUT);
		CHECK(sbuml_next_event(c, 2000, &method, &params) == 0);
		CHECK(method != NULL && strcmp(method, "machine.state") == 0);
		free(method);
		json_object_put(params);
		method = NULL;
		CHECK(sbuml_next_event(c, -1, &method, NULL) == -ECONNRESET);
		sbuml_close(c);
	}
	fake_stop(&f);
}

#define PROGRESS(phase, bytes)						\
	"{\"jsonrpc\":\"2.0\",\"method\":\"job.progress\",\"params\":{\"job\":"	\
	"\"save\",\"machine\":\"demo\",\"snapshot\":\"/tmp/p-1\",\"phase\":\""	\
	phase "\",\"bytes\":" #bytes "}}"
#define SNAPSHOT_OBJ							\
	"{\"snapshot\":\"/tmp/p-1\",\"path\":\"/tmp/p-1\",\"state\":\"paused\","	\
	"\"timings\":{\"pause_us\":9000},\"sizes\":{\"physmem\":20000000}}"

struct progress_log {
	int		 n;
	char		 phases[8][16];
	uint64_t	 bytes[8];
	bool		 bad;		/* a member was missing */
};

/* The save progress callback of the tests: records what it is given. */
static void
record_progress(const struct sbuml_progress *p, void *userdata)
{
	struct progress_log *log = userdata;

	if (p->job == NULL || strcmp(p->job, "save") != 0 ||
	    p->machine == NULL || strcmp(p->machine, "demo") != 0 ||
	    p->snapshot == NULL || strcmp(p->snapshot, "/tmp/p-1") != 0 ||
	    p->params == NULL)
		log->bad = true;
	if (log->n < 8) {
		snprintf(log->phases[log->n], sizeof(log->phases[0]), "%s",
		    p->phase != NULL ? p->phase : "(null)");
		log->bytes[log->n] = p->bytes;
	}
	log->n++;
}

/*
 * snapshot.save with a progress callback: job.progress notifications
 * before the answer go to the callback (not the queue), other events are
 * queued, the long save outlives the handle's short timeout, the result
 * comes back; afterwards job.progress is queued again.
 */
static void
t_save_progress(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 },
		{ S_SEND, PROGRESS("capturing", 0), 0 },
		{ S_SLEEP, NULL, 300 },		/* longer than the 100 ms timeout */
		{ S_SEND, "{\"jsonrpc\":\"2.0\",\"method\":\"machine.state\",\"params\":"
		    "{\"machine\":\"demo\",\"state\":\"paused\"}}", 0 },
		{ S_SEND, PROGRESS("writing", 1048576), 0 },
		{ S_SLEEP, NULL, 200 },
		{ S_SEND, PROGRESS("done", 2097152), 0 },
		{ S_SEND, OK(SNAPSHOT_OBJ), 0 },
		{ S_EXPECT, NULL, 0 },
		{ S_SEND, PROGRESS("late", 1), 0 },
		{ S_SEND, OK("{\"pong\":true}"), 0 },
		{ S_END, NULL, 0 },
	};
	struct progress_log log = { 0 };
	struct sbuml_save_options o = {
		.prefix = "/tmp/p", .stop = true,
		.progress = record_progress, .progress_data = &log,
	};
	struct json_object *res = NULL, *params = NULL;
	struct sbuml_client *c;
	struct fake f;
	char *method = NULL;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_set_timeout(c, 100) == 0);
		CHECK(sbuml_snapshot_save(c, "demo", &o, &res) == 0);
		CHECK(res != NULL && strcmp(json_object_get_string(
		    json_object_object_get(res, "path")), "/tmp/p-1") == 0);
		json_object_put(res);
		CHECK(sbuml_get_timeout(c) == 100);
		CHECK(!log.bad);
		CHECK(log.n == 3);
		if (log.n == 3) {
			CHECK(strcmp(log.phases[0], "capturing") == 0 && log.bytes[0] == 0);
			CHECK(strcmp(log.phases[1], "writing") == 0 &&
			    log.bytes[1] == 1048576);
			CHECK(strcmp(log.phases[2], "done") == 0 &&
			    log.bytes[2] == 2097152);
		}
		/* Only the other event was queued. */
		CHECK(sbuml_next_event(c, 0, &method, &params) == 0);
		CHECK(method != NULL && strcmp(method, "machine.state") == 0);
		free(method);
		json_object_put(params);
		method = NULL;
		CHECK(sbuml_next_event(c, 0, &method, NULL) == -ETIMEDOUT);
		/* The callback belongs to the save call only. */
		CHECK(sbuml_daemon_ping(c) == 0);
		CHECK(log.n == 3);
		CHECK(sbuml_next_event(c, 0, &method, NULL) == 0);
		CHECK(method != NULL && strcmp(method, "job.progress") == 0);
		free(method);
		sbuml_close(c);
	}
	fake_stop(&f);
	CHECK(f.ngot == 2);
	if (f.ngot >= 1)
		CHECK(params_equal(f.got[0],
		    "{\"machine\":\"demo\",\"prefix\":\"/tmp/p\",\"continue\":false}"));
}

/* snapshot.save without a callback: job.progress is queued like any event. */
static void
t_save_queue(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 },
		{ S_SEND, PROGRESS("capturing", 0), 0 },
		{ S_SEND, PROGRESS("done", 2097152), 0 },
		{ S_SEND, OK(SNAPSHOT_OBJ), 0 },
		{ S_EXPECT, NULL, 0 },
		{ S_SEND, OK(SNAPSHOT_OBJ), 0 },
		{ S_END, NULL, 0 },
	};
	struct sbuml_save_options named = { .snapshot = "/tmp/p-1" };
	struct json_object *params = NULL, *v;
	struct sbuml_client *c;
	struct fake f;
	char *method = NULL;
	int i;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_snapshot_save(c, "demo", NULL, NULL) == 0);
		for (i = 0; i < 2; i++) {
			CHECK(sbuml_next_event(c, 0, &method, &params) == 0);
			CHECK(method != NULL && strcmp(method, "job.progress") == 0);
			CHECK(params != NULL &&
			    json_object_object_get_ex(params, "bytes", &v) &&
			    json_object_get_int64(v) == (i == 0 ? 0 : 2097152));
			free(method);
			json_object_put(params);
			method = NULL;
			params = NULL;
		}
		CHECK(sbuml_next_event(c, 0, &method, NULL) == -ETIMEDOUT);
		CHECK(sbuml_snapshot_save(c, "demo", &named, NULL) == 0);
		sbuml_close(c);
	}
	fake_stop(&f);
	CHECK(f.ngot == 2);
	if (f.ngot == 2) {
		CHECK(params_equal(f.got[0], "{\"machine\":\"demo\"}"));
		CHECK(params_equal(f.got[1],
		    "{\"machine\":\"demo\",\"snapshot\":\"/tmp/p-1\"}"));
	}
}

/* restore, list, info, delete: what goes on the wire, errors, bad args. */
static void
t_snapshot_calls(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"machine\":\"/tmp/vm2\","
		    "\"state\":\"paused\"}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"machine\":\"vm3\","
		    "\"state\":\"running\"}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"snapshots\":[]}"), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK(SNAPSHOT_OBJ), 0 },
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"deleted\":\"s1\"}"), 0 },
		{ S_EXPECT, NULL, 0 },
		{ S_SEND, "{\"jsonrpc\":\"2.0\",\"id\":%ID%,\"error\":{\"code\":-32010,"
		    "\"message\":\"manifest missing\",\"data\":{\"name\":"
		    "\"BadSnapshot\",\"reason\":\"manifest missing\"}}}", 0 },
		{ S_END, NULL, 0 },
	};
	struct sbuml_save_options both = { .snapshot = "a", .prefix = "b" };
	const struct sbuml_error *e;
	struct json_object *res = NULL, *v;
	struct sbuml_client *c;
	struct fake f;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		/* Refused before anything is sent. */
		CHECK(sbuml_snapshot_save(c, "demo", &both, NULL) == -EINVAL);
		CHECK(sbuml_snapshot_save(c, NULL, NULL, NULL) == -EINVAL);
		CHECK(sbuml_snapshot_save(NULL, "demo", NULL, NULL) == -EINVAL);
		CHECK(sbuml_snapshot_restore(c, NULL, "m", true, NULL) == -EINVAL);
		CHECK(sbuml_snapshot_restore(c, "s", NULL, true, NULL) == -EINVAL);
		CHECK(sbuml_snapshot_info(c, NULL, NULL) == -EINVAL);
		CHECK(sbuml_snapshot_delete(c, NULL, NULL) == -EINVAL);
		CHECK(sbuml_snapshot_list(NULL, NULL) == -EINVAL);

		/* A forever timeout stays forever. */
		CHECK(sbuml_set_timeout(c, -1) == 0);
		CHECK(sbuml_snapshot_restore(c, "s1", "/tmp/vm2", false, &res) == 0);
		CHECK(res != NULL && json_object_object_get_ex(res, "state", &v) &&
		    strcmp(json_object_get_string(v), "paused") == 0);
		json_object_put(res);
		CHECK(sbuml_snapshot_restore(c, "/tmp/p-1", "vm3", true, NULL) == 0);
		res = NULL;
		CHECK(sbuml_snapshot_list(c, &res) == 0);
		CHECK(res != NULL && json_object_object_get_ex(res, "snapshots", &v));
		json_object_put(res);
		CHECK(sbuml_snapshot_info(c, "s1", NULL) == 0);
		res = NULL;
		CHECK(sbuml_snapshot_delete(c, "s1", &res) == 0);
		json_object_put(res);
		res = NULL;
		CHECK(sbuml_snapshot_info(c, "s1", &res) == -EREMOTEIO);
		CHECK(res == NULL);
		e = sbuml_last_error(c);
		CHECK(e != NULL && e->code == SBUML_E_BAD_SNAPSHOT &&
		    strcmp(e->name, "BadSnapshot") == 0 && e->data != NULL &&
		    json_object_object_get_ex(e->data, "reason", &v));
		sbuml_close(c);
	}
	fake_stop(&f);
	CHECK(f.ngot == 6);
	if (f.ngot == 6) {
		CHECK(params_equal(f.got[0], "{\"snapshot\":\"s1\",\"machine\":"
		    "\"/tmp/vm2\",\"continue\":false}"));
		CHECK(params_equal(f.got[1], "{\"snapshot\":\"/tmp/p-1\",\"machine\":"
		    "\"vm3\",\"continue\":true}"));
		CHECK(strstr(f.got[2], "\"snapshot.list\"") != NULL &&
		    strstr(f.got[2], "params") == NULL);
		CHECK(params_equal(f.got[3], "{\"snapshot\":\"s1\"}") &&
		    strstr(f.got[3], "\"snapshot.info\"") != NULL);
		CHECK(params_equal(f.got[4], "{\"snapshot\":\"s1\"}") &&
		    strstr(f.got[4], "\"snapshot.delete\"") != NULL);
	}
}

/* sbuml_snapshot_check: the method, its params, the answer handed back. */
static void
t_snapshot_check(void)
{
	static const struct step script[] = {
		{ S_EXPECT, NULL, 0 }, { S_SEND, OK("{\"snapshot\":\"s1\","
		    "\"restorable\":false,\"checks\":[{\"check\":\"cpu\","
		    "\"ok\":false,\"detail\":\"avx512f\"}]}"), 0 },
		{ S_END, NULL, 0 },
	};
	struct json_object *res = NULL, *v;
	struct sbuml_client *c;
	struct fake f;

	if (fake_start(&f, script) < 0) {
		failures++;
		return;
	}
	if ((c = connect_fake(&f)) != NULL) {
		CHECK(sbuml_snapshot_check(c, NULL, NULL) == -EINVAL);
		CHECK(sbuml_snapshot_check(NULL, "s1", NULL) == -EINVAL);
		CHECK(sbuml_snapshot_check(c, "s1", &res) == 0);
		CHECK(res != NULL && json_object_object_get_ex(res, "restorable", &v) &&
		    !json_object_get_boolean(v));
		json_object_put(res);
		sbuml_close(c);
	}
	fake_stop(&f);
	CHECK(f.ngot == 1);
	if (f.ngot == 1)
		CHECK(params_equal(f.got[0], "{\"snapshot\":\"s1\"}") &&
		    strstr(f.got[0], "\"snapshot.check\"") != NULL);
}

/* Run every case; the last line is the tally. */
int
main(void)
{
	static const struct {
		const char	*name;
		void		(*fn)(void);
	} tests[] = {
		{ "call_ok",		t_call_ok },
		{ "error",		t_error },
		{ "malformed",		t_malformed },
		{ "notification",	t_notification },
		{ "disconnect",		t_disconnect },
		{ "timeout",		t_timeout },
		{ "connect",		t_connect },
		{ "params",		t_params },
		{ "split",		t_split },
		{ "id_null",		t_id_null },
		{ "event_wait",		t_event_wait },
		{ "save_progress",	t_save_progress },
		{ "save_queue",		t_save_queue },
		{ "snapshot_calls",	t_snapshot_calls },
		{ "snapshot_check",	t_snapshot_check },
		{ "console_attach",	t_console_attach },
	};
	int passed = 0, failed = 0, before;
	size_t i;

	/* SIGPIPE stays at its default: the library must never raise it. */
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		before = failures;
		tests[i].fn();
		if (failures == before) {
			printf("ok %zu - %s\n", i + 1, tests[i].name);
			passed++;
		} else {
			printf("not ok %zu - %s\n", i + 1, tests[i].name);
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
