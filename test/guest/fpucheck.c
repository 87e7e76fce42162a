/*
 * fpucheck [common options]
 *
 * Checks that floating point state survives being descheduled (and
 * saved/restored with the machine):
 *
 *  - series: running sums (Basel series 1/k^2 in SSE doubles and the
 *    alternating harmonic series in x87 long doubles) are advanced a
 *    few thousand terms per round and kept across sleeps.  Each round
 *    recomputes the same sums from scratch in the same order; IEEE
 *    arithmetic is deterministic, so any difference is corruption.
 *  - registers (x86_64 only): all 16 xmm registers are loaded with a
 *    known pattern, a nanosleep system call is made directly from the
 *    same asm block, and the registers are compared afterwards.
 *  - MXCSR: the flush-to-zero and denormals-are-zero bits are set at
 *    start (harmless for these sums) and must still be set each round.
 */
#include "check.h"

#include <math.h>
#include <sys/syscall.h>

#define TERMS_PER_ROUND 4000u
#define RESTART_TERMS 400000u /* keeps the from-scratch recompute cheap */

struct series {
    uint64_t terms;
    double basel;         /* sum 1/k^2, SSE */
    long double alt_harm; /* sum (-1)^(k+1)/k, x87 */
};

static void series_advance(struct series *s, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = ++s->terms;
        double kd = (double)k;
        s->basel += 1.0 / (kd * kd);
        s->alt_harm += ((k & 1) ? 1.0L : -1.0L) / (long double)k;
    }
}

/* Same operations in the same order, from zero. */
static struct series series_recompute(uint64_t terms)
{
    struct series s = { 0, 0.0, 0.0L };

    series_advance(&s, terms);
    return s;
}

static int same_bits_double(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static int same_value_ld(long double a, long double b)
{
    return a == b || (isnan(a) && isnan(b));
}

static void verify_series(struct series *s)
{
    struct series fresh = series_recompute(s->terms);

    if (!same_bits_double(fresh.basel, s->basel)) {
        check_fail("basel sum after %llu terms: kept %.17g recomputed %.17g",
                   (unsigned long long)s->terms, s->basel, fresh.basel);
        *s = fresh;
    }
    if (!same_value_ld(fresh.alt_harm, s->alt_harm)) {
        check_fail("alternating harmonic sum after %llu terms: kept %.21Lg recomputed %.21Lg",
                   (unsigned long long)s->terms, s->alt_harm, fresh.alt_harm);
        *s = fresh;
    }
    /* Plausibility against the closed forms, loose on purpose. */
    if (fabs(s->basel - M_PI * M_PI / 6.0) > 1.0 / (double)s->terms + 1e-9)
        check_fail("basel sum %.17g too far from pi^2/6", s->basel);
}

#if defined(__x86_64__)
#define MXCSR_FTZ_DAZ 0x8040u

static unsigned read_mxcsr(void)
{
    unsigned v;

    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}

static void write_mxcsr(unsigned v)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(v));
}

/*
 * Loads xmm0..xmm15 from `in`, sleeps with a raw nanosleep system call
 * (no libc code may touch the registers in between) and stores them to
 * `out`.  Returns the syscall result.
 */
