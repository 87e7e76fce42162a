/* SPDX-License-Identifier: MIT */
/*
 * Logging for sbumld, with the OpenBSD log.c API.  Three sinks:
 *  - the journal: under systemd stderr is a journal stream ($JOURNAL_STREAM
 *    holds its "dev:ino"), so each line gets an sd-daemon "<N>" prefix and
 *    journald files it at the right priority;
 *  - plain stderr with --foreground (-d), for a terminal;
 *  - syslog otherwise.
 * Each message is formatted once and written with one write(2), so lines
 * from libevent callbacks cannot interleave.  libevent's own messages come in
 * through event_set_log_callback; json-c has no log callback (its mc_error
 * writes to stderr, or to syslog after mc_set_syslog), so we only point it at
 * syslog when that is our sink.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <json-c/debug.h>

#include "log.h"

enum log_sink { LOG_SINK_STDERR, LOG_SINK_JOURNAL, LOG_SINK_SYSLOG };

static enum log_sink	log_sink = LOG_SINK_STDERR;
static enum log_level	log_level = LOG_LEVEL_INFO;

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static void	log_vwrite(int prio, const char *fmt, va_list ap, int errnum)
		    __attribute__((format(printf, 2, 0)));

/* True if $JOURNAL_STREAM names the file our stderr is (sd_journal_stream_fd(3)). */
static int
log_stderr_is_journal(void)
{
	const char		*e;
	unsigned long long	 dev, ino;
	struct stat		 st;

	if ((e = getenv("JOURNAL_STREAM")) == NULL)
		return (0);
	if (sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return (0);
	if (fstat(STDERR_FILENO, &st) == -1)
		return (0);
	return ((unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino);
}

/* Our level of a syslog priority, to filter messages. */
static enum log_level
log_prio_level(int prio)
{
	if (prio <= LOG_ERR)
		return (LOG_LEVEL_ERROR);
	if (prio == LOG_WARNING)
		return (LOG_LEVEL_WARNING);
	if (prio <= LOG_INFO)
		return (LOG_LEVEL_INFO);
	return (LOG_LEVEL_DEBUG);
}

/* libevent's messages, at their own priority. */
static void
log_libevent(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

/* Choose the sink and level; see log.h. */
void
log_init(int to_stderr, enum log_level level)
{
	if (log_stderr_is_journal())
		log_sink = LOG_SINK_JOURNAL;
	else if (to_stderr)
		log_sink = LOG_SINK_STDERR;
	else
		log_sink = LOG_SINK_SYSLOG;
	log_level = level;

	if (log_sink == LOG_SINK_SYSLOG) {
		openlog("sbumld", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		mc_set_syslog(1);
	}
	/* libevent's fatal errors also pass through here before it aborts. */
	event_set_log_callback(log_libevent);
}

/* Reconnect to syslogd, which may have been restarted. */
void
log_reopen(void)
{
	if (log_sink != LOG_SINK_SYSLOG)
		return;
	closelog();
	openlog("sbumld", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* Change the level at run time (daemon.set-log-level, -v). */
void
log_setlevel(enum log_level level)
{
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_level = level;
}

/* The current level. */
enum log_level
log_getlevel(void)
{
	return (log_level);
}

/* Parse a level name; see log.h. */
int
log_level_from_string(const char *s, enum log_level *ret)
{
	size_t	i;

	if (s == NULL)
		return (-EINVAL);
	for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return (0);
		}
	}
	return (-EINVAL);
}

/* Name of a level. */
const char *
log_level_to_string(enum log_level level)
{
	if ((size_t)level >= sizeof(log_level_names) / sizeof(log_level_names[0]))
		return ("debug");
	return (log_level_names[level]);
}

/*
 * Format and emit one message.  errnum >= 0 appends ": strerror(errnum)".
 * Long messages are truncated rather than allocated: logging must work when
 * memory is short (fatal is called on OOM).
 */
static void
log_vwrite(int prio, const char *fmt, va_list ap, int errnum)
{
	char	msg[4096], line[4200];
	int	n;

	if (log_prio_level(prio) > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);

	switch (log_sink) {
	case LOG_SINK_SYSLOG:
		if (errnum >= 0)
			syslog(prio, "%s: %s", msg, strerror(errnum));
		else
			syslog(prio, "%s", msg);
		return;
	case LOG_SINK_JOURNAL:
		if (errnum >= 0)
			n = snprintf(line, sizeof(line), "<%d>%s: %s\n", prio, msg,
			    strerror(errnum));
		else
			n = snprintf(line, sizeof(line), "<%d>%s\n", prio, msg);
		break;
	case LOG_SINK_STDERR:
	default:
		if (errnum >= 0)
			n = snprintf(line, sizeof(line), "%s: %s\n", msg,
			    strerror(errnum));
		else
			n = snprintf(line, sizeof(line), "%s\n", msg);
		break;
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* Nothing sensible to do if stderr is gone. */
	if (write(STDERR_FILENO, line, (size_t)n) == -1)
		return;
}

/* Warning with ": strerror(errno)"; errno is preserved for the caller. */
void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap, saved);
	va_end(ap);
	errno = saved;
}

/* Warning without errno. */
void
log_warnx(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap, -1);
	va_end(ap);
	errno = saved;
}

/* Informational message. */
void
log_info(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, fmt, ap, -1);
	va_end(ap);
	errno = saved;
}

/* Debug message, shown only at level debug. */
void
log_debug(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	if (log_level < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap, -1);
	va_end(ap);
	errno = saved;
}

/* Log with ": strerror(errno)" at critical priority and exit. */
void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap, saved);
	va_end(ap);
	exit(1);
}

/* Log at critical priority and exit. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap, -1);
	va_end(ap);
	exit(1);
}
