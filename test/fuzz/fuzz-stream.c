/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the export-stream import parser: the bytes of a stream, read the
 * way snapshot.import reads one (snapshot-stream.c framing, the HEAD record
 * by stream_head_parse, the MANI record by the manifest loader, CHNK
 * records checked and added to a chunk store in a temporary directory
 * through store_put_frame), up to and including the end record's hash.
 * Nothing is committed: the store handle's pending pack is dropped after
 * every input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "snapshot-check.h"
#include "snapshot-chunks.h"
#include "snapshot-stream.h"
#include "store.h"

static char	 root[] = "/tmp/sbuml-fuzz-stream.XXXXXX";
static int	 memfd = -1;

static void
setup(void)
{
	if (memfd >= 0)
		return;
	if (mkdtemp(root) == NULL ||
	    (memfd = memfd_create("fuzz-stream", MFD_CLOEXEC)) < 0)
		abort();
}

static void
add_needed(const char *hex, void *arg)
{
	(void)store_hashset_add(arg, hex);
}

/* The temporary store, opened at the first chunk (most inputs have none). */
static struct store *
store_of(struct store **s)
{
	char err[1024];

	if (*s == NULL && (*s = store_open(root, err, sizeof(err))) == NULL)
		abort();
	return *s;
}

/* Read the records after the header as the import does. */
static void
read_records(struct stream *st, struct store **s)
{
	struct stream_head	 h;
	struct json_object	*m = NULL;
	struct store_hashset	*needed = store_hashset_new();
	struct store_stats	 stats = { 0 };
	const unsigned char	*p;
	char			 type[5], err[1024], hex[STORE_HEX_LEN + 1];
	size_t			 len, clen;

	for (int no = 0; stream_get(st, type, &p, &len, err, sizeof(err)) == 0;
	    no++) {
		if (strcmp(type, STREAM_END) == 0) {
			/* Every chunk read back, as the import does. */
			if (m != NULL)
				(void)snapshot_manifest_check_chunks(store_of(s), m, err,
				    sizeof(err));
			break;
		}
		if (no == 0 && strcmp(type, STREAM_HEAD) == 0) {
			if (stream_head_parse((const char *)p, len, &h, err,
			    sizeof(err)) < 0)
				break;
		} else if (no == 1 && strcmp(type, STREAM_MANI) == 0) {
			if (snapshot_manifest_parse((const char *)p, len, &m, err,
			    sizeof(err)) < 0)
				break;
			if (snapshot_manifest_hashes(m, add_needed, needed) < 0)
				abort();	/* accepted, so well formed */
		} else if (no >= 2 && strcmp(type, STREAM_CHNK) == 0 &&
		    len > STORE_HEX_LEN) {
			memcpy(hex, p, STORE_HEX_LEN);
			hex[STORE_HEX_LEN] = '\0';
			if (!store_hashset_has(needed, hex) ||
			    store_put_frame(store_of(s), hex, p + STORE_HEX_LEN,
			    len - STORE_HEX_LEN, &clen, &stats, err, sizeof(err)) < 0)
				break;
			if (clen == 0 || clen > STORE_CHUNK_SIZE)
				abort();
		} else
			break;
	}
	json_object_put(m);
	store_hashset_free(needed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream	*st;
	struct store	*s = NULL;
	char		 err[1024];

	setup();
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size ||
	    lseek(memfd, 0, SEEK_SET) != 0)
		abort();
	if (stream_read_open(memfd, &st, err, sizeof(err)) == 0) {
		read_records(st, &s);
		stream_free(st);
	}
	store_free(s);	/* drops the pending pack: nothing is committed */
	return 0;
}
