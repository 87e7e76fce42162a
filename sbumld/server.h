/* SPDX-License-Identifier: MIT */
/*
 * The listening Unix socket (bound, or inherited by socket activation),
 * accepted connections, newline framing and per-client limits.
 */
#ifndef SBUMLD_SERVER_H
#define SBUMLD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct client;
struct event_base;

#define SERVER_MAX_CLIENTS	64
#define SERVER_MAX_LINE		(1024 * 1024)
#define SERVER_MAX_OUTPUT	(16 * 1024 * 1024)

/* Listen on the socket-activated fd named "rpc" (or the only one), else bind path. 0 or -errno. */
int	server_init(struct event_base *base, const char *path);
void	server_shutdown(void);

/* Queue one line (a '\n' is appended) to a client.  Ignored for a closing client. */
void	client_send_line(struct client *c, const char *line, size_t len);
/* Mark a connection to be closed once its output is flushed (deferred free). */
void	client_close_after_flush(struct client *c);

/* Event subscription flag of a connection (events.subscribe). */
void	client_set_subscribed(struct client *c, bool on);
bool	client_is_subscribed(const struct client *c);
/* Send a notification line to every subscribed client. */
void	server_broadcast_line(const char *line, size_t len);

#endif
