/* SPDX-License-Identifier: MIT */
/* Parallel blob fetches over libcurl multi (oci-fetch.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "oci-fetch.h"
#include "oci-http.h"
#include "util.h"

struct slot {
	CURL			*h;
	struct curl_slist	*headers;
	struct oci_http_resp	 resp;
	struct oci_http_req	 req;
	char			*url;
	size_t			 index;
	struct oci_renew_req	 renew;	/* what the request did about 401s */
	bool			 busy;
};

/* Send the request for blob index (again, after a 401: s->renew kept). */
static int
slot_start(CURLM *m, struct slot *s, struct oci_client *c,
    const struct oci_blob *b, size_t index, bool head)
{
	s->url = oci_client_blob_url(c, b->digest);
	s->req = (struct oci_http_req){ .method = head ? "HEAD" : "GET", .url = s->url,
	    .authorization = oci_client_authorization(c, &s->renew),
	    .max_body = b->size, .out_fd = -1 };
	s->index = index;
	if (oci_http_setup(s->h, oci_client_http(c), &s->req, &s->resp,
	    &s->headers) < 0 || curl_multi_add_handle(m, s->h) != CURLM_OK) {
		curl_slist_free_all(s->headers);
		s->headers = NULL;
		free(s->url);
		s->url = NULL;
		return -ENOMEM;
	}
	s->busy = true;
	return 0;
}

static void
slot_end(CURLM *m, struct slot *s)
{
	if (!s->busy)
		return;
	curl_multi_remove_handle(m, s->h);
	curl_slist_free_all(s->headers);
	s->headers = NULL;
	free(s->url);
	s->url = NULL;
	oci_http_resp_clear(&s->resp);
	s->busy = false;
}

static void
slot_what(const struct oci_blob *b, bool head, char *what, size_t len)
{
	snprintf(what, len, "%sblob %.19s...", head ? "HEAD of " : "", b->digest);
}

/* A finished HEAD: is the blob there? */
static int
slot_head_done(struct slot *s, const struct oci_blob *b, bool *present,
    char *err, size_t errlen)
{
	char what[160];

	slot_what(b, true, what, sizeof(what));
	if (s->resp.status != 200 && s->resp.status != 404)
		return oci_http_status_error(&s->resp, what, err, errlen);
	present[s->index] = s->resp.status == 200;
	return 0;
}

/* A finished transfer: check it, hand it on. */
static int
slot_done(struct slot *s, const struct oci_blob *b, oci_blob_fn fn, void *arg,
    char *err, size_t errlen)
{
	char got[OCI_DIGEST_LEN + 1], what[160];

	slot_what(b, false, what, sizeof(what));
	if (s->resp.status != 200)
		return oci_http_status_error(&s->resp, what, err, errlen);
	oci_digest_of(s->resp.body ? s->resp.body : "", s->resp.len, got);
	if (s->resp.len != b->size || strcmp(got, b->digest) != 0) {
		snprintf(err, errlen, "%s is corrupt: the registry sent %zu bytes "
		    "that hash to %.19s..., not %llu bytes of that digest", what,
		    s->resp.len, got, (unsigned long long)b->size);
		return -EBADMSG;
	}
	return fn(s->index, s->resp.body ? s->resp.body : "", s->resp.len, arg,
	    err, errlen);
}

/*
 * A finished request: after a 401 it goes out again with a fresh token
 * (*again; one token for all the slots the old one failed), else it is
 * its blob's answer.
 */
