/* SPDX-License-Identifier: MIT */
/*
 * libsbuml-client: a small synchronous client for the sbumld JSON-RPC 2.0
 * interface (doc/rpc.md).  One handle is one connection; it carries at most
 * one call at a time.  Server notifications (events) that arrive while a
 * call waits for its answer are queued and handed out by sbuml_next_event().
 *
 * Conventions:
 *  - every int-returning function returns 0 on success or a negative errno;
 *  - ret_* out-parameters are written only on success;
 *  - the library never logs, never aborts, never raises SIGPIPE;
 *  - JSON values are json-c objects (<json-c/json.h>).  "Caller owns" means
 *    the caller must json_object_put() it; "borrowed" means it belongs to the
 *    client and stays valid until the next call on the same handle.
 *
 * Error codes used throughout:
 *  -ENOMEM       out of memory
 *  -EINVAL       bad argument (NULL handle, empty method, ...)
 *  -ENOENT, -ECONNREFUSED, -EACCES, -ENAMETOOLONG   from sbuml_connect()
 *  -ETIMEDOUT    no answer before the timeout (the call may still complete in
 *                the daemon; its late answer is discarded)
 *  -EPROTO       the daemon sent something that is not valid JSON-RPC 2.0
 *  -ECONNRESET   the daemon closed the connection
 *  -EREMOTEIO    the daemon answered with an error object: see
 *                sbuml_last_error()
 *
 * After -ECONNRESET, an oversized (> 64 MiB) answer line, or a request that
 * timed out half-written, the handle is dead: every further call returns
 * that same error (queued events can still be read).  Close it and connect
 * again.
 *
 * Thread safety: a handle must not be used by two threads at once.
 */
#ifndef SBUML_CLIENT_H
#define SBUML_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;
struct sbuml_client;

/* Where sbuml_connect(NULL) goes when $SBUML_SOCKET is unset or empty. */
#define SBUML_DEFAULT_SOCKET		"/run/sbuml/sbumld.sock"
/* Environment variable naming the daemon socket. */
#define SBUML_SOCKET_ENV		"SBUML_SOCKET"
/* Default per-call timeout: long enough for machine.boot and halt. */
#define SBUML_DEFAULT_TIMEOUT_MS	(5 * 60 * 1000)
/*
 * Floor of the timeout of the snapshot.* helpers: a save or restore of a
 * big machine takes minutes and the daemon only answers when it is done.
 */
#define SBUML_SNAPSHOT_TIMEOUT_MS	(15 * 60 * 1000)
/* At most this many unread notifications are queued; older ones are dropped. */
#define SBUML_EVENT_QUEUE_MAX		4096

/* JSON-RPC error codes of doc/rpc.md (sbuml_error.code). */
#define SBUML_E_PARSE_ERROR		-32700
#define SBUML_E_INVALID_REQUEST		-32600
#define SBUML_E_METHOD_NOT_FOUND	-32601
#define SBUML_E_INVALID_PARAMS		-32602
#define SBUML_E_INTERNAL_ERROR		-32603
#define SBUML_E_LIMIT_EXCEEDED		-32000
#define SBUML_E_NO_SUCH_MACHINE		-32001
#define SBUML_E_MACHINE_EXISTS		-32002
#define SBUML_E_BAD_STATE		-32003
#define SBUML_E_BOOT_FAILED		-32004
#define SBUML_E_TIMEOUT			-32005
#define SBUML_E_NOT_SUPPORTED		-32006
#define SBUML_E_SAVE_IN_PROGRESS	-32007
#define SBUML_E_NO_SUCH_SNAPSHOT	-32008
#define SBUML_E_SNAPSHOT_EXISTS		-32009
#define SBUML_E_BAD_SNAPSHOT		-32010
#define SBUML_E_INCOMPATIBLE		-32011
#define SBUML_E_IO_ERROR		-32012
#define SBUML_E_PERMISSION_DENIED	-32013

/*
 * The error object of the last call that returned -EREMOTEIO.  All members
 * are borrowed from the handle and valid until the next call on it.
 */
struct sbuml_error {
	int			 code;		/* e.g. SBUML_E_NO_SUCH_MACHINE */
	const char		*name;		/* data.name, e.g. "NoSuchMachine"; "" if absent */
	const char		*message;	/* human-readable, never NULL */
	struct json_object	*data;		/* the whole error.data object, or NULL */
};

