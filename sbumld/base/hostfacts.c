/* SPDX-License-Identifier: MIT */
/*
 * Host facts: the CPU features, XSAVE state, architecture and host kernel
 * of this host, recorded in every manifest at save time and compared by
 * snapshot.check with the host it would be restored on.  The CPU and xstate
 * comparisons are the very ones the patched kernel makes before a restore
 * (uml-patches/0004-um-sbuml-restore.patch, "the host CPU must offer
 * everything the guest may be using"): whole registers, no masks, since
 * the guest may have probed and be using any of those features.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define HAVE_CPUID 1
#endif

#include "hostfacts.h"

const char *const hostfacts_check_names[HOSTFACTS_NCHECKS] = {
	[HOSTFACTS_ARCH]	= "arch",
	[HOSTFACTS_CPU]		= "cpu",
	[HOSTFACTS_XSTATE]	= "xstate",
	[HOSTFACTS_HOST_KERNEL]	= "host_kernel",
};

#define OSXSAVE_BIT	(1U << 27)	/* CPUID 1 ecx: the OS enabled XSAVE */

/* A named feature bit, /proc/cpuinfo style, for messages. */
struct bitname {
	unsigned int	 bit;
	const char	*name;
};

static const struct bitname leaf1_ecx[] = {
	{ 0, "sse3" }, { 1, "pclmulqdq" }, { 9, "ssse3" }, { 12, "fma" },
	{ 13, "cx16" }, { 19, "sse4_1" }, { 20, "sse4_2" }, { 22, "movbe" },
	{ 23, "popcnt" }, { 25, "aes" }, { 26, "xsave" }, { 27, "osxsave" },
	{ 28, "avx" }, { 29, "f16c" }, { 30, "rdrand" }, { 31, "hypervisor" },
	{ 0, NULL }
};
static const struct bitname leaf1_edx[] = {
	{ 0, "fpu" }, { 4, "tsc" }, { 8, "cx8" }, { 15, "cmov" },
	{ 19, "clflush" }, { 23, "mmx" }, { 24, "fxsr" }, { 25, "sse" },
	{ 26, "sse2" }, { 28, "ht" },
	{ 0, NULL }
};
static const struct bitname leaf7_ebx[] = {
	{ 0, "fsgsbase" }, { 3, "bmi1" }, { 4, "hle" }, { 5, "avx2" },
	{ 7, "smep" }, { 8, "bmi2" }, { 9, "erms" }, { 10, "invpcid" },
	{ 11, "rtm" }, { 16, "avx512f" }, { 17, "avx512dq" }, { 18, "rdseed" },
	{ 19, "adx" }, { 20, "smap" }, { 21, "avx512ifma" }, { 23, "clflushopt" },
	{ 24, "clwb" }, { 26, "avx512pf" }, { 27, "avx512er" }, { 28, "avx512cd" },
	{ 29, "sha_ni" }, { 30, "avx512bw" }, { 31, "avx512vl" },
	{ 0, NULL }
};
static const struct bitname leaf7_ecx[] = {
	{ 1, "avx512vbmi" }, { 2, "umip" }, { 3, "pku" }, { 4, "ospke" },
	{ 5, "waitpkg" }, { 6, "avx512_vbmi2" }, { 7, "shstk" }, { 8, "gfni" },
	{ 9, "vaes" }, { 10, "vpclmulqdq" }, { 11, "avx512_vnni" },
	{ 12, "avx512_bitalg" }, { 14, "avx512_vpopcntdq" }, { 16, "la57" },
	{ 22, "rdpid" }, { 25, "cldemote" }, { 27, "movdiri" }, { 28, "movdir64b" },
	{ 0, NULL }
};
static const struct bitname leaf7_edx[] = {
	{ 2, "avx512_4vnniw" }, { 3, "avx512_4fmaps" }, { 4, "fsrm" },
	{ 8, "avx512_vp2intersect" }, { 10, "md_clear" }, { 14, "serialize" },
	{ 15, "hybrid" }, { 16, "tsxldtrk" }, { 18, "pconfig" }, { 20, "ibt" },
	{ 22, "amx_bf16" }, { 23, "avx512_fp16" }, { 24, "amx_tile" },
	{ 25, "amx_int8" }, { 26, "spec_ctrl" }, { 27, "stibp" },
	{ 28, "flush_l1d" }, { 29, "arch_capabilities" },
	{ 30, "core_capabilities" }, { 31, "ssbd" },
	{ 0, NULL }
};
/* XCR0 state components. */
static const struct bitname xcr0_bits[] = {
	{ 0, "x87" }, { 1, "sse" }, { 2, "avx" }, { 3, "mpx_bndregs" },
	{ 4, "mpx_bndcsr" }, { 5, "avx512_opmask" }, { 6, "avx512_zmm_hi256" },
	{ 7, "avx512_hi16_zmm" }, { 9, "pkru" }, { 17, "amx_tilecfg" },
	{ 18, "amx_tiledata" },
	{ 0, NULL }
};

