/* SPDX-License-Identifier: MIT */
/*
 * Launching UML kernels and killing them with every host process they own.
 *
 * The child between fork() and exec() only makes async-signal-safe system
 * calls: argv and envp are built before fork.  Failures in the child are
 * written as {stage, errno} to a CLOEXEC pipe; EOF on it means exec worked.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsat.h"
#include "jail.h"
#include "log.h"
#include "uml.h"
#include "util.h"

#define UML_ENV_PATH	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define UML_MAX_ARGS	(32 + UML_MAX_DISKS)
#define UML_MAX_TREE	1024	/* processes collected by uml_kill_tree */
/* The child's own fds (errfd, copies being moved) start above the kernel's. */
#define UML_CHILD_FD_LOW	(UML_PAGER_FD + 1)

/* Where the child failed, reported to the parent. */
enum uml_stage {
	UML_STAGE_SETSID,
	UML_STAGE_CHDIR,
	UML_STAGE_DEVNULL,
	UML_STAGE_CONSOLE,
	UML_STAGE_FDS,
	UML_STAGE_SIGNALS,
	UML_STAGE_JAIL,
	UML_STAGE_ACCESS,
	UML_STAGE_EXEC,
};

static const char *const uml_stage_names[] = {
	[UML_STAGE_SETSID] = "setsid",
	[UML_STAGE_CHDIR] = "chdir to the machine directory",
	[UML_STAGE_DEVNULL] = "set up the console input",
	[UML_STAGE_CONSOLE] = "open console.log",
	[UML_STAGE_FDS] = "set up stdin/stdout/stderr",
	[UML_STAGE_SIGNALS] = "reset signals",
	[UML_STAGE_JAIL] = "drop privileges to user " JAIL_USER,
	[UML_STAGE_ACCESS] = "open as user " JAIL_USER,
	[UML_STAGE_EXEC] = "exec the kernel",
};

struct uml_child_error {
	int	stage;
	int	err;
	int	what;	/* UML_STAGE_ACCESS: -1 capture, 0 kernel, 1 image, 2.. disks */
};

/* Check one file the launch needs; see uml.h. */
int
uml_check_file(const char *what, const char *path, bool exec, char *err,
    size_t errlen)
{
	struct stat	st;

	if (path == NULL || path[0] != '/') {
		snprintf(err, errlen, "%s path must be absolute: %s", what,
		    path != NULL ? path : "(none)");
		return (-EINVAL);
	}
	if (stat(path, &st) == -1) {
		int r = -errno;

		snprintf(err, errlen, "%s %s: %s", what, path, strerror(-r));
		return (r);
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s is not a regular file", what, path);
		return (-EINVAL);
	}
	if (access(path, exec ? R_OK | X_OK : R_OK) == -1) {
		int r = -errno;

		snprintf(err, errlen, "%s %s is not %s: %s", what, path,
		    exec ? "executable" : "readable", strerror(-r));
		return (r);
	}
	return (0);
}

/*
 * The command line of a restore: where the capture is, and the new
 * instance's own umid dir, notify socket and disk files (the old ones
 * belong to the machine that was saved).
 */
static char **
uml_build_restore_argv(const struct uml_launch *l, char **argv, size_t n)
{
	argv[n++] = xasprintf("sbuml_restore=%s", l->restore);
	argv[n++] = xasprintf("uml_dir=%s/", l->dir);
	argv[n++] = xstrdup("umid=uml");
	argv[n++] = xasprintf("mconsole=notify:%s/notify.sock", l->dir);
	if (l->physmem_fd > 0)
		argv[n++] = xasprintf("sbuml_physmem_fd=%d", UML_PHYSMEM_FD);
	if (l->uffd_fd > 0)
		argv[n++] = xasprintf("sbuml_uffd_dev=%d", UML_UFFD_FD);
	if (l->pager_fd > 0)
		argv[n++] = xasprintf("sbuml_pager=%d", UML_PAGER_FD);
	for (size_t i = 0; i <= l->ndisks; i++)
		argv[n++] = xasprintf("sbuml_disk=%zu:%s/disk%zu.cow", i, l->dir, i);
	if (l->net_tap != NULL)
		argv[n++] = l->net_mac != NULL ? xasprintf("sbuml_net=eth0,%s,%s",
		    l->net_tap, l->net_mac) : xasprintf("sbuml_net=eth0,%s",
		    l->net_tap);
	argv[n] = NULL;
	return (argv);
}

