/*
 * cgroupcheck [common options]
 *
 * Uses the cgroup v2 hierarchy (mounting it on cgroupcheck.mnt in the
 * current directory when nothing has it mounted), enables the pids and
 * memory controllers below the root and makes a child cgroup
 * sbuml-cgroupcheck-PID with pids.max = 8 and memory.max = 64 MiB.  A
 * forked member process is moved into it.  Every round the checker
 * verifies that
 *   - the group's cgroup.procs lists the member, and the member's
 *     /proc/PID/cgroup names the group;
 *   - pids.max and memory.max still read back as set, pids.current and
 *     memory.current are within them;
 *   - the limit is enforced: the member keeps trying to fork 10 children
 *     at once (every 5 s) and exactly 7 must succeed (8 with itself),
 *     the rest failing with EAGAIN; probes must keep coming.
 * The group is removed (and the hierarchy unmounted if mounted here) at
 * the end.  A kernel without cgroup v2 or these controllers fails.
 */
#include "check.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define PIDS_MAX 8
#define MEMORY_MAX (64ULL << 20)
#define PROBE_FORKS 10
#define PROBE_MS 5000 /* forks are dear in UML: probe rarely */
#define SILENT_ROUNDS 200
#define OWN_MOUNT "cgroupcheck.mnt"

struct shared {
    atomic_ullong probes, bad_probes;
    atomic_int last_ok, last_eagain, last_errno;
};

struct cg {
    char root[256], group[320];
    int own_mount;
    pid_t member;
};

static struct shared *sh;



/* Mount point of a cgroup2 file system from mountinfo, if there is one. */
static int find_cgroup2(char *out, size_t size)
{
    char line[1024];
    FILE *f = fopen("/proc/self/mountinfo", "re");
    int found = 0;

    if (!f)
        return 0;
    while (!found && fgets(line, sizeof(line), f)) {
        char mnt[512];
        const char *sep = strstr(line, " - cgroup2 ");
        if (sep && sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1 && strlen(mnt) < size) {
            snprintf(out, size, "%s", mnt);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

static void setup_hierarchy(struct cg *c)
{
    char path[400];
    int e;

    if (!find_cgroup2(c->root, sizeof(c->root))) {
        if (mkdir(OWN_MOUNT, 0700) != 0 && errno != EEXIST)
            check_die("mkdir " OWN_MOUNT ": %s", strerror(errno));
        if (mount("cgroup2", OWN_MOUNT, "cgroup2", 0, NULL) != 0)
            check_die("mount cgroup2: %s", strerror(errno));
        snprintf(c->root, sizeof(c->root), OWN_MOUNT);
        c->own_mount = 1;
    }
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", c->root);
    if ((e = check_write_text(path, "+pids", 0)) != 0 || (e = check_write_text(path, "+memory", 0)) != 0)
        check_die("enable pids and memory controllers in %s: %s", path, strerror(-e));
}

static void set_limit(const struct cg *c, const char *file, unsigned long long value)
{
    char path[400], text[32];
    int e;

    snprintf(path, sizeof(path), "%s/%s", c->group, file);
    snprintf(text, sizeof(text), "%llu", value);
    if ((e = check_write_text(path, text, 0)) != 0)
        check_die("write %s: %s", path, strerror(-e));
}

static void setup_group(struct cg *c)
{
    snprintf(c->group, sizeof(c->group), "%s/sbuml-cgroupcheck-%d", c->root, (int)getpid());
    if (mkdir(c->group, 0755) != 0)
        check_die("mkdir %s: %s", c->group, strerror(errno));
    set_limit(c, "pids.max", PIDS_MAX);
    set_limit(c, "memory.max", MEMORY_MAX);
}

/* One probe: how many of PROBE_FORKS simultaneous children fork allows. */
static void probe_forks(void)
{
    int p[2], ok = 0, eagain = 0, other = 0;
    pid_t kids[PROBE_FORKS];

    if (pipe(p) != 0)
        return;
    for (int i = 0; i < PROBE_FORKS; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char c;
            close(p[1]);
            (void)read(p[0], &c, 1); /* until the member closes the pipe */
            _exit(0);
        }
        if (pid > 0)
            kids[ok++] = pid;
        else if (errno == EAGAIN)
            eagain++;
        else
            other = errno;
    }
    close(p[0]);
    close(p[1]);
    for (int i = 0; i < ok; i++)
        while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    atomic_store(&sh->last_ok, ok);
    atomic_store(&sh->last_eagain, eagain);
    atomic_store(&sh->last_errno, other);
    if (ok != PIDS_MAX - 1 || eagain != PROBE_FORKS - ok)
        atomic_fetch_add(&sh->bad_probes, 1);
    atomic_fetch_add(&sh->probes, 1);
}

__attribute__((noreturn)) static void member(int go_fd)
{
    char go;

    /* Lives until the checker kills it (or dies): never half gone while
     * the checker looks at the group. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || read(go_fd, &go, 1) != 1)
        _exit(2);
    close(go_fd);
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    for (;;) {
        probe_forks();
        check_sleep_ms(PROBE_MS);
    }
}

static void start_member(struct cg *c)
{
    char path[400], text[32];
    int go[2], e;

    if (pipe(go) != 0)
        check_die("pipe: %s", strerror(errno));
    c->member = fork();
    if (c->member < 0)
        check_die("fork: %s", strerror(errno));
    if (c->member == 0) {
        close(go[1]);
        member(go[0]);
    }
    close(go[0]);
    snprintf(path, sizeof(path), "%s/cgroup.procs", c->group);
    snprintf(text, sizeof(text), "%d", (int)c->member);
    if ((e = check_write_text(path, text, 0)) != 0)
        check_die("move member into %s: %s", path, strerror(-e));
    if (write(go[1], "g", 1) != 1)
        check_die("pipe write: %s", strerror(errno));
    close(go[1]);
}

static unsigned long long read_number(const struct cg *c, const char *file)
{
    char path[400], buf[64];
    int e;

    snprintf(path, sizeof(path), "%s/%s", c->group, file);
    if ((e = check_read_text(path, buf, sizeof(buf))) != 0) {
        check_fail("read %s: %s", path, strerror(-e));
        return 0;
    }
    return strtoull(buf, NULL, 10);
}

static void check_membership(const struct cg *c)
{
    char path[400], buf[1024], want[64];

    /* The member's probe children are listed too while they live. */
    snprintf(path, sizeof(path), "%s/cgroup.procs", c->group);
    snprintf(want, sizeof(want), "\n%d\n", (int)c->member);
    buf[0] = '\n';
    if (check_read_text(path, buf + 1, sizeof(buf) - 1) != 0 || !strstr(buf, want))
        check_fail("cgroup.procs no longer lists the member %d", (int)c->member);
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)c->member);
    snprintf(want, sizeof(want), "/sbuml-cgroupcheck-%d\n", (int)getpid());
    if (check_read_text(path, buf, sizeof(buf)) != 0 || !strstr(buf, want))
        check_fail("member's /proc/PID/cgroup does not name its group");
}

