/*
 * rseqcheck [common options]
 *
 * Restartable sequences (rseq(2)) keep working: the checker registers its
 * own rseq area (after unregistering the one a static glibc registered at
 * start-up, if any: one area per thread) and every round, for about 50 ms,
 * it and a child forked for the round (which inherits the registration)
 * increment one shared counter with a restartable critical section:
 *
 *     load counter; spin a while; store counter + 1   (the commit)
 *
 * (both bound to one CPU: rseq is atomic per CPU)
 * while a 1 ms interval timer interrupts the checker and its handler adds
 * to the same counter atomically.  The kernel must abort a section that a
 * signal or a preemption interrupted (the abort handler, behind the
 * RSEQ_SIG signature, counts the abort and the section is retried);
 * otherwise a stale store loses increments.  After the round the counter
 * must equal commits of both processes plus the handler's additions, and
 * cpu_id of both areas must be a valid CPU number equal to cpu_id_start.
 * Aborts must be seen (the sections are long and the timer frequent):
 * none in the first ABORT_ROUNDS rounds is a failure.  A kernel without
 * rseq fails at the start.
 */
#include "check.h"

#include <sched.h>
#include <sys/mman.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#define ROUND_MS 50
#define SPIN 2000
#define ABORT_ROUNDS 40
#define GIVE_UP_S 20.0

struct shared {
    volatile long counter;
    volatile long handler_adds; /* only the handler writes it */
    long child_commits, child_aborts;
    int child_cpu_bad;
};

/* cpu_id starts as RSEQ_CPU_ID_UNINITIALIZED: only the kernel makes it valid */
static struct rseq area __attribute__((aligned(32))) = { .cpu_id = (uint32_t)-1 };
static struct shared *sh;
static long ncpus;

static int sys_rseq(struct rseq *r, unsigned int len, int flags)
{
    return (int)syscall(__NR_rseq, r, len, flags, RSEQ_SIG);
}

static void on_alarm(int sig)
{
    (void)sig;
    __atomic_fetch_add(&sh->counter, 1, __ATOMIC_SEQ_CST);
    sh->handler_adds++;
}

/*
 * One attempt: 1 when the increment committed, 0 when the kernel aborted
 * the section.  The descriptor lives in __rseq_cs; the abort handler in
 * __rseq_failure is preceded by the signature the kernel checks.
 */
static int rseq_increment(volatile long *v)
{
    __asm__ __volatile__ goto(
        ".pushsection __rseq_cs, \"aw\"\n\t"
        ".balign 32\n\t"
        "3:\n\t"
        ".long 0x0, 0x0\n\t"
        ".quad 1f, (2f - 1f), 4f\n\t"
        ".popsection\n\t"
        "leaq 3b(%%rip), %%rax\n\t"
        "movq %%rax, %[rseq_cs]\n\t"
        "1:\n\t"
        "movq %[v], %%rbx\n\t"
        "movl %[spin], %%ecx\n\t"
        "5:\n\t"
        "pause\n\t"
        "decl %%ecx\n\t"
        "jnz 5b\n\t"
        "incq %%rbx\n\t"
        "movq %%rbx, %[v]\n\t"
        "2:\n\t"
        ".pushsection __rseq_failure, \"ax\"\n\t"
        ".long 0x53053053\n\t"
        "4:\n\t"
        "jmp %l[aborted]\n\t"
        ".popsection\n\t"
        :
        : [rseq_cs] "m"(area.rseq_cs), [v] "m"(*v), [spin] "i"(SPIN)
        : "memory", "cc", "rax", "rbx", "rcx"
        : aborted);
    return 1;
aborted:
    return 0;
}

static int cpu_ok(void)
{
    int32_t cpu = (int32_t)area.cpu_id;

    return cpu >= 0 && cpu < ncpus && (uint32_t)cpu == area.cpu_id_start;
}

/* Increments for ROUND_MS and until one commit went through (a loaded
 * host may stretch a section over many guest ticks), at most
 * GIVE_UP_S; returns the commits, adds the aborts. */
