/* SPDX-License-Identifier: MIT */
/*
 * The push's work in its worker (snapshot-oci.h): the manifest.json blob
 * first, then every distinct chunk of the snapshot is read back and
 * checked (as an export does), all are asked for with HEAD, eight at a
 * time, and those the registry lacks uploaded; then the image config blob
 * and the image manifest, under the tag.  The manifest goes last: until it
 * is there, the registry holds only blobs nothing names, and a repeated
 * push finds them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci-artifact.h"
#include "oci-client.h"
#include "oci-fetch.h"
#include "snapshot.h"
#include "snapshot-chunks.h"
#include "snapshot-oci.h"
#include "snapshot-transfer-int.h"
#include "store.h"
#include "util.h"

struct push_chunks {
	struct store_hashset	*seen;
	char			(*hex)[STORE_HEX_LEN + 1];
	size_t			*len;
	size_t			 n, cap;
};

static void
push_collect(const char *hex, size_t len, void *arg)
{
	struct push_chunks *c = arg;

	if (!store_hashset_add(c->seen, hex))
		return;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->hex = xrealloc(c->hex, c->cap * sizeof(*c->hex));
		c->len = xrealloc(c->len, c->cap * sizeof(*c->len));
	}
	memcpy(c->hex[c->n], hex, STORE_HEX_LEN + 1);
	c->len[c->n++] = len;
}

/* The job error of a registry failure r. */
static int
registry_code(int r)
{
	return r == -EACCES ? SNAPSHOT_JOB_E_PERMISSION_DENIED :
	    r == -EBADMSG ? SNAPSHOT_JOB_E_BAD_SNAPSHOT : SNAPSHOT_JOB_E_IO;
}

/* Upload buf as blob digest, or count it as there already. */
static int
push_counted(struct xfer_job *job, struct oci_client *c, const char *digest,
    const void *buf, size_t len, bool has)
{
	struct xfer_oci	*o = job->oci;
	char		 err[1024];
	bool		 mounted = false;
	int		 r;

	/* Tests make a push outlive the registry's tokens. */
	if (!has)
		test_knob_sleep("SBUMLD_TEST_PUSH_BLOB_DELAY_MS");
	if (!has && (r = oci_client_blob_put(c, digest, buf, len, &mounted, err,
	    sizeof(err))) < 0)
		return snapshot_transfer_fail(job, r, registry_code(r), "%s", err);
	if (has)
		o->blobs_present++;
	else if (mounted)
		o->blobs_mounted++;
	else {
		o->blobs_moved++;
		job->bytes += len;
	}
	atomic_fetch_add(&o->bytes, len);
	atomic_fetch_add(&o->blobs_done, 1);
	return 0;
}

/* HEAD, and upload buf unless the registry has it. */
static int
push_blob(struct xfer_job *job, struct oci_client *c, const char *digest,
    const void *buf, size_t len)
{
	char	err[1024];
	bool	has;
	int	r;

	if ((r = oci_client_blob_exists(c, digest, &has, err, sizeof(err))) < 0)
		return snapshot_transfer_fail(job, r, registry_code(r), "%s", err);
	return push_counted(job, c, digest, buf, len, has);
}

static int
push_manifest(struct xfer_job *job, struct oci_client *c, struct oci_artifact *a)
{
	struct xfer_oci		*o = job->oci;
	struct json_object	*m = oci_artifact_build(a);
	const char		*text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char			 err[1024];
	int			 r;

	oci_digest_of(text, strlen(text), o->digest);
	r = oci_client_manifest_put(c, o->ref.tag, OCI_MT_MANIFEST, text, strlen(text),
	    err, sizeof(err));
	json_object_put(m);
	if (r < 0)
		return snapshot_transfer_fail(job, r, registry_code(r), "%s", err);
	return 0;
}

/* The frame of chunk i, checked on the way out: never ship a corrupt chunk. */
static int
push_frame(struct xfer_job *job, struct store *s, struct push_chunks *pc,
    size_t i, const void **frame, size_t *flen)
{
	char	err[1024];
	int	r;

	if ((r = store_chunk_frame(s, pc->hex[i], pc->len[i], frame, flen, err,
	    sizeof(err))) < 0)
		return snapshot_transfer_fail(job, r, SNAPSHOT_JOB_E_BAD_SNAPSHOT,
		    "%s: %s", job->name, err);
	return 0;
}

/*
 * Every chunk's layer (digest of its frame), then one parallel round of
 * HEADs, then the uploads of what the registry lacks.
 */
static int
push_chunks(struct xfer_job *job, struct store *s, struct oci_client *c,
    struct push_chunks *pc, struct oci_artifact *a)
{
	struct oci_blob	*blobs = xcalloc(pc->n + 1, sizeof(*blobs));
	bool		*present = xcalloc(pc->n + 1, sizeof(*present));
	char		 err[1024];
	int		 r = 0;

