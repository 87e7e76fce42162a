/*
 * nscheck [common options]
 *
 * Runs a child in new namespaces of every kind and checks every round,
 * from inside and from outside, that they still isolate it:
 *   - time: the checker unshares a time namespace whose CLOCK_MONOTONIC
 *     is a day ahead; the child (born in it) must keep reading its clock
 *     86400 s ahead of the checker's.  The sbuml kernel has time
 *     namespaces (patch 0020, see doc/kernel.md); on a UML kernel
 *     without them (no /proc/self/ns/time, e.g. Debian's) this part is
 *     skipped with an "info" line and time=no in the start line;
 *   - user: the child's user namespace maps uid/gid 0 to 0, one id only;
 *     it must keep that map and uid 0;
 *   - pid: the child is pid 1 of its namespace (getpid() == 1);
 *   - uts: it set its own hostname, which the checker must not see;
 *   - mount: it mounted a tmpfs on nscheck.mnt (current directory) with a
 *     file in it; the mount stays, invisible to the checker;
 *   - net: it brought up its own loopback and bounces a UDP datagram;
 *   - ipc: a message queue made with a fixed key exists only in its
 *     namespace;
 *   - cgroup: its /proc/self/cgroup shows it at the root ("/").
 * The /proc/PID/ns/NAME inode numbers of the child (and the checker's own)
 * must not change and must differ.  A kernel without one of these
 * namespaces fails at the start.
 */
#include "check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#define MNT_DIR "nscheck.mnt"
#define NS_HOSTNAME "sbuml-nscheck"
#define TIME_OFFSET_S 86400
#define UDP_PORT 4747
#define SILENT_ROUNDS 50
#define NNS 8

static const char *const ns_names[NNS] = { "user", "pid", "uts", "ipc",
                                           "mnt", "net", "cgroup", "time" };

struct shared {
    atomic_ullong rounds, failures;
    _Atomic double mono; /* the child's CLOCK_MONOTONIC at its last round */
};

static struct shared *sh;
static int nns = NNS; /* NNS - 1 without time namespaces ("time" is last) */

struct child_state {
    int udp;
    int msqid;
    uint64_t ns_ino[NNS];
};

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int ns_inodes(const char *proc_dir, uint64_t ino[NNS])
{
    char path[96];
    struct stat st;

    for (int i = 0; i < nns; i++) {
        snprintf(path, sizeof(path), "%s/ns/%s", proc_dir, ns_names[i]);
        if (stat(path, &st) != 0)
            return -1;
        ino[i] = (uint64_t)st.st_ino;
    }
    return 0;
}



/* The checker (and so every child it makes from now on) gets a time
 * namespace whose monotonic clock is a day ahead.  Returns 0 when the
 * kernel has no time namespaces at all. */
static int enter_time_ns(void)
{
    char offsets[64];
    struct stat st;

    if (stat("/proc/self/ns/time", &st) != 0 && errno == ENOENT) {
        check_line("info", "kernel has no time namespaces, time part skipped");
        nns = NNS - 1;
        return 0;
    }
    if (unshare(CLONE_NEWTIME) != 0)
        check_die("unshare time namespace: %s", strerror(errno));
    snprintf(offsets, sizeof(offsets), "monotonic %d 0\n", TIME_OFFSET_S);
    int e = check_write_text("/proc/self/timens_offsets", offsets, 0);
    if (e != 0)
        check_die("timens_offsets: %s", strerror(-e));
    return 1;
}

static void lo_up(void)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (s < 0)
        check_die("child socket: %s", strerror(errno));
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        check_die("child SIOCGIFFLAGS lo: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
        check_die("child SIOCSIFFLAGS lo: %s", strerror(errno));
    close(s);
}

static int udp_socket(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(UDP_PORT) };
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0)
        check_die("child udp bind: %s", strerror(errno));
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
        check_die("child udp connect: %s", strerror(errno));
    return s;
}

static key_t ipc_key(void)
{
    return (key_t)0x53420000;
}