/* Free an argv from uml_build_argv. */
void
uml_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (size_t i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* Build the UML command line; see uml.h. */
char **
uml_build_argv(const struct uml_launch *l)
{
	char		**argv;
	char		 *words, *w, *save = NULL;
	size_t		  n = 0;

	argv = xcalloc(UML_MAX_ARGS + 1 + strlen(l->cmdline) / 2 + 1,
	    sizeof(*argv));
	argv[n++] = xstrdup(l->kernel);
	if (l->restore != NULL)
		return (uml_build_restore_argv(l, argv, n));
	argv[n++] = xasprintf("mem=%uM", l->mem_mb);
	argv[n++] = xasprintf("ubd0=%s/disk0.cow,%s", l->dir, l->image);
	for (size_t i = 0; i < l->ndisks; i++)
		argv[n++] = xasprintf("ubd%zu=%s/disk%zu.cow,%s", i + 1,
		    l->dir, i + 1, l->disks[i]);
	argv[n++] = xstrdup("root=/dev/ubda");
	argv[n++] = xstrdup("rw");
	/* The trailing slash matters: UML concatenates uml_dir and umid. */
	argv[n++] = xasprintf("uml_dir=%s/", l->dir);
	argv[n++] = xstrdup("umid=uml");
	argv[n++] = xstrdup("con=null");
	/* fd 0 is the console input FIFO (uml_open_input). */
	argv[n++] = xstrdup("con0=fd:0,fd:1");
	argv[n++] = xasprintf("mconsole=notify:%s/notify.sock", l->dir);
	if (l->net_tap != NULL)
		argv[n++] = xasprintf("eth0=tuntap,%s,%s", l->net_tap, l->net_mac);
	if (l->uffd_fd > 0)
		argv[n++] = xasprintf("sbuml_uffd_dev=%d", UML_UFFD_FD);
	/* UML joins its argv into the kernel command line: split on blanks. */
	words = xstrdup(l->cmdline);
	for (w = strtok_r(words, " \t", &save); w != NULL;
	    w = strtok_r(NULL, " \t", &save))
		argv[n++] = xstrdup(w);
	free(words);
	argv[n] = NULL;
	return (argv);
}

/* In the child: report {stage, errno} and die.  Async-signal-safe. */
static void __attribute__((noreturn))
uml_child_fail_what(int errfd, enum uml_stage stage, int what)
{
	struct uml_child_error	e = { .stage = (int)stage, .err = errno,
				    .what = what };

	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

static void __attribute__((noreturn))
uml_child_fail(int errfd, enum uml_stage stage)
{
	uml_child_fail_what(errfd, stage, 0);
}

/*
 * In the child, once jailed: every file UML opens by path must be open to
 * the jail user, or the boot fails here with a message naming the file
 * (and not later in the guest with a less clear one).
 */
static void
uml_child_check_access(const struct uml_launch *l, int errfd)
{
	if (access(l->kernel, X_OK) == -1)
		uml_child_fail_what(errfd, UML_STAGE_ACCESS, 0);
	if (l->restore != NULL && access(l->restore, R_OK | X_OK) == -1)
		uml_child_fail_what(errfd, UML_STAGE_ACCESS, -1);
	if (access(l->image, R_OK) == -1)
		uml_child_fail_what(errfd, UML_STAGE_ACCESS, 1);
	for (size_t i = 0; i < l->ndisks; i++) {
		if (access(l->disks[i], R_OK) == -1)
			uml_child_fail_what(errfd, UML_STAGE_ACCESS, 2 + (int)i);
	}
}

/* In the child: close fds lo..hi (nothing if lo > hi).  Async-signal-safe. */
static void
uml_child_close_range(unsigned int lo, unsigned int hi)
{
	if (lo > hi || close_range(lo, hi, 0) == 0)
		return;
	/* Hosts before 5.9: every fd a process can have (RLIMIT_NOFILE). */
	for (unsigned int fd = lo; fd <= hi && fd < 65536; fd++)
		(void)close(fd);
}

/*
 * The fds a kernel may get beyond stdio sit at fixed numbers in a row from
 * UML_PHYSMEM_FD: physmem, the userfaultfd device, the pager socket.
 */
#define UML_EXTRA_FDS	(UML_PAGER_FD - UML_PHYSMEM_FD + 1)
_Static_assert(UML_UFFD_FD == UML_PHYSMEM_FD + 1 &&
    UML_PAGER_FD == UML_PHYSMEM_FD + 2, "the extra fds are in a row");

/*
 * In the child, once the fds the kernel gets are in place: close every
 * other fd.  Kept: 0-2, each fixed number of the extra fds the launch has
 * (high[i] >= 0), and errfd (above them, close-on-exec).
 */
static void
uml_child_close_fds(const int high[UML_EXTRA_FDS], int errfd)
{
	for (unsigned int i = 0; i < UML_EXTRA_FDS; i++)
		if (high[i] < 0)
			uml_child_close_range(UML_PHYSMEM_FD + i, UML_PHYSMEM_FD + i);
	uml_child_close_range(UML_CHILD_FD_LOW, (unsigned int)errfd - 1);
	uml_child_close_range((unsigned int)errfd + 1, ~0U);
}

/*
 * In the child: a close-on-exec copy of fd at UML_CHILD_FD_LOW or above,
 * where no dup2 to a fixed number (0-2, the extra fds) can
 * replace it, whatever number the parent had it at.  -1 on failure.
 */
static int
uml_child_dup_high(int fd)
{
	return (fcntl(fd, F_DUPFD_CLOEXEC, UML_CHILD_FD_LOW));
}

/*
 * In the child, between fork and exec: own session, no ASLR (restored
 * images need the same layout), cwd DIR, stdio, no inherited fds or
 * signal state.  Never returns.
 */
static void __attribute__((noreturn))
uml_child(const struct uml_launch *l, int console_fd, int input_fd,
    char **argv, char **envp, int pipefd)
{
	struct sigaction	sa;
	struct stat		dir_st, cwd_st;
	sigset_t		all;
	const int		extra[UML_EXTRA_FDS] = { l->physmem_fd, l->uffd_fd,
				    l->pager_fd };
	int			errfd, infd, logfd, high[UML_EXTRA_FDS];

	/*
	 * Every fd the kernel gets is first copied above the fixed numbers
	 * it gets them at (UML_CHILD_FD_LOW), then put in place with dup2:
	 * the parent may hold any of them (the exec-status pipe, physmem,
	 * the device) at 0-4, and a dup2 onto one not yet moved would
	 * replace it.  errfd first, so every failure below is reported.
	 */
	if ((errfd = uml_child_dup_high(pipefd)) == -1)
		_exit(127);
	if (setsid() == -1)
		uml_child_fail(errfd, UML_STAGE_SETSID);
	/* Best effort: a kernel without personality support still boots. */
	(void)personality(ADDR_NO_RANDOMIZE);
	/* The directory the daemon checked (dev/ino), before its fd is closed. */
	if (fstat(l->dir_fd, &dir_st) == -1)
		uml_child_fail(errfd, UML_STAGE_CHDIR);
	umask(077);
	if ((infd = uml_child_dup_high(input_fd)) == -1)
		uml_child_fail(errfd, UML_STAGE_DEVNULL);
	/* Opened by the parent relative to the checked dir (uml_open_console). */
	if ((logfd = uml_child_dup_high(console_fd)) == -1)
		uml_child_fail(errfd, UML_STAGE_CONSOLE);
	for (unsigned int i = 0; i < UML_EXTRA_FDS; i++) {
		high[i] = -1;
		if (extra[i] > 0 && (high[i] = uml_child_dup_high(extra[i])) == -1)
			uml_child_fail(errfd, UML_STAGE_FDS);
	}
	/* dup2 clears FD_CLOEXEC on the copies: the kernel inherits them. */
	if (dup2(infd, 0) == -1 || dup2(logfd, 1) == -1 || dup2(logfd, 2) == -1)
		uml_child_fail(errfd, UML_STAGE_FDS);
	/* Physmem to adopt, the userfaultfd device, the pager socket. */
	for (unsigned int i = 0; i < UML_EXTRA_FDS; i++)
		if (high[i] >= 0 && dup2(high[i], UML_PHYSMEM_FD + (int)i) == -1)
			uml_child_fail(errfd, UML_STAGE_FDS);
	uml_child_close_fds(high, errfd);
	/* From here on, not root: the kernel and everything it opens. */
	if ((errno = -jail_enter()) != 0)
		uml_child_fail(errfd, UML_STAGE_JAIL);
	/*
	 * As the jail user: UML opens DIR/... by path, so it must reach it,
	 * and the path must still name the directory the daemon checked.
	 */
	if (chdir(l->dir) == -1 || stat(".", &cwd_st) == -1)
		uml_child_fail(errfd, UML_STAGE_CHDIR);
	if (cwd_st.st_dev != dir_st.st_dev || cwd_st.st_ino != dir_st.st_ino) {
		errno = ESTALE;
		uml_child_fail(errfd, UML_STAGE_CHDIR);
	}
	uml_child_check_access(l, errfd);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		/* EINVAL for the glibc-reserved RT signals: fine. */
		(void)sigaction(sig, &sa, NULL);
	}
	if (sigemptyset(&all) == -1 || sigprocmask(SIG_SETMASK, &all, NULL) == -1)
		uml_child_fail(errfd, UML_STAGE_SIGNALS);

	execve(argv[0], argv, envp);
	uml_child_fail(errfd, UML_STAGE_EXEC);
}

/*
 * Open DIR/console.log for appending relative to the checked directory fd,
 * never through a symlink, FIFO or hard link a user planted there.  An fd,
 * or -errno with a message in err.
 */
static int
uml_open_console(const struct uml_launch *l, char *err, size_t errlen)
{
	int	fd;

	fd = fs_openat_file(l->dir_fd, "console.log",
	    O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd < 0)
		snprintf(err, errlen, "cannot open %s/console.log: %s", l->dir,
		    fs_strerror(fd));
	return (fd);
}

/*
 * The console input: a FIFO opened for reading and writing, so the UML
 * process that gets it as fd 0 holds a writer itself and never reads end
 * of file, whoever else opens or closes it.  Made under a temporary name
 * in the checked directory and unlinked at once: nothing in the machine
 * directory can be swapped for it, and sbumld reaches it as
 * /proc/<pid>/fd/0 (machine-console.c).  An fd, or -errno with a message
 * in err.
 */
static int
uml_open_input(const struct uml_launch *l, char *err, size_t errlen)
{
	static const char	name[] = ".console-input.tmp";
	struct stat		st;
	int			fd, r;

	if (unlinkat(l->dir_fd, name, 0) == -1 && errno != ENOENT)
		goto fail;
	if (mkfifoat(l->dir_fd, name, 0600) == -1)
		goto fail;
	fd = openat(l->dir_fd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		goto fail;
	/* Ours (a user swapping the name in a path machine's dir is refused). */
	if (fstat(fd, &st) == -1 || !S_ISFIFO(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_nlink != 1) {
		(void)close(fd);
		errno = EPERM;
		goto fail;
	}
	(void)unlinkat(l->dir_fd, name, 0);
	return (fd);
fail:
	r = -errno;
	snprintf(err, errlen, "cannot make the console input FIFO in %s: %s",
	    l->dir, strerror(-r));
	return (r);
}

/* Append a header line to console.log so each boot is visible there. */
static void
uml_console_header(int fd, char **argv)
{
	char	 ts[32], *line, *tmp;
	int	 r;

	iso8601_utc(time(NULL), ts, sizeof(ts));
	line = xasprintf("sbumld: %s: starting", ts);
	for (size_t i = 0; argv[i] != NULL; i++) {
		tmp = xasprintf("%s %s", line, argv[i]);
		free(line);
		line = tmp;
	}
	tmp = xasprintf("%s\n", line);
	free(line);
	if ((r = write_fd_all(fd, tmp, strlen(tmp))) < 0)
		log_debug("console.log: %s, ignoring", strerror(-r));
	free(tmp);
}

/* The path a child's failure report is about. */
static const char *
uml_child_error_path(const struct uml_launch *l, const struct uml_child_error *e)
{
	if (e->stage == UML_STAGE_EXEC)
		return l->kernel;
	if (e->stage != UML_STAGE_ACCESS || e->what == 0)
		return e->stage == UML_STAGE_ACCESS ? l->kernel : l->dir;
	if (e->what == -1 && l->restore != NULL)
		return l->restore;
	if (e->what == 1)
		return l->image;
	if (e->what >= 2 && (size_t)e->what - 2 < l->ndisks)
		return l->disks[e->what - 2];
	return l->dir;
}

/* Validate, fork and exec; see uml.h. */
int
uml_spawn(const struct uml_launch *l, pid_t *ret_pid, char *err, size_t errlen)
{
	struct uml_child_error	 e;
	sigset_t		 all, old;
	char			**argv = NULL, *envp[5] = { NULL };
	struct stat		 st;
	ssize_t			 n;
	pid_t			 pid;
	int			 pipefd[2] = { -1, -1 }, r, status, console = -1;
	int			 input = -1;

	if (l->dir[0] != '/' || fstat(l->dir_fd, &st) == -1 ||
	    !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "machine directory %s is not usable", l->dir);
		return (-ENOTDIR);
	}
	if ((r = uml_check_file("kernel", l->kernel, true, err, errlen)) < 0 ||
	    (r = uml_check_file("image", l->image, false, err, errlen)) < 0)
		return (r);
	for (size_t i = 0; i < l->ndisks; i++) {
		if ((r = uml_check_file("disk", l->disks[i], false, err,
		    errlen)) < 0)
			return (r);
	}

	if ((console = uml_open_console(l, err, errlen)) < 0)
		return (console);
	if ((input = uml_open_input(l, err, errlen)) < 0) {
		closefd(&console);
		return (input);
	}
	argv = uml_build_argv(l);
	envp[0] = xstrdup("GLIBC_TUNABLES=glibc.pthread.rseq=0");
	envp[1] = xstrdup(UML_ENV_PATH);
	envp[2] = xstrdup("TMPDIR=/dev/shm");
	envp[3] = xasprintf("HOME=%s", l->dir);
	uml_console_header(console, argv);

	if (pipe2(pipefd, O_CLOEXEC) == -1) {
		r = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-r));
		goto out;
	}
	/* No libevent signal handler may run in the child before the reset. */
	if (sigfillset(&all) == -1 || sigprocmask(SIG_SETMASK, &all, &old) == -1) {
		r = -errno;
		snprintf(err, errlen, "sigprocmask: %s", strerror(-r));
		goto out;
	}
	pid = fork();
	if (pid == 0)
		uml_child(l, console, input, argv, envp, pipefd[1]);
	r = pid == -1 ? -errno : 0;
	if (sigprocmask(SIG_SETMASK, &old, NULL) == -1)
		log_warn("sigprocmask restore");
	if (r < 0) {
		snprintf(err, errlen, "fork: %s", strerror(-r));
		goto out;
	}
	closefd(&pipefd[1]);

	/* Blocks only until the child has exec'ed or failed: milliseconds. */
	do {
		n = read(pipefd[0], &e, sizeof(e));
	} while (n == -1 && errno == EINTR);
	if (n == 0) {
		log_debug("%s: started %s as pid %ld", l->dir, l->kernel,
		    (long)pid);
		*ret_pid = pid;
		r = 0;
		goto out;
	}
	/* The child failed before or at exec and exits at once: reap it. */
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(e) || e.stage < 0 ||
	    (size_t)e.stage >= sizeof(uml_stage_names) / sizeof(uml_stage_names[0])) {
		r = -EIO;
		snprintf(err, errlen, "the UML child failed before exec");
		goto out;
	}
	r = e.err > 0 ? -e.err : -EIO;
	snprintf(err, errlen, "cannot %s (%s): %s", uml_stage_names[e.stage],
	    uml_child_error_path(l, &e), strerror(-r));
