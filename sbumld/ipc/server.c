/* SPDX-License-Identifier: MIT */
/*
 * The RPC socket: listening (socket activation or bind), accepting, and one
 * struct client per connection with newline framing and hard limits on line
 * length, output backlog and the number of clients (doc/rpc.md, "Framing").
 *
 * Life of a client (tmux server-client.c, Redis freeClientAsync):
 *   accept -> LIVE --(EOF, error, output cap)--> DEAD
 *   LIVE --(line too long)--> CLOSING --(output flushed)--> LINGER
 *   LINGER --(EOF, or SERVER_LINGER_SEC)--> DEAD
 *   LIVE --(EOF)--> EOF --(every call answered, output flushed)--> DEAD
 * A peer that half-closes after its requests (`... | nc -U -N`) still gets
 * every answer, deferred ones included: the line handler (rpc.c) counts
 * unanswered calls with client_call_begin/end.
 * A closing client's further input is read and discarded, and once its
 * error line is out we only shut our write side down: closing a Unix
 * socket with unread data in it makes the peer's next read fail with
 * ECONNRESET, so the peer would lose the clean end of file after our error
 * line.  The linger is bounded in time.
 * Becoming DEAD only unlinks the client and queues it on reap_list; the
 * reaper, an event of its own, frees the bufferevent (closing the socket)
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
#include <unistd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "server.h"
#include "util.h"

#define CLIENT_DEAD		0x1	/* unlinked; the reaper closes it */
#define CLIENT_CLOSING		0x2	/* input discarded; lingers once output is flushed */
#define CLIENT_SUBSCRIBED	0x4	/* receives events (events.subscribe) */
#define CLIENT_LINGER		0x8	/* write side shut down; waiting for EOF */
#define CLIENT_EOF		0x10	/* peer sent EOF; still answering */

/*
 * How long a connection may sit with no call in flight before it is closed
 * (events subscribers are exempt: waiting is what they are for).  Tests
 * shorten it with SBUMLD_TEST_IDLE_MS.
 */
#define SERVER_IDLE_SEC		120

/* How long a closing client may keep sending before we close anyway. */
#define SERVER_LINGER_SEC	2

/* How long accept stays off after EMFILE/ENFILE (tmux: one second). */
#define SERVER_ACCEPT_BACKOFF_SEC	1

struct client {
	unsigned int		 refs;
	unsigned int		 flags;
	uint64_t		 id;
	char			 name[64];
	struct ucred		 cred;		/* peer at connect (SO_PEERCRED) */
	struct bufferevent	*bev;		/* output */
	struct evbuffer		*in;		/* input not yet framed */
	struct event		*read_ev;	/* our recvmsg(): fds arrive too */
	int			 fds[SERVER_MAX_FDS]; /* received, not yet taken */
	size_t			 nfds;
	struct event		*linger_ev;	/* deadline of CLIENT_LINGER */
	struct event		*idle_ev;	/* no call in flight for too long */
	size_t			 scanned;	/* input bytes known to hold no '\n' */
	unsigned int		 calls;		/* answers still to send */
	TAILQ_ENTRY(client)	 entry;		/* clients or reap_list */
};
TAILQ_HEAD(client_list, client);

static struct event_base	*server_base;
static struct server_handlers	 handlers;
static int			 listen_fd = -1;
static struct event		*listen_ev;
static struct event		*backoff_ev;
static struct event		*reap_ev;
static char			*bound_path;	/* set if we bound (and so unlink) it */
static char			 listen_name[sizeof(((struct sockaddr_un *)0)->sun_path)];
static dev_t			 bound_dev;
static ino_t			 bound_ino;
static struct client_list	 clients = TAILQ_HEAD_INITIALIZER(clients);
static struct client_list	 reap_list = TAILQ_HEAD_INITIALIZER(reap_list);
static size_t			 nclients;
static int			 refusing;	/* at the limit: log the first refusal only */
static uint64_t			 next_client_id = 1;

static void	server_accept_cb(evutil_socket_t, short, void *);
static void	client_check_done(struct client *);
static void	client_read(struct client *);
static void	client_event_cb(struct bufferevent *, short, void *);

/* Make an inherited or accepted fd non-blocking and close-on-exec. 0 or -errno. */
static int
server_set_fd_flags(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return (-errno);
	if ((fl = fcntl(fd, F_GETFD)) == -1 ||
	    fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return (-errno);
	return (0);
}

/* Remember the path a listening fd is bound to, for logs and STATUS=. */
static void
server_name_fd(int fd)
{
	struct sockaddr_un	sun;
	socklen_t		len = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_path[0] == '\0')
		snprintf(listen_name, sizeof(listen_name), "fd %d", fd);
	else
		snprintf(listen_name, sizeof(listen_name), "%s", sun.sun_path);
}

