/* SPDX-License-Identifier: MIT */
/*
 * The pull's work in its worker (snapshot-oci.h).  Everything from the
 * registry is hostile: the image manifest is parsed with every type and
 * size checked (oci-artifact.h); the manifest.json blob must hash to its
 * digest and pass the manifest loader, and its SHA-256 is the snapshot's
 * id (the image config blob says nothing we need and is not fetched); each
 * layer must carry a chunk the snapshot uses, and every chunk it uses must
 * have a layer; each blob is fetched bounded by its declared size, checked
 * against its digest, then against the chunk's name as it enters the
 * store.  Only the chunks this store lacks are fetched, several at once.
 * The snapshot is registered only when every chunk is in and read back
 * (snapshot_import_finish); a pull that fails keeps the chunks it verified
 * (committed, named by nothing: a retry fetches only the rest, or the next
 * store.gc drops them) and registers nothing.
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

struct pull {
	struct xfer_job		*job;
	struct store		*s;
	struct oci_artifact	 art;
	struct oci_blob		*blobs;		/* to fetch */
	const char		**chunk;	/* the chunk of blobs[i] */
	size_t			 n;
	struct store_hashset	*needed, *covered;
	uint64_t		 uncovered;
	char			 first[STORE_HEX_LEN + 1];
};

static int
registry_code(int r)
{
	return r == -EACCES ? SNAPSHOT_JOB_E_PERMISSION_DENIED :
	    r == -ENOENT ? SNAPSHOT_JOB_E_NO_SUCH_SNAPSHOT :
	    r == -EBADMSG ? SNAPSHOT_JOB_E_BAD_SNAPSHOT : SNAPSHOT_JOB_E_IO;
}

/* The image manifest and the manifest.json blob: the snapshot's manifest and id. */
static int
pull_manifest(struct pull *p, struct oci_client *c)
{
	struct xfer_job	*job = p->job;
	struct xfer_oci	*o = job->oci;
	char		*text = NULL, *cfg = NULL, err[1024];
	size_t		 len = 0;
	int		 r;

	r = oci_client_manifest_get(c, o->ref.digest[0] ? o->ref.digest : o->ref.tag,
	    OCI_MT_MANIFEST, &text, &len, o->digest, err, sizeof(err));
	if (r == 0)
		r = oci_artifact_parse(text, len, &p->art, err, sizeof(err));
	free(text);
	if (r == 0)
		r = oci_client_blob_get(c, p->art.snapman_digest, p->art.snapman_size,
		    &cfg, err, sizeof(err));
	if (r < 0)
		return snapshot_transfer_fail(job, r, registry_code(r), "%s", err);
	memcpy(job->id, p->art.snapman_digest + 7, STORE_HEX_LEN + 1);
	r = snapshot_import_manifest(job, (unsigned char *)cfg, p->art.snapman_size);
	free(cfg);
	return r;
}

static void
count_uncovered(const char *hex, void *arg)
{
	struct pull *p = arg;

	if (store_hashset_has(p->covered, hex))
		return;
	if (p->uncovered++ == 0)
		snprintf(p->first, sizeof(p->first), "%s", hex);
}

