/* SPDX-License-Identifier: MIT */
/*
 * The import's work in its worker (snapshot-transfer-int.h): read an
 * export stream, check every record and chunk, add the chunks to this
 * host's store, and register the snapshot once all of it is here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci-download.h"
#include "snapshot.h"
#include "snapshot-chunks.h"
#include "snapshot-check.h"
#include "snapshot-owner.h"
#include "snapshot-stream.h"
#include "snapshot-transfer-int.h"
#include "store.h"
#include "util.h"

/* Check the HEAD record (len bytes) and learn the snapshot's id, name and base. */
static int
import_head(struct xfer_job *job, const char *text, size_t len)
{
	struct stream_head	 h;
	char			 err[512];

	if (stream_head_parse(text, len, &h, err, sizeof(err)) < 0)
		return snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "%s", err);
	memcpy(job->id, h.id, sizeof(job->id));
	if (h.base_id[0] != '\0') {
		memcpy(job->stream_base_id, h.base_id, sizeof(job->stream_base_id));
		job->stream_base_name = xstrdup(h.base_snapshot);
	}
	if (job->base_id[0] != '\0' && job->stream_base_id[0] != '\0' &&
	    strcmp(job->base_id, job->stream_base_id) != 0)
		return snapshot_transfer_fail(job, -EINVAL, SNAPSHOT_JOB_E_INCOMPATIBLE, "the stream is a "
		    "delta against snapshot %s (id %.16s...), not against %s (id "
		    "%.16s...)", job->stream_base_name, job->stream_base_id,
		    job->base_name, job->base_id);
	return snapshot_import_name(job, h.snapshot);
}

int
snapshot_import_name(struct xfer_job *job, const char *name)
{
	char err[512];

	if (job->dir == NULL) {
		/* Named as on the sending host (a bare name there or its last component). */
		if (strchr(name, '/') != NULL ||
		    snapshot_resolve(name, &job->dir, err, sizeof(err)) < 0)
			return snapshot_transfer_fail(job, -EINVAL, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "the %s "
			    "names its snapshot \"%.64s\", which is not a valid name "
			    "here: give the snapshot parameter", job->oci ? "artifact" :
			    "stream", name);
		job->name = xstrdup(name);
	}
	if (access(job->dir, F_OK) == 0)
		return snapshot_transfer_fail(job, -EEXIST, SNAPSHOT_JOB_E_SNAPSHOT_EXISTS, "snapshot %s "
		    "exists already (at %s)", job->name, job->dir);
	return 0;
}

/*
 * Check the MANI record: its id, and every field of the manifest (the
 * loader every snapshot goes through, snapshot-check.h); it must be format
 * 2.  Sets job->manifest and job->man_text.
 */
int
snapshot_import_manifest(struct xfer_job *job, const unsigned char *text, size_t len)
{
	struct json_object	*m;
	char			 id[STORE_HEX_LEN + 1], err[1024];

	store_sha256_hex(text, len, id);
	if (strcmp(id, job->id) != 0)
		return snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "corrupt stream: "
		    "the manifest does not hash to the id in the header");
	if (snapshot_manifest_parse((const char *)text, len, &m, err,
	    sizeof(err)) < 0)
		return snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "the stream's "
		    "manifest is refused: %s", err);
	job->manifest = m;
	if (snapshot_manifest_version(m) != SNAPSHOT_VERSION)
		return snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "the stream's "
		    "manifest is not a format %d snapshot manifest", SNAPSHOT_VERSION);
	job->man_text = xmalloc(len + 1);
	memcpy(job->man_text, text, len);
	job->man_text[len] = '\0';
	job->man_len = len;
	return 0;
}

/* Read the chunk records up to the end record into the store. */
static int
import_chunks(struct xfer_job *job, struct store *s, struct stream *st,
    struct store_hashset *needed)
{
	const unsigned char	*p;
	size_t			 len, clen;
	char			 type[5], hex[STORE_HEX_LEN + 1], err[1024];
	int			 r;