/*
 * Take the listening socket from systemd: the fd named "rpc"
 * (FileDescriptorName=rpc), else the only one passed.  Returns the fd,
 * -ENOENT if we were not socket-activated, or another -errno.
 */
static int
server_listen_activated(void)
{
	char	**names = NULL;
	int	  n, i, fd = -1, r;

	n = sd_listen_fds_with_names(1, &names);
	if (n < 0)
		return (n);
	if (n == 0) {
		r = -ENOENT;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (names != NULL && strcmp(names[i], "rpc") == 0) {
			fd = SD_LISTEN_FDS_START + i;
			break;
		}
	}
	if (fd == -1 && n == 1)
		fd = SD_LISTEN_FDS_START;
	if (fd == -1) {
		log_warnx("socket activation: %d fds passed, none named \"rpc\"", n);
		r = -EINVAL;
		goto out;
	}
	/* Don't leak fds we have no use for into UML children. */
	for (i = 0; i < n; i++) {
		if (SD_LISTEN_FDS_START + i != fd)
			(void)close(SD_LISTEN_FDS_START + i);
	}
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
		log_warnx("socket activation: fd %d is not a listening "
		    "Unix stream socket", fd);
		(void)close(fd);
		r = -EINVAL;
		goto out;
	}
	if ((r = server_set_fd_flags(fd)) < 0) {
		(void)close(fd);
		goto out;
	}
	server_name_fd(fd);
	r = fd;
out:
	if (names != NULL) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return (r);
}

/*
 * Is path a socket nobody listens on any more (a stale one from a crashed
 * daemon)?  Only then may it be unlinked: a live daemon answers connect, and
 * a file that is not a socket is not ours to remove.
 */
static int
server_path_is_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat	st;
	int		fd, r;

	if (lstat(path, &st) == -1)
		return (errno == ENOENT ? 1 : -errno);
	if (!S_ISSOCK(st.st_mode))
		return (-EEXIST);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-errno);
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		r = -EADDRINUSE;
	else if (errno == ECONNREFUSED)
		r = 1;
	else
		r = -errno;
	closefd(&fd);
	return (r);
}

/* Bind and listen on path, replacing a stale socket.  Returns the fd or -errno. */
static int
server_listen_path(const char *path)
{
	struct sockaddr_un	sun;
	struct stat		st;
	mode_t			old_umask;
	int			fd, r, tries;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return (-ENAMETOOLONG);
	strcpy(sun.sun_path, path);

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return (-errno);
	for (tries = 0;; tries++) {
		/* The socket is born 0660: no window where it is wider. */
		old_umask = umask(0117);
		r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
		umask(old_umask);
		if (r == 0)
			break;
		r = -errno;
		if (r != -EADDRINUSE || tries > 0)
			goto fail;
		if ((r = server_path_is_stale(path, &sun)) < 0) {
			if (r == -EADDRINUSE)
				log_warnx("%s: another sbumld is listening",
				    path);
			else if (r == -EEXIST)
				log_warnx("%s: exists and is not a socket",
				    path);
			goto fail;
		}
		log_info("%s: removing stale socket", path);
		if (unlink(path) == -1 && errno != ENOENT) {
			r = -errno;
			goto fail;
		}
	}
	if (listen(fd, SOMAXCONN) == -1) {
		r = -errno;
		(void)unlink(path);
		goto fail;
	}
	/* Remember which inode we created, so shutdown never unlinks a successor's socket. */
	if (stat(path, &st) == 0) {
		bound_dev = st.st_dev;
		bound_ino = st.st_ino;
		bound_path = xstrdup(path);
	}
	return (fd);

fail:
	closefd(&fd);
	return (r);
}

/* Start or stop watching the listener. */
static void
server_listen_enable(int on)
{
	if (listen_ev == NULL)
		return;
	if (on) {
		if (event_add(listen_ev, NULL) == -1)
			log_warnx("cannot watch the listening socket");
	} else
		event_del(listen_ev);
}

/* The EMFILE/ENFILE back-off is over: accept again. */
static void
server_backoff_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	server_listen_enable(1);
}

/* Close the descriptors a client passed that no call took. */
static void
client_drop_fds(struct client *c)
{
	while (c->nfds > 0)
		closefd(&c->fds[--c->nfds]);
}

