/* SPDX-License-Identifier: MIT */
/*
 * Small helpers: allocation that never fails (OOM is fatal in the daemon, as
 * in tmux and chrony), fds, whole-file I/O done crash-safely, directories and
 * clocks.  Functions returning int return 0 or -errno and never log: callers
 * decide how loud a failure is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fsat.h"
#include "log.h"
#include "util.h"

/* malloc or die; a zero size still returns a unique pointer. */
void *
xmalloc(size_t size)
{
	void	*p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		fatal("xmalloc: allocating %zu bytes", size);
	return (p);
}

/* calloc or die; calloc itself checks n * size for overflow. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		fatal("xcalloc: allocating %zu * %zu bytes", n, size);
	return (p);
}

/* realloc or die; never frees p by asking for zero bytes. */
void *
xrealloc(void *p, size_t size)
{
	void	*np;

	if ((np = realloc(p, size == 0 ? 1 : size)) == NULL)
		fatal("xrealloc: allocating %zu bytes", size);
	return (np);
}

/* strdup or die. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("xstrdup");
	return (p);
}

/* asprintf or die; the caller owns (frees) the result. */
char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("xasprintf");
	return (s);
}

/* Close *fd if open and mark it closed; errno survives for the caller. */
void
closefd(int *fd)
{
	int	saved = errno;

	if (*fd >= 0) {
		/* Linux frees the fd even when close fails (EINTR included). */
		(void)close(*fd);
		*fd = -1;
	}
	errno = saved;
}

/* write(2) all of buf, retrying on EINTR and short writes. 0 or -errno. */
int
write_fd_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-errno);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Split path into a malloc'd directory name ("." if none). */
static char *
path_dirname(const char *path)
{
	const char	*slash;

	if ((slash = strrchr(path, '/')) == NULL)
		return (xstrdup("."));
	if (slash == path)
		return (xstrdup("/"));
	return (xasprintf("%.*s", (int)(slash - path), path));
}

/*
 * Replace path with buf so that a crash leaves either the old or the new
 * content, never a mix: fs_write_file_atomic_at() in the directory of path,
 * which the daemon trusts (its own state dir or a checked snapshot dir).
 */
int
write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	char		*dir;
	const char	*name;
	int		 dirfd, r;

	dir = path_dirname(path);
	name = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		r = -errno;
		free(dir);
		return (r);
	}
	r = fs_write_file_atomic_at(dirfd, name, buf, len, mode);
	(void)close(dirfd);
	free(dir);
	return (r);
}

/*
 * Read a file of at most max bytes; a larger one is -EFBIG rather than
 * silently truncated.  *ret_buf is NUL-terminated and owned by the caller.
 */
int
read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	int	fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return (-errno);
	r = read_fd(fd, max, ret_buf, ret_len);
	closefd(&fd);
	return (r);
}

/* Read fd to its end, at most max bytes; see util.h. */
int
read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
	char	*buf = NULL;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;
	int	 r;

	for (;;) {
		if (len == cap) {
			if (cap > max) {
				r = -EFBIG;
				goto fail;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > max + 1)
				cap = max + 1;
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = -EFBIG;
			goto fail;
		}
	}
	if (buf == NULL)
		buf = xmalloc(1);
	buf[len] = '\0';
	*ret_buf = buf;
	if (ret_len != NULL)
		*ret_len = len;
	return (0);

fail:
	free(buf);
	return (r);
}

/* Create one directory unless a directory is already there. 0 or -errno. */
static int
mkdir_one(const char *path, mode_t mode)
{
	struct stat	st;

	if (mkdir(path, mode) == 0)
		return (0);
	if (errno != EEXIST)
		return (-errno);
	if (stat(path, &st) == -1)
		return (-errno);
	return (S_ISDIR(st.st_mode) ? 0 : -ENOTDIR);
}

/* mkdir -p: create each missing component with mode; existing ones are kept as they are. */
int
mkdir_p(const char *path, mode_t mode)
{
	char	*p, *s;
	int	 r = 0;

	if (*path == '\0')
		return (-EINVAL);
	p = xstrdup(path);
	/* Cut the path at each '/' after a component and create that prefix. */
	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/' || s[-1] == '/')
			continue;
		*s = '\0';
		r = mkdir_one(p, mode);
		*s = '/';
		if (r < 0)
			goto out;
	}
	r = mkdir_one(p, mode);
out:
	free(p);
	return (r);
}

/* fsync a directory, making renames and creations in it durable. */
int
fsync_dir(const char *path)
{
	int	fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-errno);
	if (fsync(fd) == -1)
		r = -errno;
	closefd(&fd);
	return (r);
}

/* CLOCK_MONOTONIC in microseconds: for timeouts and durations, immune to clock steps. */
long
test_knob_ms(const char *name)
{
	const char	*s = getenv(name);
	long		 v;
	char		*end;

	if (s == NULL || *s == '\0')
		return 0;
	v = strtol(s, &end, 10);
	return *end == '\0' && v > 0 && v <= 60000 ? v : 0;
}

void
test_knob_sleep(const char *name)
{
	long ms = test_knob_ms(name);

	if (ms > 0)
		(void)nanosleep(&(struct timespec){ ms / 1000, ms % 1000 * 1000000 },
		    NULL);
}

uint64_t
now_usec(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* Format t as "2026-11-27T18:40:00Z"; an empty string if it cannot be represented. */
void
iso8601_utc(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	if (len == 0)
		return;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
}
