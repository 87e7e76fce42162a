/*
 * fdeventcheck [common options]
 *
 * One epoll set watches three event file descriptors and the checker
 * verifies what each of them delivers:
 *   - a periodic timerfd (CLOCK_MONOTONIC, every 20 ms): a timerfd
 *     loses no expiration, so the total it reported since it was armed
 *     must match the CLOCK_MONOTONIC time elapsed since then: never
 *     more than the elapsed periods (+1), and not lagging behind by more
 *     than LAG_MAX periods for LAG_ROUNDS rounds (timer interrupts may
 *     come late on a busy host); this holds across pauses, saves and restores, whatever
 *     the guest clock does, as long as the two agree;
 *   - a signalfd for SIGUSR2 (blocked) sent by a forked sibling that
 *     waits for each signal to be read before sending the next one, so
 *     sent and read differ by at most one;
 *   - an eventfd (semaphore-less) that holds a known counter between
 *     rounds: each round it must read back exactly what was written
 *     last, then gets a new value.
 * The eventfd is one-shot in the set and re-armed each round.
 * A second eventfd, never touched after creation, must keep its value
 * and stay readable (checked with poll) - state only the kernel holds.
 */
#include "check.h"

#include <poll.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#define TIMER_PERIOD_MS 20
#define LAG_MAX 50 /* periods: 1 s of late timer interrupts */
#define LAG_ROUNDS 3
#define SILENT_ROUNDS 20
#define IDLE_EVENTFD_VALUE 0x5342554dULL

enum { TAG_TIMER = 1, TAG_SIGNAL, TAG_EVENT };

struct shared {
    atomic_ullong sent, received;
};

struct fds {
    int ep, timer, sig, event, idle;
};

struct counts {
    double armed_before, armed_after; /* CLOCK_MONOTONIC around timerfd_settime */
    double t;
    unsigned long long expirations, signals, event_rounds;
};

static struct shared *sh;

static void epoll_set(int ep, int op, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = { .events = events, .data.u64 = tag };

    if (epoll_ctl(ep, op, fd, &ev) != 0)
        check_die("epoll_ctl %d tag %llu: %s", op, (unsigned long long)tag, strerror(errno));
}

static int make_timer(struct counts *c)
{
    struct itimerspec its = { { 0, TIMER_PERIOD_MS * 1000000L }, { 0, TIMER_PERIOD_MS * 1000000L } };
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

    if (fd < 0)
        check_die("timerfd_create: %s", strerror(errno));
    c->armed_before = check_now();
    if (timerfd_settime(fd, 0, &its, NULL) != 0)
        check_die("timerfd_settime: %s", strerror(errno));
    c->armed_after = check_now();
    return fd;
}

static int make_signalfd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        check_die("sigprocmask: %s", strerror(errno));
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        check_die("signalfd: %s", strerror(errno));
    return fd;
}

static int make_eventfd(unsigned int value)
{
    int fd = eventfd(value, EFD_NONBLOCK | EFD_CLOEXEC);

    if (fd < 0)
        check_die("eventfd: %s", strerror(errno));
    return fd;
}

static void setup(struct fds *f, struct counts *c)
{
    f->ep = epoll_create1(EPOLL_CLOEXEC);
    if (f->ep < 0)
        check_die("epoll_create1: %s", strerror(errno));
    f->timer = make_timer(c);
    f->sig = make_signalfd();
    f->event = make_eventfd(0);
    f->idle = make_eventfd((unsigned int)IDLE_EVENTFD_VALUE);
    epoll_set(f->ep, EPOLL_CTL_ADD, f->timer, EPOLLIN, TAG_TIMER);
    epoll_set(f->ep, EPOLL_CTL_ADD, f->sig, EPOLLIN, TAG_SIGNAL);
    /* One-shot: the eventfd always holds a value, so it is re-armed once
     * per round instead of firing continuously. */
    epoll_set(f->ep, EPOLL_CTL_ADD, f->event, EPOLLIN | EPOLLONESHOT, TAG_EVENT);
}

/* Sibling: one SIGUSR2 at a time, each read through the signalfd before
 * the next is sent. */
static void sender(pid_t parent)
{
    while (!check_stop_requested && getppid() == parent) {
        unsigned long long n = atomic_fetch_add(&sh->sent, 1) + 1;
        if (kill(parent, SIGUSR2) != 0)
            _exit(0);
        while (atomic_load(&sh->received) < n && !check_stop_requested && getppid() == parent)
            check_sleep_ms(1);
        check_sleep_ms(50);
    }
    _exit(0);
}

static void read_timer(int fd, struct counts *c)
{
    uint64_t n;

    if (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
        c->expirations += n;
    else if (errno != EAGAIN && errno != EINTR)
        check_fail("timerfd read: %s", strerror(errno));
}

static void read_signals(int fd, struct counts *c)
{
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo != SIGUSR2)
            check_fail("signalfd delivered signal %u, want %d", si.ssi_signo, SIGUSR2);
        c->signals++;
        atomic_fetch_add(&sh->received, 1);
    }
    if (errno != EAGAIN && errno != EINTR)
        check_fail("signalfd read: %s", strerror(errno));
}

/* The eventfd must hold exactly the value written last round. */
static void cycle_eventfd(int fd, struct counts *c, uint64_t *expect)
{
    uint64_t got = 0, next = 1 + check_mix64(c->event_rounds) % 1000000;

    if (read(fd, &got, sizeof(got)) != (ssize_t)sizeof(got) && errno != EAGAIN)
        check_fail("eventfd read: %s", strerror(errno));
    if (got != *expect)
        check_fail("eventfd counter %llu, want %llu", (unsigned long long)got,
                   (unsigned long long)*expect);
    if (write(fd, &next, sizeof(next)) != (ssize_t)sizeof(next))
        check_die("eventfd write: %s", strerror(errno));
    *expect = next;
    c->event_rounds++;
}

