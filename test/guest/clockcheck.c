/*
 * clockcheck [common options] [-i MS] [GAP_MS]
 *
 * Samples CLOCK_MONOTONIC, CLOCK_BOOTTIME and CLOCK_REALTIME about every
 * 100 ms (-i MS: every MS ms instead, e.g. -i 1 to see short stalls of the
 * whole guest; the guest's timer granularity rounds it up, 10 ms at
 * HZ=100).  MONOTONIC and BOOTTIME must never go backwards (FAIL).  The
 * largest forward step of MONOTONIC between two samples is tracked, so
 * a pause of the whole machine (e.g. while it is saved) can be measured
 * from inside.  Steps longer than GAP_MS (default 1000) are reported as
 *   CHECK clockcheck info gap_ms=<monotonic> realtime_gap_ms=<realtime> iteration=<n> at_ms=<t>
 * (t: CLOCK_REALTIME at the end of the step in ms, to line up with host logs)
 * and "ok" lines carry maxgap_ms=<largest step> gaps=<steps over GAP_MS>.
 */
#include "check.h"

struct clocks {
    struct timespec mono, boot, real;
};

static void read_clock(clockid_t id, struct timespec *ts, const char *name)
{
    if (clock_gettime(id, ts) != 0)
        check_die("clock_gettime(%s): %s", name, strerror(errno));
}

static struct clocks sample(void)
{
    struct clocks c;

    read_clock(CLOCK_MONOTONIC, &c.mono, "MONOTONIC");
    read_clock(CLOCK_BOOTTIME, &c.boot, "BOOTTIME");
    read_clock(CLOCK_REALTIME, &c.real, "REALTIME");
    return c;
}

/* b - a in milliseconds (negative when b is earlier). */
static double diff_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

int main(int argc, char **argv)
{
    long interval_ms = 100;
    /* -i MS is ours: take it out before the common options are parsed */
    for (int a = 1; a < argc && argv[a][0] == '-' && strcmp(argv[a], "--") != 0; a++) {
        if (strcmp(argv[a], "-i") == 0 && a + 1 < argc) {
            check.name = "clockcheck";
            interval_ms = (long)check_parse_u64("-i MS", argv[a + 1]);
            if (interval_ms < 1)
                check_die("-i MS must be at least 1");
            for (int b = a; b + 2 <= argc; b++)
                argv[b] = argv[b + 2];
            argc -= 2;
            break;
        }
        if (strcmp(argv[a], "-r") == 0 || strcmp(argv[a], "-t") == 0)
            a++; /* skip the value */
    }
    int i = check_init("clockcheck", argc, argv);
    double gap_limit = i < argc ? (double)check_parse_u64("GAP_MS", argv[i]) : 1000.0;
    double max_gap = 0.0;
    unsigned long long gaps = 0;
    char extra[128];

    check_line("start", "pid=%d gap_ms=%.0f interval_ms=%ld", (int)getpid(), gap_limit,
               interval_ms);
    struct clocks prev = sample();
    while (check_running()) {
        check_sleep_ms(interval_ms);
        struct clocks cur = sample();
        double mono = diff_ms(&prev.mono, &cur.mono);
        double boot = diff_ms(&prev.boot, &cur.boot);
        if (mono < 0)
            check_fail("CLOCK_MONOTONIC went back by %.3f ms", -mono);
        if (boot < 0)
            check_fail("CLOCK_BOOTTIME went back by %.3f ms", -boot);
        if (mono > max_gap)
            max_gap = mono;
        if (mono > gap_limit) {
            gaps++;
            check_line("info", "gap_ms=%.0f realtime_gap_ms=%.0f iteration=%llu at_ms=%lld", mono,
                       diff_ms(&prev.real, &cur.real), (unsigned long long)check.iteration,
                       (long long)cur.real.tv_sec * 1000 + cur.real.tv_nsec / 1000000);
        }
        prev = cur;
        snprintf(extra, sizeof(extra), "maxgap_ms=%.0f gaps=%llu", max_gap, gaps);
        check_round_done(extra);
    }
    snprintf(extra, sizeof(extra), "maxgap_ms=%.0f gaps=%llu", max_gap, gaps);
    return check_finish(extra);
}
