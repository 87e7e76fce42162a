/* SPDX-License-Identifier: MIT */
/*
 * One HTTP request to a registry over libcurl (easy or, for oci-fetch.c,
 * multi): the options every request gets (http/https only, redirects only
 * to http(s) and only to https unless insecure, TLS verified with the
 * system CAs unless insecure, connect and stall timeouts, a cancel fd), the
 * headers the registry client needs from the answer, a bounded body, and
 * one clear message for every failure.  Blocking: worker threads only.
 */
#ifndef SBUMLD_OCI_HTTP_H
#define SBUMLD_OCI_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>

#define OCI_HTTP_HDR_MAX	4096
/* An error answer's body is kept up to this much whatever max_body says. */
#define OCI_HTTP_ERROR_BODY_MAX	(64 * 1024)

struct oci_http_req {
	const char	*method;	/* "GET", "HEAD", "PUT", "POST" */
	const char	*url;
	const char	*authorization;	/* "Basic ..." / "Bearer ..." or NULL */
	const char	*accept;	/* or NULL */
	const char	*content_type;	/* of body, or NULL */
	const void	*body;		/* PUT/POST: may be NULL (empty) */
	size_t		 body_len;
	size_t		 max_body;	/* a longer answer fails the request (not an error's) */
	int		 out_fd;	/* >= 0: the body goes there, not to memory */
	bool		 fail_on_error;	/* a status >= 400 is a failure, its body dropped */
};

struct oci_http_resp {
	long		 status;
	char		*body;		/* NUL-terminated, caller frees (oci_http_resp_clear) */
	size_t		 len;
	char		 www_authenticate[OCI_HTTP_HDR_MAX + 1];
	char		 location[OCI_HTTP_HDR_MAX + 1];
	char		 content_digest[128];	/* Docker-Content-Digest */
	char		 link[OCI_HTTP_HDR_MAX + 1];	/* Link (pagination) */
	bool		 too_long;	/* the body passed max_body */
	/* Internal. */
	long		 answering;	/* the status line's, as the answer arrives */
	size_t		 max;
	int		 out_fd;
	int		 cancel_fd;
	_Atomic uint64_t *counter;
};

/* What every request of one client shares. */
struct oci_http {
	bool		  insecure;	/* plain http, no TLS verification */
	int		  cancel_fd;	/* readable: give up (-ECANCELED); -1 never */
	_Atomic uint64_t *counter;	/* bytes moved, added to (may be NULL) */
};

/* Set h up for q, its answer going to r (cleared first). 0 or -ENOMEM. */
int	oci_http_setup(CURL *h, const struct oci_http *c,
	    const struct oci_http_req *q, struct oci_http_resp *r,
	    struct curl_slist **ret_headers);
/*
 * Run q on h (reused for keep-alive).  0 once an answer arrived (any
 * status: r->status); -ECONNREFUSED, -ETIMEDOUT, -ECANCELED, -EFBIG (an
 * answer longer than max_body) or -EIO with err naming the URL.
 */
int	oci_http_do(CURL *h, const struct oci_http *c, const struct oci_http_req *q,
	    struct oci_http_resp *r, char *err, size_t errlen);
/* The -errno and message for a curl failure of a request to url. */
int	oci_http_curl_error(CURLcode rc, const char *url, const struct oci_http_resp *r,
	    char *err, size_t errlen);
/*
 * A status the caller did not expect, as a message: "what: HTTP 404 Not
 * Found (MANIFEST_UNKNOWN: manifest unknown)", the registry's error body
 * quoted (bounded, printable).  Returns the matching -errno: -EACCES for
 * 401/403, -ENOENT for 404, -EAGAIN for 429 and 5xx, else -EPROTO.
 */
int	oci_http_status_error(const struct oci_http_resp *r, const char *what,
	    char *err, size_t errlen);
void	oci_http_resp_clear(struct oci_http_resp *r);
/* curl_global_init, once (thread-safe). */
void	oci_http_global_init(void);

#endif
