/* SPDX-License-Identifier: MIT */
/*
 * UML management console client (protocol version 2) and notify listener.
 * See mconsole.h for the contract.  One request is in flight per client;
 * the rest wait in a queue.  All sending happens from a "kick" event so a
 * callback never runs inside mconsole_send().  An object freed from inside
 * one of its own callbacks is only torn down once that callback returns.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "jail.h"
#include "log.h"
#include "mconsole.h"
#include "util.h"

struct mconsole_req {
	TAILQ_ENTRY(mconsole_req) entry;
	char			 cmd[MCONSOLE_MAX_DATA];
	unsigned int		 timeout_ms;
	mconsole_cb		 cb;
	void			*arg;
};
TAILQ_HEAD(mconsole_req_list, mconsole_req);

struct mconsole {
	struct event_base	*base;
	char			*path;		/* UML's mconsole socket */
	char			*name;		/* for log messages */
	int			 fd;		/* autobound abstract DGRAM socket */
	struct event		*ev_read;
	struct event		*ev_timer;
	struct event		*ev_kick;
	struct mconsole_req_list queue;
	size_t			 nqueued;
	struct mconsole_req	*inflight;
	/* The reply being assembled from `more` parts. */
	char			*reply;
	size_t			 reply_len;
	int			 reply_err;
	int			 depth;		/* callbacks running */
	bool			 doomed;	/* freed during a callback */
};

struct mconsole_notifier {
	char			*path;
	int			 fd;
	dev_t			 dev;		/* to unlink only our own socket */
	ino_t			 ino;
	struct event		*ev_read;
	mconsole_notify_cb	 cb;
	void			*arg;
	int			 depth;
	bool			 doomed;
};

static const char *const notify_type_names[_MCONSOLE_NOTIFY_MAX] = {
	[MCONSOLE_NOTIFY_SOCKET] = "socket",
	[MCONSOLE_NOTIFY_PANIC] = "panic",
	[MCONSOLE_NOTIFY_HANG] = "hang",
	[MCONSOLE_NOTIFY_USER] = "user",
};

static void	mconsole_read_cb(evutil_socket_t, short, void *);
static void	mconsole_destroy(struct mconsole *);

/* Name of a notification type, for logs and events. */
const char *
mconsole_notify_type_to_string(enum mconsole_notify_type type)
{
	if ((unsigned int)type >= _MCONSOLE_NOTIFY_MAX)
		return ("unknown");
	return (notify_type_names[type]);
}

/* Encode cmd as a version 2 request; returns the datagram length or -errno. */
int
mconsole_encode_request(const char *cmd, struct mconsole_request_wire *req)
{
	size_t	len;

	len = strlen(cmd);
	if (len == 0 || strchr(cmd, '\n') != NULL)
		return (-EINVAL);
	if (len > MCONSOLE_MAX_CMD)
		return (-EMSGSIZE);
	memset(req, 0, sizeof(*req));
	req->magic = MCONSOLE_MAGIC;
	req->version = MCONSOLE_VERSION;
	req->len = (uint32_t)len;
	memcpy(req->data, cmd, len);
	return ((int)(MCONSOLE_REQUEST_HDR + len));
}

/* Decode one reply datagram; see mconsole.h. */
int
mconsole_decode_reply(const void *buf, size_t n, int *ret_err, int *ret_more,
    const char **ret_text, size_t *ret_len)
{
	const struct mconsole_reply_wire *r = buf;
	size_t	len;

	if (n < MCONSOLE_REPLY_HDR)
		return (-EBADMSG);
	if (r->len > MCONSOLE_MAX_DATA || MCONSOLE_REPLY_HDR + r->len > n)
		return (-EBADMSG);
	len = r->len;
	/* UML counts the NUL it appends; strip it (and any other padding). */
	len = strnlen(r->data, len);
	*ret_err = r->err != 0;
	*ret_more = r->more != 0;
	*ret_text = r->data;
	*ret_len = len;
	return (0);
}

/* Decode one notify datagram; see mconsole.h. */
int
mconsole_decode_notify(const void *buf, size_t n,
    enum mconsole_notify_type *ret_type, const char **ret_data, size_t *ret_len)
{
	const struct mconsole_notify_wire *p = buf;

