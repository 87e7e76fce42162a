/* SPDX-License-Identifier: MIT */
/* The last lines of a console log; see console-tail.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console-tail.h"
#include "util.h"

#define CONSOLE_TAIL_CHUNK	65536	/* bytes per pread */

/*
 * Length of the well-formed UTF-8 sequence starting at p[0] (a byte >=
 * 0x80) within len bytes: 2 to 4, or 0 if it is malformed, overlong or a
 * surrogate.
 */
static size_t
console_tail_utf8_len(const unsigned char *p, size_t len)
{
	unsigned char	c = p[0];
	size_t		need;

	need = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 :
	    c >= 0xc2 && c <= 0xdf ? 1 : 0;
	if (c >= 0xf5)
		need = 0;
	for (size_t k = 1; need != 0 && k <= need; k++) {
		if (k >= len || (p[k] & 0xc0) != 0x80)
			need = 0;
	}
	/* Reject overlongs and surrogates. */
	if ((need == 2 && ((c == 0xe0 && p[1] < 0xa0) ||
	    (c == 0xed && p[1] >= 0xa0))) ||
	    (need == 3 && ((c == 0xf0 && p[1] < 0x90) ||
	    (c == 0xf4 && p[1] >= 0x90))))
		need = 0;
	return (need == 0 ? 0 : need + 1);
}

/* Append one console line to arr, made valid UTF-8 without control bytes. */
static void
console_tail_add_line(struct json_object *arr, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			*out;
	size_t			 i = 0, o = 0, seq;

	out = xmalloc(len + 1);
	while (i < len) {
		unsigned char c = p[i];

		if (c < 0x80) {
			if (c != '\r')
				out[o++] = (c < 0x20 && c != '\t') || c == 0x7f ?
				    '?' : (char)c;
			i++;
			continue;
		}
		/* A well-formed multi-byte sequence is copied, anything else is '?'. */
		if ((seq = console_tail_utf8_len(p + i, len - i)) == 0) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, p + i, seq);
		o += seq;
		i += seq;
	}
	out[o] = '\0';
	json_object_array_add(arr, json_object_new_string_len(out, (int)o));
	free(out);
}

/*
 * Fill buf[*off..cap) from the end of fd backwards (pos: the file size on
 * entry, where the filled part starts on return) until n complete lines
 * and the one before are in, or buf or the file is exhausted.  0 or -EIO.
 */
static int
console_tail_fill(int fd, char *buf, size_t cap, size_t n, size_t *off,
    off_t *pos)
{
	size_t	chunk, lines = 0;
	ssize_t	r;

	while (*off > 0 && *pos > 0 && lines <= n) {
		chunk = *off < CONSOLE_TAIL_CHUNK ? *off : CONSOLE_TAIL_CHUNK;
		if ((off_t)chunk > *pos)
			chunk = (size_t)*pos;
		r = pread(fd, buf + *off - chunk, chunk, *pos - (off_t)chunk);
		if (r != (ssize_t)chunk)
			return (-EIO);
		for (size_t i = 0; i < chunk; i++) {
			if (buf[*off - chunk + i] == '\n')
				lines++;
		}
		/* The newline ending the file does not start a line. */
		if (*off == cap && chunk > 0 && buf[cap - 1] == '\n')
			lines--;
		*off -= chunk;
		*pos -= (off_t)chunk;
	}
	return (0);
}

/*
 * The last n of the lines in [start, end) (NUL-terminated at end) as a
 * JSON array.  partial_first: start is not the start of the file, so the
 * first piece may be the tail of a longer line and is dropped.
 */
static struct json_object *
console_tail_lines(char *start, char *end, bool partial_first, bool empty,
    size_t n)
{
	struct json_object	*arr;
	size_t			 total = 0, idx = 0, skip;
	char			*nl;

	for (char *p = start; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		total++;
	}
	arr = json_object_new_array();
	if (start >= end && (partial_first || empty))
		return (arr);
	skip = total > n ? total - n : 0;
	if (partial_first && skip == 0 && total > 0)
		skip = 1;
	for (char *p = start; p <= end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (idx++ >= skip)
			console_tail_add_line(arr, p, (size_t)(nl - p));
		if (nl == end)
			break;
	}
	return (arr);
}

/* The last n lines of fd; see console-tail.h. */
int
console_tail_read(int fd, size_t n, struct json_object **ret)
{
	struct stat	 st;
	char		*buf, *end;
	size_t		 cap, off;
	off_t		 pos;
	int		 r;

	if (fstat(fd, &st) == -1)
		return (-errno);
	pos = st.st_size;
	cap = (size_t)pos < CONSOLE_TAIL_MAX_BYTES ? (size_t)pos :
	    CONSOLE_TAIL_MAX_BYTES;
	buf = xmalloc(cap + 1);
	off = cap;
	if ((r = console_tail_fill(fd, buf, cap, n, &off, &pos)) < 0) {
		free(buf);
		return (r);
	}
	end = buf + cap;
	if (end > buf + off && end[-1] == '\n')
		end--;
	*end = '\0';
	/* Unless we reached the start of the file, the first piece is partial. */
	*ret = console_tail_lines(buf + off, end, pos > 0, cap == 0, n);
	free(buf);
	return (0);
}
