/* SPDX-License-Identifier: MIT */
/*
 * The UML jail (see jail.h for what it promises).
 *
 * jail_enter() runs in the forked child before execve, so it only makes
 * system calls (no allocation, no stdio).  The order matters: the bounding
 * set and the securebits need CAP_SETPCAP, so they go first; setresuid()
 * to a non-zero uid then clears the permitted and effective sets (the
 * securebits forbid keeping them), and the explicit capset() and ambient
 * clear make that independent of the kernel's fix-up rules.  The last step
 * proves the drop: getting uid 0 back must fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"
#include "uml.h"
#include "util.h"

extern char **environ;

/* The same line as units/sbuml.sysusers, for hosts where nobody ran it. */
#define JAIL_SYSUSERS_LINE \
	"u " JAIL_USER " - \"sbuml User-Mode Linux machines\" / /usr/sbin/nologin"

static bool	jail_on;
static uid_t	jail_u;
static gid_t	jail_g;

bool
jail_active(void)
{
	return jail_on;
}

uid_t
jail_uid(void)
{
	return jail_u;
}

gid_t
jail_gid(void)
{
	return jail_g;
}

/* Run systemd-sysusers --inline with our line; 0 if it exited 0. */
static int
jail_create_user(void)
{
	char	*argv[] = { "systemd-sysusers", "--inline", JAIL_SYSUSERS_LINE,
		    NULL };
	pid_t	 pid;
	int	 status, r;

	if ((r = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ)) != 0)
		return -r;
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			return -errno;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int
jail_init(char *err, size_t errlen)
{
	struct passwd	*pw;

	if (geteuid() != 0) {
		log_info("not running as root: machines run as uid %ld",
		    (long)geteuid());
		return 0;
	}
	/* Test only: act as sbumld did before the jail (041-unprivileged). */
	if (test_knob_ms("SBUMLD_TEST_UML_AS_ROOT") > 0) {
		log_warnx("SBUMLD_TEST_UML_AS_ROOT: machines run as root");
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(JAIL_USER)) == NULL) {
		log_info("user %s is missing: creating it with systemd-sysusers",
		    JAIL_USER);
		if (jail_create_user() == 0)
			pw = getpwnam(JAIL_USER);
	}
	if (pw == NULL) {
		snprintf(err, errlen, "the system user %s that runs the machines "
		    "does not exist and cannot be created here; create it with "
		    "\"systemd-sysusers\" (installs units/sbuml.sysusers) or "
		    "\"adduser --system --group %s\"", JAIL_USER, JAIL_USER);
		return -ENOENT;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(err, errlen, "the user %s must not be uid or gid 0",
		    JAIL_USER);
		return -EINVAL;
	}
	jail_u = pw->pw_uid;
	jail_g = pw->pw_gid;
	jail_on = true;
	log_info("machines run as %s (uid %ld, gid %ld)", JAIL_USER,
	    (long)jail_u, (long)jail_g);
	return 0;
}

/* Empty every capability set of this process but the bounding set. */
static int
jail_clear_caps(void)
{
	struct __user_cap_header_struct	hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct	data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) == -1)
		return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1)
		return -errno;
	return 0;
}

int
jail_enter(void)
{
	uid_t	ru, eu, su;
	gid_t	rg, eg, sg;
	int	r;

	if (!jail_on)
		return 0;
	/* Every capability the kernel knows, until it says EINVAL. */
	for (unsigned long cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1) {
			if (errno == EINVAL && cap > CAP_SETPCAP)
				break;
			return -errno;
		}
	}
	/* uid 0 would mean nothing even if regained; locked for good. */
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
	    SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
	    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
	    0, 0, 0) == -1)
		return -errno;
	if (setgroups(0, NULL) == -1 ||
	    setresgid(jail_g, jail_g, jail_g) == -1 ||
	    setresuid(jail_u, jail_u, jail_u) == -1)
		return -errno;
	if ((r = jail_clear_caps()) < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -errno;
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		return -errno;
	if (ru != jail_u || eu != jail_u || su != jail_u || rg != jail_g ||
	    eg != jail_g || sg != jail_g || setresuid(0, 0, 0) == 0)
		return -EPERM;
	return 0;
}