	if (n < MCONSOLE_NOTIFY_HDR)
		return (-EBADMSG);
	if (p->magic != MCONSOLE_MAGIC || p->version != MCONSOLE_VERSION)
		return (-EBADMSG);
	if (p->type >= _MCONSOLE_NOTIFY_MAX)
		return (-EBADMSG);
	if (p->len > MCONSOLE_MAX_DATA || MCONSOLE_NOTIFY_HDR + p->len > n)
		return (-EBADMSG);
	*ret_type = (enum mconsole_notify_type)p->type;
	*ret_data = p->data;
	*ret_len = p->len;
	return (0);
}

/* Fill a sockaddr_un for path; -ENAMETOOLONG if it does not fit. */
static int
mconsole_sockaddr(const char *path, struct sockaddr_un *sun, socklen_t *ret_len)
{
	size_t	len = strlen(path);

	if (len == 0 || len >= sizeof(sun->sun_path))
		return (-ENAMETOOLONG);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len);
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return (0);
}

/*
 * Make a fresh client socket.  Autobind (bind with only the family) gives
 * it a unique abstract address, which is where UML sends its replies.
 */
static int
mconsole_open_socket(struct mconsole *mc)
{
	struct sockaddr_un	sun;
	int			fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return (-errno);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sa_family_t)) == -1) {
		int r = -errno;

		closefd(&fd);
		return (r);
	}
	mc->ev_read = event_new(mc->base, fd, EV_READ | EV_PERSIST,
	    mconsole_read_cb, mc);
	if (mc->ev_read == NULL || event_add(mc->ev_read, NULL) == -1) {
		if (mc->ev_read != NULL)
			event_free(mc->ev_read);
		mc->ev_read = NULL;
		closefd(&fd);
		return (-ENOMEM);
	}
	mc->fd = fd;
	return (0);
}

/* Close the client socket and its read event. */
static void
mconsole_close_socket(struct mconsole *mc)
{
	if (mc->ev_read != NULL) {
		event_free(mc->ev_read);
		mc->ev_read = NULL;
	}
	closefd(&mc->fd);
}

/* Schedule the kick event, which sends the next queued request. */
static void
mconsole_kick(struct mconsole *mc)
{
	if (!mc->doomed && mc->inflight == NULL && !TAILQ_EMPTY(&mc->queue))
		event_active(mc->ev_kick, EV_TIMEOUT, 0);
}

/*
 * Finish the request in flight with err and text; runs its callback.
 * Returns false if the client was freed from inside the callback.
 */
static bool
mconsole_complete(struct mconsole *mc, int err, const char *text)
{
	struct mconsole_req	*req = mc->inflight;

	mc->inflight = NULL;
	evtimer_del(mc->ev_timer);
	mc->reply_len = 0;
	mc->reply_err = 0;
	if (req == NULL)
		return (true);
	mc->depth++;
	req->cb(err, text != NULL ? text : "", req->arg);
	free(req);
	mc->depth--;
	if (mc->doomed) {
		if (mc->depth == 0)
			mconsole_destroy(mc);
		return (false);
	}
	mconsole_kick(mc);
	return (true);
}