/* Free dead clients' sockets and drop the server's reference (deferred from their callbacks). */
static void
server_reap_cb(evutil_socket_t fd, short events, void *arg)
{
	struct client	*c;

	(void)fd;
	(void)events;
	(void)arg;
	while ((c = TAILQ_FIRST(&reap_list)) != NULL) {
		TAILQ_REMOVE(&reap_list, c, entry);
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
		client_drop_fds(c);
		if (c->in != NULL) {
			evbuffer_free(c->in);
			c->in = NULL;
		}
		if (c->bev != NULL) {
			bufferevent_free(c->bev);
			c->bev = NULL;
		}
		client_unref(c);
	}
}

/*
 * Tear a connection down: unlink it now, close and release it from the
 * reaper.  Safe to call from the client's own callbacks and more than once.
 */
static void
client_kill(struct client *c, const char *why)
{
	if (c->flags & CLIENT_DEAD)
		return;
	log_debug("%s: closing: %s", c->name, why);
	c->flags |= CLIENT_DEAD;
	if (handlers.disconnect != NULL)
		handlers.disconnect(c);
	TAILQ_REMOVE(&clients, c, entry);
	nclients--;
	if (c->read_ev != NULL)
		event_del(c->read_ev);
	if (c->idle_ev != NULL)
		evtimer_del(c->idle_ev);
	if (c->bev != NULL) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	}
	TAILQ_INSERT_TAIL(&reap_list, c, entry);
	event_active(reap_ev, EV_TIMEOUT, 0);
}

/* The idle timer ran out: nothing in flight, not subscribed. */
static void
client_idle_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	client_kill(arg, "idle");
}

/*
 * (Re)start the idle timer of a connection with no call in flight and no
 * events subscription; stop it otherwise.
 */
static void
client_idle_update(struct client *c)
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
client_fail(struct client *c, const char *message)
{
	char	*line;

	line = handlers.error_line(SERVER_ERROR_REQUEST, message);
	client_send_line(c, line, strlen(line));
	free(line);
	client_close_after_flush(c);
}

/*
 * Input arrived: hand every complete line to the line handler.  A reference
 * is held across the loop because the handler may kill the client.
 */
static void
client_read(struct client *c)
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
	client_ref(c);
	while ((c->flags & (CLIENT_DEAD | CLIENT_CLOSING)) == 0) {
		/* Resume the search where the last one stopped: long lines arrive in many reads. */
		if (evbuffer_ptr_set(in, &start, c->scanned, EVBUFFER_PTR_SET) == -1)
			fatalx("%s: evbuffer_ptr_set", __func__);
		eol = evbuffer_search_eol(in, &start, &eol_len, EVBUFFER_EOL_LF);
		/* Enforce the limit before the newline arrives, not after buffering it all. */
		if ((eol.pos == -1 && evbuffer_get_length(in) > SERVER_MAX_LINE) ||
		    (eol.pos != -1 && (size_t)eol.pos > SERVER_MAX_LINE)) {
			log_warnx("%s: line longer than %d bytes, closing",
			    c->name, SERVER_MAX_LINE);
			client_fail(c, "Invalid request: line longer than 1048576 "
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
		handlers.line(c, line, len);
		free(line);
	}
	client_unref(c);
}

/*
 * Keep the descriptors of one SCM_RIGHTS message (snapshot.export and
 * import take them with client_take_fd).  Beyond SERVER_MAX_FDS unclaimed
 * ones the client is misbehaving: they are closed and so is the connection.
 */
static bool
client_keep_fds(struct client *c, struct msghdr *msg)
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
client_recv_cb(evutil_socket_t fd, short events, void *arg)
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
		client_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c);
		return;
	}
	if (!client_keep_fds(c, &msg)) {
		log_warnx("%s: passed more than %d descriptors, closing", c->name,
		    SERVER_MAX_FDS);
		client_drop_fds(c);
		client_fail(c, "Invalid request: more than "
		    "4 unclaimed file descriptors passed; closing the connection");
		return;
	}
	if (n == 0) {
		client_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, c);
		return;
	}
	if (evbuffer_add(c->in, buf, (size_t)n) == -1)
		fatalx("evbuffer_add: out of memory");
	client_idle_update(c);
	client_read(c);
}

int
client_take_fd(struct client *c)
{
	int fd;

	if (c == NULL || c->nfds == 0)
		return -1;
	fd = c->fds[0];
	memmove(c->fds, c->fds + 1, (c->nfds - 1) * sizeof(int));
	c->nfds--;
	return fd;
}