/* Append to buf (of len, holding a C string) like snprintf; truncates. */
static void
append(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
append(char *buf, size_t len, const char *fmt, ...)
{
	size_t	used = strlen(buf);
	va_list	ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* Append the names of the bits of mask, "bit N" for unnamed ones. */
static void
append_names(char *buf, size_t len, uint64_t mask, const struct bitname *names)
{
	const char *sep = "";

	for (unsigned int bit = 0; bit < 64; bit++) {
		const char *name = NULL;

		if (!(mask & ((uint64_t)1 << bit)))
			continue;
		for (const struct bitname *b = names; b->name != NULL; b++)
			if (b->bit == bit)
				name = b->name;
		if (name != NULL)
			append(buf, len, "%s%s", sep, name);
		else
			append(buf, len, "%sbit %u", sep, bit);
		sep = ", ";
	}
}

int
hostfacts_read(struct hostfacts *hf)
{
	struct utsname	u;
	long		ps;

	memset(hf, 0, sizeof(*hf));
	if (uname(&u) < 0)
		return -errno;
	snprintf(hf->release, sizeof(hf->release), "%s", u.release);
	snprintf(hf->arch, sizeof(hf->arch), "%s", u.machine);
	if ((ps = sysconf(_SC_PAGESIZE)) < 0)
		return -errno;
	hf->page_size = ps;
#ifdef HAVE_CPUID
	{
		unsigned int a, b, c, d, max = __get_cpuid_max(0, NULL);

		/* Leaves above the maximum return other leaves' data on Intel. */
		if (max >= 1) {
			__cpuid(1, a, b, c, d);
			hf->cpuid1_ecx = c;
			hf->cpuid1_edx = d;
		}
		if (max >= 7) {
			__cpuid_count(7, 0, a, b, c, d);
			hf->cpuid7_ebx = b;
			hf->cpuid7_ecx = c;
			hf->cpuid7_edx = d;
		}
		/* xgetbv faults unless the OS enabled XSAVE. */
		if (hf->cpuid1_ecx & OSXSAVE_BIT) {
			unsigned int lo, hi;

			__asm__ volatile("xgetbv" : "=a" (lo), "=d" (hi) : "c" (0));
			hf->xcr0 = ((uint64_t)hi << 32) | lo;
			if (max >= 0xd) {
				__cpuid_count(0xd, 0, a, b, c, d);
				hf->xstate_size = b;
			}
		}
	}
#endif
	return 0;
}

/* "0x%x" of v as a new JSON string. */
static struct json_object *
hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_object_new_string(buf);
}

struct json_object *
hostfacts_to_json(const struct hostfacts *hf)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "arch", json_object_new_string(hf->arch));
	json_object_object_add(o, "kernel_release", json_object_new_string(hf->release));
	json_object_object_add(o, "page_size", json_object_new_int64(hf->page_size));
	json_object_object_add(o, "cpuid1_ecx", hex(hf->cpuid1_ecx));
	json_object_object_add(o, "cpuid1_edx", hex(hf->cpuid1_edx));
	json_object_object_add(o, "cpuid7_ebx", hex(hf->cpuid7_ebx));
	json_object_object_add(o, "cpuid7_ecx", hex(hf->cpuid7_ecx));
	json_object_object_add(o, "cpuid7_edx", hex(hf->cpuid7_edx));
	json_object_object_add(o, "xcr0", hex(hf->xcr0));
	json_object_object_add(o, "xstate_size", json_object_new_int64(hf->xstate_size));
	return o;
}

