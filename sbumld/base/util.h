/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every sbumld module.  Allocation failure is fatal
 * in the daemon (as in tmux and chrony): xmalloc and friends never return NULL.
 */
#ifndef SBUMLD_UTIL_H
#define SBUMLD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The number of elements of array a. */
#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

void	*xmalloc(size_t size);
void	*xcalloc(size_t n, size_t size);
void	*xrealloc(void *p, size_t size);
char	*xstrdup(const char *s);
char	*xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Close *fd if it is >= 0 and set it to -1.  Keeps errno. */
void	 closefd(int *fd);

/* Write a whole file atomically (fs_write_file_atomic_at in its directory). 0 or -errno. */
int	 write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);
/* Read a whole (small) file into a NUL-terminated malloc'd buffer owned by the caller. 0 or -errno. */
int	 read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);
/* Like read_file, from an open fd (read to its end). 0 or -errno. */
int	 read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len);
/* Write all of buf to fd (retrying short writes and EINTR). 0 or -errno. */
int	 write_fd_all(int fd, const void *buf, size_t len);
/* mkdir -p with mode for every created component. 0 or -errno. */
int	 mkdir_p(const char *path, mode_t mode);
/* fsync a directory by path. 0 or -errno. */
int	 fsync_dir(const char *path);

/* Monotonic time in microseconds. */
uint64_t now_usec(void);
/*
 * Test-only knobs (like Redis' rdb-key-save-delay): the milliseconds in
 * environment variable name (1 to 60000), else 0; test_knob_sleep sleeps
 * that long, so tests can stop a job at a precise point.
 */
long	 test_knob_ms(const char *name);
void	 test_knob_sleep(const char *name);
/* Wall time as ISO-8601 UTC "2026-11-27T18:40:00Z" in buf (>= 21 bytes). */
void	 iso8601_utc(time_t t, char *buf, size_t len);

#endif
