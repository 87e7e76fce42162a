/* SPDX-License-Identifier: MIT */
/*
 * File-tree helpers used by snapshot save and restore.  Snapshots and machine
 * directories are plain trees; these keep copies cheap (reflink, holes kept)
 * and removals confined to what we made.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "util.h"

#define COPY_CHUNK	(1024 * 1024)

/* Copy [off, off+len) with read/write: the path when copy_file_range cannot. */
static int
copy_range_rw(int in, int out, off_t off, off_t len)
{
	char	*buf = xmalloc(COPY_CHUNK);
	int	 r = 0;

	while (len > 0) {
		size_t	 want = len > COPY_CHUNK ? COPY_CHUNK : (size_t)len;
		ssize_t	 n = pread(in, buf, want, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			r = -EIO;	/* the file shrank under us */
			break;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(out, buf + done, n - done, off + done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r = -errno;
				goto out;
			}
			done += w;
		}
		off += n;
		len -= n;
	}
out:
	free(buf);
	return r;
}

/* Copy one data extent, preferring the kernel's in-place copy. */
static int
copy_extent(int in, int out, off_t off, off_t len)
{
	while (len > 0) {
		loff_t	 ioff = off, ooff = off;
		ssize_t	 n = copy_file_range(in, &ioff, out, &ooff, (size_t)len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EINVAL ||
		    errno == EOPNOTSUPP || errno == ENOSYS))
			return copy_range_rw(in, out, off, len);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		off += n;
		len -= n;
	}
	return 0;
}

/* Copy every data extent of in to out, leaving holes as holes. */
static int
copy_sparse(int in, int out, off_t size)
{
	off_t	 data = 0, hole;
	int	 r;

	for (;;) {
		data = lseek(in, data, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;			/* no data after this point */
		if (data < 0)
			return copy_range_rw(in, out, 0, size);	/* no SEEK_DATA: dense */
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if ((r = copy_extent(in, out, data, hole - data)) < 0)
			return r;
		data = hole;
	}
	return 0;
}

int
fs_copy_file(const char *src, const char *dst, mode_t mode)
{
	struct stat	 st;
	int		 in = -1, out = -1, r = 0;

	if ((in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -errno;
	if (fstat(in, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode)) < 0) {
		r = -errno;
		goto out;
	}
	if (ioctl(out, FICLONE, in) == 0)
		goto sync;
	/* Not a reflink-capable pair: size the file, then fill its data extents. */
	if (ftruncate(out, st.st_size) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = copy_sparse(in, out, st.st_size)) < 0)
		goto fail;
sync:
	if (fsync(out) < 0) {
		r = -errno;
		goto fail;
	}
	goto out;
fail:
	(void)unlink(dst);
out:
	closefd(&out);
	closefd(&in);
	return r;
}

typedef int (*entry_fn)(int dirfd, const char *name, const struct stat *st,
    void *arg);

/*
 * Call fn for every entry of dirfd (consumed) but . and .., with its lstat;
 * an entry removed meanwhile is passed over.  Stops at the first error.
 */
static int
each_entry_at(int dirfd, entry_fn fn, void *arg)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	int		 r = 0;

	if ((d = fdopendir(dirfd)) == NULL) {
		r = -errno;
		close(dirfd);
		return r;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				r = -errno;
			continue;
		}
		r = fn(dirfd, de->d_name, &st, arg);
	}
	closedir(d);
	return r;
}

/* Open the subdirectory name of dirfd without following a link. */
static int
open_subdir_at(int dirfd, const char *name)
{
	int	fd = openat(dirfd, name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

struct usage {
	dev_t		 dev;
	uint64_t	 sum;
};

/* Add an entry's blocks; descend into directories of the same device. */
static int
usage_entry(int dirfd, const char *name, const struct stat *st, void *arg)
{
	struct usage	*u = arg;
	int		 sub;

	u->sum += (uint64_t)st->st_blocks * 512;
	if (!S_ISDIR(st->st_mode) || st->st_dev != u->dev)
		return 0;
	if ((sub = open_subdir_at(dirfd, name)) == -ENOENT)
		return 0;
	return sub < 0 ? sub : each_entry_at(sub, usage_entry, u);
}

int
fs_tree_usage(const char *path, uint64_t *ret_bytes)
{
	struct stat	 st;
	struct usage	 u;
	int		 fd, r;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	u.dev = st.st_dev;
	u.sum = (uint64_t)st.st_blocks * 512;
	if ((r = each_entry_at(fd, usage_entry, &u)) < 0)
		return r;
	*ret_bytes = u.sum;
	return 0;
}

/* Remove an entry; a directory after its content, never across a mount. */
static int
remove_entry(int dirfd, const char *name, const struct stat *st, void *arg)
{
	const dev_t	*dev = arg;
	int		 sub, r;

	if (!S_ISDIR(st->st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ?
		    -errno : 0;
	if (st->st_dev != *dev)
		return -EXDEV;	/* a mount inside: never descend */
	if ((sub = open_subdir_at(dirfd, name)) < 0)
		return sub;
	if ((r = each_entry_at(sub, remove_entry, arg)) < 0)
		return r;
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

int
fs_remove_tree(const char *path)
{
	struct stat	 st;
	int		 fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if ((r = each_entry_at(fd, remove_entry, &st.st_dev)) < 0)
		return r;
	if (rmdir(path) < 0)
		return -errno;
	return 0;
}
