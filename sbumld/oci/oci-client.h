/* SPDX-License-Identifier: MIT */
/*
 * A client of one repository of an OCI registry (the distribution spec's
 * v2 API): blobs (HEAD, monolithic POST+PUT upload, GET bounded by the
 * size the caller expects and checked against its digest), manifests (GET,
 * PUT) and the tags list.  Authentication as registries ask for it: a
 * request answered 401 is sent again with Basic credentials or with a
 * Bearer token fetched from the challenge's realm (with the credentials,
 * if any), and the header is kept for the client's next requests.  Any
 * request may be answered 401 later, when the token expired: it gets a
 * fresh token the same way (oci-renew.h says when that ends in an error).
 * Blocking: worker threads only.  Every failure comes with a message.
 */
#ifndef SBUMLD_OCI_CLIENT_H
#define SBUMLD_OCI_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "oci-ref.h"
#include "oci-renew.h"

#define OCI_MANIFEST_MAX	(8 * 1024 * 1024)
#define OCI_TAGS_MAX		(4 * 1024 * 1024)

struct oci_client;

struct oci_client_opts {
	const char		*basic;		/* base64 "user:password", or NULL */
	bool			 insecure;	/* plain http, no TLS verification */
	bool			 push;		/* ask for push rights too */
	int			 cancel_fd;	/* readable: give up; -1 never */
	_Atomic uint64_t	*counter;	/* bytes moved are added here (may be NULL) */
	/*
	 * A repository of the same registry to mount blobs from (a push asks
	 * for pull rights there too), or NULL.  Checked: a repository name.
	 */
	const char		*mount_from;
};

/* A client of ref's repository (ref and opts copied). */
struct oci_client *oci_client_new(const struct oci_ref *ref,
	    const struct oci_client_opts *o);
/* Accepts NULL; returns NULL. */
struct oci_client *oci_client_free(struct oci_client *c);

/* Does the repository have blob digest?  *ret.  0 or -errno with err. */
int	oci_client_blob_exists(struct oci_client *c, const char *digest,
	    bool *ret, char *err, size_t errlen);
/*
 * Upload len bytes at buf as blob digest (POST, then PUT).  With
 * mount_from, the POST first asks the registry to mount the blob from that
 * repository (distribution spec: 201, *mounted true, nothing uploaded; 202,
 * an upload as usual).  0 or -errno.
 */
int	oci_client_blob_put(struct oci_client *c, const char *digest,
	    const void *buf, size_t len, bool *mounted, char *err, size_t errlen);
/*
 * Fetch blob digest, which must be exactly size bytes and hash to digest:
 * *ret (caller frees).  -EBADMSG for a blob that does not.
 */
int	oci_client_blob_get(struct oci_client *c, const char *digest,
	    uint64_t size, char **ret, char *err, size_t errlen);
/*
 * Fetch the manifest reference (a tag or a digest; a digest is checked)
 * accepting media_type: *ret (NUL-terminated, caller frees), *ret_len,
 * ret_digest its digest.  At most OCI_MANIFEST_MAX bytes.
 */
int	oci_client_manifest_get(struct oci_client *c, const char *reference,
	    const char *media_type, char **ret, size_t *ret_len,
	    char ret_digest[OCI_DIGEST_LEN + 1], char *err, size_t errlen);
/* Upload a manifest under tag.  0 or -errno with err. */
int	oci_client_manifest_put(struct oci_client *c, const char *tag,
	    const char *media_type, const char *body, size_t len, char *err,
	    size_t errlen);
#define OCI_CATALOG_PAGE	100		/* names asked for a page */
#define OCI_CATALOG_PAGES	500		/* pages read at most */
#define OCI_CATALOG_BODY_MAX	(1024 * 1024)	/* a page's answer */

/*
 * The registry's repositories (GET /v2/_catalog, the client's repository
 * is not used) whose names start with prefix, in the registry's order,
 * following its pagination (n and last, while it sends a Link rel="next")
 * for at most OCI_CATALOG_PAGES pages and max names: *ret a JSON array of
 * strings (caller's), *truncated if there were more.  Names that are not
 * well-formed repository names are left out.  0 or -errno with err.
 */
int	oci_client_catalog(struct oci_client *c, const char *prefix, size_t max,
	    struct json_object **ret, bool *truncated, char *err, size_t errlen);
/* The repository's tags: *ret a JSON array of strings (caller's). */
int	oci_client_tags(struct oci_client *c, struct json_object **ret,
	    char *err, size_t errlen);

/*
 * For oci-fetch.c, which sends requests of its own: the URL of blob digest
 * (caller frees); the current Authorization (or NULL), noted in q, the
 * request's history; an answer to count (every one, before its 401 goes to
 * oci_client_reauth); after a 401 (r) to q, about what: 0 when q may be
 * sent again with the then current Authorization, else -EACCES with err.
 */
char	*oci_client_blob_url(const struct oci_client *c, const char *digest);
const char *oci_client_authorization(const struct oci_client *c,
	    struct oci_renew_req *q);
void	oci_client_answered(struct oci_client *c, const struct oci_renew_req *q,
	    long status);
struct oci_http_resp;
int	oci_client_reauth(struct oci_client *c, struct oci_renew_req *q,
	    const struct oci_http_resp *r, const char *what, char *err,
	    size_t errlen);
const struct oci_http *oci_client_http(const struct oci_client *c);

#endif
