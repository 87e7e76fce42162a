/* SPDX-License-Identifier: MIT */
/*
 * The memory fill of a lazily restored machine that a restarted daemon
 * re-adopts (doc/restore.md, "Lazy restore").  Its pager (sbuml-pager) is
 * a process of its own that outlives the daemon which started it; it
 * keeps fill.json in the machine's record up to date.  A daemon that finds
 * a live machine with a fill not done yet reads that file every
 * MACHINE_FILL_POLL_MS (the status channel went with the old daemon) and
 * holds a store reader until the fill ends, as the daemon that started the
 * pager did: the pager reads packs a gc must not rewrite under it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "fsat.h"
#include "log.h"
#include "machine-int.h"
#include "store.h"
#include "util.h"

#define MACHINE_FILL_POLL_MS	500

int
machine_record_open(const struct machine *m)
{
	return (fs_open_dir(m->rec, NULL, NULL));
}

static bool
fill_ongoing(int state)
{
	return (state == MACHINE_FILL_WAITING || state == MACHINE_FILL_FILLING);
}

/* Read fill.json into m->fill.  0 or -errno (logged). */
static int
machine_fill_reload(struct machine *m)
{
	int	fd, r;

	if ((fd = machine_record_open(m)) < 0)
		return (fd);
	r = machine_fill_read(fd, m->fill, NULL);
	(void)close(fd);
	if (r < 0 && r != -ENOENT)
		log_warnx("%s: %s: %s", m->name, MACHINE_FILL_FILE, strerror(-r));
	return (r);
}

void
machine_fill_unwatch(struct machine *m)
{
	if (!m->fill_watched)
		return;
	/* Its last word, if the pager wrote one since the last poll. */
	(void)machine_fill_reload(m);
	machine_event_free(&m->ev_fill);
	m->fill_watched = false;
	store_reader_end();
	/* The kernel is gone: a fill that never finished will not now. */
	if (m->pid == 0 && fill_ongoing(atomic_load(&m->fill->state)))
		atomic_store(&m->fill->state, MACHINE_FILL_LOST);
}

static void
machine_fill_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct machine	*m = arg;

	(void)fd;
	(void)what;
	(void)machine_fill_reload(m);
	if (!fill_ongoing(atomic_load(&m->fill->state))) {
		log_debug("%s: lazy restore fill %s (seen by this daemon)",
		    m->name, machine_fill_state_name(atomic_load(&m->fill->state)));
		machine_fill_unwatch(m);
	}
}

void
machine_memory_readopt(struct machine *m, const char *memory,
    const char *reason, bool live)
{
	int	r;

	m->memory = strcmp(memory, "lazy") == 0 ? "lazy" : "eager";
	free(m->memory_reason);
	m->memory_reason = reason[0] != '\0' ? xstrdup(reason) : NULL;
	if (strcmp(m->memory, "lazy") != 0)
		return;
	m->fill = machine_fill_put(m->fill);
	m->fill = machine_fill_new();
	r = machine_fill_reload(m);
	if (!fill_ongoing(atomic_load(&m->fill->state)))
		return;
	if (!live) {
		atomic_store(&m->fill->state, MACHINE_FILL_LOST);
		return;
	}
	if (r < 0)
		log_warnx("%s: no fill state of its pager yet, waiting for it",
		    m->name);
	store_reader_begin();
	m->fill_watched = true;
	machine_timer(m, &m->ev_fill, machine_fill_poll_cb,
	    MACHINE_FILL_POLL_MS, true);
	log_info("%s: lazy restore fill %s (%llu of %llu chunks), its pager "
	    "goes on", m->name,
	    machine_fill_state_name(atomic_load(&m->fill->state)),
	    (unsigned long long)atomic_load(&m->fill->chunks),
	    (unsigned long long)atomic_load(&m->fill->total));
}