/* The linger deadline passed: close even though the peer did not. */
static void
client_linger_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	client_kill(arg, "linger timeout");
}

/* Everything is written: shut our side down and wait (bounded) for the peer's EOF. */
static void
client_linger(struct client *c)
{
	struct timeval	tv = { SERVER_LINGER_SEC, 0 };

	if (c->flags & (CLIENT_DEAD | CLIENT_LINGER))
		return;
	c->flags |= CLIENT_LINGER;
	if (shutdown(bufferevent_getfd(c->bev), SHUT_WR) == -1) {
		client_kill(c, strerror(errno));
		return;
	}
	if ((c->linger_ev = evtimer_new(server_base, client_linger_cb, c)) == NULL ||
	    evtimer_add(c->linger_ev, &tv) == -1)
		fatalx("cannot arm the linger timer");
}

/* Output drained to the low watermark (empty): a closing client may now go. */
static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;

	if ((c->flags & CLIENT_CLOSING) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_linger(c);
	client_check_done(c);
}

/* After the peer's EOF: close once nothing is left to answer or to write. */
static void
client_check_done(struct client *c)
{
	if ((c->flags & (CLIENT_EOF | CLIENT_DEAD)) == CLIENT_EOF &&
	    c->calls == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_kill(c, "end of file");
}

/* EOF or error on the connection. */
static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client	*c = arg;
	struct pollfd	 pfd;

	if (what & BEV_EVENT_ERROR)
		client_kill(c, strerror(EVUTIL_SOCKET_ERROR()));
	else if (what & BEV_EVENT_EOF) {
		if (c->flags & CLIENT_CLOSING) {
			client_kill(c, "end of file");
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
			client_kill(c, "connection closed");
			return;
		}
		/* A half-close: the peer may still be waiting for answers. */
		c->flags |= CLIENT_EOF;
		event_del(c->read_ev);
		client_check_done(c);
	}
}

/*
 * Refuse a connection beyond a limit: one error line with msg,
 * written without blocking (a fresh socket's buffer takes it), then close.
 */
static void
server_refuse(int fd, const char *msg)
{
	char	*line, buf[4096];
	int	 i;

	line = handlers.error_line(SERVER_ERROR_LIMIT, msg);
	/* Best effort: the connection is refused either way. */
	if (send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) == -1 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		log_debug("refused client: %s", strerror(errno));
	free(line);
	/* Unread input would turn the peer's end of file into ECONNRESET. */
	for (i = 0; i < 64; i++) {
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
	}
	closefd(&fd);
}

