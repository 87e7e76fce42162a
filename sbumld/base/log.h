/* SPDX-License-Identifier: MIT */
/*
 * The one log module of sbumld (OpenBSD log.c API).  Under systemd (stderr is
 * the journal, $JOURNAL_STREAM set) lines carry <N> sd-daemon priority
 * prefixes; with --foreground on a terminal they are plain; otherwise syslog.
 * libevent and json-c messages are routed here too.
 */
#ifndef SBUMLD_LOG_H
#define SBUMLD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/*
 * Pick the sink: the journal's stderr if $JOURNAL_STREAM names our stderr,
 * plain stderr if to_stderr, syslog otherwise.  May be called again (main.c
 * logs to stderr while parsing options, then re-initialises).
 */
void	log_init(int to_stderr, enum log_level level);
/* SIGHUP: reopen the syslog connection (stderr needs nothing). */
void	log_reopen(void);
void	log_setlevel(enum log_level level);
enum log_level log_getlevel(void);
/* "debug", "info", "warning", "error".  0 or -EINVAL (*ret untouched). */
int	log_level_from_string(const char *s, enum log_level *ret);
/* The inverse; a static string, never NULL. */
const char *log_level_to_string(enum log_level level);

/* log_warn adds ": strerror(errno)" and preserves errno; log_warnx does not. */
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal/fatalx are for start-up failures and broken invariants only. */
void	fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
