/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the manifest loader (snapshot-check.c): manifest.json text as any
 * snapshot directory or import stream may hold it.  What it accepts is
 * then walked the way list, info, gc and export walk a manifest, so an
 * accepted manifest that those would trip on is a crash here too.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "snapshot.h"
#include "snapshot-check.h"
#include "snapshot-chunks.h"
#include "store.h"

static void
count_chunk(const char *hex, size_t len, void *arg)
{
	/* A chunk's length comes from the validated size: never above a chunk. */
	if (strlen(hex) != STORE_HEX_LEN || len == 0 || len > STORE_CHUNK_SIZE)
		abort();
	(*(size_t *)arg)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object	*m = NULL, *o;
	char			 err[1024];
	size_t			 n = 0;

	if (snapshot_manifest_parse((const char *)data, size, &m, err,
	    sizeof(err)) < 0) {
		if (m != NULL || err[0] == '\0')
			abort();	/* refused: nothing handed over, a reason given */
		return 0;
	}
	if (snapshot_manifest_chunks(m, count_chunk, &n) < 0)
		abort();	/* accepted, so its chunk lists are sound */
	o = snapshot_to_json("fuzz", "/nonexistent", m);
	(void)json_object_to_json_string(o);
	json_object_put(o);
	json_object_put(m);
	return 0;
}
