/* SPDX-License-Identifier: MIT */
/*
 * libsbuml-client: synchronous JSON-RPC 2.0 client for sbumld (doc/rpc.md).
 * This file: the connection and its transport.
 *
 * The socket is non-blocking and every wait goes through poll() against a
 * monotonic deadline, so no call can hang past its timeout.  Input is kept
 * in one buffer and cut into lines; each line is either the answer to the
 * call in flight (matched by id), a stale answer to a call that timed out
 * earlier (dropped), or a notification (queued for sbuml_next_event()):
 * sbuml-call.c tells them apart.  sbuml-events.c keeps the notification
 * queue, sbuml-methods.c has one wrapper per method.
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

#include "sbuml-client-int.h"

/*
 * The daemon caps request lines at 1 MiB but not responses (a 10000-line
 * console answer can be large); cap what we buffer so a broken peer cannot
 * make us allocate without bound.
 */
#define LINE_MAX_BYTES	(64u * 1024 * 1024)
#define READ_CHUNK	65536

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
int64_t
sbuml_deadline_after(int timeout_ms)
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

/* Mark the connection unusable; returns r for tail calls. */
static int
client_kill(struct sbuml_client *c, int r)
{
	if (c->dead == 0)
		c->dead = r;
	return r;
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
int
sbuml_send_all(struct sbuml_client *c, const char *data, size_t len, int pass_fd,
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

/*
 * Read the next message before the deadline: 1 with *ret_obj (caller owns)
 * or -errno.  stop_if_dead: a dead handle returns c->dead instead of
 * reading on once its buffered lines are used up.
 */
int
sbuml_next_message(struct sbuml_client *c, int64_t deadline, bool stop_if_dead,
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
	if (c == NULL)
		return NULL;
	/* close() errors cannot be acted on here; the fd is gone either way. */
	if (c->fd != -1)
		(void)close(c->fd);
	sbuml_events_free(c);
	sbuml_error_clear(c);
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
