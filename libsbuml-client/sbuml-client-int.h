/* SPDX-License-Identifier: MIT */
/*
 * Between the files of libsbuml-client (never installed).  Everything here
 * is hidden in the shared object: only SBUML_EXPORT functions are its ABI.
 */
#ifndef SBUML_CLIENT_INT_H
#define SBUML_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "sbuml-client.h"

#define SBUML_EXPORT	__attribute__((visibility("default")))

struct event {
	struct event		*next;
	char			*method;
	struct json_object	*params;	/* owned, may be NULL */
};

struct sbuml_client {
	int			 fd;
	char			*path;
	int			 timeout_ms;
	int			 dead;		/* 0, or -errno once unusable */
	int64_t			 next_id;

	char			*buf;		/* unparsed input */
	size_t			 len;
	size_t			 cap;

	struct event		*ev_head;
	struct event		*ev_tail;
	size_t			 ev_count;
	uint64_t		 ev_dropped;

	struct json_object	*err_obj;	/* owned error object, or NULL */
	struct sbuml_error	 err;		/* points into err_obj */

	/* Set only while sbuml_snapshot_save() waits: job.progress goes here. */
	sbuml_progress_fn	*progress;
	void			*progress_data;
};

/* sbuml-client.c: deadlines and the transport. */
/* Deadline for a timeout in ms; -1 means none. */
int64_t	sbuml_deadline_after(int timeout_ms);
/* Write all of data before the deadline (pass_fd >= 0 rides along); a partial write kills the handle. */
int	sbuml_send_all(struct sbuml_client *c, const char *data, size_t len,
	    int pass_fd, int64_t deadline);
/*
 * Read the next message before the deadline: 1 with *ret_obj (caller owns)
 * or -errno.  stop_if_dead: a dead handle returns c->dead instead of
 * reading on once its buffered lines are used up.
 */
int	sbuml_next_message(struct sbuml_client *c, int64_t deadline,
	    bool stop_if_dead, struct json_object **ret_obj);

/* sbuml-call.c: requests and answers. */
/* Forget the error of the previous call. */
void	sbuml_error_clear(struct sbuml_client *c);
/*
 * Dispatch one parsed message.  want_id is the id of the call in flight, or
 * -1 when none.  Returns 1 when obj answered that call (*ret_result set,
 * caller owns, may be NULL), 0 when it was queued or dropped, -EREMOTEIO for
 * an error answer, -EPROTO, -ENOMEM.  Borrows obj.
 */
int	sbuml_dispatch(struct sbuml_client *c, struct json_object *obj,
	    int64_t want_id, struct json_object **ret_result);
/* Send one request (passing pass_fd if >= 0) and wait for its answer. */
int	sbuml_call_fd(struct sbuml_client *c, const char *method,
	    struct json_object *params, int pass_fd, int timeout_ms,
	    struct json_object **ret_result);
/* Add a member, taking ownership of v even on failure; 0 or -ENOMEM. */
int	sbuml_add_value(struct json_object *obj, const char *key,
	    struct json_object *v);
/* Add an integer, boolean or string (unless s is NULL) member; 0 or -ENOMEM. */
int	sbuml_add_int(struct json_object *obj, const char *key, int64_t v);
int	sbuml_add_bool(struct json_object *obj, const char *key, bool v);
int	sbuml_add_str(struct json_object *obj, const char *key, const char *s);

/* sbuml-events.c: the notification queue. */
/* Queue a notification, dropping the oldest when the queue is full; 0 or -ENOMEM. */
int	sbuml_event_push(struct sbuml_client *c, const char *method,
	    struct json_object *params);
/* Free every queued notification. */
void	sbuml_events_free(struct sbuml_client *c);

#endif
