/* SPDX-License-Identifier: MIT */
/* The machine object, its console tail and the machine.state event of doc/rpc.md. */
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <json-c/json.h>

#include "console-tail.h"
#include "fsat.h"
#include "machine-int.h"

/* The last n console lines; see machine.h. */
int
machine_console_tail(const struct machine *m, size_t n,
    struct json_object **ret)
{
	int	fd, dfd, r;

	/* A user may have put a symlink, FIFO or hard link there: refused. */
	if ((dfd = machine_dir_open(m)) < 0)
		return (dfd);
	fd = fs_openat_file(dfd, "console.log", O_RDONLY, 0);
	(void)close(dfd);
	if (fd == -ENOENT) {
		*ret = json_object_new_array();
		return (0);
	}
	if (fd < 0)
		return (fd);
	r = console_tail_read(fd, n, ret);
	(void)close(fd);
	return (r);
}

/* Add the exit object ({"status": N|null, "signal": N|null}) to obj. */
static void
machine_add_exit(const struct machine *m, struct json_object *obj)
{
	struct json_object	*exit;

	exit = json_object_new_object();
	json_object_object_add(exit, "status", m->status_known ?
	    json_object_new_int(m->status) : NULL);
	json_object_object_add(exit, "signal", m->signal_known ?
	    json_object_new_int(m->signal) : NULL);
	json_object_object_add(obj, "exit", exit);
}

/* Add console_tail to obj; an unreadable console gives an empty list. */
static void
machine_add_tail(const struct machine *m, struct json_object *obj)
{
	struct json_object	*tail;

	if (machine_console_tail(m, MACHINE_CONSOLE_TAIL, &tail) < 0)
		tail = json_object_new_array();
	json_object_object_add(obj, "console_tail", tail);
}

/*
 * How a restore brought the memory in (doc/restore.md, "Lazy restore"):
 * memory, memory_reason, fill {state, filled_pages, chunks, total_chunks,
 * faults, reason}; failure.  Nothing for a booted machine.
 */
static void
machine_add_memory(const struct machine *m, struct json_object *obj)
{
	struct machine_fill	*f = m->fill;
	struct json_object	*fill;
	int			 state;

	if (m->failure != NULL)
		json_object_object_add(obj, "failure",
		    json_object_new_string(m->failure));
	if (m->memory == NULL)
		return;
	json_object_object_add(obj, "memory", json_object_new_string(m->memory));
	if (m->memory_reason != NULL)
		json_object_object_add(obj, "memory_reason",
		    json_object_new_string(m->memory_reason));
	if (f == NULL)
		return;
	/* Acquire: a FAILED state's reason was written before it. */
	state = atomic_load_explicit(&f->state, memory_order_acquire);
	fill = json_object_new_object();
	json_object_object_add(fill, "state",
	    json_object_new_string(machine_fill_state_name(state)));
	json_object_object_add(fill, "filled_pages",
	    json_object_new_int64((int64_t)atomic_load(&f->filled)));
	json_object_object_add(fill, "chunks",
	    json_object_new_int64((int64_t)atomic_load(&f->chunks)));
	json_object_object_add(fill, "total_chunks",
	    json_object_new_int64((int64_t)atomic_load(&f->total)));
	json_object_object_add(fill, "faults",
	    json_object_new_int64((int64_t)atomic_load(&f->faults)));
	if (state == MACHINE_FILL_FAILED)
		json_object_object_add(fill, "reason",
		    json_object_new_string(f->reason));
	json_object_object_add(obj, "fill", fill);
}

/* The machine object of doc/rpc.md. */
struct json_object *
machine_to_json(const struct machine *m)
{
	struct json_object	*obj, *disks;

	obj = json_object_new_object();
	json_object_object_add(obj, "machine", json_object_new_string(m->name));
	json_object_object_add(obj, "dir", json_object_new_string(m->dir));
	json_object_object_add(obj, "state",
	    json_object_new_string(machine_state_to_string(m->state)));
	if (m->pid > 0)
		json_object_object_add(obj, "pid", json_object_new_int64(m->pid));
	json_object_object_add(obj, "mem_mb",
	    json_object_new_int64(m->cfg.mem_mb));
	json_object_object_add(obj, "image", json_object_new_string(m->cfg.image));
	json_object_object_add(obj, "kernel",
	    json_object_new_string(m->cfg.kernel));
	json_object_object_add(obj, "savable",
	    json_object_new_boolean(m->savable));
	json_object_object_add(obj, "uffd", json_object_new_boolean(m->uffd));
	json_object_object_add(obj, "cmdline",
	    json_object_new_string(m->cfg.cmdline));
	disks = json_object_new_array();
	for (size_t i = 0; i < m->cfg.ndisks; i++)
		json_object_array_add(disks,
		    json_object_new_string(m->cfg.disks[i]));
	json_object_object_add(obj, "disks", disks);
	json_object_object_add(obj, "created",
	    json_object_new_string(m->cfg.created));
	json_object_object_add(obj, "owner",
	    json_object_new_int64((int64_t)m->cfg.owner));
	json_object_object_add(obj, "net", net_nic_to_json(&m->cfg.nic, m->tap));
	if (m->started[0] != '\0')
		json_object_object_add(obj, "started",
		    json_object_new_string(m->started));
	if (!machine_state_is_live(m->state) && m->has_exit)
		machine_add_exit(m, obj);
	if (m->state == MACHINE_CRASHED)
		machine_add_tail(m, obj);
	machine_add_memory(m, obj);
	return (obj);
}

/* The machine.state event of a move from previous to m's state; see machine-int.h. */
struct json_object *
machine_state_event(const struct machine *m, enum machine_state previous)
{
	struct json_object	*ev;

	ev = json_object_new_object();
	json_object_object_add(ev, "machine", json_object_new_string(m->name));
	json_object_object_add(ev, "state",
	    json_object_new_string(machine_state_to_string(m->state)));
	json_object_object_add(ev, "previous",
	    json_object_new_string(machine_state_to_string(previous)));
	if (m->pid > 0)
		json_object_object_add(ev, "pid", json_object_new_int64(m->pid));
	if (!machine_state_is_live(m->state)) {
		machine_add_exit(m, ev);
		if (m->state == MACHINE_CRASHED)
			machine_add_tail(m, ev);
	}
	return (ev);
}