/* Wrap an accepted (non-blocking) fd in a client; the server holds its reference. */
static void
client_create(int fd, const struct ucred *cred)
{
	struct client	*c;

	c = xcalloc(1, sizeof(*c));
	c->refs = 1;
	c->id = next_client_id++;
	c->cred = *cred;
	snprintf(c->name, sizeof(c->name), "client %llu (pid %ld, uid %lu)",
	    (unsigned long long)c->id, (long)cred->pid, (unsigned long)cred->uid);
	c->bev = bufferevent_socket_new(server_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	/* The bufferevent writes; client_recv_cb reads (descriptors too). */
	bufferevent_setcb(c->bev, NULL, client_write_cb, client_event_cb, c);
	if (bufferevent_enable(c->bev, EV_WRITE) == -1 ||
	    bufferevent_disable(c->bev, EV_READ) == -1)
		fatalx("bufferevent_enable failed");
	if ((c->in = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	c->read_ev = event_new(server_base, fd, EV_READ | EV_PERSIST,
	    client_recv_cb, c);
	if (c->read_ev == NULL || event_add(c->read_ev, NULL) == -1)
		fatalx("cannot watch client %llu", (unsigned long long)c->id);
	if ((c->idle_ev = evtimer_new(server_base, client_idle_cb, c)) == NULL)
		fatalx("evtimer_new failed");
	TAILQ_INSERT_TAIL(&clients, c, entry);
	nclients++;
	client_idle_update(c);
	log_debug("%s: connected", c->name);
}

/* Open connections of uid. */
static size_t
uid_clients(uid_t uid)
{
	struct client	*c;
	size_t		 n = 0;

	TAILQ_FOREACH(c, &clients, entry)
		if (c->cred.uid == uid)
			n++;
	return n;
}

/*
 * Why a peer with cred may not connect now, or NULL.  Root may take any of
 * SERVER_MAX_CLIENTS slots; every other uid at most
 * SERVER_MAX_CLIENTS_PER_UID, and all of them together leave
 * SERVER_ROOT_RESERVED slots free, so no uid can lock the others, or root,
 * out.
 */
static char *
server_limit(const struct ucred *cred)
{
	if (nclients >= SERVER_MAX_CLIENTS)
		return xasprintf("Too many clients (at most %d); try again later",
		    SERVER_MAX_CLIENTS);
	if (cred->uid == 0)
		return NULL;
	if (uid_clients(cred->uid) >= SERVER_MAX_CLIENTS_PER_UID)
		return xasprintf("Too many clients of uid %lu (at most %d per uid); "
		    "close one first", (unsigned long)cred->uid,
		    SERVER_MAX_CLIENTS_PER_UID);
	if (nclients >= SERVER_MAX_CLIENTS - SERVER_ROOT_RESERVED)
		return xasprintf("Too many clients (the last %d of %d places are "
		    "kept for root); try again later", SERVER_ROOT_RESERVED,
		    SERVER_MAX_CLIENTS);
	return NULL;
}

/*
 * Serve an accepted fd, or refuse it at a limit.  A peer whose credentials
 * cannot be read is not served: every request is authorised by them.
 */
static void
server_admit(int fd)
{
	struct ucred	 cred;
	socklen_t	 credlen = sizeof(cred);
	char		*why;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == -1 ||
	    credlen != sizeof(cred)) {
		log_warn("accept: no peer credentials; closing");
		closefd(&fd);
		return;
	}
	if ((why = server_limit(&cred)) != NULL) {
		/* A flood must not flood the log as well. */
		if (!refusing)
			log_warnx("refusing a client of uid %lu: %s (further "
			    "refusals are not logged until one is accepted)",
			    (unsigned long)cred.uid, why);
		refusing = 1;
		server_refuse(fd, why);
		free(why);
		return;
	}
	refusing = 0;
	client_create(fd, &cred);
}

/* The listener is readable: accept everything pending. */
static void
server_accept_cb(evutil_socket_t lfd, short events, void *arg)
{
	struct timeval	tv = { SERVER_ACCEPT_BACKOFF_SEC, 0 };
	int		fd;

	(void)events;
	(void)arg;
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
			case EINTR:
			case ECONNABORTED:
				return;
			case EMFILE:
			case ENFILE:
				/* Out of fds: stop accepting for a while rather than spin. */
				log_warn("accept; pausing for %d s",
				    SERVER_ACCEPT_BACKOFF_SEC);
				server_listen_enable(0);
				evtimer_add(backoff_ev, &tv);
				return;
			default:
				log_warn("accept");
				return;
			}
		}
		server_admit(fd);
	}
}

/* Set up the listener; see server.h. */
int
server_init(struct event_base *base, const char *path,
    const struct server_handlers *h)
{
	int	fd;

	if (h->line == NULL || h->error_line == NULL)
		return (-EINVAL);
	handlers = *h;
	server_base = base;
	if ((reap_ev = event_new(base, -1, 0, server_reap_cb, NULL)) == NULL ||
	    (backoff_ev = evtimer_new(base, server_backoff_cb, NULL)) == NULL)
		fatalx("event_new failed");

	fd = server_listen_activated();
	if (fd >= 0)
		log_info("listening on %s (socket activation)", listen_name);
	else if (fd == -ENOENT) {
		if ((fd = server_listen_path(path)) < 0) {
			log_warnx("%s: cannot listen: %s", path, strerror(-fd));
			goto fail;
		}
		snprintf(listen_name, sizeof(listen_name), "%s", path);
		log_info("listening on %s", path);
	} else {
		log_warnx("socket activation: %s", strerror(-fd));
		goto fail;
	}
	listen_fd = fd;
	listen_ev = event_new(base, fd, EV_READ | EV_PERSIST, server_accept_cb,
	    NULL);
	if (listen_ev == NULL)
		fatalx("event_new failed");
	server_listen_enable(1);
	return (0);

fail:
	event_free(reap_ev);
	event_free(backoff_ev);
	reap_ev = backoff_ev = NULL;
	return (fd);
}

