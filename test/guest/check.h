/*
 * check.h - shared helpers for the in-guest fidelity checkers.
 *
 * Every checker is a long-running program that builds some state and
 * re-verifies it about every 100 ms.  All of them print the same line
 * formats so one grep on the console log covers them all:
 *
 *   CHECK <name> start <details>
 *   CHECK <name> ok <iteration> [key=value ...]   periodically
 *   CHECK <name> info <text>                      notable, not an error
 *   CHECK <name> FAIL <reason>                    any mismatch
 *   CHECK <name> summary iterations=<n> failures=<n> [key=value ...]
 *
 * The summary is printed on SIGTERM/SIGINT (or when -t expires); the exit
 * status is then 0 without failures and 1 with failures.
 *
 * Common options (before any program-specific arguments):
 *   -r SECONDS   interval between "ok" lines (default 5; the first "ok"
 *                comes right after the first successful verification)
 *   -t SECONDS   stop after this many seconds (default: run forever)
 *   -q           no "ok" lines except the first
 *
 * Each line goes out in a single write(2) so lines from several
 * checkers sharing one console do not interleave.
 *
 * Header-only on purpose: each checker stays a single self-contained
 * static binary built from one .c file.
 */
#ifndef SBUML_CHECK_H
#define SBUML_CHECK_H

#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* More FAIL lines than this are counted but not printed, so a broken
 * machine cannot flood the console. */
#define CHECK_MAX_FAIL_LINES 50

struct check_ctx {
    const char *name;
    uint64_t iteration;
    uint64_t failures;
    double report_interval; /* seconds between "ok" lines */
    double duration;        /* seconds to run, 0 = forever */
    int quiet;
    double start;
    double last_report;
    int reported_once;
    uint64_t failures_seen; /* failures counted up to the previous round */
};

static struct check_ctx check;

/* Set by the signal handler; checked by the main loops. */
static volatile sig_atomic_t check_stop_requested;

static inline double check_now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes the whole buffer, retrying on EINTR and short writes. */
static inline void check_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report to */
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Prints "CHECK <name> <kind> <formatted text>\n" in one write. */
static inline void check_vline(const char *kind, const char *fmt, va_list ap)
{
    char line[512];
    int len = snprintf(line, sizeof(line), "CHECK %s %s ", check.name, kind);

    if (len < 0 || (size_t)len >= sizeof(line))
        return;
    int more = vsnprintf(line + len, sizeof(line) - (size_t)len - 1, fmt, ap);
    if (more < 0)
        return;
    len += more;
    if ((size_t)len > sizeof(line) - 2)
        len = (int)sizeof(line) - 2; /* truncated, keep the newline */
    line[len++] = '\n';
    check_write_all(STDOUT_FILENO, line, (size_t)len);
}

__attribute__((format(printf, 2, 3)))
static inline void check_line(const char *kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    check_vline(kind, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 1, 2)))
static inline void check_fail(const char *fmt, ...)
{
    va_list ap;

    check.failures++;
    if (check.failures > CHECK_MAX_FAIL_LINES)
        return;
    va_start(ap, fmt);
    check_vline("FAIL", fmt, ap);
    va_end(ap);
    if (check.failures == CHECK_MAX_FAIL_LINES)
        check_line("info", "further FAIL lines suppressed");
}

/* Fatal setup error: report as a failure and exit. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void check_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    check_vline("FAIL", fmt, ap);
    va_end(ap);
    exit(2);
}

static inline void check_on_signal(int sig)
{
    (void)sig;
    check_stop_requested = 1;
}

/* Installs the stop handler for SIGTERM and SIGINT.  No SA_RESTART:
 * blocking calls return EINTR so loops notice the request promptly. */
static inline void check_install_stop_handler(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = check_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        check_die("sigaction: %s", strerror(errno));
}

static inline int check_parse_seconds(const char *s, double *out)
{
    char *end;

    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        return -1;
    *out = v;
    return 0;
}

/*
 * Parses the common options and returns the index of the first
 * program-specific argument.  Stops at the first non-option.
 */
