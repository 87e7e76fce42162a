/* SPDX-License-Identifier: MIT */
/*
 * When to fetch a new Authorization after a 401: the policy alone, no
 * HTTP (oci-client.c and oci-fetch.c act on its verdicts).  A Bearer token
 * expires in the middle of a long push or pull (300 s in distribution's
 * usual setups, 60 s on some registries), whatever its expires_in said, so
 * any request may be answered 401 at any time and is then sent again with
 * a fresh token.  Every header the client made has a generation; requests
 * in flight with an older one are sent again with the current one, so
 * several requests refused with the same expired token fetch one token.
 * Nothing loops on a registry that refuses every token: a request that
 * already fetched a token for itself, or was refused with a token that no
 * request has got through with yet, fails; and the client as a whole stops
 * renewing once it has fetched more than OCI_RENEW_FREE headers plus one
 * for every OCI_RENEW_PER requests the registry accepted.
 */
#ifndef SBUMLD_OCI_RENEW_H
#define SBUMLD_OCI_RENEW_H

#include <stdbool.h>

#define OCI_RENEW_FREE	8	/* renewals before the ratio counts */
#define OCI_RENEW_PER	2	/* accepted requests a renewal must have bought */

/* A client's headers: generation 0 is none (no Authorization sent). */
struct oci_renew {
	unsigned	gen;		/* the current header's */
	unsigned	gen_accepted;	/* requests the current header got through */
	unsigned	renewals;	/* headers fetched */
	unsigned	accepted;	/* requests answered other than 401 */
};

/* One request's history: what it already did about a 401. */
struct oci_renew_req {
	unsigned	gen;		/* the header it was last sent with */
	bool		refused;	/* it had a 401 already */
	bool		fetched;	/* it had a header fetched for itself */
};

enum oci_renew_verdict {
	OCI_RENEW_RESEND,	/* a newer header exists: send it again with it */
	OCI_RENEW_FETCH,	/* fetch a new header, then send it again */
	OCI_RENEW_REFUSED,	/* the registry refused a fresh header: fail */
	OCI_RENEW_TOO_MANY,	/* the client renewed too often: fail */
};

/* q is about to be sent with the current header. */
void	oci_renew_send(const struct oci_renew *s, struct oci_renew_req *q);
/* q was answered with status: count it (a 401 is counted by oci_renew_decide). */
void	oci_renew_answered(struct oci_renew *s, const struct oci_renew_req *q,
	    long status);
/* q was answered 401: what to do (q remembers it). */
enum oci_renew_verdict oci_renew_decide(const struct oci_renew *s,
	    struct oci_renew_req *q);
/* A new header was made for q (after OCI_RENEW_FETCH). */
void	oci_renew_fetched(struct oci_renew *s, struct oci_renew_req *q);

#endif
