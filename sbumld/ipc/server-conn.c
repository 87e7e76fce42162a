/* SPDX-License-Identifier: MIT */
/*
 * One connection of the RPC socket (server.h): reading with recvmsg() so
 * passed descriptors are kept, newline framing with the line-length limit,
 * the write queue with its output cap, the idle timer, the linger after an
 * error line, the peer's half-close, and the references that keep a struct
 * client valid for late answers.  What a line means is the line handler's
 * business.
 *
 * Life of a client (tmux server-client.c, Redis freeClientAsync):
 *   accept -> LIVE --(EOF, error, output cap)--> DEAD
 *   LIVE --(line too long)--> CLOSING --(output flushed)--> LINGER
 *   LINGER --(EOF, or SERVER_LINGER_SEC)--> DEAD
 *   LIVE --(EOF)--> EOF --(every call answered, output flushed)--> DEAD
 * A peer that half-closes after its requests (`... | nc -U -N`) still gets
 * every answer, deferred ones included: the line handler (rpc.c) counts
 * unanswered calls with server_client_call_begin/end.
 * A closing client's further input is read and discarded, and once its
 * error line is out we only shut our write side down: closing a Unix
 * socket with unread data in it makes the peer's next read fail with
 * ECONNRESET, so the peer would lose the clean end of file after our error
 * line.  The linger is bounded in time.
 * Becoming DEAD only unlinks the client and queues it for server.c's
 * reaper, an event of its own, which frees the bufferevent (closing the socket)
 * and drops the server's reference.  So no client is ever freed inside one
 * of its own callbacks, and references the line handler still holds (rpc
 * calls) see a dead client instead of freed memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "server-int.h"
#include "util.h"

/*
 * How long a connection may sit with no call in flight before it is closed
 * (events subscribers are exempt: waiting is what they are for).  Tests
 * shorten it with SBUMLD_TEST_IDLE_MS.
 */
#define SERVER_IDLE_SEC		120

/* How long a closing client may keep sending before we close anyway. */
#define SERVER_LINGER_SEC	2

static uint64_t		next_client_id = 1;

static void	server_client_check_done(struct client *);
static bool	server_client_handover_check(struct client *);
static void	server_client_read(struct client *);
static void	server_client_event_cb(struct bufferevent *, short, void *);

/* Close the descriptors a client passed that no call took. */
static void
server_client_drop_fds(struct client *c)
{
	while (c->nfds > 0)
		closefd(&c->fds[--c->nfds]);
}

/* See server-int.h. */
void
server_client_kill(struct client *c, const char *why)
{
	if (c->flags & CLIENT_DEAD)
		return;
	log_debug("%s: closing: %s", c->name, why);
	c->flags |= CLIENT_DEAD;
	if (c->handover_fn != NULL) {
		server_handover_fn fn = c->handover_fn;

		c->handover_fn = NULL;
		fn(-1, NULL, c->handover_arg);
	}
	if (c->handlers->disconnect != NULL)
		c->handlers->disconnect(c);
	if (c->read_ev != NULL)
		event_del(c->read_ev);
	if (c->idle_ev != NULL)
		evtimer_del(c->idle_ev);
	if (c->bev != NULL) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	}
	server_reap_later(c);
}

/* The idle timer ran out: nothing in flight, not subscribed. */
static void
server_client_idle_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	server_client_kill(arg, "idle");
}

/*
 * (Re)start the idle timer of a connection with no call in flight and no
 * events subscription; stop it otherwise.
 */
static void
server_client_idle_update(struct client *c)
{
	long		ms = test_knob_ms("SBUMLD_TEST_IDLE_MS");
	struct timeval	tv = { SERVER_IDLE_SEC, 0 };

	if (c->idle_ev == NULL || (c->flags & CLIENT_DEAD))
		return;
	if (c->calls > 0 || (c->flags & CLIENT_SUBSCRIBED)) {
		evtimer_del(c->idle_ev);
		return;
	}
	if (ms > 0) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = ms % 1000 * 1000;
	}
	if (evtimer_add(c->idle_ev, &tv) == -1)
		fatalx("cannot arm the idle timer");
}

/* Tell the peer why its connection is being closed, and close it after flushing. */
static void
server_client_fail(struct client *c, const char *message)
{
	char	*line;

	line = c->handlers->error_line(SERVER_ERROR_REQUEST, message);
	server_client_send_line(c, line, strlen(line));
	free(line);
	server_client_close_after_flush(c);
}

/*
 * Input arrived: hand every complete line to the line handler.  A reference
 * is held across the loop because the handler may kill the client.
 */
