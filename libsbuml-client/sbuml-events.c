/* SPDX-License-Identifier: MIT */
/*
 * libsbuml-client: the event stream.  Notifications that arrive while no
 * call wants them are queued (at most SBUML_EVENT_QUEUE_MAX, the oldest
 * dropped first) until sbuml_next_event() hands them out.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "sbuml-client-int.h"

/* Queue a notification, dropping the oldest when the queue is full. */
int
sbuml_event_push(struct sbuml_client *c, const char *method, struct json_object *params)
{
	struct event *ev, *old;

	ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return -ENOMEM;
	ev->method = strdup(method);
	if (ev->method == NULL) {
		free(ev);
		return -ENOMEM;
	}
	ev->params = params != NULL ? json_object_get(params) : NULL;

	if (c->ev_count >= SBUML_EVENT_QUEUE_MAX) {
		old = c->ev_head;
		c->ev_head = old->next;
		if (c->ev_head == NULL)
			c->ev_tail = NULL;
		free(old->method);
		json_object_put(old->params);
		free(old);
		c->ev_count--;
		c->ev_dropped++;
	}
	if (c->ev_tail != NULL)
		c->ev_tail->next = ev;
	else
		c->ev_head = ev;
	c->ev_tail = ev;
	c->ev_count++;
	return 0;
}

/* Unlink the oldest queued notification; NULL when the queue is empty. */
static struct event *
event_pop(struct sbuml_client *c)
{
	struct event *ev = c->ev_head;

	if (ev == NULL)
		return NULL;
	c->ev_head = ev->next;
	if (c->ev_head == NULL)
		c->ev_tail = NULL;
	c->ev_count--;
	return ev;
}

/* See sbuml-client-int.h. */
void
sbuml_events_free(struct sbuml_client *c)
{
	struct event *ev;

	while ((ev = event_pop(c)) != NULL) {
		free(ev->method);
		json_object_put(ev->params);
		free(ev);
	}
}

/* Notifications dropped because the queue was full. */
SBUML_EXPORT uint64_t
sbuml_events_dropped(const struct sbuml_client *c)
{
	return c != NULL ? c->ev_dropped : 0;
}

/* Hand out the oldest queued notification, reading more if needed. */
SBUML_EXPORT int
sbuml_next_event(struct sbuml_client *c, int timeout_ms, char **ret_method,
    struct json_object **ret_params)
{
	struct json_object *obj = NULL;
	struct event *ev;
	int64_t deadline;
	int r;

	if (c == NULL || ret_method == NULL)
		return -EINVAL;
	sbuml_error_clear(c);
	deadline = sbuml_deadline_after(timeout_ms);
	while (c->ev_head == NULL) {
		/* A dead handle still hands out what it got before dying. */
		if ((r = sbuml_next_message(c, deadline, true, &obj)) < 0)
			return r;
		r = sbuml_dispatch(c, obj, -1, NULL);
		json_object_put(obj);
		if (r < 0)
			return r;
	}

	ev = event_pop(c);
	*ret_method = ev->method;
	if (ret_params != NULL)
		*ret_params = ev->params;
	else
		json_object_put(ev->params);
	free(ev);
	return 0;
}

/* events.subscribe. */
SBUML_EXPORT int
sbuml_events_subscribe(struct sbuml_client *c)
{
	return sbuml_call(c, "events.subscribe", NULL, NULL);
}

/* events.unsubscribe. */
SBUML_EXPORT int
sbuml_events_unsubscribe(struct sbuml_client *c)
{
	return sbuml_call(c, "events.unsubscribe", NULL, NULL);
}
