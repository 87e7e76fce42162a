/*
 * ptracecheck [common options]
 *
 * A forked child is attached with PTRACE_SEIZE and spends most of its
 * time stopped: each round the tracer
 *   - finds it in a ptrace stop (waitpid reports it stopped),
 *   - reads its counter and a pattern array with PTRACE_PEEKDATA: the
 *     pattern never changes, the counter only grows,
 *   - writes a fresh token into the child with PTRACE_POKEDATA, which the
 *     child copies to its "echo" word once running,
 *   - checks that the child, if it ran since, echoed the previous
 *     round's token (the child must run at least every SILENT_ROUNDS),
 *   - lets it run (PTRACE_CONT) for about 10 ms and stops it again with
 *     PTRACE_INTERRUPT.
 * So a save may catch the child stopped or running; after a restore the
 * tracee must still be traced, stoppable and show the right memory.
 */
#include "check.h"

#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#define PATTERN_WORDS 64
#define SILENT_ROUNDS 50 /* rounds in which the tracee never ran = stuck */

/* The tracee's memory the tracer inspects (same addresses in both after
 * fork). */
static volatile uint64_t tracee_counter;
static volatile uint64_t tracee_token;
static volatile uint64_t tracee_echo;
static uint64_t tracee_pattern[PATTERN_WORDS];

/* Echo before count, twice per wake-up: a counter that moved by 2 or
 * more since a poke proves one whole pair ran with the poked token.  It
 * sleeps in between so that it costs the guest next to no CPU. */
__attribute__((noreturn)) static void tracee(void)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        _exit(2);
    for (;;) {
        tracee_echo = tracee_token;
        tracee_counter++;
        tracee_echo = tracee_token;
        tracee_counter++;
        check_sleep_ms(1);
    }
}

/* Addresses travel as integers: the tracer never dereferences them. */
static long peek(pid_t pid, uintptr_t addr, int *ok)
{
    errno = 0;
    long v = ptrace(PTRACE_PEEKDATA, pid, addr, NULL);
    if (v == -1 && errno != 0) {
        check_fail("PEEKDATA %#lx: %s", (unsigned long)addr, strerror(errno));
        *ok = 0;
    }
    return v;
}

/* Waits for the tracee's next stop; 0 when it is stopped. */
static int wait_stopped(pid_t pid)
{
    int status;
    pid_t r;

    while ((r = waitpid(pid, &status, __WALL)) < 0 && errno == EINTR)
        if (check_stop_requested)
            return -1;
    if (r != pid) {
        check_fail("waitpid tracee: %s", strerror(errno));
        return -1;
    }
    if (!WIFSTOPPED(status)) {
        check_fail("tracee not stopped but status %#x", status);
        return -1;
    }
    return 0;
}

static void check_memory(pid_t pid, uint64_t *last_counter)
{
    int ok = 1;

    for (int i = 0; i < PATTERN_WORDS && ok; i++) {
        uint64_t v = (uint64_t)peek(pid, (uintptr_t)&tracee_pattern[i], &ok);
        if (ok && v != tracee_pattern[i]) {
            check_fail("tracee pattern word %d is %016llx, want %016llx", i,
                       (unsigned long long)v, (unsigned long long)tracee_pattern[i]);
            ok = 0;
        }
    }
    uint64_t counter = (uint64_t)peek(pid, (uintptr_t)&tracee_counter, &ok);
    if (ok && counter < *last_counter)
        check_fail("tracee counter went back from %llu to %llu",
                   (unsigned long long)*last_counter, (unsigned long long)counter);
    if (ok)
        *last_counter = counter;
}

/* A child that ran copied the token poked last round into its echo word;
 * then it gets the next token. */
static void check_echo(pid_t pid, uint64_t round, int ran)
{
    int ok = 1;
    uint64_t echo = (uint64_t)peek(pid, (uintptr_t)&tracee_echo, &ok);

    if (ok && ran && round > 1 && echo != check_mix64(round - 1))
        check_fail("tracee echoed %016llx, want token of round %llu", (unsigned long long)echo,
                   (unsigned long long)(round - 1));
    if (ptrace(PTRACE_POKEDATA, pid, (uintptr_t)&tracee_token, check_mix64(round)) != 0)
        check_fail("POKEDATA: %s", strerror(errno));
}

static pid_t start_tracee(void)
{
    pid_t pid = fork();

    if (pid < 0)
        check_die("fork: %s", strerror(errno));
    if (pid == 0)
        tracee();
    if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) != 0)
        check_die("PTRACE_SEIZE: %s", strerror(errno));
    if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) != 0)
        check_die("PTRACE_INTERRUPT: %s", strerror(errno));
    return pid;
}

int main(int argc, char **argv)
{
    uint64_t last_counter = 0, running_counter = 0;
    struct check_silence silent = { 0, 0.0 };
    char extra[96];

    check_init("ptracecheck", argc, argv);
    for (int i = 0; i < PATTERN_WORDS; i++)
        tracee_pattern[i] = check_mix64(0x7074726163650000ULL + (uint64_t)i);
    pid_t pid = start_tracee();
    check_line("start", "pid=%d tracee=%d", (int)getpid(), (int)pid);
    while (check_running()) {
        if (wait_stopped(pid) != 0)
            break;
        uint64_t round = check.iteration + 1;
        uint64_t before = last_counter;
        check_memory(pid, &last_counter);
        int ran = last_counter >= before + 2;
        check_echo(pid, round, ran);
        if (check_silent(&silent, ran, SILENT_ROUNDS))
            check_fail("tracee counter stuck at %llu for %d rounds: it does not run",
                       (unsigned long long)before, SILENT_ROUNDS);
        running_counter = last_counter;
        snprintf(extra, sizeof(extra), "tracee_counter=%llu", (unsigned long long)running_counter);
        check_round_done(extra);
        if (ptrace(PTRACE_CONT, pid, NULL, NULL) != 0)
            check_die("PTRACE_CONT: %s", strerror(errno));
        check_sleep_ms(10);
        if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) != 0)
            check_die("PTRACE_INTERRUPT: %s", strerror(errno));
        check_sleep_ms(90);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
        ;
    snprintf(extra, sizeof(extra), "tracee_counter=%llu", (unsigned long long)running_counter);
    return check_finish(extra);
}
