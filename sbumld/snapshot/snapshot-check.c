/* SPDX-License-Identifier: MIT */
/*
 * Field-by-field checks of untrusted snapshot metadata (snapshot-check.h).
 * json-c hands back a string for a number and NULL for null, and an
 * object's iterator dereferences whatever it is given: so nothing here
 * calls json_object_get_* or iterates before json_object_is_type says what
 * the value is.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "snapshot.h"
#include "snapshot-check.h"
#include "net.h"
#include "snapshot-stream.h"
#include "store.h"
#include "uml.h"

static int __attribute__((format(printf, 3, 4)))
bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* Member key of o if it is there and of type t; NULL if absent; *ok false if of another type. */
static struct json_object *
member(struct json_object *o, const char *key, enum json_type t, bool *ok)
{
	struct json_object *v;

	*ok = true;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	if (!json_object_is_type(v, t)) {
		*ok = false;
		return NULL;
	}
	return v;
}

/* An optional member of type t: 0, or -EBADMSG naming it (where.key). */
static int
opt_typed(struct json_object *o, const char *where, const char *key,
    enum json_type t, const char *what, struct json_object **ret,
    char *err, size_t errlen)
{
	bool ok;

	*ret = member(o, key, t, &ok);
	if (!ok)
		return bad(err, errlen, "%s\"%s\" must be %s", where, key, what);
	return 0;
}

/* A required member of type t. */
static int
req_typed(struct json_object *o, const char *where, const char *key,
    enum json_type t, const char *what, struct json_object **ret,
    char *err, size_t errlen)
{
	int r = opt_typed(o, where, key, t, what, ret, err, errlen);

	if (r == 0 && *ret == NULL)
		return bad(err, errlen, "%s\"%s\" is missing (it must be %s)",
		    where, key, what);
	return r;
}

/* A string member that must be 64 lower-case hex digits. */
static int
hex_member(struct json_object *o, const char *where, const char *key,
    bool required, char out[STORE_HEX_LEN + 1], char *err, size_t errlen)
{
	static const char what[] = "a SHA-256 (64 lower-case hex digits)";
	struct json_object	*v;
	int			 r;

	r = required ? req_typed(o, where, key, json_type_string, what, &v, err,
	    errlen) : opt_typed(o, where, key, json_type_string, what, &v, err,
	    errlen);
	if (r < 0)
		return r;
	if (v == NULL)
		return 0;
	if (!store_valid_hex(json_object_get_string(v)))
		return bad(err, errlen, "%s\"%s\" must be %s", where, key, what);
	if (out != NULL)
		snprintf(out, STORE_HEX_LEN + 1, "%s", json_object_get_string(v));
	return 0;
}

/* A name as on the sending host: 1..64 bytes, no '/', no NUL inside. */
static int
name_member(struct json_object *o, const char *where, const char *key,
    char out[65], char *err, size_t errlen)
{
	struct json_object	*v;
	const char		*s;
	int			 r;

	if ((r = req_typed(o, where, key, json_type_string, "a snapshot name",
	    &v, err, errlen)) < 0)
		return r;
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || s[0] == '\0' ||
	    strlen(s) > 64)
		return bad(err, errlen, "%s\"%s\" must be a snapshot name of 1 to "
		    "64 bytes", where, key);
	snprintf(out, 65, "%s", s);
	return 0;
}

