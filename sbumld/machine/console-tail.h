/* SPDX-License-Identifier: MIT */
/*
 * The last lines of a console log, fit for a JSON reply to a user who may
 * have written anything into it: read backwards from the end, at most
 * CONSOLE_TAIL_MAX_BYTES of it, carriage returns dropped, control bytes
 * and invalid UTF-8 (overlongs and surrogates too) each replaced by '?'.
 */
#ifndef SBUMLD_CONSOLE_TAIL_H
#define SBUMLD_CONSOLE_TAIL_H

#include <stddef.h>

#include <json-c/json.h>

#define CONSOLE_TAIL_MAX_BYTES	(4 * 1024 * 1024)

/*
 * The last n lines of the open file fd (read with pread: its offset does
 * not move), oldest first, as a JSON array of strings in *ret (caller
 * owns it).  An empty file gives an empty array.  0 or -errno (-EIO on a
 * short read).
 */
int	console_tail_read(int fd, size_t n, struct json_object **ret);

#endif
