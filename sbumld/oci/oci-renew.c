/* SPDX-License-Identifier: MIT */
/* When to fetch a new Authorization after a 401 (oci-renew.h). */
#include "oci-renew.h"

void
oci_renew_send(const struct oci_renew *s, struct oci_renew_req *q)
{
	q->gen = s->gen;
}

void
oci_renew_answered(struct oci_renew *s, const struct oci_renew_req *q,
    long status)
{
	if (status == 401)
		return;
	s->accepted++;
	if (q->gen == s->gen)
		s->gen_accepted++;
}

enum oci_renew_verdict
oci_renew_decide(const struct oci_renew *s, struct oci_renew_req *q)
{
	bool again = q->refused;

	q->refused = true;
	if (q->gen < s->gen)
		return OCI_RENEW_RESEND;
	/*
	 * Refused with the header made for it, or twice, the second time
	 * with a header nobody got through with: the registry does not take
	 * what its token server grants, a new one would fare no better.
	 */
	if (q->fetched || (again && s->gen_accepted == 0))
		return OCI_RENEW_REFUSED;
	if (s->renewals >= OCI_RENEW_FREE + s->accepted / OCI_RENEW_PER)
		return OCI_RENEW_TOO_MANY;
	return OCI_RENEW_FETCH;
}

void
oci_renew_fetched(struct oci_renew *s, struct oci_renew_req *q)
{
	s->gen++;
	s->gen_accepted = 0;
	s->renewals++;
	q->fetched = true;
}