/* ---- Connection ------------------------------------------------------- */

/*
 * Connect to the daemon at path; NULL means $SBUML_SOCKET, then
 * SBUML_DEFAULT_SOCKET.  On success *ret_client is a new handle the caller
 * frees with sbuml_close().  Returns 0 or -errno (-ENOENT, -ECONNREFUSED,
 * -EACCES, -ENAMETOOLONG, -ENOMEM, ...).
 */
int	sbuml_connect(const char *path, struct sbuml_client **ret_client);

/* Close the connection and free the handle; accepts NULL; returns NULL. */
struct sbuml_client *sbuml_close(struct sbuml_client *client);

/*
 * Set the timeout of each following call in milliseconds; a negative value
 * waits forever, 0 is refused (-EINVAL).  The default is
 * SBUML_DEFAULT_TIMEOUT_MS.
 */
int	sbuml_set_timeout(struct sbuml_client *client, int timeout_ms);
/* The current per-call timeout in milliseconds (negative: none). */
int	sbuml_get_timeout(const struct sbuml_client *client);

/*
 * The connected socket, for poll(POLLIN) in an event loop.  Readable data
 * may already sit in the handle's buffer: drain sbuml_next_event(c, 0, ...)
 * until it returns -ETIMEDOUT before polling.  Never read or write it.
 */
int	sbuml_get_fd(const struct sbuml_client *client);

/* The socket path this handle connected to (borrowed, valid until close). */
const char *sbuml_get_path(const struct sbuml_client *client);

/*
 * The error answered by the daemon for the last call (or sbuml_next_event),
 * or NULL when it did not return -EREMOTEIO.  Borrowed: valid until the
 * next call on the handle.
 */
const struct sbuml_error *sbuml_last_error(const struct sbuml_client *client);

/* ---- Generic call ----------------------------------------------------- */

/*
 * Call method with params (a JSON object, or NULL for none).  params is
 * borrowed: the caller keeps its reference.  On success, if ret_result is
 * not NULL, *ret_result is the result, owned by the caller (NULL if the
 * result was JSON null).  Notifications that arrive meanwhile are queued
 * for sbuml_next_event().  Returns 0 or -errno (see the list above).
 */
int	sbuml_call(struct sbuml_client *client, const char *method,
	    struct json_object *params, struct json_object **ret_result);

/* Same as sbuml_call() with an explicit timeout for this call only. */
int	sbuml_call_timeout(struct sbuml_client *client, const char *method,
	    struct json_object *params, int timeout_ms,
	    struct json_object **ret_result);
/*
 * Same as sbuml_call_timeout(), passing the open descriptor fd to the
 * daemon with the request (SCM_RIGHTS), for methods that take "fd": true.
 * The caller keeps its own copy of fd.
 */
int	sbuml_call_with_fd(struct sbuml_client *client, const char *method,
	    struct json_object *params, int fd, int timeout_ms,
	    struct json_object **ret_result);

/* ---- Events ----------------------------------------------------------- */

/*
 * Return the next server notification: the queued ones first, else wait up
 * to timeout_ms (0: do not wait, negative: forever).  *ret_method is a
 * malloc'd string the caller free()s; *ret_params (may be NULL if not
 * wanted) is owned by the caller and may be set to NULL when the
 * notification had no params.  Returns 0, -ETIMEDOUT when nothing came,
 * -ECONNRESET, -EPROTO, -ENOMEM.
 */
int	sbuml_next_event(struct sbuml_client *client, int timeout_ms,
	    char **ret_method, struct json_object **ret_params);

/* How many notifications were dropped because the queue was full. */
uint64_t sbuml_events_dropped(const struct sbuml_client *client);

/* events.subscribe / events.unsubscribe. */
int	sbuml_events_subscribe(struct sbuml_client *client);
int	sbuml_events_unsubscribe(struct sbuml_client *client);

/* ---- Daemon ----------------------------------------------------------- */

