/*
 * timenscheck [common options]
 *
 * A time namespace keeps shifting its clocks: the checker unshares a
 * time namespace, sets its offsets (CLOCK_MONOTONIC +MONO_OFFSET_S,
 * CLOCK_BOOTTIME +BOOT_OFFSET_S) in /proc/self/timens_offsets and forks
 * a child, which is born in it (the checker itself stays where it was).
 * Every round (about 100 ms) the checker reads its own clocks, asks the
 * child for its clocks over a pipe, reads its own again, and the child's
 * readings must lie between the checker's two plus the offset (exact
 * bounds: both read the same clocks, shifted).  It also checks that the
 * child's /proc/PID/timens_offsets shows the offsets, that the checker's
 * time_for_children is the child's namespace and differs from its own,
 * and that the offsets can no longer be changed (the kernel freezes them
 * once a process entered the namespace).  A kernel without time
 * namespaces fails at the start.
 */
#include "check.h"

#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MONO_OFFSET_S 864000LL
#define BOOT_OFFSET_S 1728000LL

struct reading {
    struct timespec mono, boot;
};

static long long ns_of(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static void read_clocks(struct reading *r)
{
    if (clock_gettime(CLOCK_MONOTONIC, &r->mono) != 0 ||
        clock_gettime(CLOCK_BOOTTIME, &r->boot) != 0)
        check_die("clock_gettime: %s", strerror(errno));
}

/* Child: answers each request byte with a reading of its clocks. */
__attribute__((noreturn)) static void child(int req, int resp)
{
    struct reading r;
    char c;

    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    while (read(req, &c, 1) == 1) {
        read_clocks(&r);
        if (write(resp, &r, sizeof(r)) != (ssize_t)sizeof(r))
            _exit(2);
    }
    _exit(0); /* the checker closed the pipe */
}

static void enter_time_ns(void)
{
    char offsets[96];
    struct stat st;

    if (stat("/proc/self/ns/time", &st) != 0)
        check_die("no /proc/self/ns/time: %s", strerror(errno));
    if (unshare(CLONE_NEWTIME) != 0)
        check_die("unshare(CLONE_NEWTIME): %s", strerror(errno));
    snprintf(offsets, sizeof(offsets), "monotonic %lld 0\nboottime %lld 0\n", MONO_OFFSET_S,
             BOOT_OFFSET_S);
    int e = check_write_text("/proc/self/timens_offsets", offsets, 0);
    if (e != 0)
        check_die("write timens_offsets: %s", strerror(-e));
}

static pid_t start_child(int *req, int *resp)
{
    int a[2], b[2];

    if (pipe2(a, O_CLOEXEC) != 0 || pipe2(b, O_CLOEXEC) != 0)
        check_die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        check_die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(a[1]);
        close(b[0]);
        child(a[0], b[1]);
    }
    close(a[0]);
    close(b[1]);
    *req = a[1];
    *resp = b[0];
    return pid;
}

/* The child's clock CLOCK shifted by OFFSET_S lies between two readings. */
static void check_between(const char *clock, const struct timespec *before,
                          const struct timespec *child_ts, const struct timespec *after,
                          long long offset_s)
{
    long long lo = ns_of(before) + offset_s * 1000000000LL;
    long long hi = ns_of(after) + offset_s * 1000000000LL;
    long long got = ns_of(child_ts);

    if (got < lo || got > hi)
        check_fail("child's %s is %.6f s off the %lld s offset (window %.6f s)", clock,
                   (double)(got < lo ? got - lo : got - hi) / 1e9, offset_s,
                   (double)(hi - lo) / 1e9);
}

static void check_clocks(int req, int resp)
{
    struct reading before, kid, after;

    read_clocks(&before);
    if (write(req, "r", 1) != 1)
        check_die("request: %s", strerror(errno));
    ssize_t n;
    while ((n = read(resp, &kid, sizeof(kid))) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(kid))
        check_die("child's reading: %s", n < 0 ? strerror(errno) : "child gone");
    read_clocks(&after);
    check_between("CLOCK_MONOTONIC", &before.mono, &kid.mono, &after.mono, MONO_OFFSET_S);
    check_between("CLOCK_BOOTTIME", &before.boot, &kid.boot, &after.boot, BOOT_OFFSET_S);
}

/* /proc/PID/timens_offsets of the child: "monotonic S NS" and "boottime S NS"
 * lines (clock names or numbers, depending on the kernel). */
static void check_offsets_file(pid_t pid)
{
    char path[64], buf[256];
    long long mono = -1, boot = -1;

    snprintf(path, sizeof(path), "/proc/%d/timens_offsets", (int)pid);
    if (check_read_text(path, buf, sizeof(buf)) != 0) {
        check_fail("read %s: %s", path, strerror(errno));
        return;
    }
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char name[32];
        long long s, ns;

        if (sscanf(line, "%31s %lld %lld", name, &s, &ns) != 3 || ns != 0)
            continue;
        if (strcmp(name, "monotonic") == 0 || strcmp(name, "1") == 0)
            mono = s;
        else if (strcmp(name, "boottime") == 0 || strcmp(name, "7") == 0)
            boot = s;
    }
    if (mono != MONO_OFFSET_S || boot != BOOT_OFFSET_S)
        check_fail("%s shows monotonic %lld boottime %lld, want %lld %lld", path, mono, boot,
                   MONO_OFFSET_S, BOOT_OFFSET_S);
}

static void check_namespaces(pid_t pid)
{
    char path[64];
    struct stat own, forkids, kid;

    snprintf(path, sizeof(path), "/proc/%d/ns/time", (int)pid);
    if (stat("/proc/self/ns/time", &own) != 0 ||
        stat("/proc/self/ns/time_for_children", &forkids) != 0 || stat(path, &kid) != 0) {
        check_fail("stat time namespaces: %s", strerror(errno));
        return;
    }
    if (forkids.st_ino != kid.st_ino || own.st_ino == kid.st_ino)
        check_fail("namespaces: own %llu, for children %llu, child %llu",
                   (unsigned long long)own.st_ino, (unsigned long long)forkids.st_ino,
                   (unsigned long long)kid.st_ino);
}

static void check_frozen(void)
{
    int e = check_write_text("/proc/self/timens_offsets", "monotonic 1 0\n", 0);

    if (e != -EACCES)
        check_fail("changing the offsets of an entered namespace gave %s, want EACCES",
                   e == 0 ? "success" : strerror(-e));
}

int main(int argc, char **argv)
{
    int req, resp;

    check_init("timenscheck", argc, argv);
    enter_time_ns();
    pid_t pid = start_child(&req, &resp);
    check_line("start", "pid=%d child=%d monotonic=+%llds boottime=+%llds", (int)getpid(),
               (int)pid, MONO_OFFSET_S, BOOT_OFFSET_S);
    while (check_running()) {
        check_clocks(req, resp);
        check_offsets_file(pid);
        check_namespaces(pid);
        check_frozen();
        check_round_done(NULL);
        check_sleep_ms(100);
    }
    close(req);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return check_finish(NULL);
}