/* Match layers and chunks; list the blobs this store lacks. */
static int
pull_plan(struct pull *p)
{
	struct xfer_job		*job = p->job;
	struct xfer_oci		*o = job->oci;
	struct store_hashset	*queued = store_hashset_new();
	uint64_t		 bytes = p->art.snapman_size;

	p->needed = store_hashset_new();
	p->covered = store_hashset_new();
	(void)snapshot_manifest_hashes(job->manifest, snapshot_transfer_add_hash, p->needed);
	p->blobs = xcalloc(p->art.nlayers + 1, sizeof(*p->blobs));
	p->chunk = xcalloc(p->art.nlayers + 1, sizeof(*p->chunk));
	for (size_t i = 0; i < p->art.nlayers; i++) {
		const struct oci_layer *l = &p->art.layers[i];

		if (!store_hashset_has(p->needed, l->chunk)) {
			store_hashset_free(queued);
			return snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT,
			    "the artifact's layer %zu carries chunk %.16s..., which "
			    "the snapshot does not use", i, l->chunk);
		}
		store_hashset_add(p->covered, l->chunk);
		if (store_has_chunk(p->s, l->chunk) || !store_hashset_add(queued, l->chunk)) {
			o->blobs_present++;
			atomic_fetch_add(&o->blobs_done, 1);
			continue;
		}
		p->blobs[p->n] = (struct oci_blob){ l->digest, l->size };
		p->chunk[p->n++] = l->chunk;
		bytes += l->size;
	}
	store_hashset_free(queued);
	(void)snapshot_manifest_hashes(job->manifest, count_uncovered, p);
	if (p->uncovered > 0)
		return snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT,
		    "the artifact lacks %llu chunks of its snapshot (chunk %.16s... "
		    "first)", (unsigned long long)p->uncovered, p->first);
	atomic_store(&o->blobs_total, p->art.nlayers);
	atomic_store(&o->bytes_total, bytes);
	return 0;
}

/* A verified blob: into the store, checked against the chunk's name. */
static int
pull_blob(size_t i, const void *buf, size_t len, void *arg, char *err, size_t errlen)
{
	struct pull	*p = arg;
	struct xfer_oci	*o = p->job->oci;
	size_t		 clen;
	int		 r;

	r = store_put_frame(p->s, p->chunk[i], buf, len, &clen, &p->job->stats, err, errlen);
	if (r == 0) {
		o->blobs_moved++;
		atomic_fetch_add(&o->blobs_done, 1);
	}
	/* Tests stop the registry in the middle of a pull. */
	test_knob_sleep("SBUMLD_TEST_PULL_BLOB_DELAY_MS");
	return r;
}

static int
pull_fetch(struct pull *p, struct oci_client *c)
{
	struct xfer_job	*job = p->job;
	char		 err[1024];
	int		 r;

	r = oci_fetch_blobs(c, p->blobs, p->n, OCI_FETCH_PARALLEL, pull_blob, p,
	    err, sizeof(err));
	if (r < 0) {
		/* Keep what arrived verified: a retry fetches the rest. */
		(void)store_sync(p->s);
		return snapshot_transfer_fail(job, r, registry_code(r), "%s", err);
	}
	return 0;
}

int
snapshot_pull_run(struct xfer_job *job)
{
	struct xfer_oci		*o = job->oci;
	struct pull		 p = { .job = job };
	struct oci_client_opts	 co = { o->basic, o->insecure, false,
				    snapshot_transfer_cancel_fd(job), &o->bytes, NULL };
	struct oci_client	*c = NULL;
	char			*root = snapshot_store_root(), err[1024];
	int			 r;

	p.s = store_open(root, err, sizeof(err));
	free(root);
	if (p.s == NULL) {
		r = snapshot_transfer_fail(job, -EIO, SNAPSHOT_JOB_E_IO, "%s", err);
		goto out;
	}
	if ((c = oci_client_new(&o->ref, &co)) == NULL) {
		r = snapshot_transfer_fail(job, -ENOMEM, SNAPSHOT_JOB_E_INTERNAL, "out of memory");
		goto out;
	}
	if ((r = pull_manifest(&p, c)) < 0 ||
	    (r = snapshot_import_name(job, p.art.name[0] ? p.art.name :
	    oci_ref_basename(&o->ref))) < 0 ||
	    (r = pull_plan(&p)) < 0 || (r = pull_fetch(&p, c)) < 0)
		goto out;
	job->bytes = atomic_load(&o->bytes);
	r = snapshot_import_finish(job, p.s);
out:
	oci_client_free(c);
	oci_artifact_clear(&p.art);
	free(p.blobs);
	free(p.chunk);
	store_hashset_free(p.needed);
	store_hashset_free(p.covered);
	store_free(p.s);
	return r;
}
