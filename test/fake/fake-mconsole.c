/* SPDX-License-Identifier: MIT */
/*
 * Scripted fake mconsole server; see fake-mconsole.h.  Replies are built
 * exactly as UML's mconsole_reply_len does: len counts a trailing NUL and
 * only the datagram's used bytes are sent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "fake-mconsole.h"
#include "mconsole.h"

#define FAKE_MAX_ITEMS	64

struct fake_item {
	char		 cmd[MCONSOLE_MAX_DATA];
	int		 err;
	char		*parts[FAKE_MAX_PARTS];
	size_t		 nparts;
	unsigned int	 delay_ms;
	bool		 junk_first;
	bool		 stranger_first;
	bool		 late;
	/* Filled when the request arrives. */
	struct sockaddr_un from;
	socklen_t	 fromlen;
	struct event	*ev;
	struct fake_mconsole *f;
};

struct fake_mconsole {
	struct event_base	*base;
	char			*path;
	int			 fd;
	struct event		*ev_read;
	struct fake_item	 items[FAKE_MAX_ITEMS];
	size_t			 nitems, next;
	int			 outstanding;
	int			 failures;
	int			 late_refused;
	char			 last_error[256];
};

/* Record a problem. */
static void __attribute__((format(printf, 2, 3)))
fake_fail(struct fake_mconsole *f, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(f->last_error, sizeof(f->last_error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fake-mconsole: %s\n", f->last_error);
	f->failures++;
}

/* Send a reply part to the item's client, the way UML builds it. */
static void
fake_send_part(struct fake_mconsole *f, int fd, const struct fake_item *it,
    int err, int more, const char *text)
{
	struct mconsole_reply_wire	r;
	size_t				len = strlen(text);

	if (len > MCONSOLE_MAX_DATA - 1)
		len = MCONSOLE_MAX_DATA - 1;
	memset(&r, 0, sizeof(r));
	r.err = (uint32_t)err;
	r.more = (uint32_t)more;
	memcpy(r.data, text, len);
	r.data[len] = '\0';
	r.len = (uint32_t)len + 1;
	if (sendto(fd, &r, MCONSOLE_REPLY_HDR + r.len, 0,
	    (const struct sockaddr *)&it->from, it->fromlen) == -1) {
		/* A late answer finds the client's old socket gone: good. */
		if (it->late && errno == ECONNREFUSED)
			f->late_refused++;
		else
			fake_fail(f, "sendto client: %s", strerror(errno));
	}
}

/* Answer an item (now or after its delay). */
static void
fake_answer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct fake_item	*it = arg;
	struct fake_mconsole	*f = it->f;
	int			 s;

	(void)fd;
	(void)events;
	if (it->junk_first) {
		static const char junk[5] = "junk";

		if (sendto(f->fd, junk, sizeof(junk), 0,
		    (const struct sockaddr *)&it->from, it->fromlen) == -1)
			fake_fail(f, "sendto junk: %s", strerror(errno));
	}
	if (it->stranger_first) {
		/* A bound socket elsewhere: the client must ignore it. */
		struct sockaddr_un	sun;

		s = socket(AF_UNIX, SOCK_DGRAM, 0);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (s == -1 || bind(s, (struct sockaddr *)&sun,
		    sizeof(sa_family_t)) == -1)
			fake_fail(f, "stranger socket: %s", strerror(errno));
		else
			fake_send_part(f, s, it, 0, 0, "from a stranger");
		if (s != -1)
			close(s);
	}
	for (size_t i = 0; i < it->nparts; i++)
		fake_send_part(f, f->fd, it, i == 0 ? it->err : 0,
		    i + 1 < it->nparts, it->parts[i]);
	if (!it->late)
		f->outstanding--;
}

/* A request arrived: check it against the script. */
static void
fake_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct fake_mconsole		*f = arg;
	struct mconsole_request_wire	 req;
	struct sockaddr_un		 from;
	struct fake_item		*it;
	struct timeval			 tv;
	socklen_t			 fromlen;
	char				 cmd[MCONSOLE_MAX_DATA + 1];
	ssize_t				 n;

	(void)events;
	for (;;) {
		fromlen = sizeof(from);
		n = recvfrom(fd, &req, sizeof(req), 0, (struct sockaddr *)&from,
		    &fromlen);
		if (n == -1)
			return;
		if (n < MCONSOLE_REQUEST_HDR || req.magic != MCONSOLE_MAGIC ||
		    req.version != MCONSOLE_VERSION ||
		    req.len != (size_t)n - MCONSOLE_REQUEST_HDR ||
		    req.len >= MCONSOLE_MAX_DATA) {
			fake_fail(f, "badly encoded request (%zd bytes)", n);
			continue;
		}
		memcpy(cmd, req.data, req.len);
		cmd[req.len] = '\0';
		if (f->outstanding > 0)
			fake_fail(f, "\"%s\" sent while another request is "
			    "outstanding", cmd);
		if (f->next >= f->nitems) {
			fake_fail(f, "unexpected command \"%s\"", cmd);
			continue;
		}
		it = &f->items[f->next++];
		if (strcmp(it->cmd, cmd) != 0) {
			fake_fail(f, "expected \"%s\", got \"%s\"", it->cmd, cmd);
			continue;
		}
		it->from = from;
		it->fromlen = fromlen;
		if (it->nparts == 0)
			continue;	/* silent: the client times out */
		if (!it->late)
			f->outstanding++;
		it->ev = evtimer_new(f->base, fake_answer_cb, it);
		tv.tv_sec = it->delay_ms / 1000;
		tv.tv_usec = (suseconds_t)(it->delay_ms % 1000) * 1000;
		evtimer_add(it->ev, &tv);
	}
}

