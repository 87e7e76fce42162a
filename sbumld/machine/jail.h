/* SPDX-License-Identifier: MIT */
/*
 * The UML jail: every UML process runs as an unprivileged user of its own
 * (JAIL_USER, a system user created the systemd way, units/sbuml.sysusers),
 * with no supplementary groups, no capabilities (effective, permitted,
 * inheritable, ambient and bounding sets all empty) and PR_SET_NO_NEW_PRIVS,
 * so a guest that escapes UML is that user, not root.
 *
 * The daemon side gives that user exactly what UML itself opens by path:
 * it may traverse the state directory (root:JAIL 0710), create files in a
 * machine directory (root:JAIL 01770: sticky, so it cannot rename or
 * remove the daemon's own machine.json, run.json or console.log), owns the
 * overlays disk<N>.cow, writes a save's capture/ until the kernel has
 * answered, and reads a restore's materialised capture (group read).  See
 * doc/machine-layout.md, "Who owns what".
 *
 * A daemon that does not run as root runs its machines as itself: there is
 * no privilege to drop, and jail_active() is false.
 */
#ifndef SBUMLD_JAIL_H
#define SBUMLD_JAIL_H

#include <stdbool.h>
#include <sys/types.h>

#define JAIL_USER	"sbuml-uml"	/* not "sbuml": that is the clients' group */

/*
 * Look up the jail user (creating it with systemd-sysusers when it is
 * missing and we may).  0, or -errno with a message in err: a root daemon
 * without that user must not start machines at all.
 */
int	jail_init(char *err, size_t errlen);
bool	jail_active(void);
uid_t	jail_uid(void);
gid_t	jail_gid(void);

/*
 * In the child between fork and exec (async-signal-safe): drop to the
 * jail user for good.  0 or -errno; on failure the caller must not exec.
 */
int	jail_enter(void);

/*
 * Whether the jail user can search path (every directory on the way):
 * 0, or -errno from a jailed child's access(path, X_OK).
 */
int	jail_probe_reach(const char *path);
/* A directory UML must traverse but not list or write: root:JAIL 0710. */
int	jail_share_dir(const char *path);
/* A directory UML reads (a restore's capture): root:JAIL 0750. */
int	jail_lend_dir(const char *path);
/*
 * Before a UML starts in the directory dirfd (opened and checked by the
 * caller, so a path swapped meanwhile changes nothing): it becomes group
 * JAIL, mode 01770, and
 * every disk<N>.cow there (left by a root-run UML, or just copied by a
 * restore) is handed to the jail user.  Links are never followed; an
 * overlay that is not a regular file with a single link fails the start
 * (-EINVAL, -EMLINK): nothing linked in from elsewhere changes hands.
 */
int	jail_machine_dir(int dirfd);
/*
 * A directory the kernel process pid writes (a save's capture): owned by
 * that process's user, 0700.  The kernel's save writer insists on owning
 * it, so a machine a daemon from before the jail started as root (and
 * that was re-adopted) gets it as root's.
 */
int	jail_give_dir(const char *path, pid_t pid);
/*
 * Take a directory given with jail_give_dir back before the daemon reads
 * it: the directory becomes root:root 0700, then every regular file with
 * a single link in it root:root too.
 */
int	jail_take_back_dir(const char *path);
/* A file the kernel reads (a restore's capture): root:JAIL 0640 (fd). */
int	jail_share_fd(int fd, mode_t mode);

#endif
