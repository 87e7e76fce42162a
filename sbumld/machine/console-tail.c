/* SPDX-License-Identifier: MIT */
/* The last lines of a machine's console.log, made fit for JSON. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fsat.h"
#include "machine-int.h"
#include "util.h"

#define MACHINE_TAIL_MAX_BYTES	(4 * 1024 * 1024)

/* Append one console line to arr, made valid UTF-8 without control bytes. */
static void
machine_tail_add_line(struct json_object *arr, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			*out;
	size_t			 i = 0, o = 0, need, k;

	out = xmalloc(len + 1);
	while (i < len) {
		unsigned char c = p[i];

		if (c < 0x80) {
			if (c == '\r') {
				i++;
				continue;
			}
			out[o++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' :
			    (char)c;
			i++;
			continue;
		}
		/* A well-formed multi-byte sequence is copied, anything else is '?'. */
		need = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 :
		    c >= 0xc2 && c <= 0xdf ? 1 : 0;
		if (c >= 0xf5)
			need = 0;
		for (k = 1; need != 0 && k <= need; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				need = 0;
		}
		/* Reject overlongs and surrogates. */
		if ((need == 2 && ((c == 0xe0 && p[i + 1] < 0xa0) ||
		    (c == 0xed && p[i + 1] >= 0xa0))) ||
		    (need == 3 && ((c == 0xf0 && p[i + 1] < 0x90) ||
		    (c == 0xf4 && p[i + 1] >= 0x90))))
			need = 0;
		if (need == 0) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, p + i, need + 1);
		o += need + 1;
		i += need + 1;
	}
	out[o] = '\0';
	json_object_array_add(arr, json_object_new_string_len(out, (int)o));
	free(out);
}

/* The last n console lines; see machine.h. */
struct json_object *
machine_console_tail(const struct machine *m, size_t n)
{
	struct json_object	*arr;
	struct stat		 st;
	char			*buf, *start, *end, *nl;
	size_t			 cap, off, chunk, lines = 0, total;
	off_t			 pos;
	ssize_t			 r;
	bool			 partial_first;
	int			 fd, dfd;

	/* A user may have put a symlink, FIFO or hard link there: refused. */
	if ((dfd = machine_dir_open(m)) < 0) {
		errno = -dfd;
		return (NULL);
	}
	fd = fs_openat_file(dfd, "console.log", O_RDONLY, 0);
	(void)close(dfd);
	if (fd < 0) {
		if (fd == -ENOENT)
			return (json_object_new_array());
		errno = -fd;
		return (NULL);
	}
	if (fstat(fd, &st) == -1) {
		(void)close(fd);
		return (NULL);
	}
	pos = st.st_size;
	cap = (size_t)pos < MACHINE_TAIL_MAX_BYTES ? (size_t)pos :
	    MACHINE_TAIL_MAX_BYTES;
	buf = xmalloc(cap + 1);
	off = cap;
	/* Read backwards until n complete lines (plus the one before) are in. */
	while (off > 0 && pos > 0 && lines <= n) {
		chunk = off < 65536 ? off : 65536;
		if ((off_t)chunk > pos)
			chunk = (size_t)pos;
		r = pread(fd, buf + off - chunk, chunk, pos - (off_t)chunk);
		if (r != (ssize_t)chunk) {
			free(buf);
			(void)close(fd);
			errno = EIO;
			return (NULL);
		}
		for (size_t i = 0; i < chunk; i++) {
			if (buf[off - chunk + i] == '\n')
				lines++;
		}
		/* The newline ending the file does not start a line. */
		if (off == cap && chunk > 0 && buf[cap - 1] == '\n')
			lines--;
		off -= chunk;
		pos -= (off_t)chunk;
	}
	(void)close(fd);
	start = buf + off;
	end = buf + cap;
	if (end > start && end[-1] == '\n')
		end--;
	*end = '\0';
	/* Unless we reached the start of the file, the first piece is partial. */
	partial_first = pos > 0;
	total = 0;
	for (char *p = start; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		total++;
	}
	arr = json_object_new_array();
	if (start < end || (!partial_first && cap > 0)) {
		size_t idx = 0, skip;

		skip = total > n ? total - n : 0;
		if (partial_first && skip == 0 && total > 0)
			skip = 1;
		for (char *p = start; p <= end; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			if (idx++ >= skip)
				machine_tail_add_line(arr, p, (size_t)(nl - p));
			if (nl == end)
				break;
		}
	}
	free(buf);
	return (arr);
}
