/* SPDX-License-Identifier: MIT */
/* Snapshots as OCI artifacts (oci-artifact.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci-artifact.h"
#include "util.h"

void
oci_artifact_add_layer(struct oci_artifact *a, const struct oci_layer *l)
{
	if (a->nlayers == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->layers = xrealloc(a->layers, a->cap * sizeof(*a->layers));
	}
	a->layers[a->nlayers++] = *l;
}

void
oci_artifact_clear(struct oci_artifact *a)
{
	free(a->layers);
	memset(a, 0, sizeof(*a));
}

static struct json_object *
descriptor(const char *media_type, const char *digest, uint64_t size)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "mediaType", json_object_new_string(media_type));
	json_object_object_add(d, "digest", json_object_new_string(digest));
	json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
	return d;
}

char *
oci_artifact_config(const struct oci_artifact *a)
{
	struct json_object	*c = json_object_new_object(), *cc, *labels, *rootfs;
	char			*text;

	if (a->created[0] != '\0')
		json_object_object_add(c, "created", json_object_new_string(a->created));
	json_object_object_add(c, "architecture",
	    json_object_new_string(a->arch[0] ? a->arch : "amd64"));
	json_object_object_add(c, "os", json_object_new_string("linux"));
	labels = json_object_new_object();
	json_object_object_add(labels, OCI_LABEL_ARTIFACT, json_object_new_string(OCI_MT_ARTIFACT));
	if (a->name[0] != '\0')
		json_object_object_add(labels, OCI_ANN_SNAPSHOT, json_object_new_string(a->name));
	if (oci_digest_valid(a->snapman_digest))
		json_object_object_add(labels, OCI_LABEL_ID,
		    json_object_new_string(a->snapman_digest + 7));
	cc = json_object_new_object();
	json_object_object_add(cc, "Labels", labels);
	json_object_object_add(c, "config", cc);
	rootfs = json_object_new_object();
	json_object_object_add(rootfs, "type", json_object_new_string("layers"));
	json_object_object_add(rootfs, "diff_ids", json_object_new_array());
	json_object_object_add(c, "rootfs", rootfs);
	text = xstrdup(json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(c);
	return text;
}

static struct json_object *
chunk_descriptor(const struct oci_layer *l)
{
	struct json_object *d = descriptor(OCI_MT_CHUNK, l->digest, l->size);
	struct json_object *la = json_object_new_object();

	json_object_object_add(la, OCI_ANN_CHUNK, json_object_new_string(l->chunk));
	json_object_object_add(d, "annotations", la);
	return d;
}

struct json_object *
oci_artifact_build(const struct oci_artifact *a)
{
	struct json_object *m = json_object_new_object(), *layers, *ann;

	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType", json_object_new_string(OCI_MT_MANIFEST));
	json_object_object_add(m, "artifactType", json_object_new_string(OCI_MT_ARTIFACT));
	json_object_object_add(m, "config", descriptor(OCI_MT_IMAGE_CONFIG,
	    a->config_digest, a->config_size));
	layers = json_object_new_array_ext((int)a->nlayers + 1);
	json_object_array_add(layers, descriptor(OCI_MT_SNAPMAN, a->snapman_digest,
	    a->snapman_size));
	for (size_t i = 0; i < a->nlayers; i++)
		json_object_array_add(layers, chunk_descriptor(&a->layers[i]));
	json_object_object_add(m, "layers", layers);
	ann = json_object_new_object();
	if (a->name[0] != '\0')
		json_object_object_add(ann, OCI_ANN_SNAPSHOT, json_object_new_string(a->name));
	if (a->created[0] != '\0')
		json_object_object_add(ann, OCI_ANN_CREATED, json_object_new_string(a->created));
	json_object_object_add(m, "annotations", ann);
	return m;
}

static int
fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "the registry's manifest is not an sbuml snapshot: %s",
	    what);
	return -EBADMSG;
}

/* o.key as a string, or NULL if absent or of another type. */
static const char *
get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool
hex64(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* A descriptor: mediaType must be mt, a sha256 digest, a size 1..max. */
static int
parse_descriptor(struct json_object *d, const char *mt, uint64_t max,
    char digest[OCI_DIGEST_LEN + 1], uint64_t *size)
{
	struct json_object	*v;
	const char		*s;

	if (!json_object_is_type(d, json_type_object))
		return -1;
	s = get_str(d, "mediaType");
	if (s == NULL || strcmp(s, mt) != 0)
		return -1;
	s = get_str(d, "digest");
	if (!oci_digest_valid(s))
		return -1;
	memcpy(digest, s, OCI_DIGEST_LEN + 1);
	if (!json_object_object_get_ex(d, "size", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 1 || (uint64_t)json_object_get_int64(v) > max)
		return -1;
	*size = (uint64_t)json_object_get_int64(v);
	return 0;
}

/* The chunk layers: layers[first..]. */
static int
parse_layers(struct json_object *layers, size_t first, struct oci_artifact *a,
    char *err, size_t errlen)
{
	size_t n = json_object_array_length(layers);

	if (n - first > OCI_LAYERS_MAX)
		return fail(err, errlen, "too many layers");
	for (size_t i = first; i < n; i++) {
		struct json_object	*d = json_object_array_get_idx(layers, i), *ann;
		struct oci_layer	 l;
		const char		*chunk;
		char			 what[256];

		snprintf(what, sizeof(what), "layers[%zu] must be a %s descriptor of "
		    "1-%d bytes with annotation %s (64 hex digits)", i, OCI_MT_CHUNK,
		    OCI_CHUNK_BLOB_MAX, OCI_ANN_CHUNK);
		if (parse_descriptor(d, OCI_MT_CHUNK, OCI_CHUNK_BLOB_MAX, l.digest,
		    &l.size) < 0 || !json_object_object_get_ex(d, "annotations", &ann) ||
		    !json_object_is_type(ann, json_type_object) ||
		    !hex64(chunk = get_str(ann, OCI_ANN_CHUNK)))
			return fail(err, errlen, what);
		memcpy(l.chunk, chunk, 65);
		oci_artifact_add_layer(a, &l);
	}
	return 0;
}

static void
parse_annotations(struct json_object *m, struct oci_artifact *a)
{
	struct json_object	*ann;
	const char		*s;

	if (!json_object_object_get_ex(m, "annotations", &ann) ||
	    !json_object_is_type(ann, json_type_object))
		return;
	/* A name is only a suggestion: the puller checks it as any name. */
	if ((s = get_str(ann, OCI_ANN_SNAPSHOT)) != NULL && strlen(s) <= OCI_NAME_MAX)
		snprintf(a->name, sizeof(a->name), "%s", s);
	if ((s = get_str(ann, OCI_ANN_CREATED)) != NULL && strlen(s) < sizeof(a->created))
		snprintf(a->created, sizeof(a->created), "%s", s);
}

/*
 * The config, the manifest.json and the chunk layers.  The first form had
 * the manifest.json as its config and only chunks as layers.
 */
static int
parse_blobs(struct json_object *m, struct oci_artifact *a, char *err,
    size_t errlen)
{
	struct json_object	*cfg, *layers;
	bool			 first_form;

	if (!json_object_object_get_ex(m, "config", &cfg) ||
	    !json_object_is_type(cfg, json_type_object))
		return fail(err, errlen, "\"config\" must be a descriptor");
	first_form = parse_descriptor(cfg, OCI_MT_SNAPMAN, OCI_SNAPMAN_MAX,
	    a->snapman_digest, &a->snapman_size) == 0;
	if (!first_form && parse_descriptor(cfg, OCI_MT_IMAGE_CONFIG,
	    OCI_IMAGE_CONFIG_MAX, a->config_digest, &a->config_size) < 0)
		return fail(err, errlen, "\"config\" must be a " OCI_MT_IMAGE_CONFIG
		    " descriptor of at most 64 KiB");
	if (!json_object_object_get_ex(m, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array))
		return fail(err, errlen, "\"layers\" must be an array");
	if (!first_form && (json_object_array_length(layers) < 1 ||
	    parse_descriptor(json_object_array_get_idx(layers, 0), OCI_MT_SNAPMAN,
	    OCI_SNAPMAN_MAX, a->snapman_digest, &a->snapman_size) < 0))
		return fail(err, errlen, "layers[0] must be a " OCI_MT_SNAPMAN
		    " descriptor of at most 64 MiB");
	return parse_layers(layers, first_form ? 0 : 1, a, err, errlen);
}

int
oci_artifact_parse(const char *json, size_t len, struct oci_artifact *a,
    char *err, size_t errlen)
{
	struct json_tokener	*tok;
	struct json_object	*m = NULL, *v;
	const char		*s;
	int			 r = -EBADMSG;

	memset(a, 0, sizeof(*a));
	if (json == NULL || len == 0 || len > 64 * 1024 * 1024 || strlen(json) != len)
		return fail(err, errlen, "not a JSON text of a sane size");
	if ((tok = json_tokener_new_ex(64)) == NULL)
		return -ENOMEM;
	m = json_tokener_parse_ex(tok, json, (int)len);
	if (m == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(m, json_type_object)) {
		r = fail(err, errlen, "not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(m, "schemaVersion", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int(v) != 2) {
		r = fail(err, errlen, "\"schemaVersion\" must be 2");
		goto out;
	}
	if ((s = get_str(m, "mediaType")) != NULL && strcmp(s, OCI_MT_MANIFEST) != 0) {
		r = fail(err, errlen, "\"mediaType\" must be " OCI_MT_MANIFEST);
		goto out;
	}
	if ((s = get_str(m, "artifactType")) != NULL && strcmp(s, OCI_MT_ARTIFACT) != 0) {
		r = fail(err, errlen, "\"artifactType\" must be " OCI_MT_ARTIFACT);
		goto out;
	}
	if ((r = parse_blobs(m, a, err, errlen)) < 0)
		goto out;
	parse_annotations(m, a);
	r = 0;
out:
	json_object_put(m);
	json_tokener_free(tok);
	if (r < 0)
		oci_artifact_clear(a);
	return r;
}
