/* SPDX-License-Identifier: MIT */
/*
 * A snapshot as an OCI artifact (doc/snapshot-format.md, "OCI artifact"):
 * an OCI image manifest whose artifactType is sbuml's, whose config blob
 * is a small OCI image config (so that tools that only know images, such
 * as skopeo inspect, can describe it) labelled with what it is, whose
 * first layer is the snapshot's manifest.json byte for byte, and whose
 * other layers are the snapshot's chunks, each its zstd frame as stored,
 * annotated with the chunk's name (the SHA-256 of its content).  The first
 * form, whose config blob was the manifest.json itself, is still read.
 * Building it, and parsing one that came from a registry: hostile input,
 * every type and size checked.
 */
#ifndef SBUMLD_OCI_ARTIFACT_H
#define SBUMLD_OCI_ARTIFACT_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "oci-ref.h"

#define OCI_MT_MANIFEST		"application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_ARTIFACT		"application/vnd.sbuml.snapshot.v1"
#define OCI_MT_SNAPMAN		"application/vnd.sbuml.snapshot.manifest.v2+json"
#define OCI_MT_IMAGE_CONFIG	"application/vnd.oci.image.config.v1+json"
#define OCI_MT_CHUNK		"application/vnd.sbuml.chunk.v1+zstd"
#define OCI_ANN_CHUNK		"org.sbuml.chunk"
#define OCI_ANN_SNAPSHOT	"org.sbuml.snapshot"
#define OCI_ANN_CREATED		"org.opencontainers.image.created"
#define OCI_LABEL_ARTIFACT	"org.sbuml.artifactType"
#define OCI_LABEL_ID		"org.sbuml.snapshot.id"

#define OCI_SNAPMAN_MAX		(64 * 1024 * 1024)	/* a manifest.json's limit */
#define OCI_IMAGE_CONFIG_MAX	(64 * 1024)
#define OCI_CHUNK_BLOB_MAX	(128 * 1024)		/* > ZSTD_compressBound(64 KiB) */
#define OCI_LAYERS_MAX		65536
#define OCI_NAME_MAX		64

struct oci_layer {
	char		digest[OCI_DIGEST_LEN + 1];
	uint64_t	size;
	char		chunk[65];	/* the chunk's name: 64 hex digits */
};

struct oci_artifact {
	char			 config_digest[OCI_DIGEST_LEN + 1];	/* the image config */
	uint64_t		 config_size;
	/* The snapshot's manifest.json: its digest is the snapshot's id. */
	char			 snapman_digest[OCI_DIGEST_LEN + 1];
	uint64_t		 snapman_size;
	char			 arch[32];	/* GOARCH style ("amd64"), for the config */
	char			 name[OCI_NAME_MAX + 1];	/* "" if none */
	char			 created[64];
	struct oci_layer	*layers;
	size_t			 nlayers, cap;
};

/* Append a layer (copied). */
void	oci_artifact_add_layer(struct oci_artifact *a, const struct oci_layer *l);
void	oci_artifact_clear(struct oci_artifact *a);
/*
 * The image config blob of a (name, created, arch, snapman_digest): an OCI
 * image config for linux/arch with no filesystem layers (rootfs.diff_ids
 * empty: an engine that would unpack it refuses it) and labels saying what
 * it is.  The same a gives the same bytes.  Caller frees.
 */
char	*oci_artifact_config(const struct oci_artifact *a);
/* The image manifest of a (caller owns; serialise it once, push those bytes). */
struct json_object *oci_artifact_build(const struct oci_artifact *a);
/*
 * Parse len bytes of an image manifest into *a: mediaType and artifactType
 * (if any) must be sbuml's; the config an image config descriptor of
 * 1..OCI_IMAGE_CONFIG_MAX bytes and the first layer the manifest.json's
 * descriptor of 1..OCI_SNAPMAN_MAX bytes (or, the first form, the config
 * that descriptor); then at most OCI_LAYERS_MAX layers each of our chunk
 * media type with a sha256 digest, a size of 1..OCI_CHUNK_BLOB_MAX and a
 * chunk annotation.  0 or -EBADMSG with err naming the member.
 */
int	oci_artifact_parse(const char *json, size_t len, struct oci_artifact *a,
	    char *err, size_t errlen);

#endif
