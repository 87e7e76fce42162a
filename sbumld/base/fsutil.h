/* SPDX-License-Identifier: MIT */
/*
 * File-tree operations for snapshots and restores: cloning files cheaply
 * (reflink, else a hole-aware copy), measuring and removing trees we created.
 */
#ifndef SBUMLD_FSUTIL_H
#define SBUMLD_FSUTIL_H

#include <stdint.h>
#include <sys/types.h>

/*
 * Copy src to dst (created with mode, must not exist): FICLONE where the
 * filesystem can, else a copy that keeps holes (SEEK_DATA/SEEK_HOLE with
 * copy_file_range, falling back to read/write across filesystems).  The
 * result is fsync'ed.  On failure dst is removed.  0 or -errno.
 */
int	fs_copy_file(const char *src, const char *dst, mode_t mode);

/* Bytes a tree occupies on disk (st_blocks), like du.  0 or -errno. */
int	fs_tree_usage(const char *path, uint64_t *ret_bytes);

/*
 * Remove a directory tree that sbumld created.  Does not follow symlinks
 * and does not cross into other filesystems.  A missing path is success.
 * 0 or -errno.
 */
int	fs_remove_tree(const char *path);

#endif