/* Member key of o as a "0x..." string of at most max; 0 or -EBADMSG. */
static int
get_hex(struct json_object *o, const char *key, uint64_t max, uint64_t *ret,
    char *err, size_t errlen)
{
	struct json_object	*v;
	const char		*s;
	char			*end;
	unsigned long long	 n;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "the host section has no %s string", key);
		return -EBADMSG;
	}
	s = json_object_get_string(v);
	errno = 0;
	n = strncmp(s, "0x", 2) == 0 && s[2] != '\0' ? strtoull(s + 2, &end, 16) : 0;
	if (strncmp(s, "0x", 2) != 0 || s[2] == '\0' || *end != '\0' ||
	    s[2] == '-' || s[2] == '+' || errno != 0 || n > max) {
		snprintf(err, errlen, "the host section's %s is not a hex number "
		    "\"0x...\" of its register's size: %s", key, s);
		return -EBADMSG;
	}
	*ret = n;
	return 0;
}

/* String member key of o into buf; 0 or -EBADMSG. */
static int
get_str(struct json_object *o, const char *key, char *buf, size_t len,
    char *err, size_t errlen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "the host section has no %s string", key);
		return -EBADMSG;
	}
	snprintf(buf, len, "%s", json_object_get_string(v));
	return 0;
}

/* Non-negative integer member key of o, at most max; 0 or -EBADMSG. */
static int
get_int(struct json_object *o, const char *key, int64_t max, int64_t *ret,
    char *err, size_t errlen)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) > max) {
		snprintf(err, errlen, "the host section has no valid %s number", key);
		return -EBADMSG;
	}
	*ret = json_object_get_int64(v);
	return 0;
}

int
hostfacts_from_json(struct json_object *o, struct hostfacts *hf, char *err,
    size_t errlen)
{
	const struct {
		const char	*key;
		uint32_t	*dst;
	} regs[] = {
		{ "cpuid1_ecx", &hf->cpuid1_ecx },
		{ "cpuid1_edx", &hf->cpuid1_edx },
		{ "cpuid7_ebx", &hf->cpuid7_ebx },
		{ "cpuid7_ecx", &hf->cpuid7_ecx },
		{ "cpuid7_edx", &hf->cpuid7_edx },
	};
	uint64_t	v;
	int64_t		n;
	int		r;

	memset(hf, 0, sizeof(*hf));
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "the host section is not an object");
		return -EBADMSG;
	}
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if ((r = get_hex(o, regs[i].key, UINT32_MAX, &v, err, errlen)) < 0)
			return r;
		*regs[i].dst = (uint32_t)v;
	}
	if ((r = get_hex(o, "xcr0", UINT64_MAX, &hf->xcr0, err, errlen)) < 0 ||
	    (r = get_int(o, "xstate_size", UINT32_MAX, &n, err, errlen)) < 0)
		return r;
	hf->xstate_size = (uint32_t)n;
	if ((r = get_int(o, "page_size", INT32_MAX, &n, err, errlen)) < 0)
		return r;
	hf->page_size = (long)n;
	if ((r = get_str(o, "arch", hf->arch, sizeof(hf->arch), err, errlen)) < 0 ||
	    (r = get_str(o, "kernel_release", hf->release, sizeof(hf->release),
	    err, errlen)) < 0)
		return r;
	return 0;
}

/* Add a problem to out[*n] unless full; returns its detail buffer or NULL. */
static char *
add_problem(struct hostfacts_problem *out, size_t *n, enum hostfacts_check check,
    bool fatal)
{
	if (*n >= HOSTFACTS_MAX_PROBLEMS)
		return NULL;
	out[*n].check = check;
	out[*n].fatal = fatal;
	out[*n].detail[0] = '\0';
	return out[(*n)++].detail;
}

/* "major.minor" of a release string; false if it does not start so. */
static bool
release_version(const char *release, unsigned int *major, unsigned int *minor)
{
	return sscanf(release, "%u.%u", major, minor) == 2;
}

size_t
hostfacts_compare(const struct hostfacts *saved, const struct hostfacts *here,
    struct hostfacts_problem out[HOSTFACTS_MAX_PROBLEMS])
{
	const struct {
		const char		*what;
		uint32_t		 saved, here;
		const struct bitname	*names;
	} regs[] = {
		{ "cpuid 1 ecx", saved->cpuid1_ecx, here->cpuid1_ecx, leaf1_ecx },
		{ "cpuid 1 edx", saved->cpuid1_edx, here->cpuid1_edx, leaf1_edx },
		{ "cpuid 7 ebx", saved->cpuid7_ebx, here->cpuid7_ebx, leaf7_ebx },
		{ "cpuid 7 ecx", saved->cpuid7_ecx, here->cpuid7_ecx, leaf7_ecx },
		{ "cpuid 7 edx", saved->cpuid7_edx, here->cpuid7_edx, leaf7_edx },
	};
	size_t		 n = 0, len = sizeof(out[0].detail);
	char		*d = NULL;
	const char	*sep = "";
	unsigned int	 major, minor;

