/* SPDX-License-Identifier: MIT */
/* The registry v2 API for one repository (oci-client.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "oci-auth.h"
#include "oci-client.h"
#include "oci-http.h"
#include "util.h"

struct oci_client {
	struct oci_ref		 ref;
	char			*origin;	/* "https://host:port" */
	char			*basic;		/* may be NULL */
	char			*authorization;	/* the header that worked, or NULL */
	char			*mount_from;	/* may be NULL */
	bool			 push;
	bool			 catalog;	/* asks for the registry's catalog */
	struct oci_renew	 renew;		/* authorization's generations */
	struct oci_http		 http;
	CURL			*h;
};

struct oci_client *
oci_client_new(const struct oci_ref *ref, const struct oci_client_opts *o)
{
	struct oci_client *c = xcalloc(1, sizeof(*c));

	oci_http_global_init();
	c->ref = *ref;
	c->origin = xasprintf("%s://%s", o->insecure ? "http" : "https", ref->host);
	c->basic = o->basic ? xstrdup(o->basic) : NULL;
	c->push = o->push;
	if (o->mount_from != NULL && strcmp(o->mount_from, ref->repo) != 0 &&
	    oci_repo_valid(o->mount_from))
		c->mount_from = xstrdup(o->mount_from);
	c->http.insecure = o->insecure;
	c->http.cancel_fd = o->cancel_fd;
	c->http.counter = o->counter;
	if ((c->h = curl_easy_init()) == NULL) {
		oci_client_free(c);
		return NULL;
	}
	return c;
}

struct oci_client *
oci_client_free(struct oci_client *c)
{
	if (c == NULL)
		return NULL;
	if (c->h != NULL)
		curl_easy_cleanup(c->h);
	free(c->origin);
	free(c->basic);
	free(c->authorization);
	free(c->mount_from);
	free(c);
	return NULL;
}

const char *
oci_client_authorization(const struct oci_client *c, struct oci_renew_req *q)
{
	oci_renew_send(&c->renew, q);
	return c->authorization;
}

void
oci_client_answered(struct oci_client *c, const struct oci_renew_req *q,
    long status)
{
	oci_renew_answered(&c->renew, q, status);
}

const struct oci_http *
oci_client_http(const struct oci_client *c)
{
	return &c->http;
}

char *
oci_client_blob_url(const struct oci_client *c, const char *digest)
{
	return xasprintf("%s/v2/%s/blobs/%s", c->origin, c->ref.repo, digest);
}

/* Fetch a Bearer token for the challenge (with our credentials, if any). */
static int
fetch_token(struct oci_client *c, const struct oci_challenge *ch, char *err,
    size_t errlen)
{
	struct oci_http_req	 q = { .method = "GET", .max_body = OCI_TOKEN_MAX + 4096,
				    .out_fd = -1 };
	struct oci_http_resp	 r = { .out_fd = -1 };
	char			*scope, *svc, *url, *basic = NULL, *tok = NULL;
	int			 ret;

	scope = c->catalog ? xstrdup("registry:catalog:*") :
	    xasprintf("repository:%s:%s", c->ref.repo, c->push ? "pull,push" : "pull");
	svc = curl_easy_escape(c->h, ch->service, 0);
	{
		char *esc = curl_easy_escape(c->h, scope, 0), *from = NULL;

		/* A mount needs pull rights on the repository it mounts from. */
		if (c->push && c->mount_from != NULL) {
			char *fs = xasprintf("repository:%s:pull", c->mount_from);

			from = curl_easy_escape(c->h, fs, 0);
			free(fs);
		}
		url = xasprintf("%s%sservice=%s&scope=%s%s%s", ch->realm,
		    strchr(ch->realm, '?') ? "&" : "?", svc ? svc : "", esc ? esc : "",
		    from ? "&scope=" : "", from ? from : "");
		curl_free(esc);
		curl_free(from);
	}
	curl_free(svc);
	free(scope);
	if (c->basic != NULL)
		basic = xasprintf("Basic %s", c->basic);
	q.url = url;
	q.authorization = basic;
	ret = oci_http_do(c->h, &c->http, &q, &r, err, errlen);
	if (ret == 0 && r.status != 200)
		ret = oci_http_status_error(&r, "the registry's token server", err, errlen);
	if (ret == 0 && (ret = oci_token_parse(r.body, r.len, &tok, err, errlen)) == 0) {
		free(c->authorization);
		c->authorization = xasprintf("Bearer %s", tok);
	}
	free(tok);
	free(basic);
	free(url);
	oci_http_resp_clear(&r);
	return ret;
}

