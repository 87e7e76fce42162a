/*
 * forktree [common options] [DEPTH [FANOUT]]
 *
 * Builds a process tree DEPTH levels below the root (default 2) with
 * FANOUT children per node (default 2), i.e. 7 processes by default.
 * Every non-root node sends its parent a heartbeat through a pipe about
 * every 100 ms: a sequence number, the number of live processes in its
 * subtree and the failures seen there.  Each node checks that sequence
 * numbers from each child advance by exactly one and reports a child
 * that exits, closes its pipe or stays silent for 30 rounds and 10 s as lost.
 * The root checks that the whole tree is alive.
 */
#include "check.h"

#include <fcntl.h>
#include <sys/wait.h>

#define MAX_FANOUT 8
#define MAX_DEPTH 4
#define SILENT_ROUNDS 30
/*
 * Rounds (of at least 100 ms) the whole tree may take to report in at
 * start: a Debian guest starting 21 checkers and systemd's units at once
 * on its one CPU took more than 30 in CI, so this is a generous bound on
 * a broken fork, not a speed test.
 */
#define SETTLE_ROUNDS 600

struct heartbeat {
    uint64_t seq;
    uint64_t subtree;  /* live processes in the sender's subtree */
    uint64_t failures; /* failures reported in the sender's subtree */
};

struct child {
    pid_t pid;
    int fd; /* read end, -1 once lost */
    uint64_t last_seq;
    struct heartbeat latest;
    struct check_silence silent;
};

struct node {
    int depth;
    int fanout;
    int nchildren;
    struct child kids[MAX_FANOUT];
    uint64_t seq;
};

static int max_depth;

static void node_run(struct node *n, int up_fd, pid_t parent);

static uint64_t tree_size(int depth, int fanout)
{
    uint64_t size = 1;

    for (int d = 0; d < depth; d++)
        size = size * (uint64_t)fanout + 1;
    return size;
}

static void spawn_children(struct node *n)
{
    pid_t self = getpid();

    for (int i = 0; i < n->fanout; i++) {
        int p[2];
        if (pipe(p) != 0)
            check_die("pipe: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
            check_die("fork: %s", strerror(errno));
        if (pid == 0) {
            close(p[0]);
            for (int k = 0; k < n->nchildren; k++)
                close(n->kids[k].fd); /* siblings' pipes are not ours */
            struct node child = { .depth = n->depth + 1, .fanout = n->fanout };
            node_run(&child, p[1], self);
        }
        close(p[1]);
        if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0)
            check_die("fcntl: %s", strerror(errno));
        n->kids[n->nchildren++] = (struct child){ .pid = pid, .fd = p[0] };
    }
}

static void lose_child(struct node *n, struct child *c, const char *why)
{
    /* During shutdown children going away is expected. */
    if (!check_stop_requested)
        check_fail("lost child pid %d at depth %d: %s", (int)c->pid, n->depth + 1, why);
    close(c->fd);
    c->fd = -1;
    c->latest.subtree = 0;
}

/* Drains one child's pipe and checks the heartbeat sequence. */
static void read_child(struct node *n, struct child *c)
{
    struct heartbeat hb;
    int got = 0;

    for (;;) {
        ssize_t r = read(c->fd, &hb, sizeof(hb));
        if (r == sizeof(hb)) {
            if (hb.seq != c->last_seq + 1)
                check_fail("child pid %d heartbeat %llu after %llu", (int)c->pid,
                           (unsigned long long)hb.seq, (unsigned long long)c->last_seq);
            c->last_seq = hb.seq;
            c->latest = hb;
            got = 1;
            continue;
        }
        if (r == 0) {
            lose_child(n, c, "pipe closed");
            return;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;
        /* Heartbeats are smaller than PIPE_BUF, so never split. */
        check_fail("child pid %d: bad read (%zd, %s)", (int)c->pid, r, strerror(errno));
        break;
    }
    /* A child not heard from yet may still be starting on a busy guest. */
    if (check_silent(&c->silent, got, c->last_seq == 0 ? SETTLE_ROUNDS : SILENT_ROUNDS))
        lose_child(n, c, c->last_seq == 0 ? "never heard from" : "silent for 30 rounds and 10 s");
}

/* Reads all children; returns the live process count of this subtree. */
static struct heartbeat poll_children(struct node *n)
{
    struct heartbeat sum = { 0, 1, check.failures };

    for (int i = 0; i < n->nchildren && !check_stop_requested; i++) {
        struct child *c = &n->kids[i];
        if (c->fd < 0)
            continue;
        read_child(n, c);
        sum.subtree += c->latest.subtree;
        sum.failures += c->latest.failures;
    }
    return sum;
}

static void stop_children(struct node *n)
{
    for (int i = 0; i < n->nchildren; i++)
        kill(n->kids[i].pid, SIGTERM);
    for (int i = 0; i < n->nchildren; i++)
        while (waitpid(n->kids[i].pid, NULL, 0) < 0 && errno == EINTR)
            ;
}

/* Non-root node: heartbeat upwards until stopped or orphaned. */
static void node_run(struct node *n, int up_fd, pid_t parent)
{
    if (n->depth < max_depth)
        spawn_children(n);
    while (!check_stop_requested && getppid() == parent) {
        check_sleep_ms(100);
        struct heartbeat hb = poll_children(n);
        hb.seq = ++n->seq;
        if (write(up_fd, &hb, sizeof(hb)) != (ssize_t)sizeof(hb) && errno != EINTR)
            break; /* parent gone */
    }
    stop_children(n);
    _exit(0);
}

int main(int argc, char **argv)
{
    int i = check_init("forktree", argc, argv);
    struct node root = { .depth = 0 };
    char extra[96];

    max_depth = i < argc ? (int)check_parse_u64("depth", argv[i]) : 2;
    root.fanout = i + 1 < argc ? (int)check_parse_u64("fanout", argv[i + 1]) : 2;
    if (max_depth < 1 || max_depth > MAX_DEPTH || root.fanout < 1 || root.fanout > MAX_FANOUT)
        check_die("depth must be 1..%d and fanout 1..%d", MAX_DEPTH, MAX_FANOUT);
    /* A write to a dead parent's pipe must fail, not kill the node. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        check_die("signal: %s", strerror(errno));
    uint64_t want = tree_size(max_depth, root.fanout);
    check_line("start", "pid=%d depth=%d fanout=%d procs=%llu", (int)getpid(), max_depth,
               root.fanout, (unsigned long long)want);
    spawn_children(&root);

    uint64_t live = 0, reported = want, child_failures = 0;
    int settled = 0;
    while (check_running()) {
        check_sleep_ms(100);
        struct heartbeat hb = poll_children(&root);
        if (check_stop_requested)
            break;
        live = hb.subtree;
        child_failures = hb.failures - check.failures;
        /* Grandchildren need a round or two to report in at start. */
        settled = settled || live == want;
        if (!settled && check.iteration == SETTLE_ROUNDS)
            check_fail("tree never reached %llu processes", (unsigned long long)want);
        if (settled && live != want && live != reported) /* once per change */
            check_fail("tree has %llu live processes, want %llu", (unsigned long long)live,
                       (unsigned long long)want);
        reported = live;
        if (live != want) {
            check.iteration++; /* count the round, but never "ok" */
            continue;
        }
        snprintf(extra, sizeof(extra), "procs=%llu", (unsigned long long)live);
        check_round_done(extra);
    }
    stop_children(&root);
    check.failures += child_failures; /* FAIL lines printed by descendants */
    snprintf(extra, sizeof(extra), "procs=%llu", (unsigned long long)live);
    return check_finish(extra);
}
