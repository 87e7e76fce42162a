/* SPDX-License-Identifier: MIT */
/*
 * Files in directories a non-root user may write (path machine directories
 * and their parents).  sbumld runs as root, so a name there must never be
 * resolved twice or followed: the directory is opened once (O_NOFOLLOW,
 * identified by dev/ino) and every file in it is opened relative to that fd
 * with O_NOFOLLOW | O_NONBLOCK and checked to be a regular file with one
 * link, so a planted symlink, FIFO, device or hard link is refused instead
 * of read, written or blocked on.
 */
#ifndef SBUMLD_FSAT_H
#define SBUMLD_FSAT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Which directory (or file) an fd or a path named when it was checked. */
struct fs_id {
	dev_t	dev;
	ino_t	ino;
};

#define FS_ID_NONE	((struct fs_id){ 0, 0 })

static inline bool
fs_id_eq(const struct fs_id *a, const struct fs_id *b)
{
	return (a->dev == b->dev && a->ino == b->ino);
}

/*
 * Open the directory at path (its last component must not be a symlink)
 * read-only, O_CLOEXEC.  want: if not NULL and not FS_ID_NONE, the
 * directory must still be that one (-ESTALE otherwise: the path was
 * re-pointed).  *ret_id (may be NULL) gets its identity.  An fd or -errno.
 */
int	fs_open_dir(const char *path, const struct fs_id *want,
	    struct fs_id *ret_id);

/*
 * openat(dirfd, name, flags) adding O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
 * O_NOCTTY, then require a regular file with a single link (-ELOOP for a
 * symlink, -EINVAL for anything else that is not a regular file, -EMLINK
 * for a hard link).  O_NONBLOCK is cleared again once the file is known
 * to be regular.  name must be one component.  An fd or -errno.
 */
int	fs_openat_file(int dirfd, const char *name, int flags, mode_t mode);

/* Read dirfd/name (fs_openat_file rules), at most max bytes; like read_file. 0 or -errno. */
int	fs_read_file_at(int dirfd, const char *name, size_t max, char **ret_buf,
	    size_t *ret_len);

/*
 * Replace dirfd/name atomically: a new temporary file in dirfd (O_EXCL),
 * fsync, renameat over name (which replaces a symlink planted there
 * rather than following it), fsync(dirfd).  0 or -errno.
 */
int	fs_write_file_atomic_at(int dirfd, const char *name, const void *buf,
	    size_t len, mode_t mode);

/* unlinkat(dirfd, name, 0); a missing file is success.  0 or -errno. */
int	fs_unlink_at(int dirfd, const char *name);

/*
 * 1 if the directory dirfd is anc or lies below it (walking ".." up to
 * the root, so symlinks and bind paths cannot hide it), 0 if not, -errno.
 */
int	fs_dir_is_within(int dirfd, const struct fs_id *anc);

/* Words for an fs_openat_file refusal ("is a symlink", ...), else strerror. */
const char *fs_strerror(int err);

/* The identity of path (stat, following symlinks).  0 or -errno. */
int	fs_id_of_path(const char *path, struct fs_id *ret);

#endif
