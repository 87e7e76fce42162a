/* SPDX-License-Identifier: MIT */
/*
 * The listening Unix socket (bound, or inherited by socket activation),
 * accepted connections, newline framing and per-client limits.  The server
 * speaks no protocol: what a line means, and the words of the error line a
 * refused or misbehaving peer gets, come from the handlers given to
 * server_init (rpc.c's JSON-RPC, wired by daemon.c).
 *
 * A connection is a refcounted struct client.  The server holds one
 * reference while the connection is open; every rpc_call holds another.
 * When the peer goes away (EOF, error, a limit) the client is marked dead
 * and its socket is closed from a deferred event, never from inside its own
 * callback; the struct itself lives until the last reference is dropped, so
 * a deferred answer can always ask server_client_is_alive() safely.
 */
#ifndef SBUMLD_SERVER_H
#define SBUMLD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct client;
struct event_base;

#define SERVER_MAX_CLIENTS	64
#define SERVER_MAX_CLIENTS_PER_UID 16	/* any uid but root */
#define SERVER_ROOT_RESERVED	8	/* places only root may take */
#define SERVER_MAX_LINE		(1024 * 1024)
#define SERVER_MAX_OUTPUT	(16 * 1024 * 1024)
#define SERVER_MAX_FDS		4	/* passed descriptors not yet taken */

/* Why the server closes or refuses a peer, for server_handlers.error_line. */
enum server_error {
	SERVER_ERROR_REQUEST,	/* a line too long, too many descriptors passed */
	SERVER_ERROR_LIMIT,	/* too many connections */
};

struct server_handlers {
	/*
	 * One complete line, NUL-terminated at len, without its '\n'.  The
	 * handler may send, close the connection or keep a reference to it.
	 */
	void	(*line)(struct client *c, const char *line, size_t len);
	/* The connection is closing: nobody reads its answers any more.  May be NULL. */
	void	(*disconnect)(struct client *c);
	/* The line (malloc'd, no '\n') sent before closing or refusing a peer. */
	char	*(*error_line)(enum server_error why, const char *message);
};

/*
 * Listen on the socket-activated fd named "rpc" (or the only one), else bind
 * path; handlers (copied) serve the connections.  0 or -errno.
 */
int	server_init(struct event_base *base, const char *path,
	    const struct server_handlers *handlers);
/* Stop accepting connections (first step of a graceful stop); open ones are kept. */
void	server_stop_listening(void);
/* Close every connection, the listener (unlinking a socket we bound) and free it all. */
void	server_shutdown(void);
/* The path we listen on (also when socket-activated), for logs and status. */
const char *server_listen_name(void);
/* Number of open connections. */
size_t	server_client_count(void);

/* Queue one line (a '\n' is appended) to a client.  Ignored for a closing client. */
void	server_client_send_line(struct client *c, const char *line, size_t len);
/* Mark a connection to be closed once its output is flushed (deferred free). */
void	server_client_close_after_flush(struct client *c);

/*
 * The line handler brackets every answer it owes (rpc.c: a call with an id,
 * or a batch) so a client that half-closed its side is kept until all
 * answers are out.
 */
void	server_client_call_begin(struct client *c);
void	server_client_call_end(struct client *c);

/*
 * The oldest file descriptor the client passed (SCM_RIGHTS, sent with a
 * request's line) and not yet taken: the caller owns it.  -ENOENT if there
 * is none, -ENOTCONN for a NULL client.
 */
int	server_client_take_fd(struct client *c);

/*
 * Hand the connection over to a raw byte stream (a console attach: the
 * protocol switch of doc/rpc.md).  Once the line handler has returned,
 * every owed answer is sent and the output is flushed, fn(fd, pending,
 * arg) runs exactly once from the event loop with a new descriptor of
 * the socket (non-blocking, CLOEXEC, fn owns it) and the bytes the peer
 * sent after the request's line (pending, fn may take them; freed after
 * fn returns); then the server forgets the connection without closing
 * the socket under fn.  No further line is read as a request.  If the
 * peer goes away first, or the server shuts down, fn runs with fd -1 and
 * pending NULL.  -EBUSY if a hand-over is already asked for, -ENOTCONN
 * for a closing client.
 */
struct evbuffer;
typedef void (*server_handover_fn)(int fd, struct evbuffer *pending,
	    void *arg);
int	server_client_handover(struct client *c, server_handover_fn fn,
	    void *arg);

/* Take and drop references.  The unref accepts NULL and returns NULL. */
struct client	*server_client_ref(struct client *c);
struct client	*server_client_unref(struct client *c);
/* False once the connection is closing or closed: answers would be dropped. */
bool	server_client_is_alive(const struct client *c);
/* The peer's pid, uid and gid when it connected (SO_PEERCRED). */
const struct ucred *server_client_cred(const struct client *c);
/* A short name for log messages: "client 7 (pid 1234, uid 0)". */
const char *server_client_name(const struct client *c);

/* Event subscription flag of a connection (events.subscribe). */
void	server_client_set_subscribed(struct client *c, bool on);
bool	server_client_is_subscribed(const struct client *c);
/* Send a notification line to every subscribed client. */
void	server_broadcast_line(const char *line, size_t len);
/* The same, to the subscribed clients for which want(c, arg) is true. */
void	server_broadcast_line_if(const char *line, size_t len,
	    bool (*want)(const struct client *c, void *arg), void *arg);

#endif
