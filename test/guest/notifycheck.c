/*
 * notifycheck [common options] [DIR]
 *
 * Keeps filesystem watches set up at the start and checks every round
 * that they still report:
 *   - an inotify watch on DIR (default notifycheck.d in the current
 *     directory, created if missing): each round writes a file named after
 *     the round and renames it over a fixed name, and the watch must report
 *     IN_CREATE, IN_CLOSE_WRITE and IN_MOVED_TO for exactly those names;
 *   - a fanotify mark (FAN_CLASS_NOTIF) on a file in DIR: each round's
 *     write to it must show up as FAN_MODIFY on a descriptor of that
 *     file (same inode).  Without CAP_SYS_ADMIN fanotify is skipped with
 *     an "info" line; a kernel without fanotify fails.
 * A watch lost in a restore shows as missing events.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#define WANT_CREATE 1
#define WANT_CLOSE 2
#define WANT_MOVED 4
#define WAIT_MS 2000

struct watches {
    int dirfd, ino, fan; /* fan < 0: not permitted */
    int marked_fd;       /* the file fanotify watches */
    struct stat marked;
};

static void setup_inotify(struct watches *w, const char *dir)
{
    w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->ino < 0)
        check_die("inotify_init1: %s", strerror(errno));
    if (inotify_add_watch(w->ino, dir, IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO) < 0)
        check_die("inotify_add_watch %s: %s", dir, strerror(errno));
}

static void setup_fanotify(struct watches *w, const char *dir)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/fan.dat", dir);
    w->marked_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (w->marked_fd < 0 || fstat(w->marked_fd, &w->marked) != 0)
        check_die("open %s: %s", path, strerror(errno));
    w->fan = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
    if (w->fan < 0 && errno == EPERM) {
        check_line("info", "fanotify not permitted here, inotify only");
        return;
    }
    if (w->fan < 0)
        check_die("fanotify_init: %s", strerror(errno));
    if (fanotify_mark(w->fan, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, path) != 0)
        check_die("fanotify_mark %s: %s", path, strerror(errno));
}

/* Writes the round's file and renames it over "current". */
static void make_events(const struct watches *w, uint64_t round)
{
    char name[32];
    int fd;

    snprintf(name, sizeof(name), "r%llu", (unsigned long long)round);
    fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        check_die("create %s: %s", name, strerror(errno));
    if (write(fd, name, strlen(name)) < 0)
        check_fail("write %s: %s", name, strerror(errno));
    close(fd);
    if (renameat(w->dirfd, name, w->dirfd, "current") != 0)
        check_fail("rename %s: %s", name, strerror(errno));
    if (w->fan >= 0 && pwrite(w->marked_fd, &round, sizeof(round), 0) != sizeof(round))
        check_fail("write fan.dat: %s", strerror(errno));
}

/* Folds the inotify events read so far into the `seen` bits. */
static void read_inotify(int fd, const char *name, int *seen)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            const char *evname = ev->len ? ev->name : "";
            if ((ev->mask & IN_CREATE) && strcmp(evname, name) == 0)
                *seen |= WANT_CREATE;
            if ((ev->mask & IN_CLOSE_WRITE) && strcmp(evname, name) == 0)
                *seen |= WANT_CLOSE;
            if ((ev->mask & IN_MOVED_TO) && strcmp(evname, "current") == 0)
                *seen |= WANT_MOVED;
            if (ev->mask & IN_Q_OVERFLOW)
                check_fail("inotify queue overflow");
            p += sizeof(*ev) + ev->len;
        }
    }
}

/* 1 when a FAN_MODIFY for the marked file was read. */
static int read_fanotify(const struct watches *w)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
    ssize_t n;
    int found = 0;

    while ((n = read(w->fan, buf, sizeof(buf))) > 0) {
        struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
        for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
            struct stat st;
            if (m->fd >= 0) {
                if ((m->mask & FAN_MODIFY) && fstat(m->fd, &st) == 0 &&
                    st.st_ino == w->marked.st_ino && st.st_dev == w->marked.st_dev)
                    found = 1;
                close(m->fd);
            }
        }
    }
    return found;
}

/* Waits until the round's events arrived (or WAIT_MS passed). */
static void await_events(const struct watches *w, uint64_t round)
{
    char name[32];
    int seen = 0, fan_seen = w->fan < 0;
    double give_up = check_now() + WAIT_MS / 1000.0;

    snprintf(name, sizeof(name), "r%llu", (unsigned long long)round);
    while (!check_stop_requested) {
        read_inotify(w->ino, name, &seen);
        if (!fan_seen)
            fan_seen = read_fanotify(w);
        if (seen == (WANT_CREATE | WANT_CLOSE | WANT_MOVED) && fan_seen)
            return;
        if (check_now() > give_up)
            break;
        struct pollfd p[2] = { { .fd = w->ino, .events = POLLIN },
                               { .fd = w->fan, .events = POLLIN } };
        (void)poll(p, w->fan < 0 ? 1 : 2, 100);
    }
    if (check_stop_requested)
        return;
    if (seen != (WANT_CREATE | WANT_CLOSE | WANT_MOVED))
        check_fail("round %llu: inotify events %#x of %#x", (unsigned long long)round, seen,
                   WANT_CREATE | WANT_CLOSE | WANT_MOVED);
    if (!fan_seen)
        check_fail("round %llu: no FAN_MODIFY for fan.dat", (unsigned long long)round);
}

int main(int argc, char **argv)
{
    struct watches w;
    int i = check_init("notifycheck", argc, argv);
    const char *dir = i < argc ? argv[i] : "notifycheck.d";

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        check_die("mkdir %s: %s", dir, strerror(errno));
    w.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w.dirfd < 0)
        check_die("open %s: %s", dir, strerror(errno));
    setup_inotify(&w, dir);
    setup_fanotify(&w, dir);
    check_line("start", "pid=%d dir=%s fanotify=%s", (int)getpid(), dir,
               w.fan < 0 ? "no" : "yes");
    while (check_running()) {
        uint64_t round = check.iteration + 1;
        make_events(&w, round);
        await_events(&w, round);
        check_round_done(w.fan < 0 ? "fanotify=no" : "fanotify=yes");
        check_sleep_ms(100);
    }
    return check_finish(NULL);
}
