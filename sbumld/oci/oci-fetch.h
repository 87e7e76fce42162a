/* SPDX-License-Identifier: MIT */
/*
 * Fetch many blobs of one repository at once (libcurl multi, keep-alive
 * connections): each is bounded by the size the caller expects, hashed,
 * and handed to the caller only if it is exactly that size and hashes to
 * its digest; or ask which of them the repository has.  A request answered
 * 401 (the token expired while the others ran) is sent again with a fresh
 * token from the client (oci-client.h), one token for all the requests the
 * old one failed.  Blocking: worker threads only.
 */
#ifndef SBUMLD_OCI_FETCH_H
#define SBUMLD_OCI_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci-client.h"

#define OCI_FETCH_PARALLEL	8

struct oci_blob {
	const char	*digest;
	uint64_t	 size;
};

/* A verified blob: 0, or -errno with err (the fetch stops). */
typedef int (*oci_blob_fn)(size_t index, const void *buf, size_t len,
	    void *arg, char *err, size_t errlen);

/*
 * Fetch blobs[0..n) (at most parallel at a time), calling fn for each as
 * it arrives verified (in any order, in the calling thread).  0, or the
 * first failure: -EBADMSG for a blob that is not what its digest says, a
 * request's -errno (oci-http.h), fn's.
 */
int	oci_fetch_blobs(struct oci_client *c, const struct oci_blob *blobs,
	    size_t n, unsigned int parallel, oci_blob_fn fn, void *arg,
	    char *err, size_t errlen);

/*
 * Ask for blobs[0..n) with HEAD, parallel at a time: present[i] true if the
 * repository has blob i.  0 or the first failure (-errno with err).
 */
int	oci_blobs_exist(struct oci_client *c, const struct oci_blob *blobs,
	    size_t n, unsigned int parallel, bool *present, char *err,
	    size_t errlen);

#endif
