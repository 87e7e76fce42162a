/* SPDX-License-Identifier: MIT */
/*
 * The loaders of untrusted snapshot metadata (snapshot-check.c): the export
 * stream's header, manifest.json and store file entries, fed what an
 * attacker would write (issue 9, rows 2-5): nulls and wrong types where
 * strings are expected, zero runs that wrap, sizes of 2^62, a kernel that is
 * a number.  Each must be refused with a message naming the field; none may
 * crash (this test also runs under ASan+UBSan).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "snapshot-check.h"
#include "snapshot-chunks.h"
#include "store.h"
#include "test.h"
#include "util.h"

#define HEX_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static char err[1024];

static int
head(const char *text)
{
	struct stream_head h;

	err[0] = '\0';
	return stream_head_parse(text, strlen(text), &h, err, sizeof(err));
}

static void
test_head(void)
{
	struct stream_head	 h;
	const char		*good = "{\"format\": \"sbuml-export\", \"version\": 1, "
	    "\"snapshot\": \"s1\", \"id\": \"" HEX_A "\", \"created\": \"x\", "
	    "\"chunks\": 3, \"base\": {\"snapshot\": \"b\", \"id\": \"" HEX_B "\"}}";

	CHECK(stream_head_parse(good, strlen(good), &h, err, sizeof(err)) == 0);
	CHECK_STR(h.snapshot, "s1");
	CHECK_STR(h.id, HEX_A);
	CHECK_STR(h.base_snapshot, "b");
	CHECK_STR(h.base_id, HEX_B);
	CHECK(head("{\"format\": \"sbuml-export\", \"version\": 1, \"snapshot\": "
	    "\"s\", \"id\": \"" HEX_A "\", \"base\": null}") == 0);
	/* Row 2: null where a string is expected, each with its field named. */
	CHECK(head("{\"format\": null, \"version\": 1, \"snapshot\": \"s\", "
	    "\"id\": \"" HEX_A "\"}") == -EBADMSG);
	CHECK(strstr(err, "\"format\" must be") != NULL);
	CHECK(head("{\"format\": \"sbuml-export\", \"version\": 1, \"snapshot\": "
	    "\"s\", \"id\": null}") == -EBADMSG);
	CHECK(strstr(err, "\"id\" must be a SHA-256") != NULL);
	CHECK(head("{\"format\": \"sbuml-export\", \"version\": 1, \"snapshot\": "
	    "\"s\", \"id\": \"" HEX_A "\", \"base\": {\"snapshot\": \"b\", "
	    "\"id\": null}}") == -EBADMSG);
	CHECK(strstr(err, "base.\"id\"") != NULL);
	CHECK(head("{\"format\": \"sbuml-export\", \"version\": 1, \"snapshot\": "
	    "\"s\", \"id\": \"" HEX_A "\", \"base\": {\"snapshot\": null, "
	    "\"id\": \"" HEX_B "\"}}") == -EBADMSG);
	CHECK(head("{\"format\": \"sbuml-export\", \"version\": 1, \"snapshot\": "
	    "null, \"id\": \"" HEX_A "\"}") == -EBADMSG);
	CHECK(strstr(err, "\"snapshot\"") != NULL);
	/* Numbers are not strings (json-c would render 1 as "1"). */
	CHECK(head("{\"format\": \"sbuml-export\", \"version\": \"1\", "
	    "\"snapshot\": \"s\", \"id\": \"" HEX_A "\"}") == -EBADMSG);
	CHECK(strstr(err, "\"version\" must be an integer") != NULL);
	CHECK(head("{\"format\": \"sbuml-export\", \"version\": 1, \"snapshot\": "
	    "\"s\", \"id\": \"" HEX_A "\", \"base\": 5}") == -EBADMSG);
	CHECK(head("{\"format\": \"sbuml-export\", \"version\": 1, \"snapshot\": "
	    "\"s\", \"id\": \"" HEX_A "\", \"chunks\": \"x\"}") == -EBADMSG);
	CHECK(head("{\"format\": \"sbuml-export\", \"version\": 2, \"snapshot\": "
	    "\"s\", \"id\": \"" HEX_A "\"}") == -EBADMSG);
	CHECK(head("[1, 2]") == -EBADMSG);
	CHECK(head("null") == -EBADMSG);
	CHECK(head("{\"format\": \"sbuml-export\"") == -EBADMSG);
	CHECK(head("{} trailing") == -EBADMSG);
	/* A name with a NUL inside is not the name it looks like. */
	CHECK(head("{\"format\": \"sbuml-export\", \"version\": 1, \"snapshot\": "
	    "\"a\\u0000b\", \"id\": \"" HEX_A "\"}") == -EBADMSG);
}