static int
slot_finish(CURLM *m, struct slot *s, CURLcode rc, struct oci_client *c,
    const struct oci_blob *blobs, oci_blob_fn fn, void *arg, bool *present,
    bool *again, char *err, size_t errlen)
{
	const struct oci_blob	*b = &blobs[s->index];
	char			 what[160];
	int			 ret;

	*again = false;
	if (rc != CURLE_OK)
		return oci_http_curl_error(rc, s->url, &s->resp, err, errlen);
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->resp.status);
	oci_client_answered(c, &s->renew, s->resp.status);
	if (s->resp.status != 401)
		return present != NULL ? slot_head_done(s, b, present, err, errlen) :
		    slot_done(s, b, fn, arg, err, errlen);
	slot_what(b, present != NULL, what, sizeof(what));
	if ((ret = oci_client_reauth(c, &s->renew, &s->resp, what, err, errlen)) < 0)
		return ret;
	*again = true;
	slot_end(m, s);
	if ((ret = slot_start(m, s, c, b, s->index, present != NULL)) < 0)
		snprintf(err, errlen, "cannot start a transfer: out of memory");
	return ret;
}

/* GET (present NULL: to fn) or HEAD (into present) every blob, parallel at a time. */
static int
run_blobs(struct oci_client *c, const struct oci_blob *blobs, size_t n,
    unsigned int parallel, oci_blob_fn fn, void *arg, bool *present, char *err,
    size_t errlen)
{
	CURLM		*m = curl_multi_init();
	struct slot	*slots;
	size_t		 next = 0, active = 0;
	int		 ret = 0, running;

	if (parallel == 0)
		parallel = 1;
	slots = xcalloc(parallel, sizeof(*slots));
	for (unsigned int i = 0; i < parallel; i++) {
		slots[i].resp.out_fd = -1;
		if ((slots[i].h = curl_easy_init()) == NULL)
			ret = -ENOMEM;
	}
	if (m == NULL || ret < 0) {
		snprintf(err, errlen, "cannot set up the transfers: out of memory");
		ret = -ENOMEM;
		goto out;
	}
	while (ret == 0 && (next < n || active > 0)) {
		CURLMsg	*msg;
		int	 left;

		for (unsigned int i = 0; i < parallel && next < n && ret == 0; i++) {
			if (slots[i].busy)
				continue;
			slots[i].renew = (struct oci_renew_req){ 0 };
			if ((ret = slot_start(m, &slots[i], c, &blobs[next], next,
			    present != NULL)) < 0)
				snprintf(err, errlen, "cannot start a transfer: out of memory");
			next++;
			active++;
		}
		if (ret < 0 || curl_multi_perform(m, &running) != CURLM_OK ||
		    curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK) {
			if (ret == 0) {
				snprintf(err, errlen, "the transfers failed");
				ret = -EIO;
			}
			break;
		}
		while (ret == 0 && (msg = curl_multi_info_read(m, &left)) != NULL) {
			struct slot	*s = NULL;
			bool		 again;

			if (msg->msg != CURLMSG_DONE)
				continue;
			for (unsigned int i = 0; i < parallel; i++)
				if (slots[i].busy && slots[i].h == msg->easy_handle)
					s = &slots[i];
			if (s == NULL)
				continue;
			ret = slot_finish(m, s, msg->data.result, c, blobs, fn, arg,
			    present, &again, err, errlen);
			if (again)
				continue;
			slot_end(m, s);
			active--;
		}
	}
out:
	for (unsigned int i = 0; i < parallel; i++) {
		slot_end(m, &slots[i]);
		if (slots[i].h != NULL)
			curl_easy_cleanup(slots[i].h);
	}
	free(slots);
	if (m != NULL)
		curl_multi_cleanup(m);
	return ret;
}

int
oci_fetch_blobs(struct oci_client *c, const struct oci_blob *blobs, size_t n,
    unsigned int parallel, oci_blob_fn fn, void *arg, char *err, size_t errlen)
{
	return run_blobs(c, blobs, n, parallel, fn, arg, NULL, err, errlen);
}

int
oci_blobs_exist(struct oci_client *c, const struct oci_blob *blobs, size_t n,
    unsigned int parallel, bool *present, char *err, size_t errlen)
{
	return run_blobs(c, blobs, n, parallel, NULL, NULL, present, err, errlen);
}
