/* SPDX-License-Identifier: MIT */
/*
 * Host facts (hostfacts.c): what a restore of a snapshot needs from the host
 * it runs on.  The patched kernel refuses a restore unless CPUID leaf 1
 * (ecx, edx) and leaf 7 subleaf 0 (ebx, ecx, edx) of this host have every bit
 * the saving host had, XCR0 has every bit and the XSAVE area has the same
 * size (doc/kernel.md, "Refusals").  A snapshot records the saving host's
 * facts in its manifest ("host", doc/snapshot-format.md) so that
 * snapshot.check can tell before trying, and name what is missing.
 */
#ifndef SBUMLD_HOSTFACTS_H
#define SBUMLD_HOSTFACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/*
 * Oldest host kernel a restore works on: the restore maps its work areas with
 * MAP_FIXED_NOREPLACE (Linux 4.17; older kernels take the flag as a mere
 * hint) and fills guest memory through O_TMPFILE (3.11).
 */
#define HOSTFACTS_MIN_MAJOR	4
#define HOSTFACTS_MIN_MINOR	17

struct hostfacts {
	/* Exactly the registers the kernel's restore check compares. */
	uint32_t	cpuid1_ecx, cpuid1_edx;
	uint32_t	cpuid7_ebx, cpuid7_ecx, cpuid7_edx;
	uint64_t	xcr0;		/* 0: the OS does not enable XSAVE (no OSXSAVE) */
	uint32_t	xstate_size;	/* CPUID 0xD.0 ebx; 0 without XSAVE */
	char		release[65];	/* uname -r */
	char		arch[65];	/* uname -m */
	long		page_size;
};

/* The checks hostfacts_compare() sorts its problems into. */
enum hostfacts_check {
	HOSTFACTS_ARCH,		/* machine architecture, page size */
	HOSTFACTS_CPU,		/* CPUID feature bits */
	HOSTFACTS_XSTATE,	/* XCR0, XSAVE area size */
	HOSTFACTS_HOST_KERNEL,	/* host kernel release */
	HOSTFACTS_NCHECKS
};

/* "arch", "cpu", "xstate", "host_kernel": the check names of snapshot.check. */
extern const char *const hostfacts_check_names[HOSTFACTS_NCHECKS];

/* One difference between the saving host and this one. */
struct hostfacts_problem {
	enum hostfacts_check	check;
	bool			fatal;	/* the restore will be refused */
	char			detail[480];
};

/* At most this many problems (one per kind of difference). */
#define HOSTFACTS_MAX_PROBLEMS	8

/* This host's facts.  0 or -errno (uname, sysconf). */
int	hostfacts_read(struct hostfacts *hf);
/* hf as the manifest's "host" object (caller owns). */
struct json_object *hostfacts_to_json(const struct hostfacts *hf);
/*
 * Parse a manifest's "host" object into *hf.  0, or -EBADMSG with a message
 * in err (a member missing or of the wrong type).
 */
int	hostfacts_from_json(struct json_object *o, struct hostfacts *hf,
	    char *err, size_t errlen);
/*
 * Compare the saving host's facts (saved) with this host's (here): fill
 * out[] with the differences (at most HOSTFACTS_MAX_PROBLEMS) and return
 * their number, 0 if none.  Each detail is a sentence naming what differs:
 * missing CPU feature bits as hex masks per register and, for common bits,
 * their names (avx2, avx512f, ...).  A host kernel older than the minimum
 * above is fatal; a different host kernel release is not (fatal false).
 */
size_t	hostfacts_compare(const struct hostfacts *saved,
	    const struct hostfacts *here,
	    struct hostfacts_problem out[HOSTFACTS_MAX_PROBLEMS]);
/*
 * The four snapshot.check entries {"check", "ok", "detail"} for arch, cpu,
 * xstate and host_kernel (an array, caller owns), from a manifest's "host"
 * section (NULL when the snapshot has none: every entry is ok, its detail
 * says the facts are unknown) compared with here.
 */
struct json_object *hostfacts_checks(struct json_object *saved_host,
	    const struct hostfacts *here);
/*
 * Whether a snapshot whose manifest has saved_host ("host", may be NULL)
 * can be restored on this host: 0, or -ENOTSUP with the first fatal
 * difference in err (what the kernel would refuse, said before anything is
 * created), or another -errno if this host's facts cannot be read.  Without
 * usable saved facts it returns 0: the kernel checks CPU and xstate itself.
 */
int	hostfacts_restorable(struct json_object *saved_host, char *err,
	    size_t errlen);

#endif