/* daemon.ping: 0 when the daemon answered {"pong": true}. */
int	sbuml_daemon_ping(struct sbuml_client *client);
/* daemon.version: *ret_result (caller owns) is {"version", "api", ...}. */
int	sbuml_daemon_version(struct sbuml_client *client,
	    struct json_object **ret_result);
/* daemon.set-log-level: level is "debug", "info", "warning" or "error". */
int	sbuml_daemon_set_log_level(struct sbuml_client *client,
	    const char *level);

/* ---- Machines --------------------------------------------------------- */

/*
 * machine.boot parameters.  Zero-initialise and fill in what you need:
 * NULL strings, 0 numbers and a NULL disks array mean "daemon default"
 * (and are left out of the request, as doc/rpc.md requires for re-boots).
 */
struct sbuml_boot_options {
	const char		*machine;	/* required: name or absolute path */
	const char		*image;		/* absolute path of the base image */
	const char		*kernel;	/* absolute path of a UML kernel */
	const char		*cmdline;	/* extra kernel command line */
	unsigned int		 mem_mb;	/* 16 ... 16384 */
	const char *const	*disks;		/* NULL-terminated absolute paths */
	const char		*net;		/* network name or "none" */
	const char *const	*publish;	/* NULL-terminated "[IP:]H:G[/proto]" */
};

/*
 * For every helper below, ret_result may be NULL when the caller does not
 * want the result; otherwise *ret_result is owned by the caller and is what
 * doc/rpc.md says the method returns (the machine object for
 * boot/info/pause/resume/halt/kill).
 */

/* machine.boot; the machine object once it runs. */
int	sbuml_machine_boot(struct sbuml_client *client,
	    const struct sbuml_boot_options *opts,
	    struct json_object **ret_result);
/* machine.list; {"machines": [machine, ...]}. */
int	sbuml_machine_list(struct sbuml_client *client,
	    struct json_object **ret_result);
/* machine.info; the machine object. */
int	sbuml_machine_info(struct sbuml_client *client, const char *machine,
	    struct json_object **ret_result);
/* machine.pause; the machine object. */
int	sbuml_machine_pause(struct sbuml_client *client, const char *machine,
	    struct json_object **ret_result);
/* machine.resume; the machine object. */
int	sbuml_machine_resume(struct sbuml_client *client, const char *machine,
	    struct json_object **ret_result);
/*
 * machine.halt; timeout_s 0 means the daemon default (30 s).  The call
 * waits at least timeout_s + 30 s even if the handle's timeout is shorter,
 * since the daemon only answers after the guest is down.
 */
int	sbuml_machine_halt(struct sbuml_client *client, const char *machine,
	    unsigned int timeout_s, struct json_object **ret_result);
/* machine.kill; the machine object. */
int	sbuml_machine_kill(struct sbuml_client *client, const char *machine,
	    struct json_object **ret_result);
/* machine.console; lines 0 means the default (50); {"lines": [...]}. */
int	sbuml_machine_console(struct sbuml_client *client, const char *machine,
	    unsigned int lines, struct json_object **ret_result);
/*
 * machine.console-attach: on success the connection is the machine's
 * console as a raw byte stream (doc/rpc.md): *ret_fd is a descriptor of
 * the socket (caller owns it; CLOEXEC, blocking) to read the console's
 * output from and, if write, to write its input to; *ret_pending
 * (malloc'd, caller frees, NULL if *ret_pending_len is 0) holds output
 * bytes already received with the answer: show them first.  The handle
 * can make no further calls (they return -ENOTCONN): close it.  The
 * stream ends (EOF) when the machine stops; closing the fd detaches.
 */
int	sbuml_console_attach(struct sbuml_client *client, const char *machine,
	    bool write, int *ret_fd, char **ret_pending,
	    size_t *ret_pending_len);
/* machine.delete; {"deleted": name}. */
int	sbuml_machine_delete(struct sbuml_client *client, const char *machine,
	    struct json_object **ret_result);

/* ---- Snapshots -------------------------------------------------------- */

/*
 * Every snapshot.* helper waits for the answer at least
 * SBUML_SNAPSHOT_TIMEOUT_MS, or longer when the handle's timeout is longer
 * (negative: forever), since the daemon answers only once the work is done.
 * SNAPSHOT and MACHINE arguments are names or absolute paths (doc/rpc.md).
 */

