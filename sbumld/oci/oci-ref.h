/* SPDX-License-Identifier: MIT */
/*
 * Registry references as users write them (doc/cli.md "push"):
 * HOST[:PORT]/REPO[:TAG][@sha256:DIGEST], the syntax of docker and skopeo's
 * docker:// transport.  The host is never guessed (no docker.io default):
 * the first component must contain a '.' or a ':' or be "localhost".
 */
#ifndef SBUMLD_OCI_REF_H
#define SBUMLD_OCI_REF_H

#include <stdbool.h>
#include <stddef.h>

#define OCI_HOST_MAX	255
#define OCI_REPO_MAX	255
#define OCI_TAG_MAX	128
#define OCI_DIGEST_LEN	71	/* "sha256:" + 64 hex digits */

struct oci_ref {
	char	host[OCI_HOST_MAX + 1];		/* host or host:port */
	char	repo[OCI_REPO_MAX + 1];		/* a/b/c */
	char	tag[OCI_TAG_MAX + 1];		/* "latest" if none was given */
	char	digest[OCI_DIGEST_LEN + 1];	/* "" if none was given */
};

/* Parse s into *ref.  0 or -EINVAL with what is wrong in err. */
int	oci_ref_parse(const char *s, struct oci_ref *ref, char *err, size_t errlen);
/*
 * Parse "HOST[:PORT][/PREFIX]" (a registry, and the start of repository
 * names: a-z 0-9 . _ - /, at most OCI_REPO_MAX bytes, may be empty) into
 * ref->host and prefix; ref->repo is the prefix too.  0 or -EINVAL with err.
 */
int	oci_registry_parse(const char *s, struct oci_ref *ref,
	    char prefix[OCI_REPO_MAX + 1], char *err, size_t errlen);
/* True if r is a well-formed repository name (a/b/c, at most OCI_REPO_MAX bytes). */
bool	oci_repo_valid(const char *r);
/* True if s is "sha256:" followed by 64 lower-case hex digits. */
int	oci_digest_valid(const char *s);
/* "sha256:" + the SHA-256 of len bytes at buf, in out. */
void	oci_digest_of(const void *buf, size_t len, char out[OCI_DIGEST_LEN + 1]);
/* The last component of the repository (the default snapshot name of a pull). */
const char *oci_ref_basename(const struct oci_ref *ref);

#endif