/* Send the head of the queue; a send failure completes it with -errno. */
static void
mconsole_kick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mconsole			*mc = arg;
	struct mconsole_request_wire	 wire;
	struct mconsole_req		*req;
	struct sockaddr_un		 sun;
	struct timeval			 tv;
	socklen_t			 sunlen;
	ssize_t				 n;
	int				 len, r;

	(void)fd;
	(void)events;
	while (mc->inflight == NULL && (req = TAILQ_FIRST(&mc->queue)) != NULL) {
		TAILQ_REMOVE(&mc->queue, req, entry);
		mc->nqueued--;
		mc->inflight = req;
		r = 0;
		if (mc->fd == -1)
			r = mconsole_open_socket(mc);
		if (r == 0)
			r = mconsole_sockaddr(mc->path, &sun, &sunlen);
		if (r == 0) {
			/* Validated in mconsole_send: cannot fail here. */
			len = mconsole_encode_request(req->cmd, &wire);
			n = sendto(mc->fd, &wire, (size_t)len, MSG_NOSIGNAL,
			    (struct sockaddr *)&sun, sunlen);
			if (n == -1)
				r = -errno;
			else if (n != len)
				r = -EIO;
		}
		if (r < 0) {
			log_debug("%s: mconsole: %s: send: %s", mc->name,
			    req->cmd, strerror(-r));
			if (!mconsole_complete(mc, r, ""))
				return;
			continue;
		}
		log_debug("%s: mconsole: sent \"%s\"", mc->name, req->cmd);
		tv.tv_sec = req->timeout_ms / 1000;
		tv.tv_usec = (suseconds_t)(req->timeout_ms % 1000) * 1000;
		if (evtimer_add(mc->ev_timer, &tv) == -1)
			log_warnx("%s: mconsole: cannot arm timeout", mc->name);
	}
}

/*
 * The request in flight got no (complete) answer in time.  Its answer may
 * still come, and must not be read as the next request's: rebind.
 */
static void
mconsole_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mconsole	*mc = arg;

	(void)fd;
	(void)events;
	if (mc->inflight != NULL)
		log_debug("%s: mconsole: \"%s\" timed out", mc->name,
		    mc->inflight->cmd);
	mconsole_close_socket(mc);
	(void)mconsole_complete(mc, -ETIMEDOUT, "");
}

/* True if the datagram came from UML's mconsole socket (mc->path). */
static bool
mconsole_from_peer(const struct mconsole *mc, const struct sockaddr_un *from,
    socklen_t fromlen)
{
	size_t	off = offsetof(struct sockaddr_un, sun_path);
	size_t	plen = strlen(mc->path);

	if (fromlen <= off || from->sun_family != AF_UNIX)
		return (false);
	if (fromlen - off < plen)
		return (false);
	return (memcmp(from->sun_path, mc->path, plen) == 0 &&
	    (fromlen - off == plen || from->sun_path[plen] == '\0'));
}

/* Append one reply part; completes the request on the last part. */
static bool
mconsole_handle_reply(struct mconsole *mc, const void *buf, size_t n)
{
	const char	*text;
	size_t		 len;
	int		 err, more;

	if (mconsole_decode_reply(buf, n, &err, &more, &text, &len) < 0) {
		log_debug("%s: mconsole: malformed reply (%zu bytes), ignoring",
		    mc->name, n);
		return (true);
	}
	if (mc->inflight == NULL) {
		log_debug("%s: mconsole: unexpected reply, ignoring", mc->name);
		return (true);
	}
	/* Only the first part carries the error flag. */
	if (mc->reply_len == 0 && err)
		mc->reply_err = 1;
	if (mc->reply_len + len > MCONSOLE_MAX_REPLY) {
		/* Drop the rest by rebinding, as for a timeout. */
		mconsole_close_socket(mc);
		return (mconsole_complete(mc, -EMSGSIZE, ""));
	}
	mc->reply = xrealloc(mc->reply, mc->reply_len + len + 1);
	memcpy(mc->reply + mc->reply_len, text, len);
	mc->reply_len += len;
	mc->reply[mc->reply_len] = '\0';
	if (more)
		return (true);
	log_debug("%s: mconsole: \"%s\" -> %s \"%.80s\"", mc->name,
	    mc->inflight->cmd, mc->reply_err ? "error" : "ok", mc->reply);
	/* The callback may queue more; hand it a copy-stable buffer. */
	{
		char	*text_copy = mc->reply;
		bool	 alive;

		mc->reply = NULL;
		alive = mconsole_complete(mc,
		    mc->reply_err ? -EREMOTEIO : 0, text_copy);
		free(text_copy);
		return (alive);
	}
}

