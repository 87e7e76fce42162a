/* SPDX-License-Identifier: MIT */
/* Registry references (oci-ref.h): the distribution spec's grammar, bounded. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "oci-ref.h"
#include "util.h"

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int
oci_digest_valid(const char *s)
{
	if (s == NULL || strncmp(s, "sha256:", 7) != 0 || strlen(s) != OCI_DIGEST_LEN)
		return 0;
	for (s += 7; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* host[:port]: letters, digits, '.', '-', one ':' before digits only. */
static bool
host_valid(const char *h, size_t len)
{
	const char *colon = memchr(h, ':', len);

	if (len == 0 || len > OCI_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = h[i];

		if (h + i > colon && colon != NULL) {
			if (c < '0' || c > '9')
				return false;
		} else if (!(is_lower_alnum(c) || (c >= 'A' && c <= 'Z') ||
		    c == '.' || c == '-' || c == ':'))
			return false;
	}
	return colon == NULL || (colon != h && colon[1] != '\0');
}

/* path-component ("/" path-component)*, component [a-z0-9]+ ([._-]+ [a-z0-9]+)*. */
bool
oci_repo_valid(const char *r)
{
	bool start = true;

	if (*r == '\0' || strlen(r) > OCI_REPO_MAX)
		return false;
	for (; *r != '\0'; r++) {
		if (is_lower_alnum(*r)) {
			start = false;
			continue;
		}
		if (start || !(*r == '/' || *r == '.' || *r == '_' || *r == '-'))
			return false;
		if (*r == '/')
			start = true;
		/* Separators: one '.', one or two '_', any run of '-'. */
		else if (!is_lower_alnum(r[1]) && !(*r == '-' && r[1] == '-') &&
		    !(*r == '_' && r[1] == '_' && r[-1] != '_'))
			return false;
	}
	return !start;
}

/* [A-Za-z0-9_][A-Za-z0-9._-]{0,127} */
static bool
tag_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > OCI_TAG_MAX || t[0] == '.' || t[0] == '-')
		return false;
	for (; *t != '\0'; t++)
		if (!(is_lower_alnum(*t) || (*t >= 'A' && *t <= 'Z') ||
		    *t == '.' || *t == '_' || *t == '-'))
			return false;
	return true;
}

int
oci_ref_parse(const char *s, struct oci_ref *ref, char *err, size_t errlen)
{
	const char	*slash, *at, *colon;
	char		 rest[OCI_REPO_MAX + OCI_TAG_MAX + 2];
	size_t		 hlen;

	memset(ref, 0, sizeof(*ref));
	if (s == NULL || strlen(s) > 1024)
		goto bad;
	if (strncmp(s, "docker://", 9) == 0)
		s += 9;
	slash = strchr(s, '/');
	if (slash == NULL) {
		snprintf(err, errlen, "reference \"%.100s\": give the registry "
		    "host, as in localhost:5000/%.100s", s, s);
		return -EINVAL;
	}
	hlen = (size_t)(slash - s);
	if (!host_valid(s, hlen) || (memchr(s, '.', hlen) == NULL &&
	    memchr(s, ':', hlen) == NULL && !(hlen == 9 && strncmp(s, "localhost", 9) == 0))) {
		snprintf(err, errlen, "reference \"%.100s\": \"%.*s\" is not a "
		    "registry host (it needs a '.' or a port, or is localhost)",
		    s, (int)(hlen > 100 ? 100 : hlen), s);
		return -EINVAL;
	}
	memcpy(ref->host, s, hlen);
	at = strchr(slash + 1, '@');
	if (at != NULL) {
		if (!oci_digest_valid(at + 1)) {
			snprintf(err, errlen, "reference \"%.100s\": the digest must "
			    "be sha256: and 64 lower-case hex digits", s);
			return -EINVAL;
		}
		memcpy(ref->digest, at + 1, OCI_DIGEST_LEN + 1);
	}
	hlen = at ? (size_t)(at - slash - 1) : strlen(slash + 1);
	if (hlen >= sizeof(rest))
		goto bad;
	memcpy(rest, slash + 1, hlen);
	rest[hlen] = '\0';
	colon = strrchr(rest, ':');
	if (colon != NULL) {
		snprintf(ref->tag, sizeof(ref->tag), "%s", colon + 1);
		rest[colon - rest] = '\0';
		if (!tag_valid(ref->tag)) {
			snprintf(err, errlen, "reference \"%.100s\": a tag is 1-128 "
			    "of A-Z a-z 0-9 _ . - (not starting with . or -)", s);
			return -EINVAL;
		}
	} else
		snprintf(ref->tag, sizeof(ref->tag), "latest");
	if (!oci_repo_valid(rest) || strlen(rest) >= sizeof(ref->repo)) {
		snprintf(err, errlen, "reference \"%.100s\": the repository must be "
		    "lower-case components of a-z 0-9 (separated by . _ -) joined by /", s);
		return -EINVAL;
	}
	memcpy(ref->repo, rest, strlen(rest) + 1);
	return 0;
bad:
	snprintf(err, errlen, "not a registry reference (HOST[:PORT]/REPO[:TAG])");
	return -EINVAL;
}

const char *
oci_ref_basename(const struct oci_ref *ref)
{
	const char *s = strrchr(ref->repo, '/');

	return s ? s + 1 : ref->repo;
}

void
oci_digest_of(const void *buf, size_t len, char out[OCI_DIGEST_LEN + 1])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen = 0;

	(void)EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

int
oci_registry_parse(const char *s, struct oci_ref *ref, char prefix[OCI_REPO_MAX + 1],
    char *err, size_t errlen)
{
	const char	*slash = strchr(s, '/');
	const char	*p = slash ? slash + 1 : "";
	size_t		 hlen = slash ? (size_t)(slash - s) : strlen(s);
	char		*probe;
	int		 r;

	if (hlen == 0 || hlen > OCI_HOST_MAX || strlen(p) > OCI_REPO_MAX ||
	    strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789._-/") != strlen(p)) {
		snprintf(err, errlen, "\"%.100s\" is not HOST[:PORT][/PREFIX] (a "
		    "prefix of lower-case repository names)", s);
		return -EINVAL;
	}
	/* The host is checked as the host of a reference. */
	probe = xasprintf("%.*s/x", (int)hlen, s);
	r = oci_ref_parse(probe, ref, err, errlen);
	free(probe);
	if (r < 0)
		return r;
	memcpy(prefix, p, strlen(p) + 1);
	memcpy(ref->repo, p, strlen(p) + 1);
	return 0;
}
