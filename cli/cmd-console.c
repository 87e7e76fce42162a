/* SPDX-License-Identifier: MIT */
/*
 * sbumlctl console MACHINE --attach: the interactive console (like
 * `virsh console`).  The daemon turns the connection into the console's
 * raw byte stream (doc/rpc.md, machine.console-attach); this pumps it
 * both ways with poll(2): output to stdout, stdin to the guest.  Ctrl-]
 * detaches.  A terminal on stdin is put in raw mode, so every key goes to
 * the guest (whose own tty echoes), and restored on every way out.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "sbumlctl.h"

#define CONSOLE_ESCAPE	0x1d	/* Ctrl-] */

static struct termios		saved_tio;
static bool			tio_saved;
static volatile sig_atomic_t	got_signal;

static void
console_signal(int sig)
{
	got_signal = sig;
}

/* Put back the terminal as it was (a no-op if it was never changed). */
static void
console_restore_tty(void)
{
	if (tio_saved) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
		tio_saved = false;
	}
}

/* Raw mode on a terminal stdin; ours to restore (atexit too). 0 or -errno. */
static int
console_raw_tty(void)
{
	struct termios	tio;

	if (!isatty(STDIN_FILENO))
		return 0;
	if (tcgetattr(STDIN_FILENO, &saved_tio) == -1)
		return -errno;
	tio = saved_tio;
	cfmakeraw(&tio);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) == -1)
		return -errno;
	tio_saved = true;
	return 0;
}

/* SIGTERM, SIGHUP, SIGINT end the pump (poll returns EINTR). */
static void
console_catch_signals(void)
{
	static const int	sigs[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT };
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = console_signal;
	(void)sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)sigaction(sigs[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
}

/* Write all of buf to fd.  0 or -errno. */
static int
console_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR && !got_signal)
			continue;
		if (n <= 0)
			return n == 0 ? -EIO : -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Keyboard input: what comes before a Ctrl-] goes to the guest (if we
 * write), the escape ends the session.  1 to detach, 0 or -errno.
 */
static int
console_from_stdin(int sock, bool write, const char *buf, size_t len)
{
	const char	*esc = memchr(buf, CONSOLE_ESCAPE, len);
	size_t		 n = esc != NULL ? (size_t)(esc - buf) : len;
	int		 r;

	if (write && n > 0 && (r = console_write_all(sock, buf, n)) < 0)
		return r;
	return esc != NULL ? 1 : 0;
}

enum console_end { CONSOLE_DETACHED, CONSOLE_CLOSED, CONSOLE_SIGNAL };

/* The pump.  The way it ended, or -errno. */
static int
console_pump(int sock, bool write)
{
	struct pollfd	pfd[2];
	char		buf[16384];
	ssize_t		n;
	bool		stdin_open = true;
	int		r;

	for (;;) {
		pfd[0].fd = sock;
		pfd[0].events = POLLIN;
		pfd[1].fd = stdin_open ? STDIN_FILENO : -1;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR && got_signal)
				return CONSOLE_SIGNAL;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(sock, buf, sizeof(buf));
			if (n == 0 || (n == -1 && errno == ECONNRESET))
				return CONSOLE_CLOSED;
			if (n == -1 && errno != EINTR)
				return -errno;
			if (n > 0 &&
			    (r = console_write_all(STDOUT_FILENO, buf, (size_t)n)) < 0)
				return r;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				/* No more input; the output goes on. */
				stdin_open = false;
				if (write)
					(void)shutdown(sock, SHUT_WR);
				continue;
			}
			if ((r = console_from_stdin(sock, write, buf,
			    (size_t)n)) != 0)
				return r < 0 ? r : CONSOLE_DETACHED;
		}
	}
}

/* See sbumlctl.h. */
int
ctl_console_attach(struct ctl *ctl, const char *machine, bool write)
{
	char	*pending = NULL;
	size_t	 npending = 0;
	int	 sock = -1, r, ex;

	if ((ex = ctl_connect(ctl)) != 0)
		return ex;
	/* The attach itself is quick; the stream has no timeout. */
	r = sbuml_console_attach(ctl->client, machine, write, &sock, &pending,
	    &npending);
	if (r < 0)
		return ctl_fail(ctl, r);
	fprintf(stderr, "Connected to the console of %s (%s). Escape character "
	    "is ^] (Ctrl + ]).\n", machine, write ? "read-write" : "read-only");
	console_catch_signals();
	if ((r = console_raw_tty()) < 0)
		fprintf(stderr, "%s: cannot put the terminal in raw mode: %s\n",
		    ctl->progname, strerror(-r));
	if (atexit(console_restore_tty) != 0)
		fprintf(stderr, "%s: atexit failed\n", ctl->progname);
	r = npending > 0 ? console_write_all(STDOUT_FILENO, pending, npending) : 0;
	free(pending);
	if (r == 0)
		r = console_pump(sock, write);
	console_restore_tty();
	(void)close(sock);
	switch (r) {
	case CONSOLE_DETACHED:
	case CONSOLE_SIGNAL:
		fprintf(stderr, "\nDetached from the console of %s.\n", machine);
		return CTL_EXIT_OK;
	case CONSOLE_CLOSED:
		fprintf(stderr, "\nThe console of %s closed (the machine "
		    "stopped, or sbumld went away).\n", machine);
		return CTL_EXIT_OK;
	default:
		fprintf(stderr, "%s: console: %s\n", ctl->progname, strerror(-r));
		return CTL_EXIT_FAILURE;
	}
}
