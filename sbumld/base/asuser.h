/* SPDX-License-Identifier: MIT */
/*
 * File access with a caller's rights: the calling thread's fsuid, fsgid
 * and supplementary groups are switched to the caller's (its uid and gid
 * from SO_PEERCRED, its groups from the user database), the file is
 * opened or checked, and the thread switches back.  Only the calling
 * thread changes (the raw syscalls, not the glibc wrappers that change
 * every thread), so workers running meanwhile keep the daemon's rights.
 * While switched, the kernel drops the file capabilities (CAP_DAC_*,
 * CAP_FOWNER) from the thread: the caller gets what it could do itself.
 *
 * For root callers these still switch (to uid 0 with its groups): the
 * handlers call them only for non-root callers.
 */
#ifndef SBUMLD_ASUSER_H
#define SBUMLD_ASUSER_H

#include <sys/socket.h>
#include <sys/types.h>

/* open(path, flags, mode) as cred (O_CLOEXEC is added).  The fd or -errno. */
int	asuser_open(const struct ucred *cred, const char *path, int flags,
	    mode_t mode);
/* faccessat(path, amode, AT_EACCESS) as cred (R_OK, W_OK, X_OK).  0 or -errno. */
int	asuser_access(const struct ucred *cred, const char *path, int amode);
/*
 * Could cred create path?  Its parent directory must be writable and
 * searchable by cred.  0 or -errno.
 */
int	asuser_may_create(const struct ucred *cred, const char *path);

#endif