/* The untouched eventfd stays readable; its value is checked at the end. */
static void check_idle_eventfd(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
        check_fail("idle eventfd no longer readable (revents %#x)", p.revents);
}

/* Waits on the epoll set for about 100 ms, handling whatever fires. */
static void wait_round(const struct fds *f, struct counts *c, uint64_t *expect, int *event_seen)
{
    double until = check_now() + 0.1;

    /* At least one epoll_wait, even when this process got the CPU back
     * only after `until` (a busy host): a late round is no lost event. */
    for (int last = 0; !last && !check_stop_requested;) {
        struct epoll_event evs[4];
        int ms = (int)((until - check_now()) * 1000.0);
        if (ms <= 0) {
            ms = 0;
            last = 1;
        }
        int n = epoll_wait(f->ep, evs, 4, ms);
        if (n < 0 && errno != EINTR)
            check_die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == TAG_TIMER)
                read_timer(f->timer, c);
            else if (evs[i].data.u64 == TAG_SIGNAL)
                read_signals(f->sig, c);
            else if (evs[i].data.u64 == TAG_EVENT && !*event_seen) {
                *event_seen = 1;
                cycle_eventfd(f->event, c, expect);
            }
        }
    }
}

/* Total expirations against the time elapsed since the timer was armed:
 * `before` and `after` bracket the final read of the timer. */
static void check_timer_total(const struct counts *c, double before, double after)
{
    static int lag_rounds;
    double period = TIMER_PERIOD_MS / 1000.0;
    double most = (after - c->armed_before) / period + 1.0;
    double least = (before - c->armed_after) / period - LAG_MAX;

    if ((double)c->expirations > most)
        check_fail("timerfd reported %llu expirations in %.3f s: more than the %.0f periods",
                   c->expirations, after - c->armed_before, most);
    /* A jump of the clock is seen by clock_gettime at once but by the
     * timer only at its next interrupt: a lag must persist to count. */
    lag_rounds = (double)c->expirations < least ? lag_rounds + 1 : 0;
    if (lag_rounds == LAG_ROUNDS)
        check_fail("timerfd reported %llu expirations in %.3f s: lags %.0f periods behind",
                   c->expirations, before - c->armed_after, least + LAG_MAX - (double)c->expirations);
}

static void check_progress(const struct counts *prev, const struct counts *cur,
                           struct check_silence silent[2])
{
    if (check_silent(&silent[0], cur->expirations != prev->expirations, SILENT_ROUNDS))
        check_fail("timerfd silent for %d rounds and %.0f s", SILENT_ROUNDS, CHECK_SILENT_S);
    if (check_silent(&silent[1], cur->signals != prev->signals, SILENT_ROUNDS))
        check_fail("signalfd silent for %d rounds and %.0f s", SILENT_ROUNDS, CHECK_SILENT_S);
    if (cur->event_rounds == prev->event_rounds)
        check_fail("epoll did not report the eventfd holding %llu",
                   (unsigned long long)cur->event_rounds);
}

static void check_idle_value(int fd)
{
    uint64_t v = 0;

    if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v) || v != IDLE_EVENTFD_VALUE)
        check_fail("idle eventfd held %llu, want %llu", (unsigned long long)v,
                   (unsigned long long)IDLE_EVENTFD_VALUE);
}

int main(int argc, char **argv)
{
    struct fds f;
    struct counts cur = { 0 }, prev;
    uint64_t expect = 0, first = 1;
    struct check_silence silent[2] = { { 0, 0.0 } };
    char extra[128];

    check_init("fdeventcheck", argc, argv);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        check_die("mmap: %s", strerror(errno));
    setup(&f, &cur);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0)
        check_die("fork: %s", strerror(errno));
    if (pid == 0)
        sender(parent);
    check_line("start", "pid=%d sender=%d timer_ms=%d", (int)parent, (int)pid, TIMER_PERIOD_MS);
    if (write(f.event, &first, sizeof(first)) != (ssize_t)sizeof(first))
        check_die("eventfd write: %s", strerror(errno));
    expect = first;
    cur.t = check_now();
    prev = cur;
    while (check_running()) {
        int event_seen = 0;
        if (cur.event_rounds > 0)
            epoll_set(f.ep, EPOLL_CTL_MOD, f.event, EPOLLIN | EPOLLONESHOT, TAG_EVENT);
        wait_round(&f, &cur, &expect, &event_seen);
        cur.t = check_now();
        read_timer(f.timer, &cur);
        double after = check_now();
        if (!check_stop_requested)
            check_timer_total(&cur, cur.t, after);
        if (!check_stop_requested)
            check_progress(&prev, &cur, silent);
        check_idle_eventfd(f.idle);
        unsigned long long sent = atomic_load(&sh->sent);
        if (sent < cur.signals || sent - cur.signals > 1)
            check_fail("SIGUSR2 sent %llu read %llu", sent, cur.signals);
        prev = cur;
        snprintf(extra, sizeof(extra), "expirations=%llu signals=%llu eventfd=%llu",
                 cur.expirations, cur.signals, cur.event_rounds);
        check_round_done(extra);
    }
    kill(pid, SIGTERM);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    check_idle_value(f.idle);
    snprintf(extra, sizeof(extra), "expirations=%llu signals=%llu eventfd=%llu",
             cur.expirations, cur.signals, cur.event_rounds);
    return check_finish(extra);
}