out:
	closefd(&pipefd[0]);
	closefd(&pipefd[1]);
	for (size_t i = 0; envp[i] != NULL; i++)
		free(envp[i]);
	closefd(&console);
	closefd(&input);
	uml_argv_free(argv);
	return (r);
}

/*
 * Parse /proc/pid/stat: the fields after "(comm)" are space separated;
 * comm may contain anything, so start after the last ')'.  field is the
 * 1-based field number of proc(5) (3 = state ... 22 = starttime).
 */
static int
uml_proc_stat_field(pid_t pid, int field, uint64_t *ret)
{
	char	 path[64], buf[1024], *p, *end;
	ssize_t	 n;
	int	 fd, i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-errno);
	n = read(fd, buf, sizeof(buf) - 1);
	i = errno;
	(void)close(fd);
	if (n <= 0)
		return (n == 0 ? -EIO : -i);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return (-EIO);
	p += 2;
	/* p is at field 3 (state, a char). */
	for (i = 3; i < field; i++) {
		if ((p = strchr(p, ' ')) == NULL)
			return (-EIO);
		p++;
	}
	errno = 0;
	*ret = strtoull(p, &end, 10);
	if (errno != 0 || end == p)
		return (-EIO);
	return (0);
}

/* Start time of pid; see uml.h. */
int
uml_proc_starttime(pid_t pid, uint64_t *ret)
{
	return (uml_proc_stat_field(pid, 22, ret));
}

