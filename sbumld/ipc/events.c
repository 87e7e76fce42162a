/* SPDX-License-Identifier: MIT */
/*
 * Server-to-client notifications: {"jsonrpc":"2.0","method":...,"params":...}
 * lines, either to every subscribed connection (events) or to one (progress).
 * They carry no id, so clients tell them from responses by "method".
 */
#include "authz.h"
#include "events.h"
#include "server.h"

#define EVENTS_JSON_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Build the notification envelope; consumes params (NULL: no "params" member). */
static struct json_object *
events_envelope(const char *method, struct json_object *params)
{
	struct json_object	*n;

	n = json_object_new_object();
	json_object_object_add(n, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(n, "method", json_object_new_string(method));
	if (params != NULL)
		json_object_object_add(n, "params", params);
	return (n);
}

/* Send to every subscriber; consumes params. */
void
events_broadcast(const char *method, struct json_object *params)
{
	struct json_object	*n;
	const char		*s;
	size_t			 len;

	n = events_envelope(method, params);
	s = json_object_to_json_string_length(n, EVENTS_JSON_FLAGS, &len);
	server_broadcast_line(s, len);
	json_object_put(n);
}

/* server_broadcast_line_if filter: may the client see what *arg owns? */
static bool
events_may_see(const struct client *c, void *arg)
{
	return authz_may(server_client_cred(c), AUTHZ_VIEW, *(const uid_t *)arg);
}

/* Send to the subscribers that may see what owner owns; consumes params. */
void
events_broadcast_owned(const char *method, struct json_object *params,
    uid_t owner)
{
	struct json_object	*n;
	const char		*s;
	size_t			 len;

	n = events_envelope(method, params);
	s = json_object_to_json_string_length(n, EVENTS_JSON_FLAGS, &len);
	server_broadcast_line_if(s, len, events_may_see, &owner);
	json_object_put(n);
}

/* Send to one client if it is still connected; consumes params. */
void
events_notify(struct client *c, const char *method, struct json_object *params)
{
	struct json_object	*n;
	const char		*s;
	size_t			 len;

	if (!server_client_is_alive(c)) {
		json_object_put(params);
		return;
	}
	n = events_envelope(method, params);
	s = json_object_to_json_string_length(n, EVENTS_JSON_FLAGS, &len);
	server_client_send_line(c, s, len);
	json_object_put(n);
}
