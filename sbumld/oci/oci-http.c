/* SPDX-License-Identifier: MIT */
/* HTTP requests to registries over libcurl (oci-http.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>

#include "config.h"
#include "oci-http.h"
#include "util.h"

#define CONNECT_TIMEOUT_S	30
#define STALL_TIMEOUT_S		60	/* less than 1 byte/s for this long: give up */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void
global_init(void)
{
	(void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
oci_http_global_init(void)
{
	(void)pthread_once(&global_once, global_init);
}

void
oci_http_resp_clear(struct oci_http_resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->out_fd = -1;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct oci_http_resp	*r = arg;
	size_t			 len = size * n;
	/*
	 * An error's body is the registry's words about it, not the content
	 * asked for: kept in memory (bounded on its own, as a 401 may be
	 * longer than a small blob), never counted as moved.
	 */
	bool			 error = r->answering >= 400;
	size_t			 max = error && r->max < OCI_HTTP_ERROR_BODY_MAX ?
				    OCI_HTTP_ERROR_BODY_MAX : r->max;

	if (r->len + len > max || r->len + len < r->len) {
		r->too_long = true;
		return 0;
	}
	if (r->out_fd >= 0 && !error) {
		if (write_fd_all(r->out_fd, p, len) < 0)
			return 0;
	} else {
		r->body = xrealloc(r->body, r->len + len + 1);
		memcpy(r->body + r->len, p, len);
		r->body[r->len + len] = '\0';
	}
	r->len += len;
	if (r->counter != NULL && !error)
		atomic_fetch_add(r->counter, len);
	return len;
}

/* Keep a header's value (trimmed, printable, bounded) if it is one we want. */
static void
keep_header(char *dst, size_t dstlen, const char *v, size_t vlen)
{
	size_t n = 0;

	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
	    v[vlen - 1] == ' '))
		vlen--;
	for (; n < vlen && n + 1 < dstlen; n++)
		dst[n] = ((unsigned char)v[n] < 0x20 || (unsigned char)v[n] >= 0x7f) ?
		    '?' : v[n];
	dst[n] = '\0';
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct oci_http_resp	*r = arg;
	size_t			 len = size * n;
	static const struct { const char *name; size_t off, size; } want[] = {
		{ "www-authenticate:", offsetof(struct oci_http_resp, www_authenticate),
		  sizeof(((struct oci_http_resp *)0)->www_authenticate) },
		{ "location:", offsetof(struct oci_http_resp, location),
		  sizeof(((struct oci_http_resp *)0)->location) },
		{ "docker-content-digest:", offsetof(struct oci_http_resp, content_digest),
		  sizeof(((struct oci_http_resp *)0)->content_digest) },
		{ "link:", offsetof(struct oci_http_resp, link),
		  sizeof(((struct oci_http_resp *)0)->link) },
	};

	/* A new response (after a redirect or 100): forget the last one's. */
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', len);

		r->www_authenticate[0] = r->location[0] = r->content_digest[0] = '\0';
		r->link[0] = '\0';
		r->answering = 0;
		/* "HTTP/1.1 401 Unauthorized": the status, for on_body. */
		for (size_t i = sp ? (size_t)(sp - p) + 1 : len; i < len && i < 16 &&
		    p[i] >= '0' && p[i] <= '9'; i++)
			r->answering = r->answering * 10 + (p[i] - '0');
		return len;
	}
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t k = strlen(want[i].name);

		if (len > k && strncasecmp(p, want[i].name, k) == 0)
			keep_header((char *)r + want[i].off, want[i].size, p + k, len - k);
	}
	return len;
}

static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct oci_http_resp	*r = arg;
	struct pollfd			 pfd = { r->cancel_fd, POLLIN, 0 };

	(void)dt; (void)dn; (void)ut; (void)un;
	return r->cancel_fd >= 0 && poll(&pfd, 1, 0) > 0;
}

static int
add_header(struct curl_slist **l, const char *name, const char *value)
{
	char			*h;
	struct curl_slist	*n;

	if (value == NULL)
		return 0;
	h = xasprintf("%s: %s", name, value);
	n = curl_slist_append(*l, h);
	free(h);
	if (n == NULL)
		return -ENOMEM;
	*l = n;
	return 0;
}

int
oci_http_setup(CURL *h, const struct oci_http *c, const struct oci_http_req *q,
    struct oci_http_resp *r, struct curl_slist **ret_headers)
{
	struct curl_slist	*hl = NULL;
	const char		*redir = c->insecure ? "http,https" : "https";

