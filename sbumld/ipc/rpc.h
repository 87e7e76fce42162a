/* SPDX-License-Identifier: MIT */
/*
 * JSON-RPC 2.0 envelope: parsing one line (object or batch), looking the
 * method up through the lookup given to rpc_init (api/'s method table, wired
 * by daemon.c), running its handler, and writing the response.
 * Handlers either answer at once (rpc_reply/rpc_error) and return 0, or keep
 * a reference to the call (rpc_call_ref) and return RPC_DEFERRED, answering
 * later from an event callback.  If the client disconnects meanwhile, the
 * answer is dropped silently: deferred work always finishes.
 * See doc/rpc.md for the wire contract.
 */
#ifndef SBUMLD_RPC_H
#define SBUMLD_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "server.h"

struct client;
struct rpc_call;

/* Standard JSON-RPC codes. */
#define RPC_PARSE_ERROR		-32700
#define RPC_INVALID_REQUEST	-32600
#define RPC_METHOD_NOT_FOUND	-32601
#define RPC_INVALID_PARAMS	-32602
#define RPC_INTERNAL_ERROR	-32603

/* Domain errors (doc/rpc.md); the string name goes into error.data.name. */
enum rpc_domain_error {
	RPC_E_LIMIT_EXCEEDED	= -32000,
	RPC_E_NO_SUCH_MACHINE	= -32001,
	RPC_E_MACHINE_EXISTS	= -32002,
	RPC_E_BAD_STATE		= -32003,
	RPC_E_BOOT_FAILED	= -32004,
	RPC_E_TIMEOUT		= -32005,
	RPC_E_NOT_SUPPORTED	= -32006,
	RPC_E_SAVE_IN_PROGRESS	= -32007,
	RPC_E_NO_SUCH_SNAPSHOT	= -32008,
	RPC_E_SNAPSHOT_EXISTS	= -32009,
	RPC_E_BAD_SNAPSHOT	= -32010,
	RPC_E_INCOMPATIBLE	= -32011,
	RPC_E_IO_ERROR		= -32012,
	RPC_E_PERMISSION_DENIED	= -32013,
};
/* "NoSuchMachine" for RPC_E_NO_SUCH_MACHINE, "InvalidParams" for -32602, ... */
const char *rpc_error_name(int code);

/* The "api" number of daemon.version: bumped on incompatible wire changes. */
#define RPC_API_VERSION	1

/* Limits from doc/rpc.md. */
#define RPC_MAX_BATCH	64
#define RPC_MAX_DEPTH	32	/* JSON nesting depth of one line */

#define RPC_DEFERRED	1

typedef int (*rpc_handler)(struct rpc_call *call, struct json_object *params);

struct rpc_method {
	const char	*name;
	rpc_handler	 fn;
};
/* The method named name, or NULL (MethodNotFound). */
typedef const struct rpc_method *(*rpc_method_lookup)(const char *name);

/* Dispatch every method through find from now on; before it, none is found. */
void	rpc_init(rpc_method_lookup find);

/*
 * Handler contract: return 0 after answering, RPC_DEFERRED after taking a
 * reference (rpc_call_ref) to answer later, or -errno without answering
 * (answered for you as InternalError with data.errno).  A deferred call
 * whose references are all dropped unanswered is answered InternalError,
 * so a client never waits forever.
 *
 * Answer a call.  rpc_reply consumes result (may be NULL for null).
 * rpc_error formats the message; rpc_error_data also attaches extra members
 * to error.data (consumes data, an object or NULL; "name" is added for you).
 * Each call is answered exactly once; answering also drops the handler's
 * implicit reference, so after answering a non-deferred call don't touch it.
 */
void	rpc_reply(struct rpc_call *call, struct json_object *result);
void	rpc_error(struct rpc_call *call, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	rpc_error_data(struct rpc_call *call, int code, struct json_object *data,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * Error for a failed host operation: err is a positive or negative errno;
 * ": strerror(err)" is appended to the message and data.errno holds its
 * name ("ENOENT").  Meant for RPC_INTERNAL_ERROR and RPC_E_IO_ERROR.
 */
void	rpc_error_errno(struct rpc_call *call, int code, int err,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * LimitExceeded for a job the worker pool refused (worker_submit -EAGAIN):
 * the client, or all clients, have as many jobs queued or running as allowed.
 */
void	rpc_error_limit_jobs(struct rpc_call *call);

/* {"reason": reason}: the error.data of a refusal whose cause is text. */
struct json_object *rpc_reason(const char *reason);

/* References for deferred calls.  rpc_call_unref accepts NULL, returns NULL. */
struct rpc_call *rpc_call_ref(struct rpc_call *call);
struct rpc_call *rpc_call_unref(struct rpc_call *call);
/* The connection the call came on, or NULL once it has gone away. */
struct client	*rpc_call_client(struct rpc_call *call);
const char	*rpc_call_method(struct rpc_call *call);

/*
 * Declarative parameter parsing.  Strings and objects are borrowed from
 * params and valid until the call is answered (copy them for deferred work).
 * Missing optional members leave the output untouched (set defaults first).
 * Unknown members, missing required ones and wrong types answer the call with
 * -32602 naming the member and return -EINVAL: the handler then returns 0.
 * The table ends with an entry whose name is NULL; params may be NULL (absent).
 * Methods without parameters pass an empty table to reject unknown members.
 * Strings containing NUL characters are rejected.
 */
enum rpc_param_type {
	RPC_PARAM_STRING,	/* const char * */
	RPC_PARAM_INT,		/* int64_t, range checked against min/max */
	RPC_PARAM_BOOL,		/* bool */
	RPC_PARAM_ARRAY,	/* struct json_object * (json array) */
	RPC_PARAM_OBJECT,	/* struct json_object * (json object) */
};
#define RPC_PARAM_REQUIRED	0x1

struct rpc_param {
	const char		*name;
	enum rpc_param_type	 type;
	size_t			 offset;	/* offsetof() into the handler's struct */
	unsigned int		 flags;
	int64_t			 min, max;	/* RPC_PARAM_INT only; both 0: any int64 */
};
int	rpc_parse_params(struct rpc_call *call, struct json_object *params,
	    const struct rpc_param *table, void *out);

/*
 * The framing layer (server-conn.c) hands each complete line to
 * rpc_process_line, its server_handlers.line (line is NUL-terminated at
 * len).  Responses and notifications go back through server_client_send_line().
 */
void	rpc_process_line(struct client *c, const char *line, size_t len);
/*
 * server_handlers.error_line: the error response (id null) for a peer the
 * server closes (InvalidRequest) or refuses (LimitExceeded).  The caller
 * frees the string.
 */
char	*rpc_server_error_line(enum server_error why, const char *message);
/*
 * A complete error response with "id": null, for errors found before any
 * request could be read (line too long, too many clients).  No trailing
 * newline.  The caller frees the string.
 */
char	*rpc_format_error(int code, const char *message);

#endif