/* A fresh Authorization was refused too: say whose it was and why it may be. */
static int
refused(const struct oci_client *c, const char *what, char *err, size_t errlen)
{
	bool	token = c->authorization != NULL &&
		    strncmp(c->authorization, "Bearer ", 7) == 0;

	snprintf(err, errlen, "%s: HTTP 401 Unauthorized again with the %s it "
	    "had just been given: the registry refused the %s for it (%s)", what,
	    token ? "token" : "credentials", token ? "token" : "credentials",
	    c->basic == NULL ? "no credentials for this registry: log in with "
	    "skopeo login or podman login, or give an auth file" :
	    "these credentials may not do this");
	return -EACCES;
}

/* Answer r's challenge: a new Authorization.  0, or -errno with err. */
static int
authenticate(struct oci_client *c, const struct oci_http_resp *r,
    const char *what, char *err, size_t errlen)
{
	struct oci_challenge	ch;
	char			e[256];

	if (oci_challenge_parse(r->www_authenticate, &ch, e, sizeof(e)) < 0 ||
	    (ch.scheme == OCI_AUTH_BASIC && c->basic == NULL))
		return oci_http_status_error(r, what, err, errlen);
	if (ch.scheme == OCI_AUTH_BASIC) {
		free(c->authorization);
		c->authorization = xasprintf("Basic %s", c->basic);
		return 0;
	}
	return fetch_token(c, &ch, err, errlen);
}

int
oci_client_reauth(struct oci_client *c, struct oci_renew_req *q,
    const struct oci_http_resp *r, const char *what, char *err, size_t errlen)
{
	int ret;

	switch (oci_renew_decide(&c->renew, q)) {
	case OCI_RENEW_RESEND:
		return 0;
	case OCI_RENEW_REFUSED:
		return refused(c, what, err, errlen);
	case OCI_RENEW_TOO_MANY:
		snprintf(err, errlen, "%s: HTTP 401 Unauthorized: the registry has "
		    "refused %u tokens already, having taken only %u requests: "
		    "giving up", what, c->renew.renewals, c->renew.accepted);
		return -EACCES;
	case OCI_RENEW_FETCH:
		break;
	}
	if ((ret = authenticate(c, r, what, err, errlen)) < 0)
		return ret;
	oci_renew_fetched(&c->renew, q);
	return 0;
}

/*
 * Run q with the client's Authorization; a 401 gets a fresh one (as
 * oci-renew.h allows).  0 with r filled (any status but 401), or -errno
 * with err.  At most three rounds: a request on its own renews once.
 */
static int
request(struct oci_client *c, struct oci_http_req *q, struct oci_http_resp *r,
    const char *what, char *err, size_t errlen)
{
	struct oci_renew_req	rq = { 0 };
	int			ret;

	for (;;) {
		q->authorization = oci_client_authorization(c, &rq);
		if ((ret = oci_http_do(c->h, &c->http, q, r, err, errlen)) < 0)
			return ret;
		oci_client_answered(c, &rq, r->status);
		if (r->status != 401)
			return 0;
		if ((ret = oci_client_reauth(c, &rq, r, what, err, errlen)) < 0)
			return ret;
	}
}

/* request(), then the status must be one of want (0-terminated). */
static int
request_expect(struct oci_client *c, struct oci_http_req *q,
    struct oci_http_resp *r, const long *want, const char *what, char *err,
    size_t errlen)
{
	int ret;

	if ((ret = request(c, q, r, what, err, errlen)) < 0)
		return ret;
	for (; *want != 0; want++)
		if (r->status == *want)
			return 0;
	return oci_http_status_error(r, what, err, errlen);
}

int
oci_client_blob_exists(struct oci_client *c, const char *digest, bool *ret,
    char *err, size_t errlen)
{
	struct oci_http_req	 q = { .method = "HEAD", .out_fd = -1 };
	struct oci_http_resp	 r = { .out_fd = -1 };
	static const long	 want[] = { 200, 404, 0 };
	char			*what = xasprintf("HEAD of blob %.19s... in %s/%s",
				    digest, c->ref.host, c->ref.repo);
	char			*url = oci_client_blob_url(c, digest);
	int			 rc;

	q.url = url;
	rc = request_expect(c, &q, &r, want, what, err, errlen);
	*ret = rc == 0 && r.status == 200;
	free(url);
	free(what);
	oci_http_resp_clear(&r);
	return rc;
}