	oci_http_resp_clear(r);
	r->max = q->max_body;
	r->out_fd = q->out_fd;
	r->counter = c->counter;
	r->cancel_fd = c->cancel_fd;
	curl_easy_reset(h);
	if (add_header(&hl, "Authorization", q->authorization) < 0 ||
	    add_header(&hl, "Accept", q->accept) < 0 ||
	    add_header(&hl, "Content-Type", q->content_type ? q->content_type :
	    (q->body != NULL || strcmp(q->method, "PUT") == 0 ||
	    strcmp(q->method, "POST") == 0 ? "application/octet-stream" : NULL)) < 0 ||
	    (hl = curl_slist_append(hl, "Expect:")) == NULL) {
		curl_slist_free_all(hl);
		return -ENOMEM;
	}
	curl_easy_setopt(h, CURLOPT_URL, q->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->insecure ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, redir);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)STALL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "sbumld/" SBUML_VERSION);
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	if (q->fail_on_error)
		curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	if (strcmp(q->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(q->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	}
	*ret_headers = hl;
	return 0;
}

int
oci_http_curl_error(CURLcode rc, const char *url, const struct oci_http_resp *r,
    char *err, size_t errlen)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		snprintf(err, errlen, "%s: cannot connect (connection refused or "
		    "unreachable)", url);
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(err, errlen, "%s: cannot resolve the host", url);
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(err, errlen, "%s: timed out", url);
		return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK:
		snprintf(err, errlen, "%s: cancelled (the client went away)", url);
		return -ECANCELED;
	case CURLE_WRITE_ERROR:
		if (r->too_long) {
			snprintf(err, errlen, "%s: the answer is longer than the %zu "
			    "bytes expected", url, r->max);
			return -EFBIG;
		}
		break;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		/* The registry went away mid-answer (stopped, restarted, a proxy
		 * cut it): say so, rather than libcurl's "partial file". */
		snprintf(err, errlen, "%s: connection lost in the middle of the "
		    "transfer (%s)", url, curl_easy_strerror(rc));
		return -ECONNRESET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(err, errlen, "%s: TLS failed: %s (a registry without a "
		    "valid certificate needs --insecure)", url, curl_easy_strerror(rc));
		return -EIO;
	default:
		break;
	}
	snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(rc));
	return -EIO;
}

int
oci_http_do(CURL *h, const struct oci_http *c, const struct oci_http_req *q,
    struct oci_http_resp *r, char *err, size_t errlen)
{
	struct curl_slist	*hl;
	CURLcode		 rc;

	if (oci_http_setup(h, c, q, r, &hl) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = curl_easy_perform(h);
	curl_slist_free_all(hl);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	if (rc == CURLE_HTTP_RETURNED_ERROR) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		return oci_http_status_error(r, q->url, err, errlen);
	}
	if (rc != CURLE_OK)
		return oci_http_curl_error(rc, q->url, r, err, errlen);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	return 0;
}

/* The registry's own words: errors[0].code and .message, printable, bounded. */
static void
registry_error(const struct oci_http_resp *r, char *out, size_t outlen)
{
	struct json_object	*o, *errs, *e, *code, *msg;
	char			 buf[512];

	out[0] = '\0';
	if (r->body == NULL || r->len == 0 || r->len > 64 * 1024 ||
	    (o = json_tokener_parse(r->body)) == NULL)
		return;
	if (json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array) &&
	    json_object_array_length(errs) > 0 &&
	    (e = json_object_array_get_idx(errs, 0)) != NULL &&
	    json_object_is_type(e, json_type_object)) {
		snprintf(buf, sizeof(buf), "%s%s%s",
		    json_object_object_get_ex(e, "code", &code) &&
		    json_object_is_type(code, json_type_string) ?
		    json_object_get_string(code) : "",
		    json_object_object_get_ex(e, "message", &msg) &&
		    json_object_is_type(msg, json_type_string) ? ": " : "",
		    json_object_object_get_ex(e, "message", &msg) &&
		    json_object_is_type(msg, json_type_string) ?
		    json_object_get_string(msg) : "");
		keep_header(out, outlen, buf, strlen(buf));
	}
	json_object_put(o);
}

static const char *
status_text(long s)
{
	switch (s) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

int
oci_http_status_error(const struct oci_http_resp *r, const char *what,
    char *err, size_t errlen)
{
	char	 reg[300];
	int	 ret = -EPROTO;

	registry_error(r, reg, sizeof(reg));
	if (r->status == 401 || r->status == 403)
		ret = -EACCES;
	else if (r->status == 404)
		ret = -ENOENT;
	else if (r->status == 429 || r->status >= 500)
		ret = -EAGAIN;
	snprintf(err, errlen, "%s: HTTP %ld %s%s%s%s%s", what, r->status,
	    status_text(r->status), reg[0] ? " (" : "", reg, reg[0] ? ")" : "",
	    r->status == 401 ? ": the registry wants credentials (log in with "
	    "skopeo login or podman login, or give an auth file)" :
	    r->status == 403 ? ": these credentials may not do this" : "");
	return ret;
}