	for (size_t i = 0; r == 0 && i < pc->n; i++) {
		struct oci_layer	 l;
		const void		*frame;
		size_t			 flen;

		if ((r = push_frame(job, s, pc, i, &frame, &flen)) < 0)
			break;
		oci_digest_of(frame, flen, l.digest);
		l.size = flen;
		memcpy(l.chunk, pc->hex[i], sizeof(l.chunk));
		oci_artifact_add_layer(a, &l);
	}
	for (size_t i = 0; r == 0 && i < pc->n; i++)
		blobs[i] = (struct oci_blob){ a->layers[i].digest, a->layers[i].size };
	if (r == 0 && (r = oci_blobs_exist(c, blobs, pc->n, OCI_FETCH_PARALLEL,
	    present, err, sizeof(err))) < 0)
		snapshot_transfer_fail(job, r, registry_code(r), "%s", err);
	for (size_t i = 0; r == 0 && i < pc->n; i++) {
		const void	*frame = NULL;
		size_t		 flen = 0;

		if (!present[i] && (r = push_frame(job, s, pc, i, &frame, &flen)) < 0)
			break;
		r = push_counted(job, c, a->layers[i].digest, frame,
		    a->layers[i].size, present[i]);
	}
	free(blobs);
	free(present);
	return r;
}

/*
 * What the image config says, from the snapshot alone (its creation time,
 * its host's architecture in OCI's words): pushing one snapshot twice
 * makes the very same config and image manifest (the same digest).
 */
static void
push_describe(struct xfer_job *job, struct oci_artifact *a)
{
	struct json_object	*host;
	const char		*slash = strrchr(job->name, '/'), *s, *arch = NULL;

	snprintf(a->name, sizeof(a->name), "%s", slash ? slash + 1 : job->name);
	if ((s = snapshot_json_str(job->manifest, "created")) != NULL &&
	    strlen(s) < sizeof(a->created))
		snprintf(a->created, sizeof(a->created), "%s", s);
	if (json_object_object_get_ex(job->manifest, "host", &host))
		arch = snapshot_json_str(host, "arch");
	if (arch == NULL || strcmp(arch, "x86_64") == 0)
		arch = "amd64";
	else if (strcmp(arch, "aarch64") == 0)
		arch = "arm64";
	else if (strcmp(arch, "i686") == 0 || strcmp(arch, "i386") == 0)
		arch = "386";
	snprintf(a->arch, sizeof(a->arch), "%s", arch);
}

/* The image config blob, made from a, uploaded unless the registry has it. */
static int
push_config(struct xfer_job *job, struct oci_client *c, struct oci_artifact *a)
{
	char	*text = oci_artifact_config(a);
	int	 r;

	a->config_size = strlen(text);
	oci_digest_of(text, a->config_size, a->config_digest);
	r = push_blob(job, c, a->config_digest, text, a->config_size);
	free(text);
	return r;
}

int
snapshot_push_run(struct xfer_job *job)
{
	struct xfer_oci		*o = job->oci;
	struct push_chunks	 pc = { .seen = store_hashset_new() };
	struct oci_artifact	 a = { 0 };
	struct oci_client_opts	 co = { o->basic, o->insecure, true,
				    snapshot_transfer_cancel_fd(job), NULL, o->mount_from };
	struct oci_client	*c = NULL;
	struct store		*s;
	char			*root = snapshot_store_root(), err[1024];
	uint64_t		 total;
	int			 r;

	s = store_open(root, err, sizeof(err));
	free(root);
	if (s == NULL) {
		r = snapshot_transfer_fail(job, -EIO, SNAPSHOT_JOB_E_IO, "%s", err);
		goto out;
	}
	if (snapshot_manifest_chunks(job->manifest, push_collect, &pc) < 0) {
		r = snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT,
		    "%s: malformed chunk list in its manifest", job->name);
		goto out;
	}
	total = job->man_len;
	for (size_t i = 0; i < pc.n; i++) {
		int64_t b = store_chunk_bytes(s, pc.hex[i]);

		total += b > 0 ? (uint64_t)b : 0;
	}
	atomic_store(&o->blobs_total, pc.n + 2);
	atomic_store(&o->bytes_total, total);
	if ((c = oci_client_new(&o->ref, &co)) == NULL) {
		r = snapshot_transfer_fail(job, -ENOMEM, SNAPSHOT_JOB_E_INTERNAL, "out of memory");
		goto out;
	}
	/* The manifest.json first: its HEAD also answers the registry's challenge. */
	snprintf(a.snapman_digest, sizeof(a.snapman_digest), "sha256:%s", job->id);
	a.snapman_size = job->man_len;
	push_describe(job, &a);
	if ((r = push_blob(job, c, a.snapman_digest, job->man_text, job->man_len)) < 0 ||
	    (r = push_chunks(job, s, c, &pc, &a)) < 0 ||
	    (r = push_config(job, c, &a)) < 0)
		goto out;
	r = push_manifest(job, c, &a);
out:
	oci_artifact_clear(&a);
	oci_client_free(c);
	store_hashset_free(pc.seen);
	free(pc.hex);
	free(pc.len);
	store_free(s);
	return r;
}