/*
 * The upload URL from a Location header: relative to the registry, or
 * absolute on the same origin (our credentials go nowhere else).
 */
static char *
upload_url(const struct oci_client *c, const char *loc, const char *digest)
{
	size_t	 n = strlen(c->origin);
	char	*esc, *url;

	if (loc[0] == '\0')
		return NULL;
	if (loc[0] == '/' && loc[1] != '/')
		url = xasprintf("%s%s", c->origin, loc);
	else if (strncmp(loc, c->origin, n) == 0 && loc[n] == '/')
		url = xstrdup(loc);
	else
		return NULL;
	esc = curl_escape(digest, 0);
	{
		char *u = xasprintf("%s%sdigest=%s", url, strchr(url, '?') ? "&" : "?",
		    esc ? esc : "");

		free(url);
		url = u;
	}
	curl_free(esc);
	return url;
}

/* The POST that opens an upload, or first asks to mount digest. */
static char *
upload_post_url(const struct oci_client *c, const char *digest)
{
	char *from, *url;

	if (c->mount_from == NULL)
		return xasprintf("%s/v2/%s/blobs/uploads/", c->origin, c->ref.repo);
	from = curl_escape(c->mount_from, 0);
	url = xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s", c->origin,
	    c->ref.repo, digest, from ? from : "");
	curl_free(from);
	return url;
}

int
oci_client_blob_put(struct oci_client *c, const char *digest, const void *buf,
    size_t len, bool *mounted, char *err, size_t errlen)
{
	struct oci_http_req	 q = { .method = "POST", .out_fd = -1, .max_body = 64 * 1024 };
	struct oci_http_resp	 r = { .out_fd = -1 };
	static const long	 want_post[] = { 201, 202, 0 }, want_put[] = { 201, 204, 0 };
	char			*what = xasprintf("upload of blob %.19s... to %s/%s",
				    digest, c->ref.host, c->ref.repo), *url;
	int			 ret;

	*mounted = false;
	q.url = url = upload_post_url(c, digest);
	ret = request_expect(c, &q, &r, want_post, what, err, errlen);
	free(url);
	/* 201 is only an answer to a mount (a plain POST wants 202). */
	if (ret == 0 && r.status == 201 && c->mount_from != NULL) {
		*mounted = true;
		goto out;
	}
	if (ret == 0 && r.status != 202)
		ret = oci_http_status_error(&r, what, err, errlen);
	if (ret == 0 && (url = upload_url(c, r.location, digest)) == NULL) {
		snprintf(err, errlen, "%s: the registry gave no upload location on "
		    "its own origin (Location: \"%.200s\")", what, r.location);
		ret = -EPROTO;
	}
	if (ret == 0) {
		struct oci_http_req p = { .method = "PUT", .url = url, .body = buf,
		    .body_len = len, .out_fd = -1, .max_body = 64 * 1024 };

		ret = request_expect(c, &p, &r, want_put, what, err, errlen);
		free(url);
	}
out:
	free(what);
	oci_http_resp_clear(&r);
	return ret;
}

/* GET url: its body (NUL-terminated, owned by the caller) and its digest. */
static int
get_hashed(struct oci_client *c, const char *url, const char *accept,
    size_t max_body, const char *what, char **body, size_t *len,
    char digest[OCI_DIGEST_LEN + 1], char *err, size_t errlen)
{
	struct oci_http_req	 q = { .method = "GET", .url = url, .out_fd = -1,
				    .max_body = max_body, .accept = accept };
	struct oci_http_resp	 r = { .out_fd = -1 };
	static const long	 want[] = { 200, 0 };
	int			 rc;

	*body = NULL;
	rc = request_expect(c, &q, &r, want, what, err, errlen);
	if (rc == 0) {
		*body = r.body ? r.body : xstrdup("");
		*len = r.len;
		r.body = NULL;
		oci_digest_of(*body, *len, digest);
	}
	oci_http_resp_clear(&r);
	return rc;
}