/* Parse JSON text of len bytes: one value, nothing but white space after it. */
static struct json_object *
parse_json(const char *text, size_t len, const char *what, char *err,
    size_t errlen)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	size_t			 end;

	if (len > INT_MAX) {
		bad(err, errlen, "%s is too large", what);
		return NULL;
	}
	if ((tok = json_tokener_new()) == NULL) {
		bad(err, errlen, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		bad(err, errlen, "%s is not valid JSON (%s at byte %zu)", what,
		    json_tokener_error_desc(json_tokener_get_error(tok)), end);
		json_object_put(o);
		o = NULL;
	} else {
		for (; end < len && strchr(" \t\r\n", text[end]) != NULL &&
		    text[end] != '\0'; end++)
			;
		if (end < len) {
			bad(err, errlen, "%s has bytes after its JSON value (at "
			    "byte %zu)", what, end);
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}

int
stream_head_parse(const char *text, size_t len, struct stream_head *h,
    char *err, size_t errlen)
{
	static const char	 where[] = "bad header: ";
	struct json_object	*o, *v, *b;
	int			 r;

	memset(h, 0, sizeof(*h));
	if ((o = parse_json(text, len, "the stream's header", err, errlen)) == NULL)
		return -EBADMSG;
	if (!json_object_is_type(o, json_type_object)) {
		r = bad(err, errlen, "%sit must be a JSON object", where);
		goto out;
	}
	if ((r = req_typed(o, where, "format", json_type_string,
	    "the string \"" EXPORT_FORMAT "\"", &v, err, errlen)) < 0)
		goto out;
	if (strcmp(json_object_get_string(v), EXPORT_FORMAT) != 0) {
		r = bad(err, errlen, "not an sbuml export stream (format \"%.64s\")",
		    json_object_get_string(v));
		goto out;
	}
	if ((r = req_typed(o, where, "version", json_type_int, "an integer",
	    &v, err, errlen)) < 0)
		goto out;
	if (json_object_get_int64(v) != EXPORT_VERSION) {
		r = bad(err, errlen, "not an sbuml export stream of version %d "
		    "(version %lld)", EXPORT_VERSION,
		    (long long)json_object_get_int64(v));
		goto out;
	}
	if ((r = name_member(o, where, "snapshot", h->snapshot, err, errlen)) < 0 ||
	    (r = hex_member(o, where, "id", true, h->id, err, errlen)) < 0 ||
	    (r = opt_typed(o, where, "created", json_type_string, "a string",
	    &v, err, errlen)) < 0 ||
	    (r = opt_typed(o, where, "chunks", json_type_int, "an integer",
	    &v, err, errlen)) < 0)
		goto out;
	if (!json_object_object_get_ex(o, "base", &b) || b == NULL)
		goto out;	/* absent or null: a full stream */
	if (!json_object_is_type(b, json_type_object)) {
		r = bad(err, errlen, "%s\"base\" must be null or an object", where);
		goto out;
	}
	if ((r = name_member(b, "bad header: base.", "snapshot",
	    h->base_snapshot, err, errlen)) < 0 ||
	    (r = hex_member(b, "bad header: base.", "id", true, h->base_id, err,
	    errlen)) < 0)
		goto out;
out:
	json_object_put(o);
	return r;
}

uint64_t
snapshot_file_max(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	if (strncmp(base, "disk", 4) == 0)
		return SNAPSHOT_DISK_FILE_MAX;
	return SNAPSHOT_MEM_FILE_MAX;
}

/* A captured file's path: "capture/<name>", name 1..NAME_MAX bytes, no '/', not "..". */
static bool
capture_path_ok(struct json_object *v)
{
	const char	*p = json_object_get_string(v), *name;
	size_t		 len = strlen(p);

	if ((size_t)json_object_get_string_len(v) != len ||
	    strncmp(p, SNAPSHOT_CAPTURE "/", strlen(SNAPSHOT_CAPTURE) + 1) != 0)
		return false;
	name = p + strlen(SNAPSHOT_CAPTURE) + 1;
	return name[0] != '\0' && strlen(name) <= NAME_MAX &&
	    strchr(name, '/') == NULL && strstr(name, "..") == NULL &&
	    strcmp(name, ".") != 0;
}

static int
check_files(struct json_object *m, int version, char *err, size_t errlen)
{
	struct json_object	*files, *f, *p, *v;
	char			 where[64];
	size_t			 n;
	int			 r;

	if ((r = req_typed(m, "manifest: ", "files", json_type_array, "an array",
	    &files, err, errlen)) < 0)
		return r;
	n = json_object_array_length(files);
	if (n == 0 || n > SNAPSHOT_FILES_MAX)
		return bad(err, errlen, "manifest: \"files\" lists %zu files; it "
		    "must list 1 to %d", n, SNAPSHOT_FILES_MAX);
	for (size_t i = 0; i < n; i++) {
		f = json_object_array_get_idx(files, i);
		snprintf(where, sizeof(where), "manifest: files[%zu].", i);
		if (!json_object_is_type(f, json_type_object))
			return bad(err, errlen, "manifest: files[%zu] must be an "
			    "object", i);
		if ((r = req_typed(f, where, "path", json_type_string,
		    "a string", &p, err, errlen)) < 0)
			return r;
		if (!capture_path_ok(p))
			return bad(err, errlen, "%s\"path\" \"%.200s\" must be "
			    "\"" SNAPSHOT_CAPTURE "/<name>\" (no other directory, "
			    "no \"..\")", where, json_object_get_string(p));
		for (size_t j = 0; j < i; j++) {
			struct json_object *q;

			json_object_object_get_ex(json_object_array_get_idx(files, j),
			    "path", &q);
			if (strcmp(json_object_get_string(q),
			    json_object_get_string(p)) == 0)
				return bad(err, errlen, "manifest: \"files\" lists %.200s "
				    "twice", json_object_get_string(p));
		}
		if (version == SNAPSHOT_VERSION) {
			if ((r = store_entry_check(json_object_get_string(p), f,
			    snapshot_file_max(json_object_get_string(p)), err,
			    errlen)) < 0)
				return r;
			continue;
		}
		/* Format 1 keeps files in the directory: a chunk list would be walked by gc. */
		if (json_object_object_get_ex(f, "chunks", &v))
			return bad(err, errlen, "%s\"chunks\" must be absent in a "
			    "format %d manifest", where, SNAPSHOT_VERSION_RAW);
		if ((r = req_typed(f, where, "size", json_type_int, "an integer",
		    &v, err, errlen)) < 0)
			return r;
		if (json_object_get_int64(v) < 0 || (uint64_t)json_object_get_int64(v) >
		    snapshot_file_max(json_object_get_string(p)))
			return bad(err, errlen, "%s\"size\" %lld is out of range",
			    where, (long long)json_object_get_int64(v));
	}
	return 0;
}

/* Every member of o (where) must be of type t. */
static int
all_members(struct json_object *o, const char *where, enum json_type t,
    const char *what, char *err, size_t errlen)
{
	json_object_object_foreach(o, key, val)
		if (!json_object_is_type(val, t))
			return bad(err, errlen, "manifest: %s.%.64s must be %s", where,
			    key, what);
	return 0;
}

static int
check_machine(struct json_object *m, char *err, size_t errlen)
{
	static const char	 where[] = "manifest: machine.";
	struct json_object	*mach, *v;
	int			 r;

	if ((r = opt_typed(m, "manifest: ", "machine", json_type_object,
	    "an object", &mach, err, errlen)) < 0 || mach == NULL)
		return r;
	if ((r = opt_typed(mach, where, "machine", json_type_string, "a string",
	    &v, err, errlen)) < 0 ||
	    (r = opt_typed(mach, where, "image", json_type_string, "a string",
	    &v, err, errlen)) < 0 ||
	    (r = opt_typed(mach, where, "kernel", json_type_string, "a string",
	    &v, err, errlen)) < 0 ||
	    (r = opt_typed(mach, where, "cmdline", json_type_string, "a string",
	    &v, err, errlen)) < 0 ||
	    (r = opt_typed(mach, where, "mem_mb", json_type_int, "an integer",
	    &v, err, errlen)) < 0)
		return r;
	if (v != NULL && (json_object_get_int64(v) < MACHINE_MEM_MIN ||
	    json_object_get_int64(v) > MACHINE_MEM_MAX))
		return bad(err, errlen, "%s\"mem_mb\" must be %d to %d", where,
		    MACHINE_MEM_MIN, MACHINE_MEM_MAX);
	if (json_object_object_get_ex(mach, "net", &v)) {
		struct net_nic	nic;
		char		nerr[256];

		if (net_nic_config_parse(v, &nic, nerr, sizeof(nerr)) < 0)
			return bad(err, errlen, "%s%s", where, nerr);
	}
	if ((r = opt_typed(mach, where, "disks", json_type_array, "an array",
	    &v, err, errlen)) < 0 || v == NULL)
		return r;
	if (json_object_array_length(v) > UML_MAX_DISKS)
		return bad(err, errlen, "%s\"disks\" lists more than %d disks",
		    where, UML_MAX_DISKS);
	for (size_t i = 0; i < json_object_array_length(v); i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i),
		    json_type_string))
			return bad(err, errlen, "%s\"disks\"[%zu] must be a string",
			    where, i);
	return 0;
}

