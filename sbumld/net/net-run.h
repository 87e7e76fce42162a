/* SPDX-License-Identifier: MIT */
/*
 * Running the host's network tools (ip, nft) as programs with an argv, no
 * shell: found in the usual sbin directories, run with an empty
 * environment but PATH, optional stdin text, their stderr kept for the
 * error message.  Runs on the event loop and waits (these tools take
 * milliseconds); the child is reaped here, before the SIGCHLD event
 * (child.h) could see it.
 */
#ifndef SBUMLD_NET_RUN_H
#define SBUMLD_NET_RUN_H

#include <stddef.h>

/* The absolute path of tool (e.g. "nft") in /usr/sbin, /sbin, /usr/bin, /bin, or NULL. */
const char *net_tool_path(const char *tool);
/*
 * Run argv (argv[0] a tool name, looked up with net_tool_path) with input
 * on its stdin (NULL: /dev/null).  0 if it exited 0; else -EIO (or -ENOENT
 * if the tool is missing, -errno if it could not start) with the command
 * and its stderr in err.
 */
int	net_run(const char *const *argv, const char *input, char *err,
	    size_t errlen);

#endif
