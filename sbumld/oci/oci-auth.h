/* SPDX-License-Identifier: MIT */
/*
 * Registry authentication, the parts that read what others wrote: the
 * WWW-Authenticate challenge a registry answers 401 with (RFC 7235:
 * Basic, or Bearer with realm, service and scope: the token flow of the
 * distribution spec), the token server's answer, and the credentials in a
 * containers auth.json / docker config.json ({"auths": {HOST: {"auth":
 * base64("user:password")}}}).  Everything is hostile input: bounded,
 * every JSON type checked.
 */
#ifndef SBUMLD_OCI_AUTH_H
#define SBUMLD_OCI_AUTH_H

#include <stddef.h>

#define OCI_AUTH_FIELD_MAX	1024
#define OCI_AUTH_B64_MAX	4096
#define OCI_TOKEN_MAX		(64 * 1024)

enum oci_auth_scheme {
	OCI_AUTH_NONE,
	OCI_AUTH_BASIC,
	OCI_AUTH_BEARER,
};

struct oci_challenge {
	enum oci_auth_scheme	scheme;
	char			realm[OCI_AUTH_FIELD_MAX + 1];
	char			service[OCI_AUTH_FIELD_MAX + 1];
	char			scope[OCI_AUTH_FIELD_MAX + 1];
};

/*
 * Parse the value of a WWW-Authenticate header (the first challenge in
 * it).  A Bearer challenge must name an http(s) realm.  0 or -EBADMSG
 * with err.
 */
int	oci_challenge_parse(const char *hdr, struct oci_challenge *c, char *err,
	    size_t errlen);
/*
 * The token in a token server's answer (len bytes of JSON: "token" or
 * "access_token", a string of 1..OCI_TOKEN_MAX printable bytes without
 * spaces).  *ret is the caller's.  0 or -EBADMSG with err.
 */
int	oci_token_parse(const char *json, size_t len, char **ret, char *err,
	    size_t errlen);
/*
 * The base64 "user:password" for host in an auth file's text (len bytes):
 * auths.HOST.auth, also under "https://HOST", "http://HOST" and with a
 * path after it (docker's old keys).  *ret (caller's) is NULL when the file
 * has none for host.  0, or -EBADMSG with err for a malformed file.
 */
int	oci_auth_lookup(const char *json, size_t len, const char *host,
	    char **ret, char *err, size_t errlen);

#endif