/* Whether pid's cwd is dir; see uml.h. */
bool
uml_proc_cwd_is(pid_t pid, const char *dir)
{
	char	path[64], cwd[PATH_MAX];
	ssize_t	n;

	snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)pid);
	if ((n = readlink(path, cwd, sizeof(cwd) - 1)) == -1)
		return (false);
	cwd[n] = '\0';
	return (strcmp(cwd, dir) == 0);
}

/* Whether pid's cwd is the directory (dev, ino); see uml.h. */
bool
uml_proc_cwd_is_id(pid_t pid, dev_t dev, ino_t ino)
{
	char		path[64];
	struct stat	st;

	snprintf(path, sizeof(path), "/proc/%ld/cwd", (long)pid);
	if (stat(path, &st) == -1)
		return (false);
	return (st.st_dev == dev && st.st_ino == ino);
}

/* A process living in the directory (dev, ino); see uml.h. */
pid_t
uml_find_cwd_user(dev_t dev, ino_t ino)
{
	struct dirent	*de;
	DIR		*d;
	char		*end;
	long		 p;
	pid_t		 found = 0;

	if ((d = opendir("/proc")) == NULL)
		return (0);
	while (found == 0 && (de = readdir(d)) != NULL) {
		p = strtol(de->d_name, &end, 10);
		if (*end != '\0' || p <= 1 || p == (long)getpid())
			continue;
		if (uml_proc_cwd_is_id((pid_t)p, dev, ino))
			found = (pid_t)p;
	}
	(void)closedir(d);
	return (found);
}

