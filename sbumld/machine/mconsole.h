/* SPDX-License-Identifier: MIT */
/*
 * Client for UML's management console (arch/um/drivers/mconsole.h,
 * protocol version 2), and the notify socket UML reports to.
 *
 * The mconsole protocol has no request ids: UML answers each datagram to
 * the address it came from, in order.  So a client keeps exactly one request
 * in flight and queues the others behind it.  When a request times out its
 * late answer must not be taken for the next request's, so the client then
 * drops its socket and binds a fresh (autobound, abstract) one: the late
 * reply goes to an address nobody owns any more.
 *
 * Usage (the snapshot jobs do this through machine_mconsole_send):
 *
 *	static void save_done(int err, const char *text, void *arg);
 *	r = mconsole_send(mc, "sbuml save /path", 120000, save_done, job);
 *
 * err is 0 (ok), -EREMOTEIO (UML answered with its error flag; text is
 * UML's message), -ETIMEDOUT, -ECANCELED (the client was freed: the
 * machine went away) or another -errno (the send failed: -ENOENT or
 * -ECONNREFUSED when UML's socket is not there).
 *
 * The callback runs exactly once per accepted request, always from the
 * event loop (never from inside mconsole_send), except that
 * mconsole_free() runs the pending callbacks with -ECANCELED before it
 * returns.  text is never NULL and is valid only during the callback.
 */
#ifndef SBUMLD_MCONSOLE_H
#define SBUMLD_MCONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct mconsole;
struct mconsole_notifier;

/* Wire format (arch/um/drivers/mconsole.h). */
#define MCONSOLE_MAGIC		0xcafebabeU
#define MCONSOLE_VERSION	2
#define MCONSOLE_MAX_DATA	512
/* The longest command: UML needs len < MCONSOLE_MAX_DATA (it NUL-terminates). */
#define MCONSOLE_MAX_CMD	(MCONSOLE_MAX_DATA - 1)
/* A multi-part reply larger than this fails with -EMSGSIZE. */
#define MCONSOLE_MAX_REPLY	(1024 * 1024)
/* Requests waiting behind the one in flight; more fail with -EAGAIN. */
#define MCONSOLE_MAX_QUEUE	32
/* Default timeout for ordinary commands (stop, go, cad, version, halt). */
#define MCONSOLE_TIMEOUT_MS	5000

struct mconsole_request_wire {
	uint32_t	magic;
	uint32_t	version;
	uint32_t	len;
	char		data[MCONSOLE_MAX_DATA];
};

struct mconsole_reply_wire {
	uint32_t	err;
	uint32_t	more;
	uint32_t	len;		/* includes UML's trailing NUL */
	char		data[MCONSOLE_MAX_DATA];
};

enum mconsole_notify_type {
	MCONSOLE_NOTIFY_SOCKET = 0,	/* data: the mconsole socket path, at boot */
	MCONSOLE_NOTIFY_PANIC = 1,	/* data: the panic message */
	MCONSOLE_NOTIFY_HANG = 2,
	MCONSOLE_NOTIFY_USER = 3,	/* data: what the guest wrote to /proc/mconsole */
	_MCONSOLE_NOTIFY_MAX,
};

struct mconsole_notify_wire {
	uint32_t	magic;
	uint32_t	version;
	uint32_t	type;		/* a C enum in UML: 4 bytes on every UML arch */
	uint32_t	len;
	char		data[MCONSOLE_MAX_DATA];
};

/* Bytes of the fixed headers (the data part of a datagram may be short). */
#define MCONSOLE_REQUEST_HDR	12
#define MCONSOLE_REPLY_HDR	12
#define MCONSOLE_NOTIFY_HDR	16

/* --- Codec: pure functions, unit-tested directly. --- */

/*
 * Encode a request for cmd into *req.  Returns the number of bytes to send
 * (header + command, no NUL: UML terminates it), or -EMSGSIZE if cmd is too
 * long, -EINVAL if it is empty or contains a NUL or newline.
 */
int	mconsole_encode_request(const char *cmd, struct mconsole_request_wire *req);
/*
 * Decode one reply datagram of n bytes.  On success fills *ret_err, *ret_more
 * and points *ret_text and *ret_len at the text inside buf (without the NUL UML
 * adds).  -EBADMSG for a short or inconsistent datagram.
 */
int	mconsole_decode_reply(const void *buf, size_t n, int *ret_err,
	    int *ret_more, const char **ret_text, size_t *ret_len);
/* Decode one notify datagram; -EBADMSG if short, bad magic/version/type/len. */
int	mconsole_decode_notify(const void *buf, size_t n,
	    enum mconsole_notify_type *ret_type, const char **ret_data,
	    size_t *ret_len);
/* "socket", "panic", "hang", "user"; "unknown" otherwise. */
const char *mconsole_notify_type_to_string(enum mconsole_notify_type type);

/* --- Client --- */

typedef void (*mconsole_cb)(int err, const char *text, void *arg);

/*
 * A client for the mconsole socket at path (a copy is kept; the socket need
 * not exist yet: sends then fail with -ENOENT/-ECONNREFUSED).  name is used
 * in log messages.  Returns NULL with errno set if no socket could be made.
 * Caller owns the result (mconsole_free).
 */
struct mconsole *mconsole_new(struct event_base *base, const char *path,
	    const char *name);
/* Cancel every pending request (callbacks get -ECANCELED), close, free. Accepts NULL; returns NULL. */
struct mconsole *mconsole_free(struct mconsole *mc);
/*
 * Queue cmd ("stop", "go", "cad", "sbuml save /x", ...) with its own timeout
 * (0: MCONSOLE_TIMEOUT_MS; the clock starts when it is sent, not queued).
 * 0 when queued (cb will run exactly once), or -EMSGSIZE/-EINVAL for a bad
 * command, -EAGAIN when the queue is full (cb will not run).
 */
int	mconsole_send(struct mconsole *mc, const char *cmd, unsigned int timeout_ms,
	    mconsole_cb cb, void *arg);
/* Requests queued or in flight. */
size_t	mconsole_pending(const struct mconsole *mc);

/* --- Notify socket --- */

typedef void (*mconsole_notify_cb)(enum mconsole_notify_type type,
	    const char *data, size_t len, void *arg);

/*
 * Bind a SOCK_DGRAM socket at path (a stale file there is unlinked first,
 * mode 0600) and call cb for every well-formed notification; malformed
 * datagrams are logged at debug level and dropped.  data is NUL-terminated
 * at len for convenience.  Returns NULL with errno set on failure.
 */
struct mconsole_notifier *mconsole_notifier_new(struct event_base *base,
	    const char *path, mconsole_notify_cb cb, void *arg);
/* Stop listening, close and unlink the socket (if still ours), free. Accepts NULL; returns NULL. */
struct mconsole_notifier *mconsole_notifier_free(struct mconsole_notifier *n);

#endif