/*
 * One job.progress notification, as handed to a progress callback.  Every
 * member is borrowed and valid only during the callback; absent strings
 * are "" and an absent bytes is 0.
 */
struct sbuml_progress {
	const char		*job;		/* "save" */
	const char		*machine;
	const char		*snapshot;
	const char		*phase;		/* "capturing", "writing", "done" */
	uint64_t		 bytes;		/* written so far */
	struct json_object	*params;	/* the whole notification params */
};

/*
 * Called from inside sbuml_snapshot_save() for each job.progress
 * notification that arrives before the answer; that notification is then
 * not queued for sbuml_next_event().  The callback must not use the
 * client handle (the call is still in flight).
 */
typedef void sbuml_progress_fn(const struct sbuml_progress *progress,
    void *userdata);

/*
 * snapshot.save parameters.  Zero-initialise and fill in what you need;
 * NULL strings are left out of the request (the daemon then picks the
 * name <machine>-<unique>).
 */
struct sbuml_save_options {
	const char		*snapshot;	/* new name or absolute path */
	const char		*prefix;	/* instead: create <prefix>-<unique> */
	bool			 stop;		/* true: "continue": false, the
						   machine stays frozen (paused) */
	sbuml_progress_fn	*progress;	/* optional, see above */
	void			*progress_data;	/* its userdata */
	bool			 raw;		/* true: "store": false, keep the
						   kernel's capture files as they
						   are (format 1) instead of
						   chunking them into the store */
	const char		*capture;	/* "staged" or "cow" (copy-on-write,
						   kernel patch 0024); NULL: not
						   sent (the daemon's default,
						   staged).  The result's
						   "capture" says which ran */
};

/*
 * snapshot.save of machine; *ret_result (caller owns) is the snapshot
 * object once the snapshot is complete on disk.  opts may be NULL (all
 * defaults).  -EINVAL if both opts->snapshot and opts->prefix are set.
 * Without a progress callback, job.progress notifications are queued for
 * sbuml_next_event() like any other.
 */
int	sbuml_snapshot_save(struct sbuml_client *client, const char *machine,
	    const struct sbuml_save_options *opts,
	    struct json_object **ret_result);
/*
 * snapshot.restore of snapshot into the new machine machine (must not
 * exist); cont false leaves it paused.  *ret_result is the machine object.
 */
int	sbuml_snapshot_restore(struct sbuml_client *client,
	    const char *snapshot, const char *machine, bool cont,
	    struct json_object **ret_result);
/* snapshot.restore options beyond continue (doc/rpc.md); zero-initialise. */
struct sbuml_restore_options {
	bool			 paused;	/* continue: false */
	bool			 same_identity;	/* keep the saved MAC, address, ports */
	const char *const	*publish;	/* NULL-terminated specs, for a clone */
	const char		*memory;	/* "eager", "lazy"; NULL: the daemon's default */
};
/* snapshot.restore with opts (NULL: the defaults). */
int	sbuml_snapshot_restore_opts(struct sbuml_client *client,
	    const char *snapshot, const char *machine,
	    const struct sbuml_restore_options *opts,
	    struct json_object **ret_result);
/* snapshot.list; {"snapshots": [snapshot, ...]} (named ones, by name). */
int	sbuml_snapshot_list(struct sbuml_client *client,
	    struct json_object **ret_result);
/* snapshot.info (checks the manifest against the files); the snapshot object. */
int	sbuml_snapshot_info(struct sbuml_client *client, const char *snapshot,
	    struct json_object **ret_result);
/*
 * snapshot.check: can this host restore the snapshot?  Restores nothing.
 * *ret_result is {"snapshot", "restorable": bool, "checks": [{"check":
 * "format"|"kernel"|"arch"|"cpu"|"xstate"|"host_kernel"|"base_images",
 * "ok": bool, "detail": "..."}, ...]}; a snapshot this host cannot restore
 * is a success with "restorable": false.
 */
int	sbuml_snapshot_check(struct sbuml_client *client, const char *snapshot,
	    struct json_object **ret_result);
/* snapshot.delete; {"deleted": name, "freed": bytes}. */
int	sbuml_snapshot_delete(struct sbuml_client *client, const char *snapshot,
	    struct json_object **ret_result);
