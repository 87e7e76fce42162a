/* SPDX-License-Identifier: MIT */
/* fake-client.c: server.h's client API without a socket (RPC harness). */
#ifndef SBUML_FAKE_CLIENT_H
#define SBUML_FAKE_CLIENT_H

struct client;

/* The one client every line comes from. */
struct client	*fake_client(void);
/* Answers it is still owed (server_client_call_begin minus _call_end). */
int		 fake_client_calls(void);

#endif