	for (;;) {
		if ((r = stream_get(st, type, &p, &len, err, sizeof(err))) < 0)
			return snapshot_transfer_fail(job, r, r == -EBADMSG ? SNAPSHOT_JOB_E_BAD_SNAPSHOT :
			    SNAPSHOT_JOB_E_IO, "%s", err);
		if (strcmp(type, STREAM_END) == 0)
			return 0;
		if (strcmp(type, STREAM_CHNK) != 0 || len <= STORE_HEX_LEN)
			return snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "corrupt "
			    "stream: a %s record among the chunks", type);
		memcpy(hex, p, STORE_HEX_LEN);
		hex[STORE_HEX_LEN] = '\0';
		if (!store_hashset_has(needed, hex))
			return snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "corrupt "
			    "stream: chunk %.16s... is not one the snapshot uses", hex);
		r = store_put_frame(s, hex, p + STORE_HEX_LEN, len - STORE_HEX_LEN,
		    &clen, &job->stats, err, sizeof(err));
		if (r == -EBADMSG)
			return snapshot_transfer_fail(job, r, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "corrupt stream: %s",
			    err);
		if (r < 0)
			return snapshot_transfer_fail(job, r, SNAPSHOT_JOB_E_IO, "cannot add chunk "
			    "%.16s... to the chunk store: %s", hex, strerror(-r));
	}
}

/* Every chunk the manifest needs is here now: from the stream, or the base. */
struct missing {
	struct store	*s;
	uint64_t	 n;
	char		 first[STORE_HEX_LEN + 1];
};

static void
count_missing(const char *hex, void *arg)
{
	struct missing *m = arg;

	if (store_has_chunk(m->s, hex))
		return;
	if (m->n++ == 0)
		snprintf(m->first, sizeof(m->first), "%s", hex);
}

static int
import_check_complete(struct xfer_job *job, struct store *s)
{
	struct missing		 m = { s, 0, "" };
	char			 err[1024];
	int			 r;

	(void)snapshot_manifest_hashes(job->manifest, count_missing, &m);
	if (m.n > 0 && job->stream_base_id[0] != '\0')
		return snapshot_transfer_fail(job, -ENOENT, SNAPSHOT_JOB_E_INCOMPATIBLE, "the stream is a "
		    "delta against snapshot %s (id %.16s...), and this host lacks "
		    "%llu chunks it shares with it: import %s here first",
		    job->stream_base_name, job->stream_base_id,
		    (unsigned long long)m.n, job->stream_base_name);
	if (m.n > 0)
		return snapshot_transfer_fail(job, -EBADMSG, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "the stream lacks "
		    "%llu chunks of its snapshot (chunk %.16s... first)",
		    (unsigned long long)m.n, m.first);
	/*
	 * Read every chunk back as a restore would (its size and hash), each
	 * distinct one once, and no whole-file hash: the chunk list fixes
	 * every byte, and hashing the zero runs would cost what the manifest
	 * declares, not what the stream carried.
	 */
	r = snapshot_manifest_check_chunks(s, job->manifest, err, sizeof(err));
	if (r < 0)
		return snapshot_transfer_fail(job, r, SNAPSHOT_JOB_E_BAD_SNAPSHOT, "%s", err);
	return 0;
}

/* A named snapshot appears with its owner, the importing caller. */
static int
import_record_owner(struct xfer_job *job, char *err, size_t errlen)
{
	int r;

	if (strchr(job->name, '/') != NULL)
		return 0;
	if ((r = snapshot_owner_write(job->workdir, job->owner)) < 0)
		snprintf(err, errlen, "cannot write %s/%s: %s", job->workdir,
		    SNAPSHOT_OWNER_FILE, strerror(-r));
	return r;
}

int
snapshot_import_finish(struct xfer_job *job, struct store *s)
{
	char	err[1024];
	int	r;

	if ((r = store_sync(s)) < 0)
		return snapshot_transfer_fail(job, r, SNAPSHOT_JOB_E_IO, "cannot sync the "
		    "chunk store: %s", strerror(-r));
	if ((r = import_check_complete(job, s)) < 0)
		return r;
	if ((r = snapshot_workdir_make(job->dir, &job->workdir, err, sizeof(err))) < 0 ||
	    (r = import_record_owner(job, err, sizeof(err))) < 0 ||
	    (r = snapshot_workdir_commit(job->workdir, job->dir, job->man_text,
	    job->man_len, true, err, sizeof(err))) < 0)
		return snapshot_transfer_fail(job, r, r == -EEXIST ?
		    SNAPSHOT_JOB_E_SNAPSHOT_EXISTS : SNAPSHOT_JOB_E_IO, "%s", err);
	free(job->workdir);	/* renamed into place */
	job->workdir = NULL;
	return 0;
}