/* Read every pending datagram on the client socket. */
static void
mconsole_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mconsole			*mc = arg;
	struct mconsole_reply_wire	 wire;
	struct sockaddr_un		 from;
	socklen_t			 fromlen;
	ssize_t				 n;

	(void)events;
	for (;;) {
		fromlen = sizeof(from);
		n = recvfrom(fd, &wire, sizeof(wire), MSG_TRUNC,
		    (struct sockaddr *)&from, &fromlen);
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("%s: mconsole: recv: %s", mc->name,
				    strerror(errno));
			return;
		}
		if (!mconsole_from_peer(mc, &from, fromlen)) {
			log_debug("%s: mconsole: datagram from a stranger, ignoring",
			    mc->name);
			continue;
		}
		if ((size_t)n > sizeof(wire)) {
			log_debug("%s: mconsole: oversized datagram, ignoring",
			    mc->name);
			continue;
		}
		if (!mconsole_handle_reply(mc, &wire, (size_t)n))
			return;
		/* The socket may have been replaced (overflow) meanwhile. */
		if (mc->fd != fd)
			return;
	}
}

/* Create a client; see mconsole.h. */
struct mconsole *
mconsole_new(struct event_base *base, const char *path, const char *name)
{
	struct mconsole	*mc;
	int		 r;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		errno = ENAMETOOLONG;
		return (NULL);
	}
	mc = xcalloc(1, sizeof(*mc));
	mc->base = base;
	mc->path = xstrdup(path);
	mc->name = xstrdup(name);
	mc->fd = -1;
	TAILQ_INIT(&mc->queue);
	mc->ev_timer = evtimer_new(base, mconsole_timeout_cb, mc);
	mc->ev_kick = event_new(base, -1, 0, mconsole_kick_cb, mc);
	if (mc->ev_timer == NULL || mc->ev_kick == NULL) {
		mconsole_destroy(mc);
		errno = ENOMEM;
		return (NULL);
	}
	if ((r = mconsole_open_socket(mc)) < 0) {
		mconsole_destroy(mc);
		errno = -r;
		return (NULL);
	}
	return (mc);
}

/* Release everything; callbacks must have run already. */
static void
mconsole_destroy(struct mconsole *mc)
{
	mconsole_close_socket(mc);
	if (mc->ev_timer != NULL)
		event_free(mc->ev_timer);
	if (mc->ev_kick != NULL)
		event_free(mc->ev_kick);
	free(mc->reply);
	free(mc->path);
	free(mc->name);
	free(mc);
}

/* Cancel everything pending and free; see mconsole.h. */
struct mconsole *
mconsole_free(struct mconsole *mc)
{
	struct mconsole_req	*req;

	if (mc == NULL || mc->doomed)
		return (NULL);
	/* From here on nothing is sent and no new request is accepted. */
	mc->doomed = true;
	mc->depth++;
	mconsole_close_socket(mc);
	if ((req = mc->inflight) != NULL) {
		mc->inflight = NULL;
		req->cb(-ECANCELED, "", req->arg);
		free(req);
	}
	while ((req = TAILQ_FIRST(&mc->queue)) != NULL) {
		TAILQ_REMOVE(&mc->queue, req, entry);
		mc->nqueued--;
		req->cb(-ECANCELED, "", req->arg);
		free(req);
	}
	if (--mc->depth == 0)
		mconsole_destroy(mc);
	return (NULL);
}

/* Queue a command; see mconsole.h. */
int
mconsole_send(struct mconsole *mc, const char *cmd, unsigned int timeout_ms,
    mconsole_cb cb, void *arg)
{
	struct mconsole_request_wire	 wire;
	struct mconsole_req		*req;
	int				 r;

	if (mc->doomed)
		return (-ECANCELED);
	if ((r = mconsole_encode_request(cmd, &wire)) < 0)
		return (r);
	if (mc->nqueued >= MCONSOLE_MAX_QUEUE)
		return (-EAGAIN);
	req = xcalloc(1, sizeof(*req));
	memcpy(req->cmd, cmd, strlen(cmd) + 1);
	req->timeout_ms = timeout_ms != 0 ? timeout_ms : MCONSOLE_TIMEOUT_MS;
	req->cb = cb;
	req->arg = arg;
	TAILQ_INSERT_TAIL(&mc->queue, req, entry);
	mc->nqueued++;
	mconsole_kick(mc);
	return (0);
}

