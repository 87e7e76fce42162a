/* SPDX-License-Identifier: MIT */
/*
 * Server-to-client notifications: events for subscribed clients, and
 * progress notifications addressed to one client.
 */
#ifndef SBUMLD_EVENTS_H
#define SBUMLD_EVENTS_H

#include <sys/types.h>
#include <json-c/json.h>

struct client;

/* Send {"jsonrpc":"2.0","method":method,"params":params} to every subscriber. Consumes params. */
void	events_broadcast(const char *method, struct json_object *params);
/* Same, only to the subscribers that may see what owner owns (authz.h). */
void	events_broadcast_owned(const char *method, struct json_object *params,
	    uid_t owner);
/* Same, to one client (NULL: dropped). Consumes params. */
void	events_notify(struct client *c, const char *method, struct json_object *params);

#endif