	if (strcmp(saved->arch, here->arch) != 0 &&
	    (d = add_problem(out, &n, HOSTFACTS_ARCH, true)) != NULL)
		snprintf(d, len, "the snapshot was saved on a %s host, this host "
		    "is %s: a capture only restores on the architecture that "
		    "wrote it", saved->arch, here->arch);
	if (saved->page_size != here->page_size &&
	    (d = add_problem(out, &n, HOSTFACTS_ARCH, true)) != NULL)
		snprintf(d, len, "the saving host had %ld-byte pages, this host "
		    "has %ld-byte pages", saved->page_size, here->page_size);

	/* Every bit the saving host had must be here (the kernel's rule). */
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		uint32_t missing = regs[i].saved & ~regs[i].here;

		if (missing == 0)
			continue;
		if (sep[0] == '\0') {
			if ((d = add_problem(out, &n, HOSTFACTS_CPU, true)) == NULL)
				break;
			snprintf(d, len, "this host's CPU lacks features of the "
			    "saving host, which the restored guest may be using: ");
		}
		append(d, len, "%s%s 0x%08" PRIx32 " (", sep, regs[i].what, missing);
		append_names(d, len, missing, regs[i].names);
		append(d, len, ")");
		sep = "; ";
	}

	/* The kernel checks xstate only when the saving host used XSAVE. */
	if (saved->xcr0 != 0) {
		uint64_t missing = saved->xcr0 & ~here->xcr0;

		d = NULL;
		if (here->xcr0 == 0) {
			if ((d = add_problem(out, &n, HOSTFACTS_XSTATE, true)) != NULL)
				snprintf(d, len, "the saving host used XSAVE (XCR0 "
				    "0x%" PRIx64 "), this host does not enable it",
				    saved->xcr0);
		} else if (missing != 0 || saved->xstate_size != here->xstate_size) {
			if ((d = add_problem(out, &n, HOSTFACTS_XSTATE, true)) != NULL)
				snprintf(d, len, "this host's extended CPU state "
				    "differs from the saving host's: ");
			if (d != NULL && missing != 0) {
				append(d, len, "XCR0 0x%" PRIx64 " lacks 0x%" PRIx64
				    " (", here->xcr0, missing);
				append_names(d, len, missing, xcr0_bits);
				append(d, len, ") of the saving host's 0x%" PRIx64,
				    saved->xcr0);
			}
			if (d != NULL && saved->xstate_size != here->xstate_size)
				append(d, len, "%sthe XSAVE area is %" PRIu32 " bytes "
				    "here, %" PRIu32 " bytes on the saving host",
				    missing != 0 ? "; " : "", here->xstate_size,
				    saved->xstate_size);
		}
	}

	if (release_version(here->release, &major, &minor) &&
	    (major < HOSTFACTS_MIN_MAJOR || (major == HOSTFACTS_MIN_MAJOR &&
	    minor < HOSTFACTS_MIN_MINOR)) &&
	    (d = add_problem(out, &n, HOSTFACTS_HOST_KERNEL, true)) != NULL)
		snprintf(d, len, "this host runs Linux %s, older than %d.%d, which "
		    "a restore needs (MAP_FIXED_NOREPLACE for its work areas)",
		    here->release, HOSTFACTS_MIN_MAJOR, HOSTFACTS_MIN_MINOR);
	else if (strcmp(saved->release, here->release) != 0 &&
	    (d = add_problem(out, &n, HOSTFACTS_HOST_KERNEL, false)) != NULL)
		snprintf(d, len, "saved on host kernel %s, this host runs %s: the "
		    "restore also needs the host's vdso and vvar at the saved "
		    "addresses, which another host kernel may not give (the "
		    "kernel checks that when restoring)", saved->release,
		    here->release);
	return n;
}

/* A new {"check", "ok", "detail"} object. */
static struct json_object *
check_entry(enum hostfacts_check check, bool ok, const char *detail)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "check", json_object_new_string(
	    hostfacts_check_names[check]));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	return o;
}

