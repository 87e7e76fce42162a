/* SPDX-License-Identifier: MIT */
/* Challenges, tokens and auth files (oci-auth.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>

#include "oci-auth.h"
#include "util.h"

static bool
is_tchar(char c)
{
	/* c != '\0': strchr finds the terminator too. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token or quoted-string at *pp into out (bounded); advances *pp. */
static int
parse_value(const char **pp, char *out, size_t outlen)
{
	const char	*p = *pp;
	size_t		 n = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\0')
				return -1;
			if (*p == '\\' && *++p == '\0')
				return -1;
			if ((unsigned char)*p < 0x20 || n + 1 >= outlen)
				return -1;
			out[n++] = *p;
		}
		p++;
	} else {
		for (; is_tchar(*p) || *p == '/' || *p == ':' || *p == '='; p++) {
			if (n + 1 >= outlen)
				return -1;
			out[n++] = *p;
		}
		if (n == 0)
			return -1;
	}
	out[n] = '\0';
	*pp = p;
	return 0;
}

static char *
challenge_field(struct oci_challenge *c, const char *key, size_t klen)
{
	if (klen == 5 && strncasecmp(key, "realm", 5) == 0)
		return c->realm;
	if (klen == 7 && strncasecmp(key, "service", 7) == 0)
		return c->service;
	if (klen == 5 && strncasecmp(key, "scope", 5) == 0)
		return c->scope;
	return NULL;
}

/* key=value pairs up to the end (or the next challenge: a bare token). */
static int
parse_params(const char *p, struct oci_challenge *c)
{
	char	 junk[OCI_AUTH_FIELD_MAX + 1], *dst;

	for (;;) {
		const char	*key;
		size_t		 klen;

		p = skip_ws(p);
		if (*p == '\0')
			return 0;
		key = p;
		while (is_tchar(*p))
			p++;
		klen = (size_t)(p - key);
		p = skip_ws(p);
		if (klen == 0)
			return -1;
		if (*p != '=')
			return 0;	/* the next challenge starts: keep the first */
		p = skip_ws(p + 1);
		dst = challenge_field(c, key, klen);
		if (parse_value(&p, dst ? dst : junk, OCI_AUTH_FIELD_MAX + 1) < 0)
			return -1;
		p = skip_ws(p);
		if (*p == ',')
			p++;
		else if (*p != '\0')
			return -1;
	}
}

int
oci_challenge_parse(const char *hdr, struct oci_challenge *c, char *err,
    size_t errlen)
{
	const char *p;

	memset(c, 0, sizeof(*c));
	if (hdr == NULL || strlen(hdr) > 4 * OCI_AUTH_FIELD_MAX)
		goto bad;
	p = skip_ws(hdr);
	if (strncasecmp(p, "Basic", 5) == 0 && (p[5] == '\0' || p[5] == ' ')) {
		c->scheme = OCI_AUTH_BASIC;
		p += 5;
	} else if (strncasecmp(p, "Bearer", 6) == 0 && (p[6] == '\0' || p[6] == ' ')) {
		c->scheme = OCI_AUTH_BEARER;
		p += 6;
	} else {
		snprintf(err, errlen, "the registry asks for an authentication "
		    "scheme other than Basic or Bearer");
		return -EBADMSG;
	}
	if (parse_params(p, c) < 0)
		goto bad;
	if (c->scheme == OCI_AUTH_BEARER && strncmp(c->realm, "https://", 8) != 0 &&
	    strncmp(c->realm, "http://", 7) != 0) {
		snprintf(err, errlen, "the registry's Bearer challenge names no "
		    "http(s) token realm");
		return -EBADMSG;
	}
	return 0;
bad:
	memset(c, 0, sizeof(*c));
	snprintf(err, errlen, "malformed WWW-Authenticate header from the registry");
	return -EBADMSG;
}

static bool
token_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > OCI_TOKEN_MAX)
		return false;
	for (; *t != '\0'; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
			return false;
	return true;
}

/* Parse len bytes of JSON as one object (nothing but white space after it). */
static struct json_object *
parse_object(const char *json, size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	if (json == NULL || len > 1024 * 1024 || len > INT32_MAX)
		return NULL;
	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (o != NULL && json_tokener_get_error(tok) == json_tokener_success) {
		size_t off = json_tokener_get_parse_end(tok);

		while (off < len && strchr(" \t\r\n", json[off]) != NULL && json[off] != '\0')
			off++;
		if (off != len || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			o = NULL;
		}
	} else {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int
oci_token_parse(const char *json, size_t len, char **ret, char *err, size_t errlen)
{
	struct json_object	*o = parse_object(json, len), *t;
	const char		*keys[] = { "token", "access_token" };

	*ret = NULL;
	for (size_t i = 0; o != NULL && i < 2; i++) {
		if (!json_object_object_get_ex(o, keys[i], &t))
			continue;
		if (json_object_is_type(t, json_type_string) &&
		    token_valid(json_object_get_string(t)))
			*ret = xstrdup(json_object_get_string(t));
		break;
	}
	json_object_put(o);
	if (*ret != NULL)
		return 0;
	snprintf(err, errlen, "the token server's answer holds no valid token");
	return -EBADMSG;
}

static bool
b64_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > OCI_AUTH_B64_MAX || n % 4 != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '=' && i >= n - 2)
			continue;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return true;
}

/* Does an auths key name host?  "host", "scheme://host", either with a "/path". */
static bool
key_names_host(const char *key, const char *host)
{
	size_t n = strlen(host);

	if (strncmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncmp(key, "http://", 7) == 0)
		key += 7;
	return strncmp(key, host, n) == 0 && (key[n] == '\0' || key[n] == '/');
}

int
oci_auth_lookup(const char *json, size_t len, const char *host, char **ret,
    char *err, size_t errlen)
{
	struct json_object	*o = parse_object(json, len), *auths, *a;

	*ret = NULL;
	if (o == NULL) {
		snprintf(err, errlen, "not a JSON object");
		return -EBADMSG;
	}
	if (!json_object_object_get_ex(o, "auths", &auths)) {
		json_object_put(o);
		return 0;
	}
	if (!json_object_is_type(auths, json_type_object)) {
		json_object_put(o);
		snprintf(err, errlen, "\"auths\" must be an object");
		return -EBADMSG;
	}
	json_object_object_foreach(auths, key, entry) {
		if (!key_names_host(key, host))
			continue;
		if (!json_object_is_type(entry, json_type_object) ||
		    !json_object_object_get_ex(entry, "auth", &a))
			continue;	/* e.g. a credential helper's entry: not ours */
		if (!json_object_is_type(a, json_type_string) ||
		    !b64_valid(json_object_get_string(a))) {
			/* key belongs to o: say it before o goes. */
			snprintf(err, errlen, "auths.\"%.100s\".auth must be base64 of "
			    "user:password", key);
			json_object_put(o);
			return -EBADMSG;
		}
		*ret = xstrdup(json_object_get_string(a));
		break;
	}
	json_object_put(o);
	return 0;
}