/* snapshot.verify: every chunk and file hash checked; {"verified": ...}. */
int	sbuml_snapshot_verify(struct sbuml_client *client, const char *snapshot,
	    struct json_object **ret_result);
/*
 * Moving a snapshot to another host (doc/rpc.md "Moving snapshots").  The
 * stream is fd, a descriptor the library passes to the daemon with the
 * request (SCM_RIGHTS; the caller keeps and closes its own copy), or, with
 * fd = -1, file, an absolute path on the daemon's host.
 */
struct sbuml_transfer {
	const char	*snapshot;	/* export: the snapshot to send; import:
					   the new snapshot's name (NULL: the
					   name the stream carries) */
	const char	*base;		/* export: leave out this snapshot's
					   chunks (a delta); import: the stream
					   must be a delta against it, if any */
	int		 fd;		/* the stream, or -1 */
	const char	*file;		/* or this path (with fd = -1) */
	const char	*url;		/* import: or this http(s) URL, which the
					   daemon downloads (fd = -1, file NULL) */
	bool		 insecure;	/* url: plain http allowed */
};
/*
 * Registries (snapshot.push, snapshot.pull, snapshot.tags): how to reach
 * one.  Zero-initialise; progress gets the job.progress notifications
 * ({"job": "push"|"pull", "bytes", "total_bytes", "blobs", "total_blobs"}).
 */
struct sbuml_registry_options {
	const char		*auth_file;	/* the caller's auth.json, or NULL: the
						   daemon looks in the caller's usual places */
	bool			 insecure;	/* plain http, no TLS verification */
	sbuml_progress_fn	*progress;	/* optional */
	void			*progress_data;
	const char		*from;		/* push: a repository to mount blobs from */
};
/* snapshot.push of snapshot to ref (HOST[:PORT]/REPO[:TAG]). opts may be NULL. */
int	sbuml_snapshot_push(struct sbuml_client *client, const char *snapshot,
	    const char *ref, const struct sbuml_registry_options *opts,
	    struct json_object **ret_result);
/* snapshot.pull of ref into snapshot (NULL: the name the artifact carries). */
int	sbuml_snapshot_pull(struct sbuml_client *client, const char *ref,
	    const char *snapshot, const struct sbuml_registry_options *opts,
	    struct json_object **ret_result);
/*
 * snapshot.restore of source (a registry reference or an http(s) URL of an
 * export stream): pulled or imported into snapshot (NULL: the name it
 * carries), with progress to reg->progress, then restored as machine.
 * The machine object, with "source" the pull's or import's result.
 * o and reg may be NULL.
 */
int	sbuml_snapshot_restore_from(struct sbuml_client *client, const char *source,
	    const char *snapshot, const char *machine,
	    const struct sbuml_restore_options *o,
	    const struct sbuml_registry_options *reg, struct json_object **ret_result);
/*
 * snapshot.search of registry ("HOST[:PORT][/PREFIX]"): {"registry",
 * "prefix", "repositories": [{"name", "tags"?}], "truncated"}; with tags,
 * each repository's tags too.  opts may be NULL (its progress is unused).
 */
int	sbuml_snapshot_search(struct sbuml_client *client, const char *registry,
	    bool tags, const struct sbuml_registry_options *opts,
	    struct json_object **ret_result);
/* snapshot.tags of ref's repository: {"ref", "tags": [...]}. */
int	sbuml_snapshot_tags(struct sbuml_client *client, const char *ref,
	    const struct sbuml_registry_options *opts,
	    struct json_object **ret_result);

/* snapshot.export: {"snapshot", "id", "base", "bytes", "chunks", "skipped_chunks"}. */
int	sbuml_snapshot_export(struct sbuml_client *client,
	    const struct sbuml_transfer *t, struct json_object **ret_result);
/* snapshot.import: {"snapshot", "path", "id", "base", "bytes", "new_chunks", ...}. */
int	sbuml_snapshot_import(struct sbuml_client *client,
	    const struct sbuml_transfer *t, struct json_object **ret_result);
/* store.gc: remove chunks no snapshot refers to. */
int	sbuml_store_gc(struct sbuml_client *client, struct json_object **ret_result);

#ifdef __cplusplus
}
#endif

#endif