static inline int check_init(const char *name, int argc, char **argv)
{
    int i;

    check.name = name;
    check.report_interval = 5.0;
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *opt = argv[i];

        if (strcmp(opt, "--") == 0) {
            i++;
            break;
        } else if (strcmp(opt, "-q") == 0) {
            check.quiet = 1;
        } else if ((strcmp(opt, "-r") == 0 || strcmp(opt, "-t") == 0) && i + 1 < argc) {
            double *dst = opt[1] == 'r' ? &check.report_interval : &check.duration;
            if (check_parse_seconds(argv[++i], dst) != 0)
                check_die("bad value for %s: %s", opt, argv[i]);
        } else {
            check_die("unknown option %s (common: -r SECONDS -t SECONDS -q)", opt);
        }
    }
    check.start = check_now();
    check_install_stop_handler();
    return i;
}

/* True while the checker should keep going. */
static inline int check_running(void)
{
    if (check_stop_requested)
        return 0;
    if (check.duration > 0 && check_now() - check.start >= check.duration)
        return 0;
    return 1;
}

/*
 * Called after each verification round: counts it and prints an "ok"
 * line for the first round and then every report interval.  `extra`
 * (may be NULL or "") is appended as key=value details.
 */
static inline void check_round_done(const char *extra)
{
    double now = check_now();

    check.iteration++;
    if (check.failures != check.failures_seen) {
        check.failures_seen = check.failures;
        return; /* never claim "ok" for a round that failed */
    }
    if (check.reported_once &&
        (check.quiet || now - check.last_report < check.report_interval))
        return;
    check.reported_once = 1;
    check.last_report = now;
    check_line("ok", "%llu%s%s", (unsigned long long)check.iteration,
               extra && *extra ? " " : "", extra ? extra : "");
}

/* Prints the summary line and returns the exit status to use. */
static inline int check_finish(const char *extra)
{
    check_line("summary", "iterations=%llu failures=%llu%s%s",
               (unsigned long long)check.iteration,
               (unsigned long long)check.failures,
               extra && *extra ? " " : "", extra ? extra : "");
    return check.failures == 0 ? 0 : 1;
}

/* How long something another task or a timer must keep doing has made no
 * progress.  It is stuck once silent for CHECK_SILENT_S seconds as well as
 * for the checker's own number of rounds: a guest starved by a loaded host
 * (or by 8 guests at once) may not run that task for many short rounds of
 * ours, while a lost timer or task never comes back. */
#define CHECK_SILENT_S 10.0

struct check_silence {
    int rounds;   /* rounds of ours without progress */
    double since; /* CLOCK_MONOTONIC at the first of them */
};

/* One round: PROGRESSED or not.  Returns 1 (once per stall, then counts
 * anew) when it has been silent for ROUNDS rounds and CHECK_SILENT_S s. */
static inline int check_silent(struct check_silence *s, int progressed, int rounds)
{
    double now = check_now();

    if (progressed) {
        s->rounds = 0;
        return 0;
    }
    if (s->rounds++ == 0)
        s->since = now;
    if (s->rounds >= rounds && now - s->since >= CHECK_SILENT_S) {
        s->rounds = 0;
        return 1;
    }
    return 0;
}

/* Sleeps for `ms` milliseconds; returns early when a signal arrives
 * (the caller re-checks check_running()). */
static inline void check_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    (void)nanosleep(&ts, NULL);
}

/* splitmix64: a stateless, well-mixed 64-bit hash used for patterns. */
static inline uint64_t check_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* FNV-1a 64-bit, incremental: pass the previous value (or the basis). */
#define CHECK_FNV_BASIS 0xcbf29ce484222325ULL
static inline uint64_t check_fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Parses an unsigned decimal argument or dies. */
static inline unsigned long long check_parse_u64(const char *what, const char *s)
{
    char *end;

    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0')
        check_die("bad %s: %s", what, s);
    return v;
}

/* Writes TEXT to PATH (opened O_WRONLY plus FLAGS, mode 0600); 0 or -errno. */
static inline int check_write_text(const char *path, const char *text, int flags)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0600);

    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int err = n == (ssize_t)strlen(text) ? 0 : -(n < 0 ? errno : EIO);
    close(fd);
    return err;
}

/* Reads PATH into BUF as a string (one read); 0 or -errno. */
static inline int check_read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, size - 1);
    int err = n < 0 ? -errno : 0;
    close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return err;
}

#endif /* SBUML_CHECK_H */
