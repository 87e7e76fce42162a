/* SPDX-License-Identifier: MIT */
/* Downloads into a pipe (oci-download.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci-download.h"
#include "oci-http.h"
#include "util.h"

struct oci_download {
	pthread_t	 thread;
	char		*url;
	struct oci_http	 http;
	int		 wfd;
	int		 ret;
	char		 err[1024];
};

int
oci_download_check_url(const char *url, bool insecure, char *err, size_t errlen)
{
	size_t n;

	if (url == NULL || (n = strlen(url)) == 0 || n > OCI_URL_MAX)
		goto bad;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			goto bad;
	if (strncmp(url, "https://", 8) == 0 && n > 8)
		return 0;
	if (strncmp(url, "http://", 7) == 0 && n > 7) {
		if (insecure)
			return 0;
		snprintf(err, errlen, "%.200s: plain http only with insecure "
		    "(--insecure): nothing checks who sent the stream but its own "
		    "hashes", url);
		return -EINVAL;
	}
bad:
	snprintf(err, errlen, "not an http(s) URL of at most %d printable bytes",
	    OCI_URL_MAX);
	return -EINVAL;
}

static void *
download_thread(void *arg)
{
	struct oci_download	*d = arg;
	struct oci_http_req	 q = { .method = "GET", .url = d->url,
				    .max_body = SIZE_MAX, .out_fd = d->wfd,
				    .fail_on_error = true };
	struct oci_http_resp	 r = { .out_fd = -1 };
	CURL			*h = curl_easy_init();

	if (h == NULL) {
		d->ret = -ENOMEM;
		snprintf(d->err, sizeof(d->err), "out of memory");
	} else
		d->ret = oci_http_do(h, &d->http, &q, &r, d->err, sizeof(d->err));
	if (d->ret == 0 && r.status != 200)
		d->ret = oci_http_status_error(&r, d->url, d->err, sizeof(d->err));
	oci_http_resp_clear(&r);
	if (h != NULL)
		curl_easy_cleanup(h);
	/* The reader sees the end now. */
	closefd(&d->wfd);
	return NULL;
}

int
oci_download_start(const char *url, bool insecure, int cancel_fd,
    struct oci_download **ret, int *ret_fd, char *err, size_t errlen)
{
	struct oci_download	*d;
	int			 p[2], r;

	if ((r = oci_download_check_url(url, insecure, err, errlen)) < 0)
		return r;
	oci_http_global_init();
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot make a pipe: %s", strerror(errno));
		return r;
	}
	d = xcalloc(1, sizeof(*d));
	d->url = xstrdup(url);
	d->http.insecure = insecure;
	d->http.cancel_fd = cancel_fd;
	d->wfd = p[1];
	if ((r = pthread_create(&d->thread, NULL, download_thread, d)) != 0) {
		close(p[0]);
		close(p[1]);
		free(d->url);
		free(d);
		snprintf(err, errlen, "cannot start the download: %s", strerror(r));
		return -r;
	}
	*ret = d;
	*ret_fd = p[0];
	return 0;
}

int
oci_download_end(struct oci_download *d, char *err, size_t errlen)
{
	int r;

	if (d == NULL)
		return 0;
	(void)pthread_join(d->thread, NULL);
	r = d->ret;
	if (r < 0)
		snprintf(err, errlen, "%s", d->err);
	free(d->url);
	free(d);
	return r;
}
