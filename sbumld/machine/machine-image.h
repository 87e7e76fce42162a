/* SPDX-License-Identifier: MIT */
/*
 * Named guest images: <state_dir>/images/NAME.img with its description
 * NAME.json, made as root by mkdebian.sh (`sbumlctl image build`).  The
 * directory is root's (0700, traversable by the jail group so the UML
 * process can open an image by path), so its files are trusted once
 * reached without following a link.
 */
#ifndef SBUMLD_MACHINE_IMAGE_H
#define SBUMLD_MACHINE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

#define MACHINE_IMAGE_NAME_MAX	64
/* image.list reads at most this many images (the rest is left out). */
#define MACHINE_IMAGE_LIST_MAX	256

/* <state_dir>/images, allocated. */
char	*machine_image_dir(void);

/* A valid image name: [A-Za-z0-9][A-Za-z0-9_.-]{0,63}, without "..". */
bool	 machine_image_name_valid(const char *name);

/*
 * The path of the named image, checked to be a regular file reached
 * without a symlink (O_NOFOLLOW from the directory's fd); *ret_path is
 * allocated.  0, -EINVAL (a bad name, or not a regular file), -ENOENT (no
 * such image), -ELOOP (a symlink), -EMLINK (hard-linked) or another -errno;
 * err says which in words.
 */
int	 machine_image_resolve(const char *name, char **ret_path, char *err,
	    size_t errlen);

/*
 * The images as a JSON array sorted by name: each {"name", "path",
 * "size_mb" (the file's apparent size), "disk_mb" (blocks used)} plus the
 * members of its NAME.json (inputs, hash, created) when that is a valid
 * object.  A missing directory is an empty list.  0 or -errno.
 */
int	 machine_image_list(struct json_object **ret);

#endif