static void
server_client_read(struct client *c)
{
	struct evbuffer		*in = c->in;
	struct evbuffer_ptr	 eol, start;
	size_t			 eol_len, len;
	char			*line;

	/* A closing client's input is only read to be thrown away (see the top). */
	if (c->flags & (CLIENT_DEAD | CLIENT_CLOSING)) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	server_client_ref(c);
	while ((c->flags & (CLIENT_DEAD | CLIENT_CLOSING | CLIENT_HANDOVER)) == 0) {
		/* Resume the search where the last one stopped: long lines arrive in many reads. */
		if (evbuffer_ptr_set(in, &start, c->scanned, EVBUFFER_PTR_SET) == -1)
			fatalx("%s: evbuffer_ptr_set", __func__);
		eol = evbuffer_search_eol(in, &start, &eol_len, EVBUFFER_EOL_LF);
		/* Enforce the limit before the newline arrives, not after buffering it all. */
		if ((eol.pos == -1 && evbuffer_get_length(in) > SERVER_MAX_LINE) ||
		    (eol.pos != -1 && (size_t)eol.pos > SERVER_MAX_LINE)) {
			log_warnx("%s: line longer than %d bytes, closing",
			    c->name, SERVER_MAX_LINE);
			server_client_fail(c, "Invalid request: line longer than 1048576 "
			    "bytes; closing the connection");
			break;
		}
		if (eol.pos == -1) {
			c->scanned = evbuffer_get_length(in);
			break;
		}
		c->scanned = 0;
		len = (size_t)eol.pos;
		line = xmalloc(len + 1);
		if (evbuffer_remove(in, line, len) != (int)len)
			fatalx("%s: evbuffer_remove short read", __func__);
		line[len] = '\0';
		evbuffer_drain(in, eol_len);
		c->handlers->line(c, line, len);
		free(line);
	}
	server_client_handover_check(c);
	server_client_unref(c);
}

/*
 * Keep the descriptors of one SCM_RIGHTS message (snapshot.export and
 * import take them with server_client_take_fd).  Beyond SERVER_MAX_FDS
 * unclaimed ones the client is misbehaving: they are closed and so is the
 * connection.
 */
static bool
server_client_keep_fds(struct client *c, struct msghdr *msg)
{
	struct cmsghdr	*cm;
	bool		 ok = (msg->msg_flags & MSG_CTRUNC) == 0;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		size_t	n;
		int	*fdp = (int *)CMSG_DATA(cm);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, fdp + i, sizeof(fd));
			if (c->nfds < SERVER_MAX_FDS)
				c->fds[c->nfds++] = fd;
			else {
				closefd(&fd);
				ok = false;
			}
		}
	}
	return ok;
}

/*
 * The socket is readable.  We read with recvmsg() rather than letting the
 * bufferevent read, because a plain read() silently drops (closes) the
 * descriptors a client passes with SCM_RIGHTS.
 */
static void
server_client_recv_cb(evutil_socket_t fd, short events, void *arg)
{
	struct client	*c = arg;
	char		 buf[16384];
	union {
		struct cmsghdr	hdr;
		char		space[CMSG_SPACE(sizeof(int) * SERVER_MAX_FDS)];
	} ctl;
	struct iovec	 iov = { buf, sizeof(buf) };
	struct msghdr	 msg;
	ssize_t		 n;

	(void)events;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.space;
	msg.msg_controllen = sizeof(ctl.space);
	n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		server_client_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c);
		return;
	}
	if (!server_client_keep_fds(c, &msg)) {
		log_warnx("%s: passed more than %d descriptors, closing", c->name,
		    SERVER_MAX_FDS);
		server_client_drop_fds(c);
		server_client_fail(c, "Invalid request: more than "
		    "4 unclaimed file descriptors passed; closing the connection");
		return;
	}
	if (n == 0) {
		server_client_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, c);
		return;
	}
	if (evbuffer_add(c->in, buf, (size_t)n) == -1)
		fatalx("evbuffer_add: out of memory");
	server_client_idle_update(c);
	server_client_read(c);
}

int
server_client_take_fd(struct client *c)
{
	int fd;

	if (c == NULL)
		return (-ENOTCONN);
	if (c->nfds == 0)
		return (-ENOENT);
	fd = c->fds[0];
	memmove(c->fds, c->fds + 1, (c->nfds - 1) * sizeof(int));
	c->nfds--;
	return fd;
}

