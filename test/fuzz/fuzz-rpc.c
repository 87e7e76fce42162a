/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the JSON-RPC request path: one line as a client sends it, through
 * rpc_process_line (rpc.c: parsing, batches, envelope checks, method
 * lookup, rpc_parse_params with every parameter type, deferred answers,
 * error formatting) to dispatch, without a socket: fake-client.c stands in
 * for the server and checks that every answer is one JSON object.  The
 * methods are this file's (as in test-rpc): every parameter type and
 * flag, a handler that defers, one that fails with -errno; the daemon's
 * own handlers would boot machines.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fake-client.h"
#include "fuzz.h"
#include "rpc.h"

struct all_params {
	const char		*s;
	int64_t			 i, any;
	bool			 b;
	struct json_object	*a, *o;
};

static const struct rpc_param all_table[] = {
	{ "s", RPC_PARAM_STRING, offsetof(struct all_params, s), RPC_PARAM_REQUIRED, 0, 0 },
	{ "i", RPC_PARAM_INT, offsetof(struct all_params, i), 0, -5, 1000 },
	{ "any", RPC_PARAM_INT, offsetof(struct all_params, any), 0, 0, 0 },
	{ "b", RPC_PARAM_BOOL, offsetof(struct all_params, b), 0, 0, 0 },
	{ "a", RPC_PARAM_ARRAY, offsetof(struct all_params, a), 0, 0, 0 },
	{ "o", RPC_PARAM_OBJECT, offsetof(struct all_params, o), 0, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

static struct rpc_call	*deferred[64];
static size_t		 ndeferred;

/* fuzz.all: every parameter type; answers with what it parsed. */
static int
fuzz_all(struct rpc_call *call, struct json_object *params)
{
	struct all_params	 p = { 0 };
	struct json_object	*res;

	if (rpc_parse_params(call, params, all_table, &p) < 0)
		return 0;
	res = json_object_new_object();
	json_object_object_add(res, "s", json_object_new_string(p.s));
	json_object_object_add(res, "i", json_object_new_int64(p.i));
	json_object_object_add(res, "b", json_object_new_boolean(p.b));
	if (p.a != NULL)
		json_object_object_add(res, "a", json_object_get(p.a));
	if (p.o != NULL)
		json_object_object_add(res, "o", json_object_get(p.o));
	rpc_reply(call, res);
	return 0;
}

/* fuzz.defer: answered after the line, as a job's callback would. */
static int
fuzz_defer(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = { { NULL, 0, 0, 0, 0, 0 } };
	char dummy;

	if (rpc_parse_params(call, params, table, &dummy) < 0)
		return 0;
	if (ndeferred == sizeof(deferred) / sizeof(deferred[0])) {
		rpc_error(call, RPC_E_LIMIT_EXCEEDED, "too many deferred calls");
		return 0;
	}
	deferred[ndeferred++] = rpc_call_ref(call);
	return RPC_DEFERRED;
}

/* fuzz.drop: deferred and then dropped unanswered (answered InternalError for it). */
static int
fuzz_drop(struct rpc_call *call, struct json_object *params)
{
	(void)params;
	(void)call;
	return RPC_DEFERRED;
}

/* fuzz.fail: a handler's -errno. */
static int
fuzz_fail(struct rpc_call *call, struct json_object *params)
{
	(void)call;
	(void)params;
	return -EIO;
}

/* This harness's method table, handed to rpc_init. */
static const struct rpc_method fuzz_methods[] = {
	{ "fuzz.all", fuzz_all },
	{ "fuzz.defer", fuzz_defer },
	{ "fuzz.drop", fuzz_drop },
	{ "fuzz.fail", fuzz_fail },
};

/* rpc_init's lookup. */
static const struct rpc_method *
fuzz_method_find(const char *name)
{
	for (size_t i = 0; i < sizeof(fuzz_methods) / sizeof(fuzz_methods[0]); i++)
		if (strcmp(fuzz_methods[i].name, name) == 0)
			return &fuzz_methods[i];
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line;

	/* The server hands over one line without its '\n', NUL-terminated. */
	if (memchr(data, '\n', size) != NULL)
		return 0;
	rpc_init(fuzz_method_find);
	line = malloc(size + 1);
	if (line == NULL)
		abort();
	memcpy(line, data, size);
	line[size] = '\0';
	rpc_process_line(fake_client(), line, size);
	free(line);
	for (size_t i = 0; i < ndeferred; i++) {
		rpc_reply(deferred[i], json_object_new_string("later"));
		rpc_call_unref(deferred[i]);
	}
	ndeferred = 0;
	/* Every answer owed has been given. */
	if (fake_client_calls() != 0)
		abort();
	return 0;
}