static void check_limits(const struct cg *c)
{
    unsigned long long pids = read_number(c, "pids.max"), mem = read_number(c, "memory.max");
    unsigned long long cur = read_number(c, "pids.current");

    if (pids != PIDS_MAX)
        check_fail("pids.max is %llu, want %d", pids, PIDS_MAX);
    if (mem != MEMORY_MAX)
        check_fail("memory.max is %llu, want %llu", mem, MEMORY_MAX);
    if (cur < 1 || cur > PIDS_MAX)
        check_fail("pids.current is %llu", cur);
    /* Charges stay where they were made (no moving on migration in v2),
     * so only the bound is certain. */
    unsigned long long used = read_number(c, "memory.current");
    if (used > MEMORY_MAX)
        check_fail("memory.current %llu above memory.max", used);
}

static void check_probes(unsigned long long *last_probes, unsigned long long *bad_seen,
                         struct check_silence *silent)
{
    unsigned long long probes = atomic_load(&sh->probes), bad = atomic_load(&sh->bad_probes);

    if (bad != *bad_seen)
        check_fail("pids.max not enforced: %d of %d forks succeeded, %d EAGAIN, other errno %d",
                   atomic_load(&sh->last_ok), PROBE_FORKS, atomic_load(&sh->last_eagain),
                   atomic_load(&sh->last_errno));
    *bad_seen = bad;
    if (check_silent(silent, probes != *last_probes, SILENT_ROUNDS))
        check_fail("member made no fork probe for %d rounds and %.0f s", SILENT_ROUNDS,
                   CHECK_SILENT_S);
    *last_probes = probes;
}

static void teardown(const struct cg *c)
{
    kill(c->member, SIGKILL);
    while (waitpid(c->member, NULL, 0) < 0 && errno == EINTR)
        ;
    /* The group empties asynchronously after the member's exit. */
    for (int i = 0; i < 100 && rmdir(c->group) != 0 && errno == EBUSY; i++)
        check_sleep_ms(10);
    if (c->own_mount)
        (void)umount(c->root);
}

int main(int argc, char **argv)
{
    static struct cg c;
    unsigned long long probes = 0, bad = 0;
    struct check_silence silent = { 0, 0.0 };
    int status;
    char extra[64];

    check_init("cgroupcheck", argc, argv);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        check_die("mmap: %s", strerror(errno));
    setup_hierarchy(&c);
    setup_group(&c);
    start_member(&c);
    check_line("start", "pid=%d member=%d group=%s", (int)getpid(), (int)c.member, c.group);
    while (check_running()) {
        if (waitpid(c.member, &status, WNOHANG) == c.member && !check_stop_requested) {
            check_fail("member exited (status %#x)", status);
            break;
        }
        check_membership(&c);
        check_limits(&c);
        check_probes(&probes, &bad, &silent);
        snprintf(extra, sizeof(extra), "probes=%llu", probes);
        check_round_done(extra);
        check_sleep_ms(100);
    }
    teardown(&c);
    snprintf(extra, sizeof(extra), "probes=%llu", probes);
    return check_finish(extra);
}
