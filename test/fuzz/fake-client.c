/* SPDX-License-Identifier: MIT */
/*
 * The client side of server.h without a socket, for the RPC harness: one
 * client that keeps no bytes, only checks that every line rpc.c sends it is
 * one answer (a JSON object, or the array of a batch's answers) and counts
 * the answers it is owed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <json-c/json.h>

#include "fake-client.h"
#include "server.h"

struct client {
	int		refs;
	int		calls;
	struct ucred	cred;
};

static struct client	the_client = { 1, 0, { 1, 0, 0 } };

struct client *
fake_client(void)
{
	return &the_client;
}

int
fake_client_calls(void)
{
	return the_client.calls;
}

void
server_client_send_line(struct client *c, const char *line, size_t len)
{
	struct json_object *o;

	(void)c;
	/* Every answer is JSON, whatever the request was. */
	if ((o = json_tokener_parse(line)) == NULL || len == 0 ||
	    (!json_object_is_type(o, json_type_object) &&
	    !json_object_is_type(o, json_type_array)))
		abort();
	json_object_put(o);
}

void
server_client_close_after_flush(struct client *c)
{
	(void)c;
}

void
server_client_call_begin(struct client *c)
{
	c->calls++;
}

void
server_client_call_end(struct client *c)
{
	if (--c->calls < 0)
		abort();
}

int
server_client_take_fd(struct client *c)
{
	(void)c;
	return -ENOENT;
}

struct client *
server_client_ref(struct client *c)
{
	c->refs++;
	return c;
}

struct client *
server_client_unref(struct client *c)
{
	if (c != NULL && --c->refs < 1)
		abort();	/* the server's own reference is never dropped here */
	return NULL;
}

bool
server_client_is_alive(const struct client *c)
{
	(void)c;
	return true;
}

const struct ucred *
server_client_cred(const struct client *c)
{
	return &c->cred;
}

const char *
server_client_name(const struct client *c)
{
	(void)c;
	return "fuzz";
}

void
server_client_set_subscribed(struct client *c, bool on)
{
	(void)c;
	(void)on;
}

bool
server_client_is_subscribed(const struct client *c)
{
	(void)c;
	return false;
}

void
server_broadcast_line(const char *line, size_t len)
{
	(void)line;
	(void)len;
}