static void child_setup(struct child_state *c)
{
    if (sethostname(NS_HOSTNAME, strlen(NS_HOSTNAME)) != 0)
        check_die("child sethostname: %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        check_die("child make / private: %s", strerror(errno));
    if (mount("tmpfs", MNT_DIR, "tmpfs", 0, "size=64k") != 0)
        check_die("child mount tmpfs: %s", strerror(errno));
    int e = check_write_text(MNT_DIR "/marker", NS_HOSTNAME, O_CREAT | O_EXCL);
    if (e != 0)
        check_die("child write marker: %s", strerror(-e));
    lo_up();
    c->udp = udp_socket();
    c->msqid = msgget(ipc_key(), IPC_CREAT | IPC_EXCL | 0600);
    if (c->msqid < 0)
        check_die("child msgget: %s", strerror(errno));
    if (ns_inodes("/proc/self", c->ns_ino) != 0)
        check_die("child ns inodes: %s", strerror(errno));
}

/* Every line of /proc/self/cgroup ("ID:CONTROLLERS:PATH") has path "/".
 * Empty is fine: the kernel lists no hierarchy before one is mounted. */
static int cgroup_at_root(const char *text)
{
    for (const char *line = text; *line; ) {
        const char *end = strchr(line, '\n');
        if (!end || end - line < 2 || end[-1] != '/' || end[-2] != ':')
            return 0;
        line = end + 1;
    }
    return 1;
}

static void child_check_ids(void)
{
    char buf[256];

    if (getpid() != 1)
        check_fail("child is pid %d in its namespace, want 1", (int)getpid());
    if (getuid() != 0 || getgid() != 0)
        check_fail("child uid %d gid %d, want 0", (int)getuid(), (int)getgid());
    if (check_read_text("/proc/self/uid_map", buf, sizeof(buf)) != 0 ||
        strcmp(buf, "         0          0          1\n") != 0)
        check_fail("child's uid_map changed");
    if (gethostname(buf, sizeof(buf)) != 0 || strcmp(buf, NS_HOSTNAME) != 0)
        check_fail("child hostname is '%s', want %s", buf, NS_HOSTNAME);
    if (check_read_text("/proc/self/cgroup", buf, sizeof(buf)) != 0 || !cgroup_at_root(buf)) {
        for (char *p = buf; *p; p++)
            *p = *p == '\n' ? '|' : *p;
        check_fail("child's /proc/self/cgroup no longer shows it at the root: %s", buf);
    }
}

static void child_check_mount(void)
{
    struct statfs fs;
    char buf[64];

    if (statfs(MNT_DIR, &fs) != 0 || fs.f_type != TMPFS_MAGIC)
        check_fail("child's tmpfs on " MNT_DIR " is gone");
    else if (check_read_text(MNT_DIR "/marker", buf, sizeof(buf)) != 0 || strcmp(buf, NS_HOSTNAME) != 0)
        check_fail("child's marker file on its tmpfs is lost");
}

static void child_check_net_ipc(const struct child_state *c, uint64_t round)
{
    uint64_t got = 0;
    struct msqid_ds ds;

    if (send(c->udp, &round, sizeof(round), 0) != sizeof(round))
        check_fail("child udp send: %s", strerror(errno));
    else if (recv(c->udp, &got, sizeof(got), 0) != sizeof(got) || got != round)
        check_fail("child udp loopback returned %llu, want %llu", (unsigned long long)got,
                   (unsigned long long)round);
    if (msgget(ipc_key(), 0) != c->msqid || msgctl(c->msqid, IPC_STAT, &ds) != 0)
        check_fail("child's message queue is gone: %s", strerror(errno));
}

static void child_check_ns(const struct child_state *c)
{
    uint64_t now[NNS];

    if (ns_inodes("/proc/self", now) != 0) {
        check_fail("child ns inodes: %s", strerror(errno));
        return;
    }
    for (int i = 0; i < nns; i++)
        if (now[i] != c->ns_ino[i])
            check_fail("child's %s namespace changed from %llu to %llu", ns_names[i],
                       (unsigned long long)c->ns_ino[i], (unsigned long long)now[i]);
}

/* Child: waits for its id maps, builds its namespaces' state, then
 * re-checks it every 100 ms until stopped or orphaned. */
__attribute__((noreturn)) static void child(int go_fd)
{
    struct child_state c;
    char go;

    /* Its parent is outside its pid namespace: getppid() says 0.  It
     * ignores the stop signals and lives until the checker kills it, so
     * the checker never looks at a half-gone child. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        _exit(2);
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    if (read(go_fd, &go, 1) != 1)
        _exit(2);
    close(go_fd);
    child_setup(&c);
    for (uint64_t round = 1;; round++) {
        uint64_t before = check.failures;
        child_check_ids();
        child_check_mount();
        child_check_net_ipc(&c, round);
        child_check_ns(&c);
        atomic_fetch_add(&sh->failures, check.failures - before);
        atomic_store(&sh->mono, clock_s(CLOCK_MONOTONIC));
        atomic_fetch_add(&sh->rounds, 1);
        check_sleep_ms(100);
    }
}

static void write_id_maps(pid_t pid)
{
    char path[64];
    int e;

    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    if ((e = check_write_text(path, "0 0 1\n", 0)) != 0)
        check_die("write %s: %s", path, strerror(-e));
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
    if ((e = check_write_text(path, "0 0 1\n", 0)) != 0)
        check_die("write %s: %s", path, strerror(-e));
}

static pid_t start_child(void)
{
    int go[2];
    long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNS |
                 CLONE_NEWNET | CLONE_NEWCGROUP | SIGCHLD;

    if (pipe(go) != 0)
        check_die("pipe: %s", strerror(errno));
    /* Raw clone with no new stack behaves like fork. */
    long pid = syscall(__NR_clone, flags, NULL, NULL, NULL, 0L);
    if (pid < 0)
        check_die("clone into new namespaces: %s", strerror(errno));
    if (pid == 0) {
        close(go[1]);
        child(go[0]);
    }
    close(go[0]);
    write_id_maps((pid_t)pid);
    if (write(go[1], "g", 1) != 1)
        check_die("pipe write: %s", strerror(errno));
    close(go[1]);
    return (pid_t)pid;
}

struct outside {
    uint64_t own_ino[NNS], child_ino[NNS];
    dev_t mnt_dev;
    char proc_dir[32];
};

/* Outside view: distinct, stable namespaces; the child's hostname and
 * tmpfs do not leak out; the child's clock is a day ahead. */
static void check_outside(const struct outside *o)
{
    uint64_t own[NNS], kid[NNS];
    char host[256];
    struct stat st;

    if (ns_inodes("/proc/self", own) != 0 || ns_inodes(o->proc_dir, kid) != 0) {
        check_fail("ns inodes: %s", strerror(errno));
        return;
    }
    for (int i = 0; i < nns; i++) {
        if (own[i] != o->own_ino[i] || kid[i] != o->child_ino[i])
            check_fail("%s namespace inode changed", ns_names[i]);
        /* The checker stays in its old time namespace: that differs too. */
        if (kid[i] == own[i])
            check_fail("child shares the %s namespace", ns_names[i]);
    }
    if (gethostname(host, sizeof(host)) == 0 && strcmp(host, NS_HOSTNAME) == 0)
        check_fail("the child's hostname leaked out");
    if (stat(MNT_DIR, &st) != 0 || st.st_dev != o->mnt_dev)
        check_fail("the child's tmpfs mount leaked out");
    if (nns < NNS)
        return;
    double skew = atomic_load(&sh->mono) - clock_s(CLOCK_MONOTONIC) - TIME_OFFSET_S;
    if (skew > 30.0 || skew < -30.0)
        check_fail("child's monotonic clock is %.1f s off the %d s offset", skew, TIME_OFFSET_S);
}

static void check_child_progress(pid_t pid, unsigned long long *last,
                                 struct check_silence *silent)
{
    int status;
    unsigned long long rounds = atomic_load(&sh->rounds);

    if (waitpid(pid, &status, WNOHANG) == pid && !check_stop_requested)
        check_die("namespace child exited (status %#x)", status);
    if (check_silent(silent, rounds != *last, SILENT_ROUNDS))
        check_fail("namespace child stalled at round %llu", rounds);
    *last = rounds;
}

/* Waits for the child's first round, however long its setup takes: a
 * new net namespace (every pernet init of the full kernel) and the rest
 * took up to 9 s of guest time in a Debian guest starting 21 checkers on
 * a loaded host, and a fixed limit (once 10 s) failed the checker there.
 * A child that dies says why itself (check_die); one that is slow is
 * reported every CHECK_SILENT_S seconds, never failed. */
static void wait_child_started(pid_t pid)
{
    double next_info = check_now() + CHECK_SILENT_S;
    int status;

    while (atomic_load(&sh->rounds) == 0 && check_running()) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            check_die("namespace child exited before its first round (status %#x)", status);
        if (check_now() >= next_info) {
            check_line("info", "namespace child still setting up after %.0f s",
                       check_now() - check.start);
            next_info = check_now() + CHECK_SILENT_S;
        }
        check_sleep_ms(10);
    }
}