/*
 * The download a URL import read from: stop it (our end of the pipe
 * closes) and wait for it.  If the import failed, the download's own
 * failure (an HTTP status, a refused connection) is the better reason
 * than the stream's end it caused.
 */
static void
import_download_end(struct xfer_job *job, struct oci_download *dl, int r)
{
	char	err[1024];
	int	dr;

	closefd(&job->fd);
	dr = oci_download_end(dl, err, sizeof(err));
	if (r < 0 && dr < 0) {
		job->code = 0;
		snapshot_transfer_fail(job, dr, SNAPSHOT_JOB_E_IO, "%s", err);
	}
}

int
snapshot_import_run(struct xfer_job *job)
{
	struct store		*s;
	struct stream		*st = NULL;
	struct store_hashset	*needed = store_hashset_new();
	struct oci_download	*dl = NULL;
	const unsigned char	*p;
	size_t			 len;
	char			*root = snapshot_store_root(), err[1024], type[5];
	int			 r;

	s = store_open(root, err, sizeof(err));
	free(root);
	if (s == NULL) {
		r = snapshot_transfer_fail(job, -EIO, SNAPSHOT_JOB_E_IO, "%s", err);
		goto out;
	}
	if (job->url != NULL && (r = oci_download_start(job->url, job->insecure,
	    snapshot_transfer_cancel_fd(job), &dl, &job->fd, err, sizeof(err))) < 0) {
		snapshot_transfer_fail(job, r, r == -EINVAL ? SNAPSHOT_JOB_E_INVALID_PARAMS :
		    SNAPSHOT_JOB_E_IO, "%s", err);
		goto out;
	}
	if (job->file != NULL &&
	    (job->fd = open(job->file, O_RDONLY | O_CLOEXEC)) < 0) {
		r = snapshot_transfer_fail(job, -errno, errno == ENOENT ? SNAPSHOT_JOB_E_INVALID_PARAMS :
		    SNAPSHOT_JOB_E_IO, "cannot open %s: %s", job->file, strerror(errno));
		goto out;
	}
	if ((r = stream_read_open_cancel(job->fd, snapshot_transfer_cancel_fd(job), &st, err,
	    sizeof(err))) < 0) {
		snapshot_transfer_fail(job, r, r == -EBADMSG ? SNAPSHOT_JOB_E_BAD_SNAPSHOT : SNAPSHOT_JOB_E_IO,
		    "%s", err);
		goto out;
	}
	r = stream_get(st, type, &p, &len, err, sizeof(err));
	if (r == 0 && strcmp(type, STREAM_HEAD) != 0) {
		snprintf(err, sizeof(err), "corrupt stream: it does not start with "
		    "its header");
		r = -EBADMSG;
	}
	if (r == 0 && (r = import_head(job, (const char *)p, len)) < 0)
		goto out;
	if (r == 0)
		r = stream_get(st, type, &p, &len, err, sizeof(err));
	if (r == 0 && strcmp(type, STREAM_MANI) != 0) {
		snprintf(err, sizeof(err), "corrupt stream: no manifest after its header");
		r = -EBADMSG;
	}
	if (r < 0) {
		snapshot_transfer_fail(job, r, r == -EBADMSG ? SNAPSHOT_JOB_E_BAD_SNAPSHOT : SNAPSHOT_JOB_E_IO,
		    "%s", err);
		goto out;
	}
	if ((r = snapshot_import_manifest(job, p, len)) < 0)
		goto out;
	(void)snapshot_manifest_hashes(job->manifest, snapshot_transfer_add_hash, needed);
	if ((r = import_chunks(job, s, st, needed)) < 0)
		goto out;
	job->bytes = stream_bytes(st);
	r = snapshot_import_finish(job, s);
out:
	if (dl != NULL)
		import_download_end(job, dl, r);
	stream_free(st);
	store_hashset_free(needed);
	store_free(s);
	return r;
}