int
oci_client_blob_get(struct oci_client *c, const char *digest, uint64_t size,
    char **ret, char *err, size_t errlen)
{
	char	*what = xasprintf("blob %.19s... of %s/%s", digest, c->ref.host,
		    c->ref.repo);
	char	*url = oci_client_blob_url(c, digest);
	char	 got[OCI_DIGEST_LEN + 1];
	size_t	 len = 0;
	int	 rc;

	rc = get_hashed(c, url, NULL, size, what, ret, &len, got, err, errlen);
	if (rc == 0 && (len != size || strcmp(got, digest) != 0)) {
		snprintf(err, errlen, "%s: corrupt: %zu bytes that hash to "
		    "%.19s..., not %llu bytes of that digest", what, len, got,
		    (unsigned long long)size);
		free(*ret);
		*ret = NULL;
		rc = -EBADMSG;
	}
	free(url);
	free(what);
	return rc;
}

int
oci_client_manifest_get(struct oci_client *c, const char *reference,
    const char *media_type, char **ret, size_t *ret_len,
    char ret_digest[OCI_DIGEST_LEN + 1], char *err, size_t errlen)
{
	char	*what = xasprintf("manifest %s/%s:%s", c->ref.host, c->ref.repo,
		    reference);
	char	*url = xasprintf("%s/v2/%s/manifests/%s", c->origin, c->ref.repo,
		    reference);
	int	 rc;

	rc = get_hashed(c, url, media_type, OCI_MANIFEST_MAX, what, ret, ret_len,
	    ret_digest, err, errlen);
	if (rc == 0 && oci_digest_valid(reference) &&
	    strcmp(reference, ret_digest) != 0) {
		snprintf(err, errlen, "%s: the manifest does not hash to its digest",
		    what);
		free(*ret);
		*ret = NULL;
		rc = -EBADMSG;
	}
	free(url);
	free(what);
	return rc;
}

int
oci_client_manifest_put(struct oci_client *c, const char *tag,
    const char *media_type, const char *body, size_t len, char *err,
    size_t errlen)
{
	struct oci_http_req	 q = { .method = "PUT", .out_fd = -1, .max_body = 64 * 1024,
				    .content_type = media_type, .body = body,
				    .body_len = len };
	struct oci_http_resp	 r = { .out_fd = -1 };
	static const long	 want[] = { 201, 0 };
	char			*what = xasprintf("upload of manifest %s/%s:%s",
				    c->ref.host, c->ref.repo, tag), *url;
	int			 rc;

	q.url = url = xasprintf("%s/v2/%s/manifests/%s", c->origin, c->ref.repo, tag);
	rc = request_expect(c, &q, &r, want, what, err, errlen);
	free(url);
	free(what);
	oci_http_resp_clear(&r);
	return rc;
}

/* A JSON object of len bytes at body (hostile: bounded depth), or NULL. */
static struct json_object *
parse_object(const char *body, size_t len)
{
	struct json_tokener	*tok = json_tokener_new_ex(16);
	struct json_object	*o = NULL;

	if (tok == NULL || body == NULL || len == 0 || len > INT32_MAX)
		goto out;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
out:
	if (tok != NULL)
		json_tokener_free(tok);
	return o;
}

int
oci_client_tags(struct oci_client *c, struct json_object **ret, char *err,
    size_t errlen)
{
	struct oci_http_req	 q = { .method = "GET", .out_fd = -1, .max_body = OCI_TAGS_MAX };
	struct oci_http_resp	 r = { .out_fd = -1 };
	static const long	 want[] = { 200, 0 };
	struct json_object	*o = NULL, *tags, *out;
	char			*what = xasprintf("tags of %s/%s", c->ref.host,
				    c->ref.repo), *url;
	int			 rc;

	*ret = NULL;
	q.url = url = xasprintf("%s/v2/%s/tags/list", c->origin, c->ref.repo);
	rc = request_expect(c, &q, &r, want, what, err, errlen);
	if (rc == 0 && (o = parse_object(r.body, r.len)) == NULL) {
		snprintf(err, errlen, "%s: the answer is not a JSON object", what);
		rc = -EBADMSG;
	}
	if (rc == 0) {
		out = json_object_new_array();
		/* "tags": null when the repository has none. */
		if (json_object_object_get_ex(o, "tags", &tags) &&
		    json_object_is_type(tags, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(tags); i++) {
				struct json_object *t = json_object_array_get_idx(tags, i);
				struct oci_ref tr;
				char tref[1024], e[256];

				if (!json_object_is_type(t, json_type_string))
					continue;
				/* Only well-formed tags: the rest is the registry's noise. */
				snprintf(tref, sizeof(tref), "%s/%s:%s", c->ref.host,
				    c->ref.repo, json_object_get_string(t));
				if (oci_ref_parse(tref, &tr, e, sizeof(e)) == 0)
					json_object_array_add(out, json_object_new_string(tr.tag));
			}
		}
		*ret = out;
	}
	json_object_put(o);
	free(url);
	free(what);
	oci_http_resp_clear(&r);
	return rc;
}