static long work(long *aborts)
{
    double start = check_now();
    long commits = 0;

    for (double now = start; now < start + ROUND_MS / 1000.0 || commits == 0; now = check_now()) {
        if (now > start + GIVE_UP_S)
            break;
        if (rseq_increment(&sh->counter))
            commits++;
        else
            (*aborts)++;
    }
    return commits;
}

__attribute__((noreturn)) static void child_round(void)
{
    long aborts = 0;

    sh->child_commits = work(&aborts);
    sh->child_aborts = aborts;
    sh->child_cpu_bad = !cpu_ok();
    _exit(0);
}

static void set_timer(long usec)
{
    struct itimerval it = { { 0, usec }, { 0, usec } };

    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        check_die("setitimer: %s", strerror(errno));
}

/* One round; returns the aborts seen by both processes. */
static long round_once(void)
{
    long aborts = 0;
    int status;

    sh->counter = 0;
    sh->handler_adds = 0;
    sh->child_commits = sh->child_aborts = 0;
    sh->child_cpu_bad = 1;
    pid_t pid = fork();
    if (pid < 0)
        check_die("fork: %s", strerror(errno));
    if (pid == 0)
        child_round();
    set_timer(1000);
    long commits = work(&aborts);
    set_timer(0);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            check_die("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        check_fail("round child ended with status %#x", status);
    if (!cpu_ok())
        check_fail("cpu_id %d cpu_id_start %u not a valid cpu (of %ld)", (int)area.cpu_id,
                   area.cpu_id_start, ncpus);
    if (sh->child_cpu_bad)
        check_fail("the child's cpu_id is not a valid cpu");
    long want = commits + sh->child_commits + sh->handler_adds;
    if (sh->counter != want)
        check_fail("counter %ld, want %ld (commits %ld + %ld, handler %ld): a section was not aborted",
                   sh->counter, want, commits, sh->child_commits,
                   sh->handler_adds);
    if (commits == 0 || sh->child_commits == 0)
        check_fail("no commit in the round (checker %ld, child %ld)", commits, sh->child_commits);
    return aborts + sh->child_aborts;
}

/* rseq makes a section atomic with respect to its own CPU only: the
 * checker and its round children share one (the child inherits it). */
static void pin_to_one_cpu(void)
{
    cpu_set_t set;
    int cpu = sched_getcpu();

    CPU_ZERO(&set);
    CPU_SET(cpu < 0 ? 0 : cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        check_die("sched_setaffinity: %s", strerror(errno));
}

static void register_area(void)
{
    if (__rseq_size > 0) {
        struct rseq *glibc_area = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);

        if (sys_rseq(glibc_area, 32, RSEQ_FLAG_UNREGISTER) != 0)
            check_die("unregister glibc's rseq area: %s", strerror(errno));
        check_line("info", "unregistered glibc's rseq area");
    }
    if (sys_rseq(&area, 32, 0) != 0)
        check_die("rseq register: %s", strerror(errno));
    if (sys_rseq(&area, 32, 0) == 0 || errno != EBUSY)
        check_die("a second registration did not fail with EBUSY: %s", strerror(errno));
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    long aborts = 0;
    uint64_t rounds = 0;
    char extra[96];

    check_init("rseqcheck", argc, argv);
    ncpus = sysconf(_SC_NPROCESSORS_CONF);
    if (ncpus < 1)
        ncpus = 1;
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        check_die("mmap: %s", strerror(errno));
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        check_die("sigaction: %s", strerror(errno));
    pin_to_one_cpu();
    register_area();
    check_line("start", "pid=%d cpu_id=%d ncpus=%ld", (int)getpid(), (int)area.cpu_id, ncpus);
    while (check_running()) {
        aborts += round_once();
        rounds++;
        if (rounds == ABORT_ROUNDS && aborts == 0)
            check_fail("no critical section aborted in %d rounds", ABORT_ROUNDS);
        snprintf(extra, sizeof(extra), "aborts=%ld cpu_id=%d", aborts, (int)area.cpu_id);
        check_round_done(extra);
        check_sleep_ms(50);
    }
    snprintf(extra, sizeof(extra), "aborts=%ld", aborts);
    return check_finish(extra);
}