int
jail_probe_reach(const char *path)
{
	pid_t	pid;
	int	status;

	if (!jail_on)
		return 0;
	if ((pid = fork()) == -1)
		return -errno;
	if (pid == 0) {
		if (jail_enter() < 0)
			_exit(EPERM);
		_exit(access(path, X_OK) == 0 ? 0 : errno);
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			return -errno;
	}
	if (!WIFEXITED(status))
		return -EIO;
	return -WEXITSTATUS(status);
}

/* Open a directory without following a link in its last component. */
static int
jail_open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd == -1 ? -errno : fd;
}

/* fchown + fchmod of an open directory; 0 or -errno. */
static int
jail_set_dir(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	int fd, r = 0;

	if ((fd = jail_open_dir(path)) < 0)
		return fd;
	if (fchown(fd, uid, gid) == -1 || fchmod(fd, mode) == -1)
		r = -errno;
	(void)close(fd);
	return r;
}

int
jail_share_dir(const char *path)
{
	if (!jail_on)
		return 0;
	return jail_set_dir(path, 0, jail_g, 0710);
}

int
jail_lend_dir(const char *path)
{
	if (!jail_on)
		return 0;
	return jail_set_dir(path, 0, jail_g, 0750);
}

int
jail_give_dir(const char *path, pid_t pid)
{
	struct stat	st;
	char		proc[32];

	if (!jail_on)
		return 0;
	/* /proc/PID belongs to the process's effective uid and gid. */
	snprintf(proc, sizeof(proc), "/proc/%ld", (long)pid);
	if (pid <= 0 || stat(proc, &st) == -1)
		return pid <= 0 ? -ESRCH : -errno;
	return jail_set_dir(path, st.st_uid, st.st_gid, 0700);
}

int
jail_share_fd(int fd, mode_t mode)
{
	if (!jail_on)
		return 0;
	if (fchown(fd, (uid_t)-1, jail_g) == -1 || fchmod(fd, mode) == -1)
		return -errno;
	return 0;
}

/*
 * Chown dfd/name if it is a regular file with one link; 0 if it is absent.
 * -EMLINK for a hard link: a file linked in from elsewhere (a user-owned
 * path machine, fs.protected_hardlinks off) must not change hands; -EINVAL
 * for a symlink or anything else.  Opened without following links and
 * checked on the fd, so a rename in between changes nothing.
 */
static int
jail_chown_file_at(int dfd, const char *name, uid_t uid, gid_t gid)
{
	struct stat	st;
	int		fd, r = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) == -1)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if (st.st_nlink != 1)
		r = -EMLINK;
	else if (fchown(fd, uid, gid) == -1)
		r = -errno;
	(void)close(fd);
	return r;
}

int
jail_machine_dir(int dirfd)
{
	char	name[32];
	int	r = 0;

	if (!jail_on)
		return 0;
	/* Only the group: a path machine's directory keeps its owner. */
	if (fchown(dirfd, (uid_t)-1, jail_g) == -1 || fchmod(dirfd, 01770) == -1)
		r = -errno;
	for (int i = 0; r == 0 && i <= UML_MAX_DISKS; i++) {
		snprintf(name, sizeof(name), "disk%d.cow", i);
		r = jail_chown_file_at(dirfd, name, jail_u, jail_g);
	}
	return r;
}

int
jail_take_back_dir(const char *path)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, r = 0;

	if (!jail_on)
		return 0;
	if ((fd = jail_open_dir(path)) < 0)
		return fd;
	/* The directory first: after this, nobody else adds or swaps entries. */
	if (fchown(fd, 0, 0) == -1 || fchmod(fd, 0700) == -1 ||
	    (d = fdopendir(fd)) == NULL) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* Cosmetic (the directory is ours already): regular files only. */
		(void)jail_chown_file_at(dirfd(d), de->d_name, 0, 0);
	}
	(void)closedir(d);
	return r;
}