/* The linger deadline passed: close even though the peer did not. */
static void
server_client_linger_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	server_client_kill(arg, "linger timeout");
}

/* Everything is written: shut our side down and wait (bounded) for the peer's EOF. */
static void
server_client_linger(struct client *c)
{
	struct timeval	tv = { SERVER_LINGER_SEC, 0 };

	if (c->flags & (CLIENT_DEAD | CLIENT_LINGER))
		return;
	c->flags |= CLIENT_LINGER;
	if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) == -1) {
		server_client_kill(c, strerror(errno));
		return;
	}
	c->linger_ev = evtimer_new(bufferevent_get_base(c->bev),
	    server_client_linger_cb, c);
	if (c->linger_ev == NULL ||
	    evtimer_add(c->linger_ev, &tv) == -1)
		fatalx("cannot arm the linger timer");
}

/* Output drained to the low watermark (empty): a closing client may now go. */
static void
server_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;

	if ((c->flags & CLIENT_CLOSING) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		server_client_linger(c);
	server_client_check_done(c);
}

/* After the peer's EOF: close once nothing is left to answer or to write. */
static void
server_client_check_done(struct client *c)
{
	if (server_client_handover_check(c))
		return;
	if ((c->flags & (CLIENT_EOF | CLIENT_DEAD)) == CLIENT_EOF &&
	    c->calls == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		server_client_kill(c, "end of file");
}

/* EOF or error on the connection. */
static void
server_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client	*c = arg;
	struct pollfd	 pfd;

	if (what & BEV_EVENT_ERROR)
		server_client_kill(c, strerror(EVUTIL_SOCKET_ERROR()));
	else if (what & BEV_EVENT_EOF) {
		if (c->flags & CLIENT_CLOSING) {
			server_client_kill(c, "end of file");
			return;
		}
		/*
		 * Closed, or only half-closed?  A Unix socket whose peer is
		 * gone entirely polls POLLHUP; then nobody can read answers.
		 */
		pfd.fd = bufferevent_getfd(bev);
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == -1 || (pfd.revents & (POLLHUP | POLLERR))) {
			server_client_kill(c, "connection closed");
			return;
		}
		/* A half-close: the peer may still be waiting for answers. */
		c->flags |= CLIENT_EOF;
		event_del(c->read_ev);
		server_client_check_done(c);
	}
}


/* See server-int.h. */
struct client *
server_client_create(struct event_base *base, int fd, const struct ucred *cred,
    const struct server_handlers *handlers)
{
	struct client	*c;

	c = xcalloc(1, sizeof(*c));
	c->refs = 1;
	c->handlers = handlers;
	c->id = next_client_id++;
	c->cred = *cred;
	snprintf(c->name, sizeof(c->name), "client %llu (pid %ld, uid %lu)",
	    (unsigned long long)c->id, (long)cred->pid, (unsigned long)cred->uid);
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	/* The bufferevent writes; server_client_recv_cb reads (descriptors too). */
	bufferevent_setcb(c->bev, NULL, server_client_write_cb,
	    server_client_event_cb, c);
	if (bufferevent_enable(c->bev, EV_WRITE) == -1 ||
	    bufferevent_disable(c->bev, EV_READ) == -1)
		fatalx("bufferevent_enable failed");
	if ((c->in = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	c->read_ev = event_new(base, fd, EV_READ | EV_PERSIST,
	    server_client_recv_cb, c);
	if (c->read_ev == NULL || event_add(c->read_ev, NULL) == -1)
		fatalx("cannot watch client %llu", (unsigned long long)c->id);
	if ((c->idle_ev = evtimer_new(base, server_client_idle_cb, c)) == NULL)
		fatalx("evtimer_new failed");
	server_client_idle_update(c);
	log_debug("%s: connected", c->name);
	return (c);
}

/* See server-int.h. */
void
server_client_release(struct client *c)
{
	if (c->linger_ev != NULL) {
		event_free(c->linger_ev);
		c->linger_ev = NULL;
	}
	if (c->idle_ev != NULL) {
		event_free(c->idle_ev);
		c->idle_ev = NULL;
	}
	if (c->read_ev != NULL) {
		event_free(c->read_ev);
		c->read_ev = NULL;
	}
	server_client_drop_fds(c);
	if (c->in != NULL) {
		evbuffer_free(c->in);
		c->in = NULL;
	}
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
}

/* Queue a line; a client that lets SERVER_MAX_OUTPUT pile up is disconnected. */
void
server_client_send_line(struct client *c, const char *line, size_t len)
{
	struct evbuffer	*out;

	if (c == NULL || (c->flags & (CLIENT_DEAD | CLIENT_CLOSING)) ||
	    c->bev == NULL)
		return;
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) + len + 1 > SERVER_MAX_OUTPUT) {
		log_warnx("%s: more than %d bytes of unread output, "
		    "disconnecting", c->name, SERVER_MAX_OUTPUT);
		server_client_kill(c, "output limit");
		return;
	}
	if (evbuffer_add(out, line, len) == -1 ||
	    evbuffer_add(out, "\n", 1) == -1)
		fatalx("evbuffer_add failed");
}

