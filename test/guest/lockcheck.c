/*
 * lockcheck [common options] [FILE]
 *
 * A forked holder takes three kinds of lock on FILE (default
 * lockcheck.dat in the current directory) and keeps them:
 *   - a POSIX record lock (fcntl F_SETLK, write) on bytes 0-99,
 *   - an open file description lock (F_OFD_SETLK, write) on bytes 100-199,
 *   - a BSD lock (flock LOCK_EX) on the whole file.
 * Every round the checker, a second process, must fail to take each of
 * them (EAGAIN/EACCES/EWOULDBLOCK), F_GETLK must name the holder's pid
 * for the record lock, and bytes 200-299, which nobody holds, must be
 * lockable and unlockable.  A lock lost in a restore, or a second locker
 * suddenly succeeding, is reported; so is a dead holder.
 */
#include "check.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>

static struct flock range(short type, off_t start)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = 100;
    return fl;
}

static int open_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0)
        check_die("open %s: %s", path, strerror(errno));
    return fd;
}

/* Child: takes the locks, says so on the pipe, then waits to be killed. */
static void holder(const char *path, int ready_fd, pid_t parent)
{
    int fd = open_file(path), ofd = open_file(path);
    struct flock rec = range(F_WRLCK, 0), ofl = range(F_WRLCK, 100);

    if (fcntl(fd, F_SETLK, &rec) != 0)
        check_die("holder F_SETLK: %s", strerror(errno));
    if (fcntl(ofd, F_OFD_SETLK, &ofl) != 0)
        check_die("holder F_OFD_SETLK: %s", strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        check_die("holder flock: %s", strerror(errno));
    if (write(ready_fd, "r", 1) != 1)
        _exit(2);
    while (getppid() == parent)
        check_sleep_ms(200);
    _exit(0);
}

static int lock_busy(int err)
{
    return err == EAGAIN || err == EACCES || err == EWOULDBLOCK;
}

static void check_record_lock(int fd, pid_t holder_pid)
{
    struct flock fl = range(F_WRLCK, 0), probe = range(F_WRLCK, 0);

    if (fcntl(fd, F_SETLK, &fl) == 0)
        check_fail("record lock 0-99 taken by a second process");
    else if (!lock_busy(errno))
        check_fail("F_SETLK: %s", strerror(errno));
    if (fcntl(fd, F_GETLK, &probe) != 0)
        check_fail("F_GETLK: %s", strerror(errno));
    else if (probe.l_type != F_WRLCK || probe.l_pid != holder_pid)
        check_fail("F_GETLK 0-99: type %d pid %d, want write lock of %d", probe.l_type,
                   (int)probe.l_pid, (int)holder_pid);
}

static void check_ofd_lock(int fd)
{
    struct flock fl = range(F_WRLCK, 100), probe = range(F_WRLCK, 100);

    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
        check_fail("OFD lock 100-199 taken by a second process");
    else if (!lock_busy(errno))
        check_fail("F_OFD_SETLK: %s", strerror(errno));
    if (fcntl(fd, F_OFD_GETLK, &probe) != 0)
        check_fail("F_OFD_GETLK: %s", strerror(errno));
    else if (probe.l_type != F_WRLCK || probe.l_pid != -1)
        check_fail("F_OFD_GETLK 100-199: type %d pid %d, want an OFD write lock", probe.l_type,
                   (int)probe.l_pid);
}

static void check_flock(int fd)
{
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        check_fail("flock taken by a second process");
        flock(fd, LOCK_UN);
    } else if (!lock_busy(errno)) {
        check_fail("flock: %s", strerror(errno));
    }
}

/* Locking must still work at all: a free range locks and unlocks. */
static void check_free_range(int fd)
{
    struct flock fl = range(F_WRLCK, 200), un = range(F_UNLCK, 200);

    if (fcntl(fd, F_SETLK, &fl) != 0)
        check_fail("free range 200-299 not lockable: %s", strerror(errno));
    else if (fcntl(fd, F_SETLK, &un) != 0)
        check_fail("unlock 200-299: %s", strerror(errno));
}

static pid_t start_holder(const char *path)
{
    int p[2];
    char c;

    if (pipe(p) != 0)
        check_die("pipe: %s", strerror(errno));
    pid_t parent = getpid(), pid = fork();
    if (pid < 0)
        check_die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        holder(path, p[1], parent);
    }
    close(p[1]);
    if (read(p[0], &c, 1) != 1)
        check_die("holder did not take its locks");
    close(p[0]);
    return pid;
}

static void check_holder_alive(pid_t pid)
{
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);

    if (r == pid && !check_stop_requested)
        check_die("lock holder exited (status %#x)", status);
}

int main(int argc, char **argv)
{
    int i = check_init("lockcheck", argc, argv);
    const char *path = i < argc ? argv[i] : "lockcheck.dat";

    pid_t pid = start_holder(path);
    int fd = open_file(path);
    check_line("start", "pid=%d holder=%d file=%s", (int)getpid(), (int)pid, path);
    while (check_running()) {
        check_holder_alive(pid);
        check_record_lock(fd, pid);
        check_ofd_lock(fd);
        check_flock(fd);
        check_free_range(fd);
        check_round_done(NULL);
        check_sleep_ms(100);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return check_finish(NULL);
}