/*
 * One page of the catalog after last ("" first): its "repositories" (a new
 * reference, or NULL for none), *more if the registry says there is a
 * next page.
 */
static int
catalog_page(struct oci_client *c, const char *last, struct json_object **names,
    bool *more, char *err, size_t errlen)
{
	struct oci_http_req	 q = { .method = "GET", .out_fd = -1,
				    .max_body = OCI_CATALOG_BODY_MAX };
	struct oci_http_resp	 r = { .out_fd = -1 };
	static const long	 want[] = { 200, 0 };
	struct json_object	*o = NULL, *v;
	char			*what = xasprintf("catalog of %s", c->ref.host);
	char			*esc = curl_escape(last, 0), *url;
	int			 rc;

	*names = NULL;
	long			 n = test_knob_ms("SBUMLD_TEST_CATALOG_PAGE");

	/* Tests ask for small pages, to go through the pagination. */
	q.url = url = xasprintf("%s/v2/_catalog?n=%ld%s%s", c->origin,
	    n > 0 ? n : OCI_CATALOG_PAGE, last[0] ? "&last=" : "", last[0] && esc ? esc : "");
	rc = request_expect(c, &q, &r, want, what, err, errlen);
	if (rc == 0 && (o = parse_object(r.body, r.len)) == NULL) {
		snprintf(err, errlen, "%s: the answer is not a JSON object", what);
		rc = -EBADMSG;
	}
	if (rc == 0 && json_object_object_get_ex(o, "repositories", &v) &&
	    json_object_is_type(v, json_type_array))
		*names = json_object_get(v);
	*more = rc == 0 && (strstr(r.link, "rel=\"next\"") != NULL ||
	    strstr(r.link, "rel=next") != NULL);
	json_object_put(o);
	curl_free(esc);
	free(url);
	free(what);
	oci_http_resp_clear(&r);
	return rc;
}

/*
 * Add the well-formed names of page that start with prefix to out (up to
 * max); last becomes the page's last well-formed name.  False if the page
 * did not move past last (a registry going round in circles).
 */
static bool
catalog_take(struct json_object *page, const char *prefix, size_t max,
    struct json_object *out, bool *truncated, char last[OCI_REPO_MAX + 1])
{
	size_t	plen = strlen(prefix);
	bool	moved = false;

	for (size_t i = 0; i < json_object_array_length(page); i++) {
		struct json_object	*v = json_object_array_get_idx(page, i);
		const char		*name;

		if (!json_object_is_type(v, json_type_string) ||
		    !oci_repo_valid(name = json_object_get_string(v)) ||
		    strcmp(name, last) <= 0)
			continue;
		memcpy(last, name, strlen(name) + 1);
		moved = true;
		if (strncmp(name, prefix, plen) != 0)
			continue;
		if (json_object_array_length(out) < max)
			json_object_array_add(out, json_object_new_string(name));
		else
			*truncated = true;
	}
	return moved;
}

int
oci_client_catalog(struct oci_client *c, const char *prefix, size_t max,
    struct json_object **ret, bool *truncated, char *err, size_t errlen)
{
	struct json_object	*out = json_object_new_array();
	char			 last[OCI_REPO_MAX + 1] = "";
	bool			 more = true;
	int			 rc = 0;

	c->catalog = true;
	*truncated = false;
	for (int page = 0; rc == 0 && more && !*truncated; page++) {
		struct json_object *names = NULL;

		if (page == OCI_CATALOG_PAGES) {
			*truncated = true;
			break;
		}
		if ((rc = catalog_page(c, last, &names, &more, err, errlen)) == 0 &&
		    (names == NULL || !catalog_take(names, prefix, max, out, truncated,
		    last)))
			more = false;
		json_object_put(names);
	}
	if (rc < 0) {
		json_object_put(out);
		out = NULL;
	}
	*ret = out;
	return rc;
}
