/* SPDX-License-Identifier: MIT */
/*
 * Starting and stopping UML processes, and reading host process facts
 * from /proc.  The launch convention (argv, environment, fds) is fixed
 * and documented in doc/machine-layout.md; the kernel teammate relies on it.
 */
#ifndef SBUMLD_UML_H
#define SBUMLD_UML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UML_MAX_DISKS	7	/* extra disks: ubd1 .. ubd7 */

struct uml_launch {
	const char	*dir;		/* the machine directory (absolute) */
	/*
	 * The machine directory, opened and checked by the caller: the child
	 * fchdir()s to it and console.log is opened relative to it
	 * (O_NOFOLLOW, a regular file), so a path a user re-points between
	 * the checks and the exec cannot redirect either.
	 */
	int		 dir_fd;
	const char	*kernel;	/* UML binary (absolute) */
	const char	*image;		/* base root image (absolute, read-only) */
	unsigned int	 mem_mb;
	const char	*cmdline;	/* extra kernel command line, may be "" */
	const char	*disks[UML_MAX_DISKS];
	size_t		 ndisks;
	/*
	 * Restore instead of boot: the capture directory of a snapshot.  The
	 * kernel then takes its memory and devices from there (doc/kernel.md)
	 * and its disks from dir/disk<N>.cow, which the caller has copied.
	 */
	const char	*restore;
	/*
	 * Restore only, <= 0 for none: an open read-write file holding the
	 * guest's memory, which the kernel adopts as its physmem file instead
	 * of copying <restore>/physmem (sbuml_physmem_fd=, doc/kernel.md §5).
	 * The child gets it as fd UML_PHYSMEM_FD; the caller keeps its own.
	 */
	int		 physmem_fd;
	/*
	 * The NIC, NULL for none: its tap (made by sbumld, owned by the jail
	 * user) and MAC.  Boot: eth0=tuntap,<tap>,<mac>.  Restore:
	 * sbuml_net=eth0,<tap>[,<mac>], net_mac NULL keeping the saved one.
	 */
	const char	*net_tap;
	const char	*net_mac;
	/*
	 * <= 0 for none: an open /dev/userfaultfd (uml_uffd_open), for a boot
	 * or a restore.  The child gets it as fd UML_UFFD_FD, not
	 * close-on-exec, and the kernel the word sbuml_uffd_dev=4
	 * (doc/kernel.md); the caller keeps and closes its own.
	 */
	int		 uffd_fd;
	/*
	 * Restore only, <= 0 for none: the kernel's end of the socket pair of
	 * a lazy restore (sbuml_pager=, doc/kernel.md §5 "Lazy restore"),
	 * with physmem_fd (an empty memfd) and uffd_fd.  The child gets it as
	 * fd UML_PAGER_FD; the caller keeps and closes its own.
	 */
	int		 pager_fd;
};

#define UML_PHYSMEM_FD	3	/* where a restored kernel finds physmem_fd */
#define UML_UFFD_FD	4	/* where a kernel finds /dev/userfaultfd */
#define UML_PAGER_FD	5	/* where a lazily restored kernel finds its pager */

/*
 * Check that path is absolute, exists, is a regular file and is readable
 * (executable too if exec).  0 or -errno; on failure a message for the
 * user goes to err (what is wrong with which path).
 */
int	uml_check_file(const char *what, const char *path, bool exec,
	    char *err, size_t errlen);
/*
 * Validate l, then fork and exec the UML kernel in its own session with
 * a console input FIFO as stdin (unlinked; see uml_open_input), DIR/console.log
 * as stdout/stderr, l->physmem_fd as UML_PHYSMEM_FD and l->uffd_fd as
 * UML_UFFD_FD if given, and no other fd, as the unprivileged
 * jail user (jail.h; the caller has given it DIR with jail_machine_dir).  Returns 0 and the pid
 * (a child of ours), or -errno with a message in err (exec failures are
 * reported by the child through a CLOEXEC pipe, so a missing or
 * non-executable kernel fails here, not later).
 */
int	uml_spawn(const struct uml_launch *l, pid_t *ret_pid, char *err,
	    size_t errlen);
/*
 * Build the argv uml_spawn would exec (for logs and tests); caller frees
 * each string and the array (uml_argv_free).  NULL-terminated.
 */
char	**uml_build_argv(const struct uml_launch *l);
/*
 * Whether the kernel binary at path can adopt a physmem file
 * (sbuml_physmem_fd=): kernels that can name the option in their text.
 * Remembered per file (path, inode, size, mtime); safe from any thread.
 * false if unreadable.
 */
bool	uml_kernel_adopts_physmem(const char *path);
/*
 * Whether a restored kernel at path can put its net devices on new taps
 * (sbuml_net=, doc/kernel.md): kernels that can name the option.  Same
 * caching and threads as uml_kernel_adopts_physmem.
 */
bool	uml_kernel_restores_net(const char *path);
void	uml_argv_free(char **argv);
/*
 * Whether the kernel binary at path takes a /dev/userfaultfd descriptor
 * (sbuml_uffd_dev=): kernels that can name the option.  One that cannot
 * would keep the fd as a host fd it does not know, and its saves refuse
 * those.  Same caching and threads as uml_kernel_adopts_physmem.
 */
bool	uml_kernel_takes_uffd(const char *path);
/*
 * Whether a restored kernel at path can be restored lazily (sbuml_pager=):
 * kernels that can name the option.  Same caching and threads.
 */
bool	uml_kernel_takes_pager(const char *path);
/*
 * Whether the kernel at path can capture copy-on-write (patch 0024:
 * "sbuml save <dir> [stop] [cow]"): kernels whose usage string names the
 * word.  Older ones refuse "cow" with a usage error and report no
 * "capture=".  Same caching and threads.
 */
bool	uml_kernel_saves_cow(const char *path);
/*
 * Open /dev/userfaultfd read-write, close-on-exec, for a kernel launch
 * (uml_launch.uffd_fd).  An fd, or -errno: -ENOENT on hosts before 6.1
 * (no such device), -EACCES/-EPERM where it is refused to us.
 */
int	uml_uffd_open(void);

/*
 * SIGKILL pid and every process below it (children of all its threads,
 * recursively, collected before anything is killed), then every process
 * left in pid's session whose cwd is dir (helpers orphaned earlier).
 * pid may already be dead (0 or a stale pid: only the session sweep runs).
 * Returns the number of processes signalled.
 */
int	uml_kill_tree(pid_t pid, const char *dir);

/*
 * SIGKILL every process whose session id is sid and whose cwd is dir: the
 * helpers left behind by a UML kernel process (pid sid) that is already
 * dead and maybe reaped, so its pid may belong to someone else now.
 * Returns the number of processes signalled.
 */
int	uml_kill_session(pid_t sid, const char *dir);

/* Field 22 of /proc/pid/stat (start time in clock ticks). 0 or -errno. */
int	uml_proc_starttime(pid_t pid, uint64_t *ret);
/* True if /proc/pid/cwd is dir. */
bool	uml_proc_cwd_is(pid_t pid, const char *dir);
/* True if /proc/pid/cwd is the directory with identity (dev, ino). */
bool	uml_proc_cwd_is_id(pid_t pid, dev_t dev, ino_t ino);
/*
 * A process (other than sbumld) whose cwd is the directory (dev, ino), or
 * 0 if none: UML processes live in their machine directory, so this tells
 * a machine directory still in use by a process sbumld lost track of.
 */
pid_t	uml_find_cwd_user(dev_t dev, ino_t ino);

#endif
