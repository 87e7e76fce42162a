/* SPDX-License-Identifier: MIT */
/*
 * A download into a pipe: a thread fetches an http(s) URL with libcurl and
 * writes the body into the pipe's write end, so that a reader of file
 * descriptors (the export stream's importer) reads a web server's file as
 * it would a local one.  The reader sees end of file when the download
 * ends, for good or bad; oci_download_end says which, with the reason.
 */
#ifndef SBUMLD_OCI_DOWNLOAD_H
#define SBUMLD_OCI_DOWNLOAD_H

#include <stdbool.h>
#include <stddef.h>

#define OCI_URL_MAX	4096

struct oci_download;

/*
 * Is url one we fetch: http:// (only if insecure) or https://, at most
 * OCI_URL_MAX bytes of printable ASCII without spaces?  0 or -EINVAL with err.
 */
int	oci_download_check_url(const char *url, bool insecure, char *err,
	    size_t errlen);
/*
 * Start fetching url (checked as above); *ret_fd is the pipe's read end
 * (the caller's to close).  cancel_fd readable: give up (-1: never).
 * 0 and *ret, or -errno with err.
 */
int	oci_download_start(const char *url, bool insecure, int cancel_fd,
	    struct oci_download **ret, int *ret_fd, char *err, size_t errlen);
/*
 * Wait for the download to end (close the read end first if you stopped
 * reading early) and free it.  0 if the whole body arrived, else -errno
 * with the reason in err.  Accepts NULL (returns 0).
 */
int	oci_download_end(struct oci_download *d, char *err, size_t errlen);

#endif
