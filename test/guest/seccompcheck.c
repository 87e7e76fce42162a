/*
 * seccompcheck [common options]
 *
 * Installs a seccomp BPF filter on itself (after PR_SET_NO_NEW_PRIVS)
 * and checks every round that it still applies:
 *   - getppid fails with EPERM (SECCOMP_RET_ERRNO),
 *   - getpgid(4242) fails with EXDEV (the filter looks at the argument),
 *     while getpgid(0) still works,
 *   - getpid and other syscalls are untouched,
 *   - /proc/self/status says "Seccomp: 2" (filter mode),
 *   - a child forked now inherits the filter (its getppid fails too).
 * A machine whose kernel lacks seccomp filters fails at the start.
 */
#include "check.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAGIC_PGID 4242
#define FORK_EVERY 50 /* rounds between inheritance checks */

static void install_filter(void)
{
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getpgid, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MAGIC_PGID, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EXDEV),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fprog = { (unsigned short)(sizeof(prog) / sizeof(prog[0])), prog };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        check_die("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
        check_die("seccomp SET_MODE_FILTER: %s", strerror(errno));
}

/* 0 when the filter's verdicts are all as installed. */
static int filter_verdicts(const char **what)
{
    static char msg[96];
    long r;

    errno = 0;
    if ((r = syscall(__NR_getppid)) != -1 || errno != EPERM) {
        snprintf(msg, sizeof(msg), "getppid not refused with EPERM: returned %ld errno %d", r,
                 errno);
        *what = msg;
        return -1;
    }
    errno = 0;
    if ((r = syscall(__NR_getpgid, MAGIC_PGID)) != -1 || errno != EXDEV) {
        snprintf(msg, sizeof(msg), "getpgid(4242) not refused with EXDEV: returned %ld errno %d",
                 r, errno);
        *what = msg;
        return -1;
    }
    if (syscall(__NR_getpgid, 0) < 0) {
        *what = "getpgid(0) refused";
        return -1;
    }
    if (syscall(__NR_getpid) <= 0) {
        *what = "getpid refused";
        return -1;
    }
    return 0;
}

static void check_status_mode(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        check_fail("open /proc/self/status: %s", strerror(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        check_fail("read /proc/self/status: %s", n < 0 ? strerror(errno) : "empty");
        return;
    }
    buf[n] = '\0';
    if (!strstr(buf, "\nSeccomp:\t2\n"))
        check_fail("/proc/self/status does not say Seccomp: 2");
}

/* A child forked now carries the filter: it exits 0 when it does. */
static void check_inherited(void)
{
    const char *what = NULL;
    int status;
    pid_t pid = fork();

    if (pid < 0) {
        check_fail("fork: %s", strerror(errno));
        return;
    }
    if (pid == 0)
        _exit(filter_verdicts(&what) == 0 ? 0 : 1);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            check_fail("waitpid: %s", strerror(errno));
            return;
        }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        check_fail("forked child lacks the filter (status %#x)", status);
}

int main(int argc, char **argv)
{
    const char *what = NULL;
    unsigned long long forks = 0;
    char extra[64];

    check_init("seccompcheck", argc, argv);
    install_filter();
    check_line("start", "pid=%d", (int)getpid());
    while (check_running()) {
        if (filter_verdicts(&what) != 0)
            check_fail("%s", what);
        check_status_mode();
        if (check.iteration % FORK_EVERY == 0) {
            check_inherited();
            forks++;
        }
        snprintf(extra, sizeof(extra), "forks=%llu", forks);
        check_round_done(extra);
        check_sleep_ms(100);
    }
    snprintf(extra, sizeof(extra), "forks=%llu", forks);
    return check_finish(extra);
}
