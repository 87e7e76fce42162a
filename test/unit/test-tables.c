/* SPDX-License-Identifier: MIT */
/*
 * Tables that must stay consistent: the real method table (sorted and
 * unique, for bsearch, and every entry found by rpc_method_find), error
 * names for every code in doc/rpc.md, and log level names round-tripping.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rpc-methods.h"

#include "test.h"

/* rpc_methods[]: strictly ascending names, each found, no handler missing. */
static void
test_methods(void)
{
	size_t	i;

	CHECK(rpc_methods_count > 0);
	for (i = 0; i < rpc_methods_count; i++) {
		CHECK(rpc_methods[i].name != NULL && rpc_methods[i].fn != NULL);
		CHECK(rpc_method_find(rpc_methods[i].name) == &rpc_methods[i]);
		/* Namespaced: "namespace.method". */
		CHECK(strchr(rpc_methods[i].name, '.') != NULL);
		if (i > 0 && strcmp(rpc_methods[i - 1].name,
		    rpc_methods[i].name) >= 0) {
			fprintf(stderr, "not sorted/unique: %s >= %s\n",
			    rpc_methods[i - 1].name, rpc_methods[i].name);
			CHECK(0);
		}
	}
	CHECK(rpc_method_find("daemon.ping") != NULL);
	CHECK(rpc_method_find("daemon.pin") == NULL);
	CHECK(rpc_method_find("") == NULL);
	CHECK(rpc_method_find("zzz") == NULL);
}

/* rpc_error_name: the names of doc/rpc.md's error table, all distinct. */
static void
test_error_names(void)
{
	static const struct {
		int		 code;
		const char	*name;
	} want[] = {
		{ -32700, "ParseError" },
		{ -32600, "InvalidRequest" },
		{ -32601, "MethodNotFound" },
		{ -32602, "InvalidParams" },
		{ -32603, "InternalError" },
		{ -32000, "LimitExceeded" },
		{ -32001, "NoSuchMachine" },
		{ -32002, "MachineExists" },
		{ -32003, "BadState" },
		{ -32004, "BootFailed" },
		{ -32005, "Timeout" },
		{ -32006, "NotSupported" },
		{ -32007, "SaveInProgress" },
		{ -32008, "NoSuchSnapshot" },
		{ -32009, "SnapshotExists" },
		{ -32010, "BadSnapshot" },
		{ -32011, "Incompatible" },
		{ -32012, "IoError" },
		{ -32013, "PermissionDenied" },
	};
	size_t	i, j;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_STR(rpc_error_name(want[i].code), want[i].name);
		for (j = 0; j < i; j++)
			CHECK(strcmp(rpc_error_name(want[i].code),
			    rpc_error_name(want[j].code)) != 0);
	}
	/* The enum and the macros agree with the doc. */
	CHECK(RPC_E_LIMIT_EXCEEDED == -32000 && RPC_E_IO_ERROR == -32012);
	CHECK(RPC_E_PERMISSION_DENIED == -32013);
	CHECK(RPC_PARSE_ERROR == -32700 && RPC_INTERNAL_ERROR == -32603);
	/* A code we never send still gets a name rather than NULL. */
	CHECK_STR(rpc_error_name(-32099), "InternalError");
	CHECK_STR(rpc_error_name(0), "InternalError");
}

/* Log levels: names round-trip; anything else is refused. */
static void
test_log_levels(void)
{
	enum log_level	l, got;

	for (l = LOG_LEVEL_ERROR; l <= LOG_LEVEL_DEBUG; l++) {
		CHECK(log_level_from_string(log_level_to_string(l), &got) == 0);
		CHECK(got == l);
	}
	got = LOG_LEVEL_INFO;
	CHECK(log_level_from_string("DEBUG", &got) < 0);
	CHECK(log_level_from_string("", &got) < 0);
	CHECK(log_level_from_string(NULL, &got) < 0);
	CHECK(got == LOG_LEVEL_INFO);
	CHECK_STR(log_level_to_string(LOG_LEVEL_WARNING), "warning");
}

/* Check every table. */
int
main(void)
{
	test_methods();
	test_error_names();
	test_log_levels();
	return (test_summary());
}
