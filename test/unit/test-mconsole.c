/* SPDX-License-Identifier: MIT */
/*
 * mconsole.c: the request/reply/notify codec, and the client and notify
 * listener against a scripted fake mconsole (test/fake/fake-mconsole.c):
 * encoding, multi-part and error replies, timeouts and late replies,
 * queueing with one request in flight, junk and stranger datagrams,
 * cancellation, and every notification type.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "../fake/fake-mconsole.h"
#include "log.h"
#include "mconsole.h"
#include "util.h"

#include "test.h"
#include "test-tmpdir.h"

static struct event_base	*base;
static char			 dir[] = "/tmp/smtXXXXXX";
static char			*sock_path;

/* What a client callback saw. */
struct result {
	bool	done;
	int	calls;
	int	err;
	char	text[4096];
	int	order;		/* completion order across results */
};
static int	completions;

/* Client callback: record the answer. */
static void
record_cb(int err, const char *text, void *arg)
{
	struct result	*r = arg;

	r->calls++;
	r->done = true;
	r->err = err;
	r->order = ++completions;
	snprintf(r->text, sizeof(r->text), "%s", text);
}

/* Stop the loop once a flag is set. */
static void
tick_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
}

/* Run the loop until *flag is true or ms passed; returns *flag. */
static bool
run_until(const bool *flag, unsigned int ms)
{
	uint64_t	end = now_usec() + (uint64_t)ms * 1000;
	struct event	*tick;
	struct timeval	 tv = { 0, 10000 };

	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	while (!*flag && now_usec() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return (*flag);
}

/* Run the loop for ms regardless. */
static void
run_for(unsigned int ms)
{
	bool	never = false;

	(void)run_until(&never, ms);
}

/* Request encoding and its limits. */
static void
test_encode(void)
{
	struct mconsole_request_wire	req;
	char				cmd[MCONSOLE_MAX_DATA + 1];

	CHECK(mconsole_encode_request("stop", &req) == MCONSOLE_REQUEST_HDR + 4);
	CHECK(req.magic == 0xcafebabeU && req.version == 2 && req.len == 4);
	CHECK(memcmp(req.data, "stop", 4) == 0);
	CHECK(mconsole_encode_request("", &req) == -EINVAL);
	CHECK(mconsole_encode_request("a\nb", &req) == -EINVAL);
	memset(cmd, 'x', sizeof(cmd));
	cmd[MCONSOLE_MAX_CMD] = '\0';		/* 511 bytes: the longest */
	CHECK(mconsole_encode_request(cmd, &req) == MCONSOLE_REQUEST_HDR + 511);
	cmd[MCONSOLE_MAX_CMD] = 'x';
	cmd[MCONSOLE_MAX_DATA] = '\0';		/* 512 bytes: too long */
	CHECK(mconsole_encode_request(cmd, &req) == -EMSGSIZE);
}

/* Reply decoding: UML's len counts a NUL; short/inconsistent datagrams are rejected. */
static void
test_decode_reply(void)
{
	struct mconsole_reply_wire	r;
	const char			*text;
	size_t				 len;
	int				 err, more;

	memset(&r, 0, sizeof(r));
	r.err = 1;
	r.more = 0;
	memcpy(r.data, "Not stopped", 12);
	r.len = 12;
	CHECK(mconsole_decode_reply(&r, MCONSOLE_REPLY_HDR + 12, &err, &more,
	    &text, &len) == 0);
	CHECK(err == 1 && more == 0 && len == 11 &&
	    memcmp(text, "Not stopped", 11) == 0);
	r.err = 0;
	r.more = 7;
	CHECK(mconsole_decode_reply(&r, MCONSOLE_REPLY_HDR + 12, &err, &more,
	    &text, &len) == 0 && err == 0 && more == 1);
	/* Short header, len beyond the datagram, len beyond the buffer. */
	CHECK(mconsole_decode_reply(&r, 11, &err, &more, &text, &len) == -EBADMSG);
	CHECK(mconsole_decode_reply(&r, MCONSOLE_REPLY_HDR + 5, &err, &more,
	    &text, &len) == -EBADMSG);
	r.len = MCONSOLE_MAX_DATA + 1;
	CHECK(mconsole_decode_reply(&r, sizeof(r), &err, &more, &text,
	    &len) == -EBADMSG);
	/* An empty reply (len 1: just the NUL) and len 0 are both fine. */
	r.len = 1;
	r.data[0] = '\0';
	CHECK(mconsole_decode_reply(&r, MCONSOLE_REPLY_HDR + 1, &err, &more,
	    &text, &len) == 0 && len == 0);
	r.len = 0;
	CHECK(mconsole_decode_reply(&r, MCONSOLE_REPLY_HDR, &err, &more, &text,
	    &len) == 0 && len == 0);
}

/* Notify decoding: every type, and each way a datagram can be malformed. */
static void
test_decode_notify(void)
{
	struct mconsole_notify_wire	p;
	enum mconsole_notify_type	type;
	const char			*data;
	size_t				 len;

	for (unsigned int t = 0; t < _MCONSOLE_NOTIFY_MAX; t++) {
		memset(&p, 0, sizeof(p));
		p.magic = MCONSOLE_MAGIC;
		p.version = MCONSOLE_VERSION;
		p.type = t;
		p.len = 3;
		memcpy(p.data, "abc", 3);
		CHECK(mconsole_decode_notify(&p, MCONSOLE_NOTIFY_HDR + 3, &type,
		    &data, &len) == 0);
		CHECK((unsigned int)type == t && len == 3 &&
		    memcmp(data, "abc", 3) == 0);
	}
	CHECK_STR(mconsole_notify_type_to_string(MCONSOLE_NOTIFY_SOCKET), "socket");
	CHECK_STR(mconsole_notify_type_to_string(MCONSOLE_NOTIFY_PANIC), "panic");
	CHECK_STR(mconsole_notify_type_to_string(MCONSOLE_NOTIFY_HANG), "hang");
	CHECK_STR(mconsole_notify_type_to_string(MCONSOLE_NOTIFY_USER), "user");
	CHECK_STR(mconsole_notify_type_to_string(_MCONSOLE_NOTIFY_MAX), "unknown");
	p.type = 4;
	CHECK(mconsole_decode_notify(&p, MCONSOLE_NOTIFY_HDR + 3, &type, &data,
	    &len) == -EBADMSG);
	p.type = 0;
	CHECK(mconsole_decode_notify(&p, MCONSOLE_NOTIFY_HDR - 1, &type, &data,
	    &len) == -EBADMSG);
	CHECK(mconsole_decode_notify(&p, MCONSOLE_NOTIFY_HDR + 2, &type, &data,
	    &len) == -EBADMSG);
	p.magic = 0xdeadbeef;
	CHECK(mconsole_decode_notify(&p, MCONSOLE_NOTIFY_HDR + 3, &type, &data,
	    &len) == -EBADMSG);
	p.magic = MCONSOLE_MAGIC;
	p.version = 1;
	CHECK(mconsole_decode_notify(&p, MCONSOLE_NOTIFY_HDR + 3, &type, &data,
	    &len) == -EBADMSG);
	p.version = MCONSOLE_VERSION;
	p.len = MCONSOLE_MAX_DATA + 1;
	CHECK(mconsole_decode_notify(&p, sizeof(p), &type, &data, &len) == -EBADMSG);
}

/* Plain, error and multi-part answers; the callback never runs inside send. */
static void
test_replies(void)
{
	static const char *const parts[] = { "aaa", "bbb", "ccc" };
	struct fake_mconsole	*f;
	struct mconsole		*mc;
	struct result		 r1 = { 0 }, r2 = { 0 }, r3 = { 0 };

	f = fake_mconsole_new(base, sock_path);
	CHECK(f != NULL);
	mc = mconsole_new(base, sock_path, "t");
	CHECK(mc != NULL);
	if (f == NULL || mc == NULL)
		return;

	fake_mconsole_expect1(f, "version", 0, "OK Linux 6.1.0");
	CHECK(mconsole_send(mc, "version", 1000, record_cb, &r1) == 0);
	CHECK(!r1.done);		/* never from inside mconsole_send */
	CHECK(run_until(&r1.done, 2000));
	CHECK(r1.err == 0);
	CHECK_STR(r1.text, "OK Linux 6.1.0");

	fake_mconsole_expect1(f, "go", 1, "Not stopped");
	CHECK(mconsole_send(mc, "go", 1000, record_cb, &r2) == 0);
	CHECK(run_until(&r2.done, 2000));
	CHECK(r2.err == -EREMOTEIO);
	CHECK_STR(r2.text, "Not stopped");

	fake_mconsole_expect(f, "proc meminfo", 0, parts, 3, 0);
	CHECK(mconsole_send(mc, "proc meminfo", 1000, record_cb, &r3) == 0);
	CHECK(run_until(&r3.done, 2000));
	CHECK(r3.err == 0 && r3.calls == 1);
	CHECK_STR(r3.text, "aaabbbccc");

	CHECK(fake_mconsole_remaining(f) == 0);
	CHECK(fake_mconsole_failures(f) == 0);
	CHECK(mconsole_pending(mc) == 0);
	mconsole_free(mc);
	fake_mconsole_free(f);
}

/* Three requests at once: sent one at a time, answered in order. */
static void
test_queue(void)
{
	static const char *const a[] = { "A" }, *const b[] = { "B" },
	    *const c[] = { "C" };
	struct fake_mconsole	*f;
	struct mconsole		*mc;
	struct result		 r[3];

	memset(r, 0, sizeof(r));
	f = fake_mconsole_new(base, sock_path);
	mc = mconsole_new(base, sock_path, "t");
	if (f == NULL || mc == NULL) {
		CHECK(false);
		return;
	}
	fake_mconsole_expect(f, "one", 0, a, 1, 50);
	fake_mconsole_expect(f, "two", 0, b, 1, 50);
	fake_mconsole_expect(f, "three", 0, c, 1, 10);
	completions = 0;
	CHECK(mconsole_send(mc, "one", 1000, record_cb, &r[0]) == 0);
	CHECK(mconsole_send(mc, "two", 1000, record_cb, &r[1]) == 0);
	CHECK(mconsole_send(mc, "three", 1000, record_cb, &r[2]) == 0);
	CHECK(mconsole_pending(mc) == 3);
	CHECK(run_until(&r[2].done, 3000));
	CHECK(r[0].order == 1 && r[1].order == 2 && r[2].order == 3);
	CHECK_STR(r[0].text, "A");
	CHECK_STR(r[1].text, "B");
	CHECK_STR(r[2].text, "C");
	/* The fake fails on any request sent while another is outstanding. */
	CHECK(fake_mconsole_failures(f) == 0);
	if (fake_mconsole_failures(f) != 0)
		fprintf(stderr, "  %s\n", fake_mconsole_last_error(f));

	/* The queue is bounded. */
	{
		struct result	q[MCONSOLE_MAX_QUEUE + 1];
		int		r_full;

		memset(q, 0, sizeof(q));
		for (int i = 0; i < MCONSOLE_MAX_QUEUE; i++)
			CHECK(mconsole_send(mc, "x", 1000, record_cb, &q[i]) == 0);
		r_full = mconsole_send(mc, "x", 1000, record_cb,
		    &q[MCONSOLE_MAX_QUEUE]);
		CHECK(r_full == -EAGAIN);
		/* Freeing cancels all of them, in order, before returning. */
		completions = 0;
		mconsole_free(mc);
		CHECK(q[0].done && q[0].err == -ECANCELED);
		CHECK(q[MCONSOLE_MAX_QUEUE - 1].err == -ECANCELED &&
		    q[MCONSOLE_MAX_QUEUE - 1].order == MCONSOLE_MAX_QUEUE);
		CHECK(!q[MCONSOLE_MAX_QUEUE].done);
	}
	fake_mconsole_free(f);
}

/* Timeout, then a late answer that must not be taken for the next request's. */
static void
test_timeout(void)
{
	static const char *const late[] = { "late stopped" };
	struct fake_mconsole	*f;
	struct mconsole		*mc;
	struct result		 r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	uint64_t		 t0;

	f = fake_mconsole_new(base, sock_path);
	mc = mconsole_new(base, sock_path, "t");
	if (f == NULL || mc == NULL) {
		CHECK(false);
		return;
	}
	/* Silent: no answer at all. */
	fake_mconsole_expect(f, "stop", 0, NULL, 0, 0);
	t0 = now_usec();
	CHECK(mconsole_send(mc, "stop", 100, record_cb, &r1) == 0);
	CHECK(run_until(&r1.done, 2000));
	CHECK(r1.err == -ETIMEDOUT);
	CHECK(now_usec() - t0 >= 90000);

	/* Answered 300 ms late, after a 100 ms timeout... */
	fake_mconsole_expect(f, "stop", 0, late, 1, 300);
	fake_mconsole_late(f);
	CHECK(mconsole_send(mc, "stop", 100, record_cb, &r2) == 0);
	CHECK(run_until(&r2.done, 2000));
	CHECK(r2.err == -ETIMEDOUT);
	/* ...while the next request waits 500 ms for its own answer. */
	{
		static const char *const mine[] = { "mine" };

		fake_mconsole_expect(f, "go", 0, mine, 1, 500);
	}
	CHECK(mconsole_send(mc, "go", 2000, record_cb, &r3) == 0);
	CHECK(run_until(&r3.done, 3000));
	CHECK(r3.err == 0);
	CHECK_STR(r3.text, "mine");
	/* The late answer went to the socket the client dropped. */
	CHECK(fake_mconsole_late_refused(f) == 1);
	CHECK(fake_mconsole_failures(f) == 0);
	mconsole_free(mc);
	fake_mconsole_free(f);
}

/* Junk and strangers' datagrams are ignored; a dead socket fails the send. */
static void
test_junk(void)
{
	struct fake_mconsole	*f;
	struct mconsole		*mc;
	struct result		 r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	char			*nowhere;

	f = fake_mconsole_new(base, sock_path);
	mc = mconsole_new(base, sock_path, "t");
	if (f == NULL || mc == NULL) {
		CHECK(false);
		return;
	}
	fake_mconsole_expect1(f, "version", 0, "real");
	fake_mconsole_junk_first(f);
	CHECK(mconsole_send(mc, "version", 1000, record_cb, &r1) == 0);
	CHECK(run_until(&r1.done, 2000));
	CHECK(r1.err == 0);
	CHECK_STR(r1.text, "real");

	fake_mconsole_expect1(f, "version", 0, "genuine");
	fake_mconsole_stranger_first(f);
	CHECK(mconsole_send(mc, "version", 1000, record_cb, &r2) == 0);
	CHECK(run_until(&r2.done, 2000));
	CHECK(r2.err == 0);
	CHECK_STR(r2.text, "genuine");
	CHECK(fake_mconsole_failures(f) == 0);
	mconsole_free(mc);
	fake_mconsole_free(f);

	/* No socket there: the callback gets the send error, not a timeout. */
	nowhere = xasprintf("%s/nowhere", dir);
	mc = mconsole_new(base, nowhere, "t");
	CHECK(mc != NULL);
	CHECK(mconsole_send(mc, "version", 5000, record_cb, &r3) == 0);
	CHECK(run_until(&r3.done, 1000));
	CHECK(r3.err == -ENOENT || r3.err == -ECONNREFUSED);
	mconsole_free(mc);
	free(nowhere);
}

/* A callback that frees its own client: the rest are cancelled, nothing breaks. */
static struct mconsole	*self_mc;

/* Free the client from inside its callback. */
static void
free_self_cb(int err, const char *text, void *arg)
{
	record_cb(err, text, arg);
	self_mc = mconsole_free(self_mc);
}

/* Freeing from a callback. */
static void
test_free_in_callback(void)
{
	struct fake_mconsole	*f;
	struct result		 r1 = { 0 }, r2 = { 0 };

	f = fake_mconsole_new(base, sock_path);
	self_mc = mconsole_new(base, sock_path, "t");
	if (f == NULL || self_mc == NULL) {
		CHECK(false);
		return;
	}
	fake_mconsole_expect1(f, "version", 0, "v");
	CHECK(mconsole_send(self_mc, "version", 1000, free_self_cb, &r1) == 0);
	CHECK(mconsole_send(self_mc, "stop", 1000, record_cb, &r2) == 0);
	CHECK(run_until(&r1.done, 2000));
	CHECK(r1.err == 0);
	CHECK(r2.done && r2.err == -ECANCELED);
	CHECK(self_mc == NULL);
	run_for(50);
	CHECK(fake_mconsole_failures(f) == 0);
	fake_mconsole_free(f);
}

/* What the notify callback saw. */
struct notes {
	int	count;
	int	type[8];
	char	data[8][MCONSOLE_MAX_DATA + 1];
	size_t	len[8];
	bool	done;
	int	want;
};

/* Notify callback: record. */
static void
notify_cb(enum mconsole_notify_type type, const char *data, size_t len,
    void *arg)
{
	struct notes	*n = arg;

	if (n->count < 8) {
		n->type[n->count] = (int)type;
		memcpy(n->data[n->count], data, len + 1);	/* NUL included */
		n->len[n->count] = len;
	}
	if (++n->count >= n->want)
		n->done = true;
}

/* Each notification type arrives; malformed ones are dropped; the file goes away. */
static void
test_notifier(void)
{
	struct mconsole_notifier	*nt;
	struct notes			 n;
	struct stat			 st;
	char				*path;
	int				 fd;

	memset(&n, 0, sizeof(n));
	n.want = 4;
	path = xasprintf("%s/notify.sock", dir);
	/* A stale file there (a previous daemon's socket) is replaced. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	nt = mconsole_notifier_new(base, path, notify_cb, &n);
	CHECK(nt != NULL);
	if (nt == NULL) {
		free(path);
		return;
	}
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    (st.st_mode & 0777) == 0600);

	CHECK(fake_send_notify(path, MCONSOLE_NOTIFY_SOCKET, "/x/uml/mconsole") == 0);
	CHECK(fake_send_datagram(path, "short", 5) == 0);
	{
		struct mconsole_notify_wire	bad;

		memset(&bad, 0, sizeof(bad));
		bad.magic = 0x12345678;
		bad.version = MCONSOLE_VERSION;
		CHECK(fake_send_datagram(path, &bad, MCONSOLE_NOTIFY_HDR) == 0);
		bad.magic = MCONSOLE_MAGIC;
		bad.type = 9;
		CHECK(fake_send_datagram(path, &bad, MCONSOLE_NOTIFY_HDR) == 0);
		bad.type = 0;
		bad.len = 100;		/* more than was sent */
		CHECK(fake_send_datagram(path, &bad, MCONSOLE_NOTIFY_HDR + 10) == 0);
	}
	CHECK(fake_send_notify(path, MCONSOLE_NOTIFY_PANIC, "Attempted to kill init!") == 0);
	CHECK(fake_send_notify(path, MCONSOLE_NOTIFY_HANG, "") == 0);
	CHECK(fake_send_notify(path, MCONSOLE_NOTIFY_USER, "sbuml saved 1") == 0);
	CHECK(run_until(&n.done, 2000));
	run_for(50);
	CHECK(n.count == 4);
	CHECK(n.type[0] == MCONSOLE_NOTIFY_SOCKET);
	CHECK_STR(n.data[0], "/x/uml/mconsole");
	CHECK(n.type[1] == MCONSOLE_NOTIFY_PANIC);
	CHECK_STR(n.data[1], "Attempted to kill init!");
	CHECK(n.type[2] == MCONSOLE_NOTIFY_HANG);
	CHECK(n.type[3] == MCONSOLE_NOTIFY_USER);
	CHECK_STR(n.data[3], "sbuml saved 1");
	/* The data is NUL-terminated even when the sender did not add one. */
	{
		struct mconsole_notify_wire	p;

		memset(&p, 0, sizeof(p));
		p.magic = MCONSOLE_MAGIC;
		p.version = MCONSOLE_VERSION;
		p.type = MCONSOLE_NOTIFY_USER;
		p.len = 3;
		memcpy(p.data, "xyzGARBAGE", 10);
		n.done = false;
		n.want = 5;
		CHECK(fake_send_datagram(path, &p, MCONSOLE_NOTIFY_HDR + 3) == 0);
		CHECK(run_until(&n.done, 2000));
		CHECK(n.len[4] == 3);
		CHECK_STR(n.data[4], "xyz");
	}
	mconsole_notifier_free(nt);
	CHECK(access(path, F_OK) == -1 && errno == ENOENT);
	free(path);
}

/* Run every test in a private temp dir. */
int
main(void)
{
	if (test_tmpdir_begin(dir) < 0)
		return (1);
	sock_path = xasprintf("%s/mconsole", dir);
	base = event_base_new();
	if (base == NULL)
		return (1);

	test_encode();
	test_decode_reply();
	test_decode_notify();
	test_replies();
	test_queue();
	test_timeout();
	test_junk();
	test_free_in_callback();
	test_notifier();

	event_base_free(base);
	test_tmpdir_end(dir);
	free(sock_path);
	return (test_summary());
}