static int
check_kernel(struct json_object *m, int version, char *err, size_t errlen)
{
	static const char	 where[] = "manifest: kernel.";
	struct json_object	*k, *v;
	int			 r;

	if ((r = opt_typed(m, "manifest: ", "kernel", json_type_object,
	    "an object", &k, err, errlen)) < 0 || k == NULL)
		return r;
	if ((r = opt_typed(k, where, "build_id", json_type_string, "a string",
	    &v, err, errlen)) < 0)
		return r;
	if (json_object_object_get_ex(k, "chunks", &v)) {
		if (version != SNAPSHOT_VERSION)
			return bad(err, errlen, "%s\"chunks\" must be absent in a "
			    "format %d manifest", where, SNAPSHOT_VERSION_RAW);
		return store_entry_check("the kernel binary", k,
		    SNAPSHOT_KERNEL_FILE_MAX, err, errlen);
	}
	if ((r = opt_typed(k, where, "size", json_type_int, "an integer",
	    &v, err, errlen)) < 0)
		return r;
	return hex_member(k, where, "sha256", false, NULL, err, errlen);
}

/*
 * "capture" (optional: snapshots before it have none): "method" and
 * "asked" one of the two captures, "fallback" a short string, every other
 * member an integer.  It is shown to callers as it is (snapshot_to_json),
 * so an imported one is held to that.
 */