/* Append the children of every thread of pid to pids (deduplicated). */
static void
uml_collect_children(pid_t pid, pid_t *pids, size_t *n, size_t max)
{
	char		 path[320], buf[4096], *p, *end;
	struct dirent	*de;
	DIR		*d;
	ssize_t		 len;
	long		 child;
	int		 fd;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%s/children",
		    (long)pid, de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		(void)close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		for (p = buf; *p != '\0'; p = end) {
			errno = 0;
			child = strtol(p, &end, 10);
			if (end == p)
				break;
			if (child <= 0 || *n >= max)
				continue;
			bool seen = false;
			for (size_t i = 0; i < *n; i++)
				seen |= pids[i] == (pid_t)child;
			if (!seen)
				pids[(*n)++] = (pid_t)child;
		}
	}
	(void)closedir(d);
}

/* SIGKILL every process in session sid whose cwd is dir; see uml.h. */
int
uml_kill_session(pid_t sid, const char *dir)
{
	struct dirent	*de;
	uint64_t	 s;
	DIR		*d;
	char		*end;
	long		 p;
	int		 count = 0;

	if (sid <= 1)
		return (0);
	if ((d = opendir("/proc")) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		p = strtol(de->d_name, &end, 10);
		if (*end != '\0' || p <= 1 || p == (long)getpid())
			continue;
		if (uml_proc_stat_field((pid_t)p, 6, &s) < 0 || s != (uint64_t)sid)
			continue;
		if (!uml_proc_cwd_is((pid_t)p, dir))
			continue;
		if (kill((pid_t)p, SIGKILL) == 0)
			count++;
	}
	(void)closedir(d);
	return (count);
}