/* Kills the child, prints the summary, returns the exit status. */
static int stop_child(pid_t pid, unsigned long long rounds)
{
    char extra[64];

    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    check.failures += atomic_exchange(&sh->failures, 0);
    snprintf(extra, sizeof(extra), "child_rounds=%llu", rounds);
    return check_finish(extra);
}

int main(int argc, char **argv)
{
    struct outside o;
    struct stat st;
    unsigned long long last = 0;
    struct check_silence silent = { 0, 0.0 };
    char extra[64];

    check_init("nscheck", argc, argv);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        check_die("mmap: %s", strerror(errno));
    if (mkdir(MNT_DIR, 0700) != 0 && errno != EEXIST)
        check_die("mkdir " MNT_DIR ": %s", strerror(errno));
    if (stat(MNT_DIR, &st) != 0)
        check_die("stat " MNT_DIR ": %s", strerror(errno));
    o.mnt_dev = st.st_dev;
    int have_time = enter_time_ns();
    double t0 = check_now();
    pid_t pid = start_child();
    double t1 = check_now();
    snprintf(o.proc_dir, sizeof(o.proc_dir), "/proc/%d", (int)pid);
    wait_child_started(pid);
    if (!check_running())
        return stop_child(pid, 0);
    if (ns_inodes("/proc/self", o.own_ino) != 0 || ns_inodes(o.proc_dir, o.child_ino) != 0)
        check_die("ns inodes: %s", strerror(errno));
    check_line("start", "pid=%d child=%d time=%s clone_ms=%.0f setup_ms=%.0f", (int)getpid(),
               (int)pid, have_time ? "yes" : "no", (t1 - t0) * 1e3, (check_now() - t1) * 1e3);
    while (check_running()) {
        check_child_progress(pid, &last, &silent);
        check_outside(&o);
        check.failures += atomic_exchange(&sh->failures, 0);
        snprintf(extra, sizeof(extra), "child_rounds=%llu", last);
        check_round_done(extra);
        check_sleep_ms(100);
    }
    return stop_child(pid, last);
}
