/* SPDX-License-Identifier: MIT */
/* File access with a caller's rights; see asuser.h. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "asuser.h"
#include "log.h"
#include "util.h"

#define ASUSER_MAX_GROUPS	256

#ifndef AT_EACCESS
#define AT_EACCESS		0x200
#endif

struct asuser_saved {
	uid_t	fsuid;
	gid_t	fsgid;
	int	ngroups;
	gid_t	groups[ASUSER_MAX_GROUPS];
};

/*
 * The caller's supplementary groups: its gid plus those the user database
 * gives its uid.  A uid without a passwd entry has only its gid.  More
 * than ASUSER_MAX_GROUPS are cut off: fewer groups only grant less.
 */
static int
caller_groups(const struct ucred *cred, gid_t *groups, int max)
{
	struct passwd	 pw, *res = NULL;
	char		*buf;
	size_t		 len = 16384;
	int		 n = max;

	buf = xmalloc(len);
	if (getpwuid_r(cred->uid, &pw, buf, len, &res) != 0 || res == NULL) {
		free(buf);
		groups[0] = cred->gid;
		return 1;
	}
	if (getgrouplist(pw.pw_name, cred->gid, groups, &n) < 0)
		n = max;
	free(buf);
	return n;
}

/* Become cred for file access on this thread; 0 or -errno (nothing changed). */
static int
asuser_enter(const struct ucred *cred, struct asuser_saved *saved)
{
	gid_t	groups[ASUSER_MAX_GROUPS];
	int	n;

	saved->fsuid = (uid_t)syscall(SYS_setfsuid, -1);
	saved->fsgid = (gid_t)syscall(SYS_setfsgid, -1);
	if ((saved->ngroups = (int)syscall(SYS_getgroups, ASUSER_MAX_GROUPS,
	    saved->groups)) < 0)
		return -errno;
	n = caller_groups(cred, groups, ASUSER_MAX_GROUPS);
	if (syscall(SYS_setgroups, (size_t)n, groups) < 0)
		return -errno;
	/* set*fsid answer the old id; asking again (-1) tells whether it took. */
	(void)syscall(SYS_setfsgid, cred->gid);
	(void)syscall(SYS_setfsuid, cred->uid);
	if ((gid_t)syscall(SYS_setfsgid, -1) != cred->gid ||
	    (uid_t)syscall(SYS_setfsuid, -1) != cred->uid) {
		(void)syscall(SYS_setfsuid, saved->fsuid);
		(void)syscall(SYS_setfsgid, saved->fsgid);
		(void)syscall(SYS_setgroups, (size_t)saved->ngroups, saved->groups);
		return -EPERM;
	}
	return 0;
}

/* Back to the daemon's own rights; a thread stuck as another user is a bug. */
static void
asuser_leave(const struct asuser_saved *saved)
{
	(void)syscall(SYS_setfsuid, saved->fsuid);
	(void)syscall(SYS_setfsgid, saved->fsgid);
	if ((uid_t)syscall(SYS_setfsuid, -1) != saved->fsuid ||
	    (gid_t)syscall(SYS_setfsgid, -1) != saved->fsgid ||
	    syscall(SYS_setgroups, (size_t)saved->ngroups, saved->groups) < 0)
		fatal("cannot switch file access back to uid %u",
		    (unsigned int)saved->fsuid);
}

int
asuser_open(const struct ucred *cred, const char *path, int flags, mode_t mode)
{
	struct asuser_saved	saved;
	int			fd, r;

	if ((r = asuser_enter(cred, &saved)) < 0)
		return r;
	fd = open(path, flags | O_CLOEXEC, mode);
	r = fd < 0 ? -errno : fd;
	asuser_leave(&saved);
	return r;
}

int
asuser_access(const struct ucred *cred, const char *path, int amode)
{
	struct asuser_saved	saved;
	int			r;

	if ((r = asuser_enter(cred, &saved)) < 0)
		return r;
	/* The raw syscall: glibc emulates AT_EACCESS with the euid when it lacks it. */
	r = syscall(SYS_faccessat2, AT_FDCWD, path, amode, AT_EACCESS) < 0 ?
	    -errno : 0;
	asuser_leave(&saved);
	return r;
}

int
asuser_may_create(const struct ucred *cred, const char *path)
{
	char	*d = xstrdup(path);
	int	 r;

	r = asuser_access(cred, dirname(d), W_OK | X_OK);
	free(d);
	return r;
}