/*
 * A hand-over is due once nothing is owed and everything is written: the
 * handler gets its own descriptor of the socket and the unread input, and
 * the client is forgotten (the reaper closes only our descriptor).  True
 * if it happened.
 */
static bool
server_client_handover_check(struct client *c)
{
	server_handover_fn	 fn = c->handover_fn;
	struct evbuffer		*pending;
	int			 fd;

	if (fn == NULL || (c->flags & CLIENT_DEAD) || c->calls > 0 ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return (false);
	c->handover_fn = NULL;
	fd = fcntl(bufferevent_getfd(c->bev), F_DUPFD_CLOEXEC, 3);
	if (fd == -1) {
		log_warn("%s: cannot hand the connection over", c->name);
		fn(-1, NULL, c->handover_arg);
		server_client_kill(c, "hand-over failed");
		return (true);
	}
	log_debug("%s: handed over as a raw stream", c->name);
	pending = c->in;
	c->in = NULL;
	fn(fd, pending, c->handover_arg);
	evbuffer_free(pending);
	server_client_kill(c, "handed over");
	return (true);
}

/* See server.h. */
int
server_client_handover(struct client *c, server_handover_fn fn, void *arg)
{
	if (c == NULL || (c->flags & (CLIENT_DEAD | CLIENT_CLOSING)))
		return (-ENOTCONN);
	if (c->handover_fn != NULL || (c->flags & CLIENT_HANDOVER))
		return (-EBUSY);
	c->flags |= CLIENT_HANDOVER;
	c->handover_fn = fn;
	c->handover_arg = arg;
	/* Bytes after the request belong to the stream: read no more here. */
	event_del(c->read_ev);
	return (0);
}

/* Stop handling input; close once what is queued has been written (and the peer had its say). */
void
server_client_close_after_flush(struct client *c)
{
	if (c->flags & (CLIENT_DEAD | CLIENT_CLOSING))
		return;
	c->flags |= CLIENT_CLOSING;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		server_client_linger(c);
}

/* An answer is owed to this client (a call or a batch was started). */
void
server_client_call_begin(struct client *c)
{
	c->calls++;
	server_client_idle_update(c);
}

/* An owed answer was sent or dropped; a half-closed client may now be done. */
void
server_client_call_end(struct client *c)
{
	if (c->calls == 0)
		fatalx("%s: unbalanced server_client_call_end", c->name);
	c->calls--;
	server_client_idle_update(c);
	if (!server_client_handover_check(c))
		server_client_check_done(c);
}

/* Take a reference. */
struct client *
server_client_ref(struct client *c)
{
	c->refs++;
	return (c);
}

/* Drop a reference; the last one frees (the socket is already closed by then). */
struct client *
server_client_unref(struct client *c)
{
	if (c == NULL)
		return (NULL);
	if (--c->refs > 0)
		return (NULL);
	/* Only a dead client can lose its last reference: the server holds one until the reaper. */
	if (!(c->flags & CLIENT_DEAD) || c->bev != NULL)
		fatalx("%s: last reference dropped while open", c->name);
	free(c);
	return (NULL);
}

/* See server.h. */
bool
server_client_is_alive(const struct client *c)
{
	return (c != NULL && (c->flags & (CLIENT_DEAD | CLIENT_CLOSING)) == 0);
}

/* See server.h. */
const char *
server_client_name(const struct client *c)
{
	return (c->name);
}

/* See server.h. */
const struct ucred *
server_client_cred(const struct client *c)
{
	return (&c->cred);
}

/* Set or clear the events subscription. */
void
server_client_set_subscribed(struct client *c, bool on)
{
	if (on)
		c->flags |= CLIENT_SUBSCRIBED;
	else
		c->flags &= ~CLIENT_SUBSCRIBED;
	server_client_idle_update(c);
}

/* Is the connection subscribed to events? */
bool
server_client_is_subscribed(const struct client *c)
{
	return ((c->flags & CLIENT_SUBSCRIBED) != 0);
}
