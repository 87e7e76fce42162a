/* SPDX-License-Identifier: MIT */
/*
 * Unit test of hostfacts.c: the comparison snapshot.check makes between the
 * host that saved a snapshot and this one (the kernel's restore rules).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hostfacts.h"
#include "test.h"

/* A plausible AVX2 host without AVX-512. */
static void
base_facts(struct hostfacts *hf)
{
	memset(hf, 0, sizeof(*hf));
	hf->cpuid1_ecx = 0x7ffafbff;
	hf->cpuid1_edx = 0xbfebfbff;
	hf->cpuid7_ebx = 0x009c6fbf;	/* avx2 (bit 5), no avx512f (bit 16) */
	hf->cpuid7_ecx = 0x00000004;
	hf->cpuid7_edx = 0x9c000400;
	hf->xcr0 = 0x7;			/* x87, sse, avx */
	hf->xstate_size = 832;
	snprintf(hf->release, sizeof(hf->release), "6.1.0-18-amd64");
	snprintf(hf->arch, sizeof(hf->arch), "x86_64");
	hf->page_size = 4096;
}

/* The entry named check of a hostfacts_checks() array, or NULL. */
static struct json_object *
entry(struct json_object *arr, const char *check)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *v;

		if (json_object_object_get_ex(e, "check", &v) &&
		    strcmp(json_object_get_string(v), check) == 0)
			return e;
	}
	return NULL;
}

static bool
entry_ok(struct json_object *arr, const char *check)
{
	struct json_object *e = entry(arr, check), *v;

	return e != NULL && json_object_object_get_ex(e, "ok", &v) &&
	    json_object_get_boolean(v);
}

static const char *
entry_detail(struct json_object *arr, const char *check)
{
	struct json_object *e = entry(arr, check), *v;

	return e != NULL && json_object_object_get_ex(e, "detail", &v) ?
	    json_object_get_string(v) : "";
}

/* The saving host had a subset of this host's features: no problem. */
static void
test_subset_ok(void)
{
	struct hostfacts		 saved, here;
	struct hostfacts_problem	 p[HOSTFACTS_MAX_PROBLEMS];

	base_facts(&saved);
	base_facts(&here);
	CHECK(hostfacts_compare(&saved, &here, p) == 0);
	here.cpuid7_ebx |= 1U << 16;		/* this host has more: fine */
	here.cpuid1_ecx |= 1U << 2;
	here.xcr0 |= 0xe0;			/* more XCR0 bits: fine */
	CHECK(hostfacts_compare(&saved, &here, p) == 0);
	/* A saving host without XSAVE: xstate is not compared at all. */
	saved.xcr0 = 0;
	saved.xstate_size = 0;
	here.xstate_size = 2696;
	CHECK(hostfacts_compare(&saved, &here, p) == 0);
}

/* A bit the saving host had and this one lacks is named, with its mask. */
static void
test_missing_bit(void)
{
	struct hostfacts		 saved, here;
	struct hostfacts_problem	 p[HOSTFACTS_MAX_PROBLEMS];
	size_t				 n;

	base_facts(&saved);
	base_facts(&here);
	saved.cpuid7_ebx |= 1U << 16;		/* avx512f */
	here.cpuid7_ebx &= ~(1U << 5);		/* no avx2 here */
	n = hostfacts_compare(&saved, &here, p);
	CHECK(n == 1);
	CHECK(p[0].check == HOSTFACTS_CPU);
	CHECK(p[0].fatal);
	CHECK(strstr(p[0].detail, "cpuid 7 ebx 0x00010020") != NULL);
	CHECK(strstr(p[0].detail, "avx2, avx512f") != NULL);

	/* Two leaves, and an unnamed bit is shown by number. */
	base_facts(&here);
	saved = here;
	here.cpuid1_ecx &= ~(1U << 28);		/* avx */
	here.cpuid7_ecx &= ~(1U << 2);		/* umip */
	saved.cpuid7_edx |= 1U << 1;		/* unnamed */
	n = hostfacts_compare(&saved, &here, p);
	CHECK(n == 1);
	CHECK(strstr(p[0].detail, "cpuid 1 ecx 0x10000000 (avx)") != NULL);
	CHECK(strstr(p[0].detail, "cpuid 7 ecx 0x00000004 (umip)") != NULL);
	CHECK(strstr(p[0].detail, "cpuid 7 edx 0x00000002 (bit 1)") != NULL);
}

/* XCR0 bits missing, or another XSAVE area size, or no XSAVE at all. */
static void
test_xstate(void)
{
	struct hostfacts		 saved, here;
	struct hostfacts_problem	 p[HOSTFACTS_MAX_PROBLEMS];
	size_t				 n;

	base_facts(&saved);
	base_facts(&here);
	here.xstate_size = 2696;
	n = hostfacts_compare(&saved, &here, p);
	CHECK(n == 1 && p[0].check == HOSTFACTS_XSTATE && p[0].fatal);
	CHECK(strstr(p[0].detail, "2696 bytes here, 832 bytes on the saving host") != NULL);

	base_facts(&here);
	saved.xcr0 = 0xe7;			/* avx512 state */
	n = hostfacts_compare(&saved, &here, p);
	CHECK(n == 1 && p[0].check == HOSTFACTS_XSTATE);
	CHECK(strstr(p[0].detail, "lacks 0xe0 (avx512_opmask, avx512_zmm_hi256, "
	    "avx512_hi16_zmm)") != NULL);

	here.xcr0 = 0;
	n = hostfacts_compare(&saved, &here, p);
	CHECK(n == 1 && p[0].check == HOSTFACTS_XSTATE);
	CHECK(strstr(p[0].detail, "does not enable it") != NULL);
}