static int
check_capture(struct json_object *m, char *err, size_t errlen)
{
	static const char	 where[] = "manifest: capture.";
	struct json_object	*c;
	int			 r;

	if ((r = opt_typed(m, "manifest: ", "capture", json_type_object,
	    "an object", &c, err, errlen)) < 0 || c == NULL)
		return r;
	json_object_object_foreach(c, key, val) {
		const char *s;

		if (strcmp(key, "method") == 0 || strcmp(key, "asked") == 0) {
			if (!json_object_is_type(val, json_type_string) ||
			    (strcmp((s = json_object_get_string(val)), "cow") != 0 &&
			    strcmp(s, "staged") != 0))
				return bad(err, errlen, "%s\"%s\" must be \"cow\" or "
				    "\"staged\"", where, key);
		} else if (strcmp(key, "fallback") == 0) {
			if (!json_object_is_type(val, json_type_string) ||
			    json_object_get_string_len(val) >
			    SNAPSHOT_CAPTURE_FALLBACK_MAX)
				return bad(err, errlen, "%s\"fallback\" must be a "
				    "string of at most %d bytes", where,
				    SNAPSHOT_CAPTURE_FALLBACK_MAX);
		} else if (!json_object_is_type(val, json_type_int))
			return bad(err, errlen, "%s%.64s must be an integer", where,
			    key);
	}
	return 0;
}

int
snapshot_manifest_validate(struct json_object *m, char *err, size_t errlen)
{
	static const char	*int_maps[] = { "timings", "sizes", "store" };
	struct json_object	*v;
	int			 r, version;

	if (m == NULL || !json_object_is_type(m, json_type_object))
		return bad(err, errlen, "manifest: it must be a JSON object");
	if ((r = req_typed(m, "manifest: ", "format", json_type_string,
	    "the string \"" SNAPSHOT_FORMAT "\"", &v, err, errlen)) < 0)
		return r;
	if (strcmp(json_object_get_string(v), SNAPSHOT_FORMAT) != 0)
		return bad(err, errlen, "not an sbuml snapshot (format \"%.64s\")",
		    json_object_get_string(v));
	if ((r = req_typed(m, "manifest: ", "version", json_type_int,
	    "an integer", &v, err, errlen)) < 0)
		return r;
	if (json_object_get_int64(v) != SNAPSHOT_VERSION &&
	    json_object_get_int64(v) != SNAPSHOT_VERSION_RAW)
		return bad(err, errlen, "not an sbuml snapshot of format version %d "
		    "or %d (version %lld)", SNAPSHOT_VERSION_RAW, SNAPSHOT_VERSION,
		    (long long)json_object_get_int64(v));
	version = (int)json_object_get_int64(v);
	if ((r = opt_typed(m, "manifest: ", "created", json_type_string,
	    "a string", &v, err, errlen)) < 0 ||
	    (r = opt_typed(m, "manifest: ", "state", json_type_string,
	    "a string", &v, err, errlen)) < 0 ||
	    (r = opt_typed(m, "manifest: ", "host", json_type_object,
	    "an object", &v, err, errlen)) < 0 ||
	    (r = opt_typed(m, "manifest: ", "kernel_report", json_type_object,
	    "an object", &v, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < sizeof(int_maps) / sizeof(int_maps[0]); i++) {
		if ((r = opt_typed(m, "manifest: ", int_maps[i], json_type_object,
		    "an object", &v, err, errlen)) < 0)
			return r;
		if (v != NULL && (r = all_members(v, int_maps[i], json_type_int,
		    "an integer", err, errlen)) < 0)
			return r;
	}
	if ((r = check_machine(m, err, errlen)) < 0 ||
	    (r = check_kernel(m, version, err, errlen)) < 0 ||
	    (r = check_capture(m, err, errlen)) < 0)
		return r;
	return check_files(m, version, err, errlen);
}

int
snapshot_manifest_parse(const char *text, size_t len, struct json_object **ret,
    char *err, size_t errlen)
{
	struct json_object	*m;
	int			 r;

	if ((m = parse_json(text, len, "manifest.json", err, errlen)) == NULL)
		return -EBADMSG;
	if ((r = snapshot_manifest_validate(m, err, errlen)) < 0) {
		json_object_put(m);
		return r;
	}
	*ret = m;
	return 0;
}
