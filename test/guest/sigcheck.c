/*
 * sigcheck [common options]
 *
 * Counts signals from three sources and checks that the counts keep
 * growing at plausible rates:
 *   - SIGALRM from setitimer(ITIMER_REAL) every 10 ms,
 *   - SIGRTMIN from a POSIX timer_create(CLOCK_MONOTONIC) every 20 ms,
 *   - SIGUSR1 from a forked sibling, which waits for each one to be
 *     acknowledged (through a shared counter) before sending the next,
 *     so sent and received may differ by at most one.
 * Rates are checked over windows of >= 2 s of guest time; a window
 * containing a jump of more than 1 s between rounds (a save pause seen
 * from inside) is discarded, so pauses do not cause false alarms.  A
 * window in which this process itself woke late by more than a quarter
 * of its length (the host did not run the guest, or the guest did not run
 * us) is judged only for signals arriving too fast: a starved process
 * sees expirations merge, which says nothing about the timers.
 */
#include "check.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>

#define ALRM_PERIOD_MS 10
#define RT_PERIOD_MS 20
#define USR1_PERIOD_MS 50
#define WINDOW_S 2.0
#define GAP_S 1.0
#define ROUND_S 0.1
#define STARVED_SHARE 0.25
#define SILENT_ROUNDS 20 /* rounds with no new signal of a kind = stuck (check.h) */

struct shared {
    atomic_ullong alrm, rt, usr1_received, usr1_sent, child_failures;
};

static struct shared *sh;

static void on_alrm(int sig) { (void)sig; atomic_fetch_add(&sh->alrm, 1); }
static void on_rt(int sig) { (void)sig; atomic_fetch_add(&sh->rt, 1); }
static void on_usr1(int sig) { (void)sig; atomic_fetch_add(&sh->usr1_received, 1); }

static void handle(int sig, void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0)
        check_die("sigaction %d: %s", sig, strerror(errno));
}

static void start_timers(void)
{
    struct itimerval itv = { { 0, ALRM_PERIOD_MS * 1000 }, { 0, ALRM_PERIOD_MS * 1000 } };
    struct sigevent sev;
    timer_t timer;
    struct itimerspec its = { { 0, RT_PERIOD_MS * 1000000L }, { 0, RT_PERIOD_MS * 1000000L } };

    if (setitimer(ITIMER_REAL, &itv, NULL) != 0)
        check_die("setitimer: %s", strerror(errno));
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN;
    if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0)
        check_die("timer_create: %s", strerror(errno));
    if (timer_settime(timer, 0, &its, NULL) != 0)
        check_die("timer_settime: %s", strerror(errno));
}

/* Sibling: one SIGUSR1 per period, each acknowledged before the next. */
static void sender(pid_t parent)
{
    while (!check_stop_requested && getppid() == parent) {
        unsigned long long n = atomic_fetch_add(&sh->usr1_sent, 1) + 1;
        if (kill(parent, SIGUSR1) != 0)
            _exit(0); /* parent gone */
        int waited = 0;
        while (atomic_load(&sh->usr1_received) < n && !check_stop_requested) {
            check_sleep_ms(1);
            if (++waited == 5000) {
                atomic_fetch_add(&sh->child_failures, 1);
                check_fail("SIGUSR1 %llu not received after 5000 waits", n);
            }
        }
        check_sleep_ms(USR1_PERIOD_MS);
    }
    _exit(0);
}

struct sample {
    double t;
    unsigned long long alrm, rt, usr1;
};

static struct sample take_sample(void)
{
    struct sample s = { check_now(), atomic_load(&sh->alrm), atomic_load(&sh->rt),
                        atomic_load(&sh->usr1_received) };
    return s;
}

/* Checks one rate; expected = signals per second. */
static void check_rate(const char *what, unsigned long long count, double secs, double expected,
                       bool starved)
{
    double rate = (double)count / secs;

    if (rate > expected * 1.25 + 2.0)
        check_fail("%s rate %.1f/s above the expected %.0f/s", what, rate, expected);
    if (!starved && rate < expected * 0.1)
        check_fail("%s rate %.1f/s far below the expected %.0f/s", what, rate, expected);
}