/* Kill a UML instance and everything it owns; see uml.h. */
int
uml_kill_tree(pid_t pid, const char *dir)
{
	pid_t	*pids;
	size_t	 n = 0, i;
	int	 count = 0;

	pids = xcalloc(UML_MAX_TREE, sizeof(*pids));
	if (pid > 0 && uml_proc_cwd_is(pid, dir)) {
		/* Freeze the kernel first so it cannot fork new stubs meanwhile. */
		(void)kill(pid, SIGSTOP);
		uml_collect_children(pid, pids, &n, UML_MAX_TREE);
		/* Breadth first: pids grows while we walk it. */
		for (i = 0; i < n; i++)
			uml_collect_children(pids[i], pids, &n, UML_MAX_TREE);
		for (i = 0; i < n; i++) {
			if (kill(pids[i], SIGKILL) == 0)
				count++;
		}
		if (kill(pid, SIGKILL) == 0)
			count++;
	}
	/*
	 * Helpers orphaned by an earlier death of the kernel process keep
	 * its session id and the machine dir as cwd: sweep them too.
	 */
	if (pid > 0)
		count += uml_kill_session(pid, dir);
	free(pids);
	log_debug("%s: killed %d host processes of pid %ld", dir, count,
	    (long)pid);
	return (count);
}

