/* SPDX-License-Identifier: MIT */
/*
 * Opening files in directories a user may write without following what the
 * user planted there; see fsat.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsat.h"
#include "util.h"

#define FS_WALK_MAX	4096	/* ".." steps before giving up (a loop) */

/* Open a directory by path, not following its last component; see fsat.h. */
int
fs_open_dir(const char *path, const struct fs_id *want, struct fs_id *ret_id)
{
	struct stat	st;
	int		fd;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return (errno == ELOOP ? -ENOTDIR : -errno);
	if (fstat(fd, &st) == -1) {
		int r = -errno;

		(void)close(fd);
		return (r);
	}
	if (want != NULL && (want->dev != 0 || want->ino != 0) &&
	    (st.st_dev != want->dev || st.st_ino != want->ino)) {
		(void)close(fd);
		return (-ESTALE);
	}
	if (ret_id != NULL) {
		ret_id->dev = st.st_dev;
		ret_id->ino = st.st_ino;
	}
	return (fd);
}

/* Open one regular file relative to dirfd; see fsat.h. */
int
fs_openat_file(int dirfd, const char *name, int flags, mode_t mode)
{
	struct stat	st;
	int		fd, r;

	if (strchr(name, '/') != NULL || name[0] == '\0' ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return (-EINVAL);
	fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY, mode);
	/* ENXIO: a FIFO without a reader or a socket, opened for writing. */
	if (fd == -1)
		return (errno == ENXIO ? -EINVAL : -errno);
	if (fstat(fd, &st) == -1) {
		r = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto fail;
	}
	if (st.st_nlink > 1) {
		r = -EMLINK;
		goto fail;
	}
	/* Regular files ignore O_NONBLOCK; drop it so callers see plain I/O. */
	if ((r = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, r & ~O_NONBLOCK) == -1) {
		r = -errno;
		goto fail;
	}
	return (fd);
fail:
	(void)close(fd);
	return (r);
}

/* Read a small regular file relative to dirfd; see fsat.h. */
int
fs_read_file_at(int dirfd, const char *name, size_t max, char **ret_buf,
    size_t *ret_len)
{
	int	fd, r;

	if ((fd = fs_openat_file(dirfd, name, O_RDONLY, 0)) < 0)
		return (fd);
	r = read_fd(fd, max, ret_buf, ret_len);
	(void)close(fd);
	return (r);
}

/* Create a temporary file ".NAME.tmp-XXXXXXXX" in dirfd; an fd or -errno. */
static int
fs_create_temp_at(int dirfd, const char *name, mode_t mode, char *tmp,
    size_t tmplen)
{
	uint32_t	rnd;
	int		fd;

	for (int tries = 0; tries < 16; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return (-EIO);
		if ((size_t)snprintf(tmp, tmplen, ".%s.tmp-%08x", name, rnd) >=
		    tmplen)
			return (-ENAMETOOLONG);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0)
			return (fd);
		if (errno != EEXIST)
			return (-errno);
	}
	return (-EEXIST);
}

/* Replace dirfd/name atomically; see fsat.h. */
int
fs_write_file_atomic_at(int dirfd, const char *name, const void *buf,
    size_t len, mode_t mode)
{
	char	tmp[256];
	int	fd, r;

	if (strchr(name, '/') != NULL || name[0] == '\0')
		return (-EINVAL);
	if ((fd = fs_create_temp_at(dirfd, name, mode, tmp, sizeof(tmp))) < 0)
		return (fd);
	/* The umask may have narrowed mode. */
	if (fchmod(fd, mode) == -1) {
		r = -errno;
		goto fail;
	}
	if ((r = write_fd_all(fd, buf, len)) < 0)
		goto fail;
	if (fsync(fd) == -1) {
		r = -errno;
		goto fail;
	}
	r = close(fd) == -1 ? -errno : 0;
	fd = -1;
	if (r < 0)
		goto fail;
	if (renameat(dirfd, tmp, dirfd, name) == -1) {
		r = -errno;
		goto fail;
	}
	return (fsync(dirfd) == -1 ? -errno : 0);
fail:
	closefd(&fd);
	(void)unlinkat(dirfd, tmp, 0);
	return (r);
}

/* Remove one name relative to dirfd; see fsat.h. */
int
fs_unlink_at(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) == -1 && errno != ENOENT)
		return (-errno);
	return (0);
}

/* Whether dirfd is anc or below it; see fsat.h. */
int
fs_dir_is_within(int dirfd, const struct fs_id *anc)
{
	struct stat	st, up;
	int		fd, next, r = 0;

	if ((fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return (-errno);
	for (int i = 0; i < FS_WALK_MAX; i++) {
		if (fstat(fd, &st) == -1) {
			r = -errno;
			break;
		}
		if (st.st_dev == anc->dev && st.st_ino == anc->ino) {
			r = 1;
			break;
		}
		next = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (next == -1 || fstat(next, &up) == -1) {
			r = -errno;
			if (next != -1)
				(void)close(next);
			break;
		}
		(void)close(fd);
		fd = next;
		/* The root is its own parent. */
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino) {
			r = 0;
			break;
		}
		r = -ELOOP;
	}
	(void)close(fd);
	return (r);
}

/* The identity of a path; see fsat.h. */
int
fs_id_of_path(const char *path, struct fs_id *ret)
{
	struct stat	st;

	if (stat(path, &st) == -1)
		return (-errno);
	ret->dev = st.st_dev;
	ret->ino = st.st_ino;
	return (0);
}

/* Words for an fs_openat_file refusal; see fsat.h. */
const char *
fs_strerror(int err)
{
	switch (err) {
	case -ELOOP:
		return ("is a symlink");
	case -EINVAL:
		return ("is not a regular file");
	case -EMLINK:
		return ("has other hard links");
	case -ESTALE:
		return ("the path now names another directory");
	default:
		return (strerror(-err));
	}
}
