/* SPDX-License-Identifier: MIT */
/* Running ip and nft; see net-run.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "net-run.h"
#include "util.h"

#define NET_RUN_ERR_MAX	1024	/* bytes of a tool's stderr kept */
#define NET_RUN_INPUT_MAX 4096	/* stdin text: well inside a pipe's buffer */

const char *
net_tool_path(const char *tool)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin",
	    "/bin" };
	static char	path[64];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], tool);
		if (access(path, X_OK) == 0)
			return (path);
	}
	return (NULL);
}

/* In the child: stdin from in, stdout to /dev/null, stderr to errw; exec. */
static void __attribute__((noreturn))
net_run_child(const char *path, char *const *argv, int in, int errw)
{
	static char *const envp[] = {
	    "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int	null = open("/dev/null", O_RDWR);

	if (null < 0 || dup2(in >= 0 ? in : null, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(errw, 2) < 0)
		_exit(126);
	execve(path, argv, envp);
	_exit(127);
}

/* The command line of argv into buf, for messages. */
static void
net_run_describe(const char *const *argv, char *buf, size_t len)
{
	size_t	off = 0;

	buf[0] = '\0';
	for (size_t i = 0; argv[i] != NULL && off + 1 < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i ? " " : "", argv[i]);
}

int
net_run(const char *const *argv, const char *input, char *err, size_t errlen)
{
	char		 tool[64], out[NET_RUN_ERR_MAX + 1], cmd[256];
	const char	*path;
	int		 inp[2] = { -1, -1 }, errp[2] = { -1, -1 }, status, r;
	size_t		 got = 0;
	ssize_t		 n;
	pid_t		 pid;

	net_run_describe(argv, cmd, sizeof(cmd));
	snprintf(tool, sizeof(tool), "%s", argv[0]);
	if ((path = net_tool_path(tool)) == NULL) {
		snprintf(err, errlen, "%s: not installed", tool);
		return (-ENOENT);
	}
	if (input != NULL && strlen(input) > NET_RUN_INPUT_MAX) {
		snprintf(err, errlen, "%s: input too long", cmd);
		return (-E2BIG);
	}
	if ((input != NULL && pipe2(inp, O_CLOEXEC) == -1) ||
	    pipe2(errp, O_CLOEXEC) == -1) {
		r = -errno;
		snprintf(err, errlen, "%s: pipe: %s", cmd, strerror(-r));
		goto out;
	}
	if ((pid = fork()) == -1) {
		r = -errno;
		snprintf(err, errlen, "%s: fork: %s", cmd, strerror(-r));
		goto out;
	}
	if (pid == 0) {
		/* execve's prototype predates const; it does not write argv. */
		union { const char *const *c; char *const *v; } u = { .c = argv };

		net_run_child(path, u.v, inp[0], errp[1]);
	}
	closefd(&inp[0]);
	closefd(&errp[1]);
	/* Small input (NET_RUN_INPUT_MAX) fits the pipe: no deadlock. */
	if (input != NULL && write_fd_all(inp[1], input, strlen(input)) < 0)
		log_warn("%s: writing its input", cmd);
	closefd(&inp[1]);
	while ((n = read(errp[0], out + got, NET_RUN_ERR_MAX - got)) > 0 ||
	    (n == -1 && errno == EINTR))
		if (n > 0)
			got += (size_t)n;
	out[got] = '\0';
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			status = -1;
			break;
		}
	r = 0;
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == ' '))
			out[--got] = '\0';
		snprintf(err, errlen, "%s failed: %s", cmd,
		    got > 0 ? out : "(no message)");
		r = -EIO;
	}
out:
	closefd(&inp[0]);
	closefd(&inp[1]);
	closefd(&errp[0]);
	closefd(&errp[1]);
	return (r);
}
