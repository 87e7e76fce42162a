/* SPDX-License-Identifier: MIT */
/*
 * Fuzz what a registry hands the daemon before anything is fetched: the
 * image manifest of a snapshot artifact (oci-artifact.c), and, as text,
 * a registry reference and a search's REGISTRY[/PREFIX] (oci-ref.c), which
 * also come from clients.  What the parser accepts must hold to the limits
 * it promises, and a refusal must hand nothing over.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "oci-artifact.h"
#include "oci-ref.h"

static void
check_artifact(const struct oci_artifact *a)
{
	if (a->nlayers > OCI_LAYERS_MAX || !oci_digest_valid(a->snapman_digest) ||
	    a->snapman_size < 1 || a->snapman_size > OCI_SNAPMAN_MAX ||
	    a->config_size > OCI_IMAGE_CONFIG_MAX || strlen(a->name) > OCI_NAME_MAX)
		abort();
	for (size_t i = 0; i < a->nlayers; i++)
		if (!oci_digest_valid(a->layers[i].digest) || a->layers[i].size < 1 ||
		    a->layers[i].size > OCI_CHUNK_BLOB_MAX ||
		    strlen(a->layers[i].chunk) != 64)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_artifact	 a;
	struct oci_ref		 ref;
	char			 err[512], prefix[OCI_REPO_MAX + 1];
	char			*text = malloc(size + 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (oci_artifact_parse(text, size, &a, err, sizeof(err)) == 0) {
		check_artifact(&a);
		oci_artifact_clear(&a);
	} else if (a.layers != NULL || err[0] == '\0')
		abort();
	if (oci_ref_parse(text, &ref, err, sizeof(err)) == 0 && !oci_repo_valid(ref.repo))
		abort();
	if (oci_registry_parse(text, &ref, prefix, err, sizeof(err)) == 0 &&
	    strlen(prefix) > OCI_REPO_MAX)
		abort();
	free(text);
	return 0;
}
