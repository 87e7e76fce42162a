/* SPDX-License-Identifier: MIT */
/*
 * oci/ with hostile inputs: registry references, WWW-Authenticate
 * challenges, token answers, auth files, the snapshot artifact's image
 * manifest (built, parsed back, and every member broken in turn), and the
 * token renewal policy against registries that expire or refuse tokens.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci-artifact.h"
#include "oci-auth.h"
#include "oci-ref.h"
#include "oci-renew.h"

#include "test.h"

#define HEX_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void
test_ref(void)
{
	struct oci_ref	r;
	char		err[512];
	const char	*bad[] = {
		"busybox", "demo/busybox:v1", "localhost:5000", "LOCALHOST:5000/Demo",
		"localhost:5000/demo:", "localhost:5000/demo:-x", "localhost:5000/demo/",
		"localhost:5000//demo", "localhost:5000/de..mo", "localhost:abc/demo",
		"local host:5000/demo", "localhost:5000/demo@sha256:xyz",
		"localhost:5000/../etc", "localhost:5000/demo:v1/../x", ":5000/demo", "",
	};

	CHECK(oci_ref_parse("localhost:5000/demos/gcc-class:v1", &r, err, sizeof(err)) == 0);
	CHECK_STR(r.host, "localhost:5000");
	CHECK_STR(r.repo, "demos/gcc-class");
	CHECK_STR(r.tag, "v1");
	CHECK(oci_ref_parse("docker://registry.example.org/a/b", &r, err, sizeof(err)) == 0);
	CHECK_STR(r.host, "registry.example.org");
	CHECK_STR(r.tag, "latest");
	CHECK(oci_ref_parse("127.0.0.1:5000/x@sha256:" HEX_A, &r, err, sizeof(err)) == 0);
	CHECK_STR(r.digest, "sha256:" HEX_A);
	CHECK_STR(oci_ref_basename(&r), "x");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = oci_ref_parse(bad[i], &r, err, sizeof(err));

		if (rc != -EINVAL)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(rc == -EINVAL);
	}
	CHECK(oci_ref_parse(NULL, &r, err, sizeof(err)) == -EINVAL);
}

static void
test_challenge(void)
{
	struct oci_challenge	c;
	char			err[512], big[8192];
	const char		*bad[] = {
		"", "Negotiate", "Bearer", "Bearer realm=", "Bearer realm=\"unterminated",
		"Bearer realm=\"file:///etc/passwd\"", "Bearer realm=\"https://x\" junk",
		"Bearer realm=\"https://x\",service=\"a\\", "Bearer =x",
		"Bearer realm=\"https://x\x01\"", "Bearerrealm=\"https://x\"",
	};

	CHECK(oci_challenge_parse("Bearer realm=\"https://auth.example.org/token\","
	    "service=\"registry.example.org\",scope=\"repository:a/b:pull\"", &c,
	    err, sizeof(err)) == 0);
	CHECK(c.scheme == OCI_AUTH_BEARER);
	CHECK_STR(c.realm, "https://auth.example.org/token");
	CHECK_STR(c.service, "registry.example.org");
	CHECK_STR(c.scope, "repository:a/b:pull");
	CHECK(oci_challenge_parse("basic realm=\"Registry Realm\"", &c, err, sizeof(err)) == 0);
	CHECK(c.scheme == OCI_AUTH_BASIC);
	CHECK(oci_challenge_parse("Bearer realm=https://a/t, service=\"s\\\"q\", other=1 , Basic x=y",
	    &c, err, sizeof(err)) == 0);
	CHECK_STR(c.service, "s\"q");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = oci_challenge_parse(bad[i], &c, err, sizeof(err));

		if (rc != -EBADMSG)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(rc == -EBADMSG);
	}
	/* A realm longer than the bound, and a header far too long. */
	snprintf(big, sizeof(big), "Bearer realm=\"https://%01500d\"", 0);
	CHECK(oci_challenge_parse(big, &c, err, sizeof(err)) == -EBADMSG);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(oci_challenge_parse(big, &c, err, sizeof(err)) == -EBADMSG);
	CHECK(oci_challenge_parse(NULL, &c, err, sizeof(err)) == -EBADMSG);
}

