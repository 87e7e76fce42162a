/* SPDX-License-Identifier: MIT */
/*
 * The RPC socket: listening (socket activation or bind), accepting within
 * the limits on clients (per uid, and places kept for root), the list of
 * connections, reaping dead ones and broadcasting.  One connection's
 * framing, buffers and timers are server-conn.c's.  Limits: doc/rpc.md,
 * "Framing".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "server-int.h"
#include "util.h"

/* How long accept stays off after EMFILE/ENFILE (tmux: one second). */
#define SERVER_ACCEPT_BACKOFF_SEC	1

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
static struct server_client_list	 clients = TAILQ_HEAD_INITIALIZER(clients);
static struct server_client_list	 reap_list = TAILQ_HEAD_INITIALIZER(reap_list);
static size_t			 nclients;
static int			 refusing;	/* at the limit: log the first refusal only */

static void	server_accept_cb(evutil_socket_t, short, void *);

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
		server_client_release(c);
		server_client_unref(c);
	}
}

/* See server-int.h. */
void
server_reap_later(struct client *c)
{
	TAILQ_REMOVE(&clients, c, entry);
	nclients--;
	TAILQ_INSERT_TAIL(&reap_list, c, entry);
	event_active(reap_ev, EV_TIMEOUT, 0);
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
	struct client	*c;
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
	c = server_client_create(server_base, fd, &cred, &handlers);
	TAILQ_INSERT_TAIL(&clients, c, entry);
	nclients++;
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
		server_client_kill(c, "shutting down");
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

/* Send a line to every subscriber.  Sending may kill one, so iterate safely. */
void
server_broadcast_line(const char *line, size_t len)
{
	struct client	*c, *next;

	for (c = TAILQ_FIRST(&clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if ((c->flags & (CLIENT_SUBSCRIBED | CLIENT_CLOSING)) ==
		    CLIENT_SUBSCRIBED)
			server_client_send_line(c, line, len);
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
			server_client_send_line(c, line, len);
	}
}