/* Requests queued or in flight. */
size_t
mconsole_pending(const struct mconsole *mc)
{
	return (mc->nqueued + (mc->inflight != NULL ? 1 : 0));
}

/* Tear a notifier down (no callback running). */
static void
mconsole_notifier_destroy(struct mconsole_notifier *nt)
{
	struct stat	st;

	if (nt->ev_read != NULL)
		event_free(nt->ev_read);
	if (nt->fd != -1) {
		/* Unlink only the socket we bound, not a successor's. */
		if (stat(nt->path, &st) == 0 && st.st_dev == nt->dev &&
		    st.st_ino == nt->ino)
			(void)unlink(nt->path);
		closefd(&nt->fd);
	}
	free(nt->path);
	free(nt);
}

/* Read every pending notification. */
static void
mconsole_notifier_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct mconsole_notifier	*nt = arg;
	struct mconsole_notify_wire	 wire;
	enum mconsole_notify_type	 type;
	const char			*data;
	char				 copy[MCONSOLE_MAX_DATA + 1];
	size_t				 len;
	ssize_t				 n;

	(void)events;
	for (;;) {
		n = recv(fd, &wire, sizeof(wire), MSG_TRUNC);
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("%s: recv: %s", nt->path,
				    strerror(errno));
			return;
		}
		if ((size_t)n > sizeof(wire) ||
		    mconsole_decode_notify(&wire, (size_t)n, &type, &data,
		    &len) < 0) {
			log_debug("%s: malformed notification (%zd bytes), ignoring",
			    nt->path, n);
			continue;
		}
		memcpy(copy, data, len);
		copy[len] = '\0';
		nt->depth++;
		nt->cb(type, copy, len, nt->arg);
		nt->depth--;
		if (nt->doomed) {
			if (nt->depth == 0)
				mconsole_notifier_destroy(nt);
			return;
		}
	}
}

/* Bind the notify socket; see mconsole.h. */
struct mconsole_notifier *
mconsole_notifier_new(struct event_base *base, const char *path,
    mconsole_notify_cb cb, void *arg)
{
	struct mconsole_notifier	*nt;
	struct sockaddr_un		 sun;
	struct stat			 st;
	socklen_t			 sunlen;
	int				 r;

	if ((r = mconsole_sockaddr(path, &sun, &sunlen)) < 0) {
		errno = -r;
		return (NULL);
	}
	nt = xcalloc(1, sizeof(*nt));
	nt->path = xstrdup(path);
	nt->cb = cb;
	nt->arg = arg;
	nt->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (nt->fd == -1)
		goto fail;
	/* A socket file left by a previous daemon would make bind fail. */
	if (unlink(path) == -1 && errno != ENOENT)
		goto fail;
	if (bind(nt->fd, (struct sockaddr *)&sun, sunlen) == -1)
		goto fail;
	/* The jailed UML (jail.h) sends to it: group write for it only. */
	if ((jail_active() ? chown(path, 0, jail_gid()) == -1 ||
	    chmod(path, 0620) == -1 : chmod(path, 0600) == -1) ||
	    stat(path, &st) == -1) {
		r = errno;
		(void)unlink(path);
		errno = r;
		goto fail;
	}
	nt->dev = st.st_dev;
	nt->ino = st.st_ino;
	nt->ev_read = event_new(base, nt->fd, EV_READ | EV_PERSIST,
	    mconsole_notifier_read_cb, nt);
	if (nt->ev_read == NULL || event_add(nt->ev_read, NULL) == -1) {
		errno = ENOMEM;
		goto fail;
	}
	return (nt);
fail:
	r = errno;
	mconsole_notifier_destroy(nt);
	errno = r;
	return (NULL);
}

/* Stop listening and free; see mconsole.h. */
struct mconsole_notifier *
mconsole_notifier_free(struct mconsole_notifier *nt)
{
	if (nt == NULL || nt->doomed)
		return (NULL);
	nt->doomed = true;
	if (nt->depth == 0)
		mconsole_notifier_destroy(nt);
	else if (nt->ev_read != NULL)
		event_del(nt->ev_read);
	return (NULL);
}