static long xmm_roundtrip(const uint64_t in[32], uint64_t out[32], const struct timespec *ts)
{
    long ret;

    __asm__ volatile(
        "movdqu   0(%[in]), %%xmm0\n\t"  "movdqu  16(%[in]), %%xmm1\n\t"
        "movdqu  32(%[in]), %%xmm2\n\t"  "movdqu  48(%[in]), %%xmm3\n\t"
        "movdqu  64(%[in]), %%xmm4\n\t"  "movdqu  80(%[in]), %%xmm5\n\t"
        "movdqu  96(%[in]), %%xmm6\n\t"  "movdqu 112(%[in]), %%xmm7\n\t"
        "movdqu 128(%[in]), %%xmm8\n\t"  "movdqu 144(%[in]), %%xmm9\n\t"
        "movdqu 160(%[in]), %%xmm10\n\t" "movdqu 176(%[in]), %%xmm11\n\t"
        "movdqu 192(%[in]), %%xmm12\n\t" "movdqu 208(%[in]), %%xmm13\n\t"
        "movdqu 224(%[in]), %%xmm14\n\t" "movdqu 240(%[in]), %%xmm15\n\t"
        "syscall\n\t"
        "movdqu %%xmm0,    0(%[out])\n\t" "movdqu %%xmm1,   16(%[out])\n\t"
        "movdqu %%xmm2,   32(%[out])\n\t" "movdqu %%xmm3,   48(%[out])\n\t"
        "movdqu %%xmm4,   64(%[out])\n\t" "movdqu %%xmm5,   80(%[out])\n\t"
        "movdqu %%xmm6,   96(%[out])\n\t" "movdqu %%xmm7,  112(%[out])\n\t"
        "movdqu %%xmm8,  128(%[out])\n\t" "movdqu %%xmm9,  144(%[out])\n\t"
        "movdqu %%xmm10, 160(%[out])\n\t" "movdqu %%xmm11, 176(%[out])\n\t"
        "movdqu %%xmm12, 192(%[out])\n\t" "movdqu %%xmm13, 208(%[out])\n\t"
        "movdqu %%xmm14, 224(%[out])\n\t" "movdqu %%xmm15, 240(%[out])\n\t"
        : "=a"(ret)
        : "0"((long)SYS_nanosleep), "D"(ts), "S"(NULL), [in] "r"(in), [out] "r"(out)
        : "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
          "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
          "xmm14", "xmm15");
    return ret;
}

static void verify_registers(uint64_t round)
{
    uint64_t in[32], out[32];
    struct timespec ts = { 0, 50 * 1000000L };

    for (size_t i = 0; i < 32; i++)
        in[i] = check_mix64(round * 32 + i);
    long ret = xmm_roundtrip(in, out, &ts);
    if (ret != 0 && ret != -EINTR)
        check_fail("nanosleep in register test returned %ld", ret);
    for (size_t i = 0; i < 32; i++) {
        if (in[i] != out[i]) {
            check_fail("xmm%zu %s half changed across sleep: want %016llx got %016llx",
                       i / 2, (i & 1) ? "high" : "low", (unsigned long long)in[i],
                       (unsigned long long)out[i]);
            return;
        }
    }
}

static void setup_mxcsr(void)
{
    write_mxcsr(read_mxcsr() | MXCSR_FTZ_DAZ);
}

static void verify_mxcsr(void)
{
    unsigned v = read_mxcsr();

    if ((v & MXCSR_FTZ_DAZ) != MXCSR_FTZ_DAZ) {
        check_fail("MXCSR lost FTZ/DAZ bits: %#x", v);
        setup_mxcsr();
    }
}
#else
static void verify_registers(uint64_t round) { (void)round; check_sleep_ms(50); }
static void setup_mxcsr(void) {}
static void verify_mxcsr(void) {}
#endif

int main(int argc, char **argv)
{
    struct series s = { 0, 0.0, 0.0L };
    char extra[128];

    check_init("fpucheck", argc, argv);
    setup_mxcsr();
    check_line("start", "pid=%d terms_per_round=%u", (int)getpid(), TERMS_PER_ROUND);
    while (check_running()) {
        if (s.terms >= RESTART_TERMS)
            s = series_recompute(0);
        series_advance(&s, TERMS_PER_ROUND);
        verify_registers(check.iteration);
        verify_series(&s);
        verify_mxcsr();
        snprintf(extra, sizeof(extra), "terms=%llu basel=%.15f",
                 (unsigned long long)s.terms, s.basel);
        check_round_done(extra);
        check_sleep_ms(50);
    }
    return check_finish(NULL);
}
