/* SPDX-License-Identifier: MIT */
/*
 * The daemon.* and events.* methods: liveness, version and configuration,
 * run-time log level, and event subscriptions (doc/rpc.md).
 */
#include <stddef.h>

#include "config.h"
#include "context.h"
#include "log.h"
#include "rpc-authz.h"
#include "rpc-methods.h"
#include "server.h"

/* No parameters: the table only serves to reject unknown members. */
static const struct rpc_param no_params[] = {
	{ NULL, 0, 0, 0, 0, 0 }
};

/* daemon.ping: {"pong": true}. */
int
rpc_daemon_ping(struct rpc_call *call, struct json_object *params)
{
	struct json_object	*res;

	if (rpc_parse_params(call, params, no_params, NULL) < 0)
		return (0);
	res = json_object_new_object();
	json_object_object_add(res, "pong", json_object_new_boolean(1));
	rpc_reply(call, res);
	return (0);
}

/* Add a string member, null if the value is unset. */
static void
add_string_or_null(struct json_object *obj, const char *key, const char *val)
{
	json_object_object_add(obj, key,
	    val != NULL ? json_object_new_string(val) : NULL);
}

/* daemon.version: the version, the API number and the daemon's defaults. */
int
rpc_daemon_version(struct rpc_call *call, struct json_object *params)
{
	struct json_object	*res;

	if (rpc_parse_params(call, params, no_params, NULL) < 0)
		return (0);
	res = json_object_new_object();
	json_object_object_add(res, "version",
	    json_object_new_string(SBUML_VERSION));
	json_object_object_add(res, "api", json_object_new_int(RPC_API_VERSION));
	add_string_or_null(res, "kernel", daemon_config.kernel);
	add_string_or_null(res, "image", daemon_config.image);
	add_string_or_null(res, "state_dir", daemon_config.state_dir);
	rpc_reply(call, res);
	return (0);
}

struct set_log_level_params {
	const char	*level;
};

static const struct rpc_param set_log_level_table[] = {
	{ "level", RPC_PARAM_STRING,
	    offsetof(struct set_log_level_params, level), RPC_PARAM_REQUIRED, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 }
};

/* daemon.set-log-level: change the level now; answers the level in effect. */
int
rpc_daemon_set_log_level(struct rpc_call *call, struct json_object *params)
{
	struct set_log_level_params	 p = { NULL };
	struct json_object		*data, *res;
	enum log_level			 level;

	if (rpc_parse_params(call, params, set_log_level_table, &p) < 0 ||
	    !rpc_authz_admin(call, "change the daemon's log level"))
		return (0);
	if (log_level_from_string(p.level, &level) < 0) {
		data = json_object_new_object();
		json_object_object_add(data, "param",
		    json_object_new_string("level"));
		rpc_error_data(call, RPC_INVALID_PARAMS, data,
		    "Parameter \"level\" must be one of \"debug\", \"info\", "
		    "\"warning\" or \"error\"");
		return (0);
	}
	if (level != log_getlevel())
		log_info("log level set to %s", log_level_to_string(level));
	log_setlevel(level);
	res = json_object_new_object();
	json_object_object_add(res, "level",
	    json_object_new_string(log_level_to_string(log_getlevel())));
	rpc_reply(call, res);
	return (0);
}

/* Set the connection's subscription flag and answer {"subscribed": on}. */
static int
rpc_events_set(struct rpc_call *call, struct json_object *params, bool on)
{
	struct json_object	*res;
	struct client		*c;

	if (rpc_parse_params(call, params, no_params, NULL) < 0)
		return (0);
	if ((c = rpc_call_client(call)) != NULL)
		server_client_set_subscribed(c, on);
	res = json_object_new_object();
	json_object_object_add(res, "subscribed", json_object_new_boolean(on));
	rpc_reply(call, res);
	return (0);
}

/* events.subscribe: this connection receives every event from now on. */
int
rpc_events_subscribe(struct rpc_call *call, struct json_object *params)
{
	return (rpc_events_set(call, params, true));
}

/* events.unsubscribe: stop sending events to this connection. */
int
rpc_events_unsubscribe(struct rpc_call *call, struct json_object *params)
{
	return (rpc_events_set(call, params, false));
}