/* The detail of a check without problems. */
static void
ok_detail(enum hostfacts_check check, const struct hostfacts *saved,
    const struct hostfacts *here, char *buf, size_t len)
{
	switch (check) {
	case HOSTFACTS_ARCH:
		snprintf(buf, len, "%s with %ld-byte pages, as on the saving host",
		    here->arch, here->page_size);
		break;
	case HOSTFACTS_CPU:
		snprintf(buf, len, "this host's CPU has every CPUID 1 and 7 "
		    "feature of the saving host");
		break;
	case HOSTFACTS_XSTATE:
		if (saved->xcr0 == 0)
			snprintf(buf, len, "the saving host did not use XSAVE: "
			    "nothing to match");
		else
			snprintf(buf, len, "XCR0 0x%" PRIx64 " covers the saving "
			    "host's 0x%" PRIx64 ", XSAVE area %" PRIu32 " bytes on "
			    "both", here->xcr0, saved->xcr0, here->xstate_size);
		break;
	case HOSTFACTS_HOST_KERNEL:
		snprintf(buf, len, "Linux %s, as on the saving host", here->release);
		break;
	default:
		buf[0] = '\0';
	}
}

struct json_object *
hostfacts_checks(struct json_object *saved_host, const struct hostfacts *here)
{
	struct json_object	*arr = json_object_new_array();
	struct hostfacts_problem problems[HOSTFACTS_MAX_PROBLEMS];
	struct hostfacts	 saved;
	char			 err[256], detail[1024];
	size_t			 n;
	int			 r = -ENOENT;

	if (saved_host != NULL)
		r = hostfacts_from_json(saved_host, &saved, err, sizeof(err));
	if (r < 0) {
		/*
		 * Without the saving host's facts only this host's kernel can
		 * be judged; the kernel still checks CPU and xstate itself.
		 */
		if (r == -ENOENT)
			snprintf(detail, sizeof(detail), "unknown: the snapshot "
			    "records no host facts (saved by an older sbumld); the "
			    "kernel checks them when restoring");
		else
			snprintf(detail, sizeof(detail), "cannot tell: %s", err);
		for (int c = HOSTFACTS_ARCH; c <= HOSTFACTS_XSTATE; c++)
			json_object_array_add(arr, check_entry(c, r == -ENOENT, detail));
		/* Compare with itself: leaves only the minimum version rule. */
		saved = *here;
	}
	n = hostfacts_compare(&saved, here, problems);
	for (int c = r < 0 ? HOSTFACTS_HOST_KERNEL : HOSTFACTS_ARCH;
	    c < HOSTFACTS_NCHECKS; c++) {
		bool ok = true;

		detail[0] = '\0';
		for (size_t i = 0; i < n; i++) {
			if (problems[i].check != (enum hostfacts_check)c)
				continue;
			ok = ok && !problems[i].fatal;
			append(detail, sizeof(detail), "%s%s", detail[0] ? "; " : "",
			    problems[i].detail);
		}
		if (detail[0] == '\0') {
			if (r < 0)
				snprintf(detail, sizeof(detail), "Linux %s (the "
				    "saving host's is not recorded)", here->release);
			else
				ok_detail(c, &saved, here, detail, sizeof(detail));
		}
		json_object_array_add(arr, check_entry(c, ok, detail));
	}
	return arr;
}

/* Can a snapshot saved on saved_host be restored here?  See hostfacts.h. */
int
hostfacts_restorable(struct json_object *saved_host, char *err, size_t errlen)
{
	struct hostfacts_problem problems[HOSTFACTS_MAX_PROBLEMS];
	struct hostfacts	 saved, here;
	size_t			 n;
	int			 r;

	if ((r = hostfacts_read(&here)) < 0) {
		snprintf(err, errlen, "cannot read this host's facts: %s",
		    strerror(-r));
		return r;
	}
	/* No or unreadable facts: the kernel's own check still runs. */
	if (saved_host == NULL ||
	    hostfacts_from_json(saved_host, &saved, err, errlen) < 0)
		saved = here;
	n = hostfacts_compare(&saved, &here, problems);
	for (size_t i = 0; i < n; i++) {
		if (!problems[i].fatal)
			continue;
		snprintf(err, errlen, "this host cannot run the snapshot (%s): %s",
		    hostfacts_check_names[problems[i].check], problems[i].detail);
		return -ENOTSUP;
	}
	return 0;
}