/* Architecture, page size and host kernel. */
static void
test_arch_kernel(void)
{
	struct hostfacts		 saved, here;
	struct hostfacts_problem	 p[HOSTFACTS_MAX_PROBLEMS];
	size_t				 n;

	base_facts(&saved);
	base_facts(&here);
	snprintf(here.arch, sizeof(here.arch), "aarch64");
	here.page_size = 16384;
	n = hostfacts_compare(&saved, &here, p);
	CHECK(n == 2 && p[0].check == HOSTFACTS_ARCH && p[1].check == HOSTFACTS_ARCH);
	CHECK(p[0].fatal && strstr(p[0].detail, "x86_64 host, this host is aarch64") != NULL);

	/* Another release is information only; below the minimum is fatal. */
	base_facts(&here);
	snprintf(here.release, sizeof(here.release), "6.18.0");
	n = hostfacts_compare(&saved, &here, p);
	CHECK(n == 1 && p[0].check == HOSTFACTS_HOST_KERNEL && !p[0].fatal);
	CHECK(strstr(p[0].detail, "6.1.0-18-amd64") != NULL);
	snprintf(here.release, sizeof(here.release), "4.9.0-13-amd64");
	n = hostfacts_compare(&saved, &here, p);
	CHECK(n == 1 && p[0].check == HOSTFACTS_HOST_KERNEL && p[0].fatal);
	CHECK(strstr(p[0].detail, "older than 4.17") != NULL);
}

/* JSON round trip, a malformed section, and the check entries. */
static void
test_json(void)
{
	struct hostfacts	 saved, here, back;
	struct json_object	*o, *arr;
	char			 err[256];

	base_facts(&saved);
	o = hostfacts_to_json(&saved);
	CHECK_STR(json_object_get_string(json_object_object_get(o, "cpuid7_ebx")),
	    "0x9c6fbf");
	CHECK(hostfacts_from_json(o, &back, err, sizeof(err)) == 0);
	CHECK(memcmp(&back, &saved, sizeof(back)) == 0);

	base_facts(&here);
	arr = hostfacts_checks(o, &here);
	CHECK(json_object_array_length(arr) == 4);
	CHECK(entry_ok(arr, "arch") && entry_ok(arr, "cpu") &&
	    entry_ok(arr, "xstate") && entry_ok(arr, "host_kernel"));
	json_object_put(arr);

	here.cpuid7_ebx &= ~(1U << 5);
	snprintf(here.release, sizeof(here.release), "6.18.0");
	arr = hostfacts_checks(o, &here);
	CHECK(!entry_ok(arr, "cpu") && strstr(entry_detail(arr, "cpu"), "avx2") != NULL);
	CHECK(entry_ok(arr, "host_kernel") &&
	    strstr(entry_detail(arr, "host_kernel"), "6.18.0") != NULL);
	CHECK(entry_ok(arr, "xstate") && entry_ok(arr, "arch"));
	json_object_put(arr);

	json_object_object_add(o, "xcr0", json_object_new_string("7"));
	CHECK(hostfacts_from_json(o, &back, err, sizeof(err)) == -EBADMSG);
	CHECK(strstr(err, "xcr0") != NULL);
	arr = hostfacts_checks(o, &here);
	CHECK(!entry_ok(arr, "cpu") && strstr(entry_detail(arr, "cpu"), "cannot tell") != NULL);
	json_object_put(arr);
	json_object_object_add(o, "cpuid1_ecx", json_object_new_string("0x1ffffffff"));
	json_object_object_add(o, "xcr0", json_object_new_string("0x7"));
	CHECK(hostfacts_from_json(o, &back, err, sizeof(err)) == -EBADMSG);
	json_object_object_del(o, "cpuid1_ecx");
	CHECK(hostfacts_from_json(o, &back, err, sizeof(err)) == -EBADMSG);
	json_object_put(o);
}

/* A snapshot from before host facts: unknown, not a failure. */
static void
test_missing_section(void)
{
	struct hostfacts	 here;
	struct json_object	*arr;

	base_facts(&here);
	arr = hostfacts_checks(NULL, &here);
	CHECK(json_object_array_length(arr) == 4);
	CHECK(entry_ok(arr, "arch") && entry_ok(arr, "cpu") &&
	    entry_ok(arr, "xstate") && entry_ok(arr, "host_kernel"));
	CHECK(strncmp(entry_detail(arr, "cpu"), "unknown:", 8) == 0);
	json_object_put(arr);
	/* This host's kernel is still judged on its own. */
	snprintf(here.release, sizeof(here.release), "3.10.0");
	arr = hostfacts_checks(NULL, &here);
	CHECK(!entry_ok(arr, "host_kernel"));
	json_object_put(arr);
}

/* This host: the facts read are consistent and compare equal to themselves. */
static void
test_this_host(void)
{
	struct hostfacts		 here;
	struct hostfacts_problem	 p[HOSTFACTS_MAX_PROBLEMS];

	CHECK(hostfacts_read(&here) == 0);
	CHECK(here.arch[0] != '\0' && here.release[0] != '\0');
	CHECK(here.page_size >= 4096);
#if defined(__x86_64__)
	CHECK(here.cpuid1_edx & (1U << 26));	/* sse2: every x86_64 has it */
	if (here.cpuid1_ecx & (1U << 27))
		CHECK(here.xcr0 & 0x3 && here.xstate_size >= 512);
#endif
	CHECK(hostfacts_compare(&here, &here, p) == 0);
}

int
main(void)
{
	test_subset_ok();
	test_missing_bit();
	test_xstate();
	test_arch_kernel();
	test_json();
	test_missing_section();
	test_this_host();
	return test_summary();
}