/* A format 2 manifest whose physmem entry is entry (JSON text). */
static char *
manifest_with(const char *entry, const char *extra)
{
	return xasprintf("{\"format\": \"sbuml-snapshot\", \"version\": 2, "
	    "\"machine\": {\"machine\": \"m\", \"image\": \"/i\", \"kernel\": "
	    "\"/k\", \"mem_mb\": 64, \"cmdline\": \"\", \"disks\": []}, "
	    "\"state\": \"running\", \"timings\": {\"pause_us\": 1}, "
	    "\"sizes\": {\"physmem\": 1}, \"store\": {\"chunks\": 1}, "
	    "\"host\": {}, \"kernel_report\": {\"a\": \"b\"}%s, "
	    "\"files\": [%s]}", extra, entry);
}

static int
manifest(const char *entry, const char *extra)
{
	struct json_object	*m = NULL;
	char			*text = manifest_with(entry, extra);
	int			 r;

	err[0] = '\0';
	r = snapshot_manifest_parse(text, strlen(text), &m, err, sizeof(err));
	CHECK((r == 0) == (m != NULL));
	json_object_put(m);
	free(text);
	return r;
}

static void
test_manifest(void)
{
	static const char good[] = "{\"path\": \"capture/physmem\", \"size\": "
	    "200000, \"chunks\": [\"" HEX_A "\", 2, \"" HEX_B "\"]}";

	CHECK(manifest(good, "") == 0);
	CHECK(manifest(good, ", \"kernel\": {\"build_id\": \"x\", \"size\": 65536, "
	    "\"chunks\": [\"" HEX_A "\"]}") == 0);
	/* Row 5: a kernel that is a number; format null. */
	CHECK(manifest(good, ", \"kernel\": 1") == -EBADMSG);
	CHECK(strstr(err, "\"kernel\" must be an object") != NULL);
	{
		static const char t[] = "{\"format\": null, \"version\": 2, \"files\": []}";
		struct json_object *m = NULL;

		CHECK(snapshot_manifest_parse(t, strlen(t), &m, err, sizeof(err)) ==
		    -EBADMSG && m == NULL);
		CHECK(strstr(err, "\"format\" must be") != NULL);
	}
	CHECK(manifest(good, ", \"machine\": 1") == -EBADMSG);
	CHECK(manifest(good, ", \"host\": []") == -EBADMSG);
	CHECK(manifest(good, ", \"timings\": {\"pause_us\": \"slow\"}") == -EBADMSG);
	CHECK(strstr(err, "timings.pause_us must be an integer") != NULL);
	CHECK(manifest(good, ", \"created\": 5") == -EBADMSG);
	/* Row 2: a file path that is null. */
	CHECK(manifest("{\"path\": null, \"size\": 0, \"chunks\": []}", "") == -EBADMSG);
	CHECK(strstr(err, "files[0].\"path\" must be a string") != NULL);
	CHECK(manifest("{\"path\": \"capture/../x\", \"size\": 0, \"chunks\": []}", "") ==
	    -EBADMSG);
	CHECK(manifest("{\"path\": \"capture/a/b\", \"size\": 0, \"chunks\": []}", "") ==
	    -EBADMSG);
	CHECK(manifest("{\"path\": \"/etc/shadow\", \"size\": 0, \"chunks\": []}", "") ==
	    -EBADMSG);
	CHECK(manifest("{\"path\": \"capture/\", \"size\": 0, \"chunks\": []}", "") ==
	    -EBADMSG);
	CHECK(manifest("{\"path\": \"capture/p\", \"size\": 0, \"chunks\": []}, "
	    "{\"path\": \"capture/p\", \"size\": 0, \"chunks\": []}", "") == -EBADMSG);
	CHECK(strstr(err, "twice") != NULL);
	CHECK(manifest("5", "") == -EBADMSG);
	/* Row 3: zero runs that would wrap the sum to 1 chunk. */
	CHECK(manifest("{\"path\": \"capture/physmem\", \"size\": 100, \"chunks\": "
	    "[9223372036854775807, 9223372036854775807, 3]}", "") == -EBADMSG);
	CHECK(strstr(err, "zero run") != NULL);
	CHECK(manifest("{\"path\": \"capture/physmem\", \"size\": 100, \"chunks\": "
	    "[0, 1]}", "") == -EBADMSG);
	CHECK(manifest("{\"path\": \"capture/physmem\", \"size\": 100, \"chunks\": "
	    "[-1, 2]}", "") == -EBADMSG);
	CHECK(manifest("{\"path\": \"capture/physmem\", \"size\": 100, \"chunks\": "
	    "[null]}", "") == -EBADMSG);
	CHECK(manifest("{\"path\": \"capture/physmem\", \"size\": 100, \"chunks\": "
	    "[\"" HEX_A "\", \"" HEX_A "\"]}", "") == -EBADMSG);
	/* Row 4: 2^62 bytes in one zero run; a disk may be larger than memory. */
	CHECK(manifest("{\"path\": \"capture/physmem\", \"size\": 4611686018427387904, "
	    "\"chunks\": [70368744177664]}", "") == -EBADMSG);
	CHECK(strstr(err, "out of range") != NULL);
	CHECK(manifest("{\"path\": \"capture/disk0\", \"size\": 4611686018427387904, "
	    "\"chunks\": [70368744177664]}", "") == -EBADMSG);
	CHECK(manifest("{\"path\": \"capture/disk0\", \"size\": 34359738368, "
	    "\"chunks\": [524288]}", "") == 0);
	CHECK(manifest("{\"path\": \"capture/physmem\", \"size\": 34359738368, "
	    "\"chunks\": [524288]}", "") == -EBADMSG);
	CHECK(manifest(good, ", \"kernel\": {\"size\": 4611686018427387904, "
	    "\"chunks\": [70368744177664]}") == -EBADMSG);
	/* Format 1 has no chunk lists (found by fuzz-stream: gc walked them). */
	{
		static const char t[] = "{\"format\": \"sbuml-snapshot\", \"version\": 1, "
		    "\"files\": [{\"path\": \"capture/physmem\", \"size\": 100, "
		    "\"chunks\": [9223372036854775807, 9223372036854775807, 3]}]}";
		static const char k[] = "{\"format\": \"sbuml-snapshot\", \"version\": 1, "
		    "\"kernel\": {\"chunks\": [1]}, \"files\": [{\"path\": "
		    "\"capture/physmem\", \"size\": 100}]}";
		struct json_object *m = NULL;

		CHECK(snapshot_manifest_parse(t, strlen(t), &m, err, sizeof(err)) ==
		    -EBADMSG && m == NULL);
		CHECK(strstr(err, "must be absent in a format 1 manifest") != NULL);
		CHECK(snapshot_manifest_parse(k, strlen(k), &m, err, sizeof(err)) ==
		    -EBADMSG && m == NULL);
	}
	/* Machine section: what restore reads must have its type. */
	CHECK(manifest(good, ", \"machine\": {\"disks\": [null]}") == -EBADMSG);
	CHECK(manifest(good, ", \"machine\": {\"mem_mb\": 99999999}") == -EBADMSG);
	CHECK(manifest(good, ", \"machine\": {\"image\": 3}") == -EBADMSG);
	/* capture (shown to callers as it is); absent in older snapshots. */
	CHECK(manifest(good, ", \"capture\": {\"method\": \"cow\", \"asked\": "
	    "\"cow\", \"wp_us\": 5, \"faults\": 0}") == 0);
	CHECK(manifest(good, ", \"capture\": {\"method\": \"staged\", \"asked\": "
	    "\"cow\", \"fallback\": \"stopped\"}") == 0);
	CHECK(manifest(good, ", \"capture\": 1") == -EBADMSG);
	CHECK(strstr(err, "\"capture\" must be an object") != NULL);
	CHECK(manifest(good, ", \"capture\": {\"method\": \"evil\"}") == -EBADMSG);
	CHECK(strstr(err, "capture.\"method\" must be") != NULL);
	CHECK(manifest(good, ", \"capture\": {\"asked\": 1}") == -EBADMSG);
	CHECK(manifest(good, ", \"capture\": {\"fallback\": {}}") == -EBADMSG);
	CHECK(manifest(good, ", \"capture\": {\"wp_us\": [1]}") == -EBADMSG);
	CHECK(strstr(err, "capture.wp_us must be an integer") != NULL);
	{
		char	 big[600], *extra;

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		extra = xasprintf(", \"capture\": {\"fallback\": \"%s\"}", big);
		CHECK(manifest(good, extra) == -EBADMSG);
		free(extra);
	}
}

/* snapshot_manifest_hashes (gc, export) never walks past a file's end. */
static void
count_hash(const char *hex, void *arg)
{
	(void)hex;
	(*(int *)arg)++;
}

static void
test_manifest_hashes(void)
{
	static const char t[] = "{\"files\": [{\"path\": \"capture/p\", \"size\": "
	    "100, \"chunks\": [9223372036854775807, 9223372036854775807, 3, \""
	    HEX_A "\"]}]}";
	struct json_object	*m = json_tokener_parse(t);
	int			 n = 0;

	CHECK(snapshot_manifest_hashes(m, count_hash, &n) == -EBADMSG);
	json_object_put(m);
	m = json_tokener_parse("{\"kernel\": 1, \"files\": [{\"path\": null, "
	    "\"chunks\": [null]}]}");
	CHECK(snapshot_manifest_hashes(m, count_hash, &n) == -EBADMSG);
	json_object_put(m);
}

int
main(void)
{
	test_head();
	test_manifest();
	test_manifest_hashes();
	return test_summary();
}
