/* SPDX-License-Identifier: MIT */
/* Filling the guest memory of a restore (snapshot-physmem.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapshot-physmem.h"

/* A memfd for the guest memory, above the standard fds.  fd or -errno. */
static int
physmem_memfd(void)
{
	int fd, hi;

	if ((fd = memfd_create("sbuml-physmem", MFD_CLOEXEC)) < 0)
		return -errno;
	/* Never 0-2 (a daemon started with them closed): 0 means none. */
	if (fd > 2)
		return fd;
	hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	hi = hi < 0 ? -errno : hi;
	(void)close(fd);
	return hi;
}

int
snapshot_physmem_fill(struct store *s, const char *name,
    struct json_object *entry, int *ret_fd, char *err, size_t errlen)
{
	struct json_object	*v;
	unsigned char		*map;
	size_t			 size;
	int			 fd, r;

	json_object_object_get_ex(entry, "size", &v);
	size = (size_t)json_object_get_int64(v);
	if ((fd = physmem_memfd()) < 0) {
		snprintf(err, errlen, "memfd for the guest memory: %s", strerror(-fd));
		return fd;
	}
	if (ftruncate(fd, (off_t)size) < 0 || (map = size == 0 ? NULL :
	    mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
	    MAP_FAILED) {
		r = -errno;
		snprintf(err, errlen, "memfd for the guest memory (%zu bytes): %s",
		    size, strerror(-r));
		(void)close(fd);
		return r;
	}
	r = store_read_entry_into(s, name, entry, map, err, errlen);
	if (map != NULL)
		(void)munmap(map, size);
	if (r < 0) {
		(void)close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int
snapshot_physmem_empty(uint64_t size, int *ret_fd, char *err, size_t errlen)
{
	int fd, r;

	if ((fd = physmem_memfd()) < 0) {
		snprintf(err, errlen, "memfd for the guest memory: %s", strerror(-fd));
		return fd;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		snprintf(err, errlen, "memfd for the guest memory (%llu bytes): %s",
		    (unsigned long long)size, strerror(-r));
		(void)close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}
