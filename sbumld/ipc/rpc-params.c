/* SPDX-License-Identifier: MIT */
/*
 * Declarative parameter parsing for the method handlers (rpc.h,
 * rpc_parse_params): unknown members first, then every table entry checked
 * for presence, type and range, each refusal an InvalidParams answer naming
 * the member in error.data.param.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc.h"

/* -32602 naming the parameter; returns -EINVAL for rpc_parse_params. */
static int
rpc_param_error(struct rpc_call *call, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answer -32602 with data.param = name. */
static int
rpc_param_error(struct rpc_call *call, const char *name, const char *fmt, ...)
{
	struct json_object	*data;
	char			*msg;
	va_list			 ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	data = json_object_new_object();
	json_object_object_add(data, "param", json_object_new_string(name));
	rpc_error_data(call, RPC_INVALID_PARAMS, data, "%s", msg);
	free(msg);
	return (-EINVAL);
}

/* Find name in a NULL-terminated parameter table. */
static const struct rpc_param *
rpc_param_find(const struct rpc_param *table, const char *name)
{
	for (; table->name != NULL; table++) {
		if (strcmp(table->name, name) == 0)
			return (table);
	}
	return (NULL);
}

/* Check one present parameter against its table entry and store it in out. 0 or -EINVAL (answered). */
static int
rpc_param_store(struct rpc_call *call, const struct rpc_param *p,
    struct json_object *v, void *out)
{
	char		*dst = (char *)out + p->offset;
	const char	*s;
	int64_t		 n, min = INT64_MIN, max = INT64_MAX;

	switch (p->type) {
	case RPC_PARAM_STRING:
		if (!json_object_is_type(v, json_type_string))
			return (rpc_param_error(call, p->name,
			    "Parameter \"%s\" must be a string", p->name));
		s = json_object_get_string(v);
		/* A NUL would silently cut names and paths short. */
		if (strlen(s) != (size_t)json_object_get_string_len(v))
			return (rpc_param_error(call, p->name,
			    "Parameter \"%s\" must not contain NUL characters",
			    p->name));
		memcpy(dst, &s, sizeof(s));
		return (0);
	case RPC_PARAM_INT:
		if (!json_object_is_type(v, json_type_int))
			return (rpc_param_error(call, p->name,
			    "Parameter \"%s\" must be an integer", p->name));
		if (p->min != 0 || p->max != 0) {
			min = p->min;
			max = p->max;
		}
		n = json_object_get_int64(v);
		/* json-c clamps values above INT64_MAX; don't let them pass as INT64_MAX. */
		if (n < min || n > max || (n == INT64_MAX &&
		    json_object_get_uint64(v) > (uint64_t)INT64_MAX))
			return (rpc_param_error(call, p->name,
			    "Parameter \"%s\" must be between %" PRId64
			    " and %" PRId64, p->name, min, max));
		memcpy(dst, &n, sizeof(n));
		return (0);
	case RPC_PARAM_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return (rpc_param_error(call, p->name,
			    "Parameter \"%s\" must be true or false", p->name));
		{
			bool	b = json_object_get_boolean(v);

			memcpy(dst, &b, sizeof(b));
		}
		return (0);
	case RPC_PARAM_ARRAY:
		if (!json_object_is_type(v, json_type_array))
			return (rpc_param_error(call, p->name,
			    "Parameter \"%s\" must be an array", p->name));
		memcpy(dst, &v, sizeof(v));
		return (0);
	case RPC_PARAM_OBJECT:
		if (!json_object_is_type(v, json_type_object))
			return (rpc_param_error(call, p->name,
			    "Parameter \"%s\" must be an object", p->name));
		memcpy(dst, &v, sizeof(v));
		return (0);
	}
	fatalx("%s: parameter \"%s\" has a bad type", rpc_call_method(call),
	    p->name);
}

/* Parse params through a declarative table; see rpc.h. */
int
rpc_parse_params(struct rpc_call *call, struct json_object *params,
    const struct rpc_param *table, void *out)
{
	const struct rpc_param	*p;
	struct json_object	*v;
	int			 r;

	if (params != NULL) {
		/* Unknown members first: a misspelt optional one must not be silently ignored. */
		json_object_object_foreach(params, key, val) {
			(void)val;
			if (rpc_param_find(table, key) == NULL)
				return (rpc_param_error(call, key,
				    "Unknown parameter \"%s\"", key));
		}
	}
	for (p = table; p->name != NULL; p++) {
		if (params == NULL ||
		    !json_object_object_get_ex(params, p->name, &v)) {
			if (p->flags & RPC_PARAM_REQUIRED)
				return (rpc_param_error(call, p->name,
				    "Missing parameter \"%s\"", p->name));
			continue;
		}
		if ((r = rpc_param_store(call, p, v, out)) < 0)
			return (r);
	}
	return (0);
}
