/* SPDX-License-Identifier: MIT */
/*
 * Between the listener (server.c) and its connections (server-conn.c);
 * nothing outside ipc/server*.c includes this.
 */
#ifndef SBUMLD_SERVER_INT_H
#define SBUMLD_SERVER_INT_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "server.h"

#define CLIENT_DEAD		0x1	/* unlinked; the reaper closes it */
#define CLIENT_CLOSING		0x2	/* input discarded; lingers once output is flushed */
#define CLIENT_SUBSCRIBED	0x4	/* receives events (events.subscribe) */
#define CLIENT_LINGER		0x8	/* write side shut down; waiting for EOF */
#define CLIENT_EOF		0x10	/* peer sent EOF; still answering */
#define CLIENT_HANDOVER		0x20	/* no more lines: handed over once flushed */

struct client {
	unsigned int		 refs;
	unsigned int		 flags;
	uint64_t		 id;
	const struct server_handlers *handlers;	/* the server's */
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
	server_handover_fn	 handover_fn;	/* set by server_client_handover */
	void			*handover_arg;
	TAILQ_ENTRY(client)	 entry;		/* clients or reap_list */
};
TAILQ_HEAD(server_client_list, client);

/*
 * server-conn.c.  server_client_create wraps an accepted (non-blocking) fd; the
 * caller holds the one reference and links the client into its list.
 */
struct client	*server_client_create(struct event_base *base, int fd,
		    const struct ucred *cred, const struct server_handlers *handlers);
/*
 * Tear a connection down: unlink it now (server_reap_later), close and
 * release it from the reaper.  Safe to call from the client's own callbacks
 * and more than once.
 */
void		 server_client_kill(struct client *c, const char *why);
/* The reaper's part: free the events and buffers, closing the socket. */
void		 server_client_release(struct client *c);

/* server.c: unlink a dead client and free it from a deferred event (server_reap_cb). */
void		 server_reap_later(struct client *c);

#endif
