/*
 * clockcheck [common options] [GAP_MS]
 *
 * Samples CLOCK_MONOTONIC, CLOCK_BOOTTIME and CLOCK_REALTIME about every
 * 100 ms.  MONOTONIC and BOOTTIME must never go backwards (FAIL).  The
 * largest forward step of MONOTONIC between two samples is tracked, so
 * a pause of the whole machine (e.g. while it is saved) can be measured
 * from inside.  Steps longer than GAP_MS (default 1000) are reported as
 *   CHECK clockcheck info gap_ms=<monotonic> realtime_gap_ms=<realtime> iteration=<n>
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
    int i = check_init("clockcheck", argc, argv);
    double gap_limit = i < argc ? (double)check_parse_u64("GAP_MS", argv[i]) : 1000.0;
    double max_gap = 0.0;
    unsigned long long gaps = 0;
    char extra[128];

    check_line("start", "pid=%d gap_ms=%.0f", (int)getpid(), gap_limit);
    struct clocks prev = sample();
    while (check_running()) {
        check_sleep_ms(100);
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
            check_line("info", "gap_ms=%.0f realtime_gap_ms=%.0f iteration=%llu", mono,
                       diff_ms(&prev.real, &cur.real), (unsigned long long)check.iteration);
        }
        prev = cur;
        snprintf(extra, sizeof(extra), "maxgap_ms=%.0f gaps=%llu", max_gap, gaps);
        check_round_done(extra);
    }
    snprintf(extra, sizeof(extra), "maxgap_ms=%.0f gaps=%llu", max_gap, gaps);
    return check_finish(extra);
}