/* Bind the fake; see fake-mconsole.h. */
struct fake_mconsole *
fake_mconsole_new(struct event_base *base, const char *path)
{
	struct fake_mconsole	*f;
	struct sockaddr_un	 sun;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return (NULL);
	f->base = base;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path) ||
	    (f->path = strdup(path)) == NULL) {
		free(f);
		return (NULL);
	}
	memcpy(sun.sun_path, path, strlen(path));
	(void)unlink(path);
	f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->fd == -1 || bind(f->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		perror("fake-mconsole: bind");
		if (f->fd != -1)
			close(f->fd);
		free(f->path);
		free(f);
		return (NULL);
	}
	f->ev_read = event_new(base, f->fd, EV_READ | EV_PERSIST, fake_read_cb, f);
	event_add(f->ev_read, NULL);
	return (f);
}

/* Close, unlink and free. */
void
fake_mconsole_free(struct fake_mconsole *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nitems; i++) {
		if (f->items[i].ev != NULL)
			event_free(f->items[i].ev);
		for (size_t j = 0; j < f->items[i].nparts; j++)
			free(f->items[i].parts[j]);
	}
	event_free(f->ev_read);
	close(f->fd);
	(void)unlink(f->path);
	free(f->path);
	free(f);
}

/* Queue an expected command; see fake-mconsole.h. */
void
fake_mconsole_expect(struct fake_mconsole *f, const char *cmd, int err,
    const char *const *parts, size_t nparts, unsigned int delay_ms)
{
	struct fake_item	*it;

	if (f->nitems >= FAKE_MAX_ITEMS || nparts > FAKE_MAX_PARTS) {
		fake_fail(f, "script too long");
		return;
	}
	it = &f->items[f->nitems++];
	memset(it, 0, sizeof(*it));
	memcpy(it->cmd, cmd, strnlen(cmd, sizeof(it->cmd) - 1));
	it->err = err;
	for (size_t i = 0; i < nparts; i++)
		it->parts[i] = strdup(parts[i]);
	it->nparts = nparts;
	it->delay_ms = delay_ms;
	it->f = f;
}

/* One-part answer; see fake-mconsole.h. */
void
fake_mconsole_expect1(struct fake_mconsole *f, const char *cmd, int err,
    const char *reply)
{
	fake_mconsole_expect(f, cmd, err, &reply, 1, 0);
}

/* The last item gets a junk datagram first. */
void
fake_mconsole_junk_first(struct fake_mconsole *f)
{
	if (f->nitems > 0)
		f->items[f->nitems - 1].junk_first = true;
}

/* The last item gets a stranger's reply first. */
void
fake_mconsole_stranger_first(struct fake_mconsole *f)
{
	if (f->nitems > 0)
		f->items[f->nitems - 1].stranger_first = true;
}

/* The last item is answered after the client gave up. */
void
fake_mconsole_late(struct fake_mconsole *f)
{
	if (f->nitems > 0)
		f->items[f->nitems - 1].late = true;
}

/* Items not yet received. */
size_t
fake_mconsole_remaining(const struct fake_mconsole *f)
{
	return (f->nitems - f->next);
}

/* Problems seen so far. */
int
fake_mconsole_failures(const struct fake_mconsole *f)
{
	return (f->failures);
}

/* Late answers refused because the client had dropped its socket. */
int
fake_mconsole_late_refused(const struct fake_mconsole *f)
{
	return (f->late_refused);
}

/* The last problem. */
const char *
fake_mconsole_last_error(const struct fake_mconsole *f)
{
	return (f->last_error);
}

/* Send one raw datagram; see fake-mconsole.h. */
int
fake_send_datagram(const char *path, const void *buf, size_t len)
{
	struct sockaddr_un	sun;
	int			s, r = 0;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((s = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1)
		return (-errno);
	if (sendto(s, buf, len, 0, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		r = -errno;
	close(s);
	return (r);
}

/* Send a notification as UML's mconsole_notify does. */
int
fake_send_notify(const char *path, unsigned int type, const char *data)
{
	struct mconsole_notify_wire	p;
	size_t				len = strlen(data) + 1;

	memset(&p, 0, sizeof(p));
	p.magic = MCONSOLE_MAGIC;
	p.version = MCONSOLE_VERSION;
	p.type = type;
	if (len > sizeof(p.data))
		len = sizeof(p.data);
	p.len = (uint32_t)len;
	memcpy(p.data, data, len);
	return (fake_send_datagram(path, &p, MCONSOLE_NOTIFY_HDR + len));
}