/* LATE: seconds this process woke after its rounds were due in the window. */
static void check_window(const struct sample *a, const struct sample *b, double late)
{
    double secs = b->t - a->t;
    bool starved = late > secs * STARVED_SHARE;

    if (starved)
        check_line("info", "woke %.0f ms late in a %.0f ms window: only too-fast rates judged",
                   late * 1000.0, secs * 1000.0);
    check_rate("SIGALRM", b->alrm - a->alrm, secs, 1000.0 / ALRM_PERIOD_MS, starved);
    check_rate("SIGRTMIN", b->rt - a->rt, secs, 1000.0 / RT_PERIOD_MS, starved);
    if (!starved && b->usr1 - a->usr1 == 0)
        check_fail("no SIGUSR1 in %.1f s", secs);
}

/* Counts rounds without progress per signal kind. */
static void check_progress(const struct sample *prev, const struct sample *cur,
                           struct check_silence silent[3])
{
    static const char *const names[3] = { "SIGALRM", "SIGRTMIN", "SIGUSR1" };
    unsigned long long grew[3] = { cur->alrm - prev->alrm, cur->rt - prev->rt,
                                   cur->usr1 - prev->usr1 };

    for (int k = 0; k < 3; k++)
        if (check_silent(&silent[k], grew[k] != 0, SILENT_ROUNDS))
            check_fail("no %s for %d rounds and %.0f s", names[k], SILENT_ROUNDS, CHECK_SILENT_S);
}

static void check_usr1_balance(void)
{
    unsigned long long rcv = atomic_load(&sh->usr1_received);
    unsigned long long sent = atomic_load(&sh->usr1_sent);

    if (rcv > sent || sent - rcv > 1)
        check_fail("SIGUSR1 sent %llu received %llu", sent, rcv);
}

/* Sleeps until t + 100 ms of CLOCK_MONOTONIC despite the signal storm. */
static void sleep_round(double start)
{
    double until = start + ROUND_S;
    struct timespec ts = { (time_t)until, (long)((until - (double)(time_t)until) * 1e9) };

    while (!check_stop_requested &&
           clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

int main(int argc, char **argv)
{
    char extra[160];
    struct check_silence silent[3] = { { 0, 0.0 } };

    check_init("sigcheck", argc, argv);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        check_die("mmap: %s", strerror(errno));
    handle(SIGALRM, on_alrm);
    handle(SIGRTMIN, on_rt);
    handle(SIGUSR1, on_usr1);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        check_die("fork: %s", strerror(errno));
    if (pid == 0)
        sender(parent);
    start_timers();
    check_line("start", "pid=%d sender=%d alrm_ms=%d rt_ms=%d usr1_ms=%d", (int)parent,
               (int)pid, ALRM_PERIOD_MS, RT_PERIOD_MS, USR1_PERIOD_MS);

    struct sample window = take_sample(), prev = window;
    double late = 0.0;
    while (check_running()) {
        sleep_round(prev.t);
        struct sample cur = take_sample();
        if (cur.t - prev.t > GAP_S) {
            check_line("info", "%.0f ms gap between rounds, rate window restarted",
                       (cur.t - prev.t) * 1000.0);
            window = cur;
            late = 0.0;
        } else {
            if (cur.t - prev.t > ROUND_S)
                late += cur.t - prev.t - ROUND_S;
            if (cur.t - window.t >= WINDOW_S) {
                check_window(&window, &cur, late);
                window = cur;
                late = 0.0;
            }
        }
        check_progress(&prev, &cur, silent);
        check_usr1_balance();
        prev = cur;
        snprintf(extra, sizeof(extra), "alrm=%llu rt=%llu usr1=%llu", cur.alrm, cur.rt, cur.usr1);
        check_round_done(extra);
    }
    kill(pid, SIGTERM);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    check.failures += atomic_load(&sh->child_failures);
    snprintf(extra, sizeof(extra), "alrm=%llu rt=%llu usr1=%llu", atomic_load(&sh->alrm),
             atomic_load(&sh->rt), atomic_load(&sh->usr1_received));
    return check_finish(extra);
}