/* Stop accepting; see server.h. */
void
server_stop_listening(void)
{
	if (backoff_ev != NULL)
		evtimer_del(backoff_ev);
	if (listen_ev != NULL) {
		event_free(listen_ev);
		listen_ev = NULL;
	}
	closefd(&listen_fd);
	if (bound_path != NULL) {
		struct stat	st;

		/* Only our own socket: a new daemon may already have replaced it. */
		if (stat(bound_path, &st) == 0 && st.st_dev == bound_dev &&
		    st.st_ino == bound_ino && unlink(bound_path) == -1)
			log_warn("%s: unlink", bound_path);
		free(bound_path);
		bound_path = NULL;
	}
}

/* Close everything; see server.h.  Clients still referenced by calls are freed by their last unref. */
void
server_shutdown(void)
{
	struct client	*c;

	server_stop_listening();
	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_kill(c, "shutting down");
	if (reap_ev != NULL) {
		server_reap_cb(-1, 0, NULL);
		event_free(reap_ev);
		reap_ev = NULL;
	}
	if (backoff_ev != NULL) {
		event_free(backoff_ev);
		backoff_ev = NULL;
	}
	server_base = NULL;
}

/* See server.h. */
const char *
server_listen_name(void)
{
	return (listen_name);
}

/* Number of open connections. */
size_t
server_client_count(void)
{
	return (nclients);
}

/* Queue a line; a client that lets SERVER_MAX_OUTPUT pile up is disconnected. */
void
client_send_line(struct client *c, const char *line, size_t len)
{
	struct evbuffer	*out;

	if (c == NULL || (c->flags & (CLIENT_DEAD | CLIENT_CLOSING)) ||
	    c->bev == NULL)
		return;
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) + len + 1 > SERVER_MAX_OUTPUT) {
		log_warnx("%s: more than %d bytes of unread output, "
		    "disconnecting", c->name, SERVER_MAX_OUTPUT);
		client_kill(c, "output limit");
		return;
	}
	if (evbuffer_add(out, line, len) == -1 ||
	    evbuffer_add(out, "\n", 1) == -1)
		fatalx("evbuffer_add failed");
}

/* Stop handling input; close once what is queued has been written (and the peer had its say). */
void
client_close_after_flush(struct client *c)
{
	if (c->flags & (CLIENT_DEAD | CLIENT_CLOSING))
		return;
	c->flags |= CLIENT_CLOSING;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_linger(c);
}

/* An answer is owed to this client (a call or a batch was started). */
void
client_call_begin(struct client *c)
{
	c->calls++;
	client_idle_update(c);
}

/* An owed answer was sent or dropped; a half-closed client may now be done. */
void
client_call_end(struct client *c)
{
	if (c->calls == 0)
		fatalx("%s: unbalanced client_call_end", c->name);
	c->calls--;
	client_idle_update(c);
	client_check_done(c);
}

/* Take a reference. */
struct client *
client_ref(struct client *c)
{
	c->refs++;
	return (c);
}

/* Drop a reference; the last one frees (the socket is already closed by then). */
struct client *
client_unref(struct client *c)
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
client_is_alive(const struct client *c)
{
	return (c != NULL && (c->flags & (CLIENT_DEAD | CLIENT_CLOSING)) == 0);
}

/* See server.h. */
const char *
client_name(const struct client *c)
{
	return (c->name);
}

/* See server.h. */
const struct ucred *
client_cred(const struct client *c)
{
	return (&c->cred);
}

/* Set or clear the events subscription. */
void
client_set_subscribed(struct client *c, bool on)
{
	if (on)
		c->flags |= CLIENT_SUBSCRIBED;
	else
		c->flags &= ~CLIENT_SUBSCRIBED;
	client_idle_update(c);
}

/* Is the connection subscribed to events? */
bool
client_is_subscribed(const struct client *c)
{
	return ((c->flags & CLIENT_SUBSCRIBED) != 0);
}

/* Send a line to every subscriber.  client_send_line may kill one, so iterate safely. */
void
server_broadcast_line(const char *line, size_t len)
{
	struct client	*c, *next;

	for (c = TAILQ_FIRST(&clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if ((c->flags & (CLIENT_SUBSCRIBED | CLIENT_CLOSING)) ==
		    CLIENT_SUBSCRIBED)
			client_send_line(c, line, len);
	}
}

void
server_broadcast_line_if(const char *line, size_t len,
    bool (*want)(const struct client *c, void *arg), void *arg)
{
	struct client	*c, *next;

	for (c = TAILQ_FIRST(&clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if ((c->flags & (CLIENT_SUBSCRIBED | CLIENT_CLOSING)) ==
		    CLIENT_SUBSCRIBED && want(c, arg))
			client_send_line(c, line, len);
	}
}