/*
 * Whether the kernel binary at path names key (a static string: the cache
 * compares it by address), remembered per file and key.
 */
static bool
uml_kernel_names(const char *path, const char *key)
{
	static struct {
		const char	*key;
		dev_t		dev;
		ino_t		ino;
		off_t		size;
		struct timespec	mtime;
		bool		yes;
	}			 cache[8];
	static size_t		 next;
	static pthread_mutex_t	 cache_lock = PTHREAD_MUTEX_INITIALIZER;
	struct stat		 st;
	void			*p;
	bool			 yes;
	int			 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	if (fstat(fd, &st) == -1 || st.st_size == 0) {
		(void)close(fd);
		return false;
	}
	/* Restores ask from worker threads: the cache is shared. */
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < sizeof(cache) / sizeof(cache[0]); i++) {
		if (cache[i].key == key && cache[i].ino == st.st_ino &&
		    cache[i].dev == st.st_dev && cache[i].size == st.st_size &&
		    cache[i].mtime.tv_sec == st.st_mtim.tv_sec &&
		    cache[i].mtime.tv_nsec == st.st_mtim.tv_nsec) {
			yes = cache[i].yes;
			pthread_mutex_unlock(&cache_lock);
			(void)close(fd);
			return yes;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	(void)close(fd);
	if (p == MAP_FAILED)
		return false;
	yes = memmem(p, (size_t)st.st_size, key, strlen(key)) != NULL;
	(void)munmap(p, (size_t)st.st_size);
	pthread_mutex_lock(&cache_lock);
	cache[next].key = key;
	cache[next].dev = st.st_dev;
	cache[next].ino = st.st_ino;
	cache[next].size = st.st_size;
	cache[next].mtime = st.st_mtim;
	cache[next].yes = yes;
	next = (next + 1) % (sizeof(cache) / sizeof(cache[0]));
	pthread_mutex_unlock(&cache_lock);
	return yes;
}

/* Whether the kernel can be restored lazily; see uml.h. */
bool
uml_kernel_takes_pager(const char *path)
{
	return (uml_kernel_names(path, "sbuml_pager="));
}

/* Whether the kernel can adopt a physmem file; see uml.h. */
bool
uml_kernel_adopts_physmem(const char *path)
{
	return (uml_kernel_names(path, "sbuml_physmem_fd="));
}

/* Whether the kernel can take /dev/userfaultfd; see uml.h. */
bool
uml_kernel_takes_uffd(const char *path)
{
	return (uml_kernel_names(path, "sbuml_uffd_dev="));
}

/* Whether the kernel can capture copy-on-write; see uml.h. */
bool
uml_kernel_saves_cow(const char *path)
{
	return (uml_kernel_names(path, "[stop] [cow]"));
}

/* Open the userfaultfd device for a launch; see uml.h. */
int
uml_uffd_open(void)
{
	int	fd;

	/* O_CLOEXEC: only the UML child gets it, as UML_UFFD_FD. */
	if ((fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC)) == -1)
		return (-errno);
	return (fd);
}

/* Whether a restored kernel can take a new tap; see uml.h. */
bool
uml_kernel_restores_net(const char *path)
{
	return (uml_kernel_names(path, "sbuml_net="));
}
