/* SPDX-License-Identifier: MIT */
/*
 * A scripted fake of UML's mconsole socket for unit tests (libvirt's
 * qemuMonitorTestAddItem style): a SOCK_DGRAM server on the test's event
 * base that expects commands in order and answers each with canned reply
 * parts.  Anything unexpected is recorded as a failure.  It also checks
 * the wire format of every request and that the client never has two
 * requests outstanding.
 */
#ifndef SBUML_FAKE_MCONSOLE_H
#define SBUML_FAKE_MCONSOLE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct fake_mconsole;

#define FAKE_MAX_PARTS	8

/* Bind path (unlinked first).  NULL on failure. */
struct fake_mconsole *fake_mconsole_new(struct event_base *base, const char *path);
void	fake_mconsole_free(struct fake_mconsole *f);

/*
 * Expect cmd next; answer it after delay_ms with the given parts (UML's
 * reply format: err only on the first part, more on all but the last).
 * nparts 0: never answer (the client must time out).
 */
void	fake_mconsole_expect(struct fake_mconsole *f, const char *cmd, int err,
	    const char *const *parts, size_t nparts, unsigned int delay_ms);
/* Shorthand for a one-part answer without delay. */
void	fake_mconsole_expect1(struct fake_mconsole *f, const char *cmd, int err,
	    const char *reply);
/*
 * Modifiers for the last expected item: send a malformed datagram first
 * (junk), send a well-formed reply from a stranger socket first (stranger),
 * and answer "late" (after the client gave up: not counted as outstanding).
 */
void	fake_mconsole_junk_first(struct fake_mconsole *f);
void	fake_mconsole_stranger_first(struct fake_mconsole *f);
void	fake_mconsole_late(struct fake_mconsole *f);

/* Items not yet received. */
size_t	fake_mconsole_remaining(const struct fake_mconsole *f);
/* Problems seen (unexpected command, bad encoding, two outstanding). */
int	fake_mconsole_failures(const struct fake_mconsole *f);
/* Late answers that found the client's old socket gone (it rebinds on timeout). */
int	fake_mconsole_late_refused(const struct fake_mconsole *f);
/* The last problem, for messages ("" if none). */
const char *fake_mconsole_last_error(const struct fake_mconsole *f);

/* Send one raw datagram to path from an unbound socket. 0 or -errno. */
int	fake_send_datagram(const char *path, const void *buf, size_t len);
/* Send a well-formed mconsole_notify of type with data to path. 0 or -errno. */
int	fake_send_notify(const char *path, unsigned int type, const char *data);

#endif