static void
test_token(void)
{
	char		*t, err[256];
	const char	*bad[] = {
		"", "[]", "{}", "{\"token\": 1}", "{\"token\": \"\"}", "{\"token\": \"a b\"}",
		"{\"token\": \"a\\nb\"}", "{\"token\": \"x\"} trailing", "{\"token\": null}",
	};

	CHECK(oci_token_parse("{\"token\": \"abc.def\"}", 20, &t, err, sizeof(err)) == 0);
	CHECK_STR(t, "abc.def");
	free(t);
	CHECK(oci_token_parse("{\"access_token\": \"x\"}", 21, &t, err, sizeof(err)) == 0);
	CHECK_STR(t, "x");
	free(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(oci_token_parse(bad[i], strlen(bad[i]), &t, err, sizeof(err)) == -EBADMSG);
		CHECK(t == NULL);
	}
}

static void
test_auth_file(void)
{
	char		*b, err[256];
	const char	*ok = "{\"auths\": {\"https://other:1\": {\"auth\": \"b3RoZXI=\"},"
	    " \"localhost:5000\": {\"auth\": \"dXNlcjpwYXNz\"}, \"helper:1\": {}}}";
	const char	*bad[] = {
		"", "[]", "{\"auths\": []}", "{\"auths\": {\"localhost:5000\": {\"auth\": 5}}}",
		"{\"auths\": {\"localhost:5000\": {\"auth\": \"not base64!\"}}}",
	};

	CHECK(oci_auth_lookup(ok, strlen(ok), "localhost:5000", &b, err, sizeof(err)) == 0);
	CHECK_STR(b, "dXNlcjpwYXNz");
	free(b);
	CHECK(oci_auth_lookup(ok, strlen(ok), "other:1", &b, err, sizeof(err)) == 0);
	CHECK_STR(b, "b3RoZXI=");
	free(b);
	/* A prefix of a host is not that host; a helper entry has no auth. */
	CHECK(oci_auth_lookup(ok, strlen(ok), "localhost:500", &b, err, sizeof(err)) == 0 && b == NULL);
	CHECK(oci_auth_lookup(ok, strlen(ok), "helper:1", &b, err, sizeof(err)) == 0 && b == NULL);
	CHECK(oci_auth_lookup("{}", 2, "x:1", &b, err, sizeof(err)) == 0 && b == NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(oci_auth_lookup(bad[i], strlen(bad[i]), "localhost:5000", &b, err,
		    sizeof(err)) == -EBADMSG && b == NULL);
}

/* A built artifact with member changed by a python-like textual edit. */
static char *
built(void)
{
	struct oci_artifact	 a = { 0 };
	struct oci_layer	 l = { .size = 100 };
	struct json_object	*m;
	char			*s;

	snprintf(a.config_digest, sizeof(a.config_digest), "sha256:%s", HEX_B);
	a.config_size = 321;
	snprintf(a.snapman_digest, sizeof(a.snapman_digest), "sha256:%s", HEX_A);
	a.snapman_size = 1234;
	snprintf(a.name, sizeof(a.name), "s1");
	snprintf(l.digest, sizeof(l.digest), "sha256:%s", HEX_B);
	memcpy(l.chunk, HEX_A, 65);
	oci_artifact_add_layer(&a, &l);
	m = oci_artifact_build(&a);
	s = strdup(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(m);
	oci_artifact_clear(&a);
	return s;
}

/* s with the first occurrence of from replaced by to (caller frees). */
static char *
replace(const char *s, const char *from, const char *to)
{
	const char	*p = strstr(s, from);
	char		*out;

	if (p == NULL)
		return strdup(s);
	out = malloc(strlen(s) + strlen(to) + 1);
	memcpy(out, s, (size_t)(p - s));
	strcpy(out + (p - s), to);
	strcat(out, p + strlen(from));
	return out;
}

static void
test_artifact(void)
{
	struct oci_artifact	 a;
	char			*m = built(), err[512];
	const struct { const char *from, *to; } bad[] = {
		{ "\"schemaVersion\":2", "\"schemaVersion\":1" },
		{ "\"schemaVersion\":2", "\"schemaVersion\":\"2\"" },
		{ "application/vnd.sbuml.snapshot.v1", "application/vnd.other" },
		{ "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.x" },
		{ "application/vnd.sbuml.snapshot.manifest.v2+json", "application/json" },
		{ "\"size\":1234", "\"size\":-1" },
		{ "\"size\":1234", "\"size\":99999999999" },
		{ "\"size\":1234", "\"size\":\"1234\"" },
		{ "\"size\":100", "\"size\":0" },
		{ "\"size\":100", "\"size\":200000" },
		{ "sha256:bbbb", "sha512:bbbb" },
		{ "sha256:bbbb", "sha256:BBBB" },
		{ "\"org.sbuml.chunk\":\"aaaa", "\"org.sbuml.chunk\":\"../a" },
		{ "\"org.sbuml.chunk\":\"", "\"other\":\"" },
		{ "\"layers\":[", "\"layers\":{\"x\":[" },
		{ "\"annotations\":{\"org.sbuml.chunk\"", "\"annotations\":[{\"org.sbuml.chunk\"" },
		{ "{\"schemaVersion\"", "[{\"schemaVersion\"" },
		{ "\"config\":", "\"konfig\":" },
		{ "\"size\":321", "\"size\":70000" },
		{ "application/vnd.oci.image.config.v1+json", "application/vnd.sbuml.chunk.v1+zstd" },
		/* No manifest.json layer first. */
		{ "{\"mediaType\":\"application/vnd.sbuml.snapshot.manifest.v2+json\"",
		  "{\"mediaType\":\"application/vnd.sbuml.chunk.v1+zstd\"" },
	};
	/* The first form: the manifest.json as the config, only chunks as layers. */
	const char *first = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	    "\"config\":{\"mediaType\":\"application/vnd.sbuml.snapshot.manifest.v2+json\","
	    "\"digest\":\"sha256:" HEX_A "\",\"size\":1234},\"layers\":[{\"mediaType\":"
	    "\"application/vnd.sbuml.chunk.v1+zstd\",\"digest\":\"sha256:" HEX_B "\","
	    "\"size\":100,\"annotations\":{\"org.sbuml.chunk\":\"" HEX_A "\"}}]}";

	CHECK(oci_artifact_parse(m, strlen(m), &a, err, sizeof(err)) == 0);
	CHECK(a.nlayers == 1);
	CHECK(a.snapman_size == 1234);
	CHECK_STR(a.snapman_digest, "sha256:" HEX_A);
	CHECK(a.config_size == 321);
	CHECK_STR(a.name, "s1");
	CHECK_STR(a.layers[0].chunk, HEX_A);
	CHECK_STR(a.layers[0].digest, "sha256:" HEX_B);
	oci_artifact_clear(&a);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char	*b = replace(m, bad[i].from, bad[i].to);
		int	 rc = strcmp(b, m) == 0 ? 0 : oci_artifact_parse(b, strlen(b), &a,
			    err, sizeof(err));

		if (rc != -EBADMSG)
			fprintf(stderr, "accepted (%zu): %s\n", i, b);
		CHECK(rc == -EBADMSG);
		CHECK(a.layers == NULL);
		free(b);
	}
	CHECK(oci_artifact_parse(first, strlen(first), &a, err, sizeof(err)) == 0);
	CHECK(a.nlayers == 1 && a.snapman_size == 1234 && a.config_size == 0);
	CHECK_STR(a.snapman_digest, "sha256:" HEX_A);
	CHECK_STR(a.layers[0].digest, "sha256:" HEX_B);
	oci_artifact_clear(&a);
	/* A NUL inside, truncation, nothing. */
	CHECK(oci_artifact_parse(m, strlen(m) - 1, &a, err, sizeof(err)) == -EBADMSG);
	CHECK(oci_artifact_parse("", 0, &a, err, sizeof(err)) == -EBADMSG);
	CHECK(oci_artifact_parse("{\"a\":\"\0\"}", 9, &a, err, sizeof(err)) == -EBADMSG);
	/* A name too long is dropped, not trusted. */
	{
		char *b = replace(m, "\"org.sbuml.snapshot\":\"s1\"",
		    "\"org.sbuml.snapshot\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"");

		CHECK(oci_artifact_parse(b, strlen(b), &a, err, sizeof(err)) == 0);
		CHECK_STR(a.name, "");
		oci_artifact_clear(&a);
		free(b);
	}
	free(m);
}

/* The image config: an image for linux/amd64 without filesystem layers, labelled. */
static void
test_config(void)
{
	struct oci_artifact	 a = { 0 };
	char			*c;

	snprintf(a.snapman_digest, sizeof(a.snapman_digest), "sha256:%s", HEX_A);
	snprintf(a.name, sizeof(a.name), "s1");
	snprintf(a.created, sizeof(a.created), "2026-12-07T06:00:00Z");
	c = oci_artifact_config(&a);
	CHECK_STR(c, "{\"created\":\"2026-12-07T06:00:00Z\",\"architecture\":\"amd64\","
	    "\"os\":\"linux\",\"config\":{\"Labels\":{\"org.sbuml.artifactType\":"
	    "\"application/vnd.sbuml.snapshot.v1\",\"org.sbuml.snapshot\":\"s1\","
	    "\"org.sbuml.snapshot.id\":\"" HEX_A "\"}},\"rootfs\":{\"type\":\"layers\","
	    "\"diff_ids\":[]}}");
	free(c);
}

static void
test_registry(void)
{
	struct oci_ref	ref;
	char		prefix[OCI_REPO_MAX + 1], err[256];

	CHECK(oci_registry_parse("localhost:5000", &ref, prefix, err, sizeof(err)) == 0);
	CHECK_STR(ref.host, "localhost:5000");
	CHECK_STR(prefix, "");
	CHECK(oci_registry_parse("r.example.org/demo/b", &ref, prefix, err, sizeof(err)) == 0);
	CHECK_STR(ref.host, "r.example.org");
	CHECK_STR(prefix, "demo/b");
	CHECK(oci_registry_parse("127.0.0.1:5000/demo/", &ref, prefix, err, sizeof(err)) == 0);
	CHECK(oci_registry_parse("demo/x", &ref, prefix, err, sizeof(err)) == -EINVAL);
	CHECK(oci_registry_parse("", &ref, prefix, err, sizeof(err)) == -EINVAL);
	CHECK(oci_registry_parse("/x", &ref, prefix, err, sizeof(err)) == -EINVAL);
	CHECK(oci_registry_parse("localhost:5000/Demo", &ref, prefix, err, sizeof(err)) == -EINVAL);
	CHECK(oci_registry_parse("localhost:5000/a?b", &ref, prefix, err, sizeof(err)) == -EINVAL);
	CHECK(oci_repo_valid("demo/busybox") && !oci_repo_valid("demo//x") &&
	    !oci_repo_valid("../x") && !oci_repo_valid(""));
}

static void
test_digest(void)
{
	char d[OCI_DIGEST_LEN + 1];

	oci_digest_of("", 0, d);
	CHECK_STR(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK(oci_digest_valid(d));
	CHECK(!oci_digest_valid("sha256:e3b0"));
	CHECK(!oci_digest_valid(NULL));
}

/*
 * A client's requests (parallel at a time, each sent again as the policy
 * says) against a registry: accepts(gen, nth) says whether it takes the
 * nth request carrying header gen (0: none).  Returns the requests that
 * got through before the first failure (all n if none); *fetches, the
 * headers fetched; *why, the failing verdict.
 */
typedef bool (*registry_fn)(unsigned gen, unsigned nth);

static unsigned
run_policy(registry_fn accepts, unsigned n, unsigned parallel,
    unsigned *fetches, enum oci_renew_verdict *why)
{
	struct oci_renew	 s = { 0 };
	struct oci_renew_req	 q[16];
	unsigned		 uses[4096] = { 0 }, done = 0, next = 0, rounds = 0;

	*fetches = 0;
	*why = OCI_RENEW_RESEND;
	for (unsigned i = 0; i < parallel; i++) {
		q[i] = (struct oci_renew_req){ 0 };
		oci_renew_send(&s, &q[i]);
		next++;
	}
	/* Answer the slots in turn; a slot that got through takes the next request. */
	while (done < n && rounds++ < 100000) {
		for (unsigned i = 0; i < parallel && done < n; i++) {
			struct oci_renew_req *r = &q[i];
			bool ok = r->gen < 4096 && accepts(r->gen, uses[r->gen]++);

			oci_renew_answered(&s, r, ok ? 200 : 401);
			if (ok) {
				done++;
				*r = (struct oci_renew_req){ 0 };
				oci_renew_send(&s, r);
				next++;
				continue;
			}
			switch ((*why = oci_renew_decide(&s, r))) {
			case OCI_RENEW_FETCH:
				oci_renew_fetched(&s, r);
				(*fetches)++;
				/* FALLTHROUGH */
			case OCI_RENEW_RESEND:
				oci_renew_send(&s, r);
				break;
			default:
				return done;
			}
		}
	}
	CHECK(rounds < 100000);		/* never a loop */
	return done;
}

static bool reg_open(unsigned gen, unsigned nth) { (void)gen; (void)nth; return true; }
/* Needs a token; each takes 50 requests, then expires. */
static bool reg_expiring(unsigned gen, unsigned nth) { return gen > 0 && nth < 50; }
/* Grants tokens it then refuses: 401 to everything. */
static bool reg_refuses(unsigned gen, unsigned nth) { (void)gen; (void)nth; return false; }
/* Takes the first token for 20 requests, then refuses every new one. */
static bool reg_first_only(unsigned gen, unsigned nth) { return gen == 1 && nth < 20; }
/* Hostile: takes one request per token, making the client fetch one per request. */
static bool reg_one_each(unsigned gen, unsigned nth) { return gen > 0 && nth < 1; }

static void
test_renew(void)
{
	enum oci_renew_verdict	why;
	unsigned		f;

	/* No auth: nothing fetched. */
	CHECK(run_policy(reg_open, 500, 8, &f, &why) == 500 && f == 0);
	/*
	 * Tokens that expire all through a long transfer: one fetch per
	 * expiry, not one per slot the expired token failed.
	 */
	CHECK(run_policy(reg_expiring, 2000, 8, &f, &why) == 2000);
	CHECK(f >= 2000 / 50 && f <= 2000 / 50 + 1);
	CHECK(run_policy(reg_expiring, 2000, 1, &f, &why) == 2000 && f <= 2000 / 50 + 1);
	/* Every token refused: one fetch, then a clear refusal. */
	CHECK(run_policy(reg_refuses, 100, 8, &f, &why) == 0 && f == 1 &&
	    why == OCI_RENEW_REFUSED);
	CHECK(run_policy(reg_refuses, 100, 1, &f, &why) == 0 && f == 1 &&
	    why == OCI_RENEW_REFUSED);
	/* The first token worked, its successor is refused: one more fetch. */
	CHECK(run_policy(reg_first_only, 100, 8, &f, &why) == 20 && f == 2 &&
	    why == OCI_RENEW_REFUSED);
	/* A token per request: the client stops after a bounded number. */
	CHECK(run_policy(reg_one_each, 100000, 8, &f, &why) < 100 &&
	    why == OCI_RENEW_TOO_MANY);
	CHECK(f <= 2 * OCI_RENEW_FREE + 2);
	CHECK(run_policy(reg_one_each, 100000, 1, &f, &why) < 100 &&
	    why == OCI_RENEW_TOO_MANY);
}

int
main(void)
{
	test_ref();
	test_challenge();
	test_token();
	test_auth_file();
	test_artifact();
	test_config();
	test_registry();
	test_digest();
	test_renew();
	return test_summary();
}
