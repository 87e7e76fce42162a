/* SPDX-License-Identifier: MIT */
/*
 * Machines: the registry (name or path -> machine), the state machine of
 * doc/rpc.md, the callers waiting on a machine, pause/resume and the job
 * slot.  Starting, supervising and the files on disk live in the files
 * machine-int.h lists; the on-disk layout is in doc/machine-layout.md.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "child.h"
#include "context.h"
#include "log.h"
#include "machine-int.h"
#include "util.h"

/* A pause or resume waiting for its mconsole answer. */
struct machine_op {
	struct machine		*m;
	enum machine_state	 target;
	machine_done_cb		 cb;
	void			*arg;
};

static struct machine	*machines[MACHINE_MAX];
static size_t		 nmachines;
static machine_state_hook state_hook;
static void		*state_hook_arg;

/* The name the machine was created with (a name or a path). */
const char *
machine_name(const struct machine *m)
{
	return (m->name);
}

/* The machine directory. */
const char *
machine_dir(const struct machine *m)
{
	return (m->dir);
}

/* Whether the machine is named by a path. */
bool
machine_is_path(const struct machine *m)
{
	return (m->is_path);
}

/* The current state. */
enum machine_state
machine_state(const struct machine *m)
{
	return (m->state);
}

/* The UML pid, 0 when not live. */
pid_t
machine_pid(const struct machine *m)
{
	return (m->pid);
}

/* Whether the kernel can save (answered the probe at boot). */
bool
machine_savable(const struct machine *m)
{
	return (m->savable);
}

/* The saved configuration. */
const struct machine_config *
machine_config(const struct machine *m)
{
	return (&m->cfg);
}

/* Whether a pause/resume is waiting for mconsole. */
bool
machine_op_pending(const struct machine *m)
{
	return (m->op_pending);
}

/* The machine named name, or NULL. */
struct machine *
machine_lookup(const char *name)
{
	for (size_t i = 0; i < nmachines; i++) {
		if (strcmp(machines[i]->name, name) == 0)
			return (machines[i]);
	}
	return (NULL);
}

/* Number of registered machines. */
size_t
machine_count(void)
{
	return (nmachines);
}

/* qsort comparator by name. */
static int
machine_cmp(const void *a, const void *b)
{
	const struct machine *const *ma = a, *const *mb = b;

	return (strcmp((*ma)->name, (*mb)->name));
}

/* Every machine sorted by name; see machine.h. */
struct machine **
machine_list(size_t *ret_n)
{
	struct machine	**list;

	list = xcalloc(nmachines + 1, sizeof(*list));
	memcpy(list, machines, nmachines * sizeof(*list));
	qsort(list, nmachines, sizeof(*list), machine_cmp);
	*ret_n = nmachines;
	return (list);
}

/* Path of a file in the machine directory (caller frees). */
char *
machine_path(const struct machine *m, const char *file)
{
	return (xasprintf("%s/%s", m->dir, file));
}

/*
 * Open the machine directory, refusing it if the path now names another
 * directory than the one the machine was created in (a user renamed it
 * and put another there).  An fd or -errno.
 */
int
machine_dir_open(const struct machine *m)
{
	int	fd;

	if ((fd = fs_open_dir(m->dir, &m->dir_id, NULL)) == -ESTALE)
		log_warnx("%s: %s now names another directory, not touching it",
		    m->name, m->dir);
	return (fd);
}

/* Set the hook told of state changes; see machine.h. */
void
machine_set_state_hook(machine_state_hook fn, void *arg)
{
	state_hook = fn;
	state_hook_arg = arg;
}

/* Move to state, persist it and tell the hook; see machine.h. */
void
machine_set_state(struct machine *m, enum machine_state state)
{
	enum machine_state	previous = m->state;

	if (state == previous)
		return;
	m->state = state;
	if (!machine_state_is_live(state))
		machine_console_close_all(m, false);
	machine_save_run(m);
	if (state == MACHINE_CRASHED)
		log_warnx("%s: crashed (was %s)", m->name,
		    machine_state_to_string(previous));
	else
		log_info("%s: %s -> %s", m->name,
		    machine_state_to_string(previous),
		    machine_state_to_string(state));

	if (state_hook != NULL)
		state_hook(m, machine_state_event(m, previous), state_hook_arg);
}

/* Free a timer/event pointer if set. */
void
machine_event_free(struct event **ev)
{
	if (*ev != NULL) {
		event_free(*ev);
		*ev = NULL;
	}
}

/* Add a waiter; -ENOSPC if the machine has too many. */
int
machine_add_waiter(struct machine *m, enum machine_wait kind,
    machine_done_cb cb, void *arg)
{
	if (cb == NULL)
		return (0);
	if (m->nwaiters >= MACHINE_MAX_WAITERS)
		return (-ENOSPC);
	m->waiters[m->nwaiters].kind = kind;
	m->waiters[m->nwaiters].cb = cb;
	m->waiters[m->nwaiters].arg = arg;
	m->nwaiters++;
	return (0);
}

/*
 * Run and remove every waiter of kind (or all kinds if all).  The list is
 * detached first: callbacks may add new waiters.
 */
void
machine_wake(struct machine *m, bool all, enum machine_wait kind, int err,
    const char *msg)
{
	struct machine_waiter	 run[MACHINE_MAX_WAITERS];
	size_t			 nrun = 0, keep = 0;

	for (size_t i = 0; i < m->nwaiters; i++) {
		if (all || m->waiters[i].kind == kind)
			run[nrun++] = m->waiters[i];
		else
			m->waiters[keep++] = m->waiters[i];
	}
	m->nwaiters = keep;
	for (size_t i = 0; i < nrun; i++)
		run[i].cb(m, err, msg, run[i].arg);
}

/* Arm a one-shot timer of ms milliseconds, creating the event if needed. */
void
machine_timer(struct machine *m, struct event **ev, event_callback_fn fn,
    unsigned int ms, bool persist)
{
	struct timeval	tv;

	if (*ev == NULL) {
		*ev = event_new(daemon_base, -1, persist ? EV_PERSIST : 0, fn, m);
		if (*ev == NULL)
			fatalx("%s: cannot create a timer", m->name);
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (event_add(*ev, &tv) == -1)
		fatalx("%s: cannot arm a timer", m->name);
}

/* Remove m from the registry and free it, without events (no waiters left). */
void
machine_free(struct machine *m)
{
	for (size_t i = 0; i < nmachines; i++) {
		if (machines[i] == m) {
			machines[i] = machines[--nmachines];
			machines[nmachines] = NULL;
			break;
		}
	}
	machine_console_close_all(m, true);
	if (m->is_child && m->pid > 0)
		child_unwatch(m->pid);
	machine_event_free(&m->ev_pidfd);
	closefd(&m->pidfd);
	closefd(&m->live_dfd);
	machine_event_free(&m->ev_boot);
	machine_event_free(&m->ev_probe);
	machine_event_free(&m->ev_halt);
	machine_event_free(&m->ev_cad);
	m->mc = mconsole_free(m->mc);
	m->notifier = mconsole_notifier_free(m->notifier);
	machine_config_clear(&m->cfg);
	m->fill = machine_fill_put(m->fill);
	free(m->memory_reason);
	free(m->failure);
	free(m->name);
	free(m->dir);
	free(m->rec);
	free(m);
}

/*
 * A new, unregistered machine (state stopped) in dir (identity id) with
 * its record in rec.  Takes cfg's strings.
 */
struct machine *
machine_new(const char *name, const char *dir, const char *rec, bool is_path,
    const struct fs_id *id, struct machine_config *cfg)
{
	struct machine	*m;

	m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(name);
	m->dir = xstrdup(dir);
	m->rec = xstrdup(rec);
	m->dir_id = *id;
	m->is_path = is_path;
	m->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	m->state = MACHINE_STOPPED;
	m->pidfd = -1;
	m->live_dfd = -1;
	return (m);
}

/* Put m into the registry (the caller checked the limit). */
void
machine_register(struct machine *m)
{
	machines[nmachines++] = m;
}

/* mconsole answer of a pause or resume. */
static void
machine_op_cb(int err, const char *text, void *arg)
{
	struct machine_op	*op = arg;
	struct machine		*m = op->m;
	const char		*msg = text;

	m->op_pending = false;
	if (err == 0) {
		/* A halt or death meanwhile wins over the pause/resume. */
		if (m->state == MACHINE_RUNNING || m->state == MACHINE_PAUSED)
			machine_set_state(m, op->target);
	} else if (err == -ECANCELED && !machine_state_is_live(m->state)) {
		err = -ECHILD;
		msg = "the machine exited";
	} else if (err == -ETIMEDOUT) {
		msg = "the machine's mconsole did not answer in time";
	} else if (err != -EREMOTEIO) {
		msg = strerror(-err);
	}
	op->cb(m, err, msg, op->arg);
	free(op);
}

/* Send stop or go and move to target on success. */
static int
machine_stop_go(struct machine *m, const char *cmd, enum machine_state need,
    enum machine_state target, machine_done_cb cb, void *arg)
{
	struct machine_op	*op;
	int			 r;

	if (m->state != need)
		return (-EINVAL);
	if (m->op_pending || m->job != NULL)
		return (-EBUSY);
	if (m->mc == NULL)
		return (-ENOTCONN);
	op = xcalloc(1, sizeof(*op));
	op->m = m;
	op->target = target;
	op->cb = cb;
	op->arg = arg;
	if ((r = mconsole_send(m->mc, cmd, MCONSOLE_TIMEOUT_MS, machine_op_cb,
	    op)) < 0) {
		free(op);
		return (r);
	}
	m->op_pending = true;
	return (0);
}

/* Pause: mconsole stop; see machine.h. */
int
machine_pause(struct machine *m, machine_done_cb cb, void *arg)
{
	return (machine_stop_go(m, "stop", MACHINE_RUNNING, MACHINE_PAUSED,
	    cb, arg));
}

/* Resume: mconsole go; see machine.h. */
int
machine_resume(struct machine *m, machine_done_cb cb, void *arg)
{
	return (machine_stop_go(m, "go", MACHINE_PAUSED, MACHINE_RUNNING,
	    cb, arg));
}

/* Take the job slot; see machine.h. */
int
machine_job_begin(struct machine *m, const struct machine_job *job)
{
	if (m->job != NULL)
		return (-EBUSY);
	if (m->pid == 0 || !machine_state_is_live(m->state))
		return (-EINVAL);
	m->job = job;
	return (0);
}

/* Take the job slot of a machine that is not running; see machine.h. */
int
machine_job_reserve(struct machine *m, const struct machine_job *job)
{
	if (m->job != NULL)
		return (-EBUSY);
	if (machine_state_is_live(m->state))
		return (-EINVAL);
	m->job = job;
	return (0);
}

/* Release the job slot; see machine.h. */
void
machine_job_end(struct machine *m, const struct machine_job *job)
{
	if (m->job == job)
		m->job = NULL;
}

/* The job holding the slot. */
const struct machine_job *
machine_job(const struct machine *m)
{
	return (m->job);
}

/* Send an mconsole command for a job; see machine.h. */
int
machine_mconsole_send(struct machine *m, const char *cmd,
    unsigned int timeout_ms, mconsole_cb cb, void *arg)
{
	if (m->mc == NULL || !machine_state_is_live(m->state))
		return (-ENOTCONN);
	return (mconsole_send(m->mc, cmd, timeout_ms, cb, arg));
}

/* Load and re-adopt every machine; see machine.h. */
int
machine_registry_init(void)
{
	char	*dir;
	int	 r;

	if ((r = child_init(daemon_base)) < 0)
		return (r);
	if ((r = mkdir_p(daemon_config.state_dir, 0700)) < 0)
		return (r);
	dir = xasprintf("%s/machines", daemon_config.state_dir);
	r = mkdir_p(dir, 0700);
	free(dir);
	if (r < 0)
		return (r);
	machine_scan();
	log_info("%zu machine(s) known", nmachines);
	return (0);
}

/* Drop every machine (they keep running); see machine.h. */
void
machine_registry_shutdown(void)
{
	struct machine	*m;

	while (nmachines > 0) {
		m = machines[nmachines - 1];
		machine_wake(m, true, MACHINE_WAIT_EXIT, -ECANCELED,
		    "the daemon is shutting down");
		/* Cancels pause/resume calls (-ECANCELED) while m is still whole. */
		m->mc = mconsole_free(m->mc);
		/* A job must let go of m before it is freed. */
		if (m->job != NULL && m->job->on_exit != NULL)
			m->job->on_exit(m, m->job->arg);
		m->job = NULL;
		machine_free(m);
	}
	child_shutdown();
}

/* The fill of a lazy restore; see machine.h. */
struct machine_fill *
machine_fill_new(void)
{
	struct machine_fill *f = xcalloc(1, sizeof(*f));

	atomic_init(&f->refs, 1);
	atomic_init(&f->state, MACHINE_FILL_WAITING);
	return (f);
}

struct machine_fill *
machine_fill_ref(struct machine_fill *f)
{
	atomic_fetch_add(&f->refs, 1);
	return (f);
}

struct machine_fill *
machine_fill_put(struct machine_fill *f)
{
	if (f != NULL && atomic_fetch_sub(&f->refs, 1) == 1)
		free(f);
	return (NULL);
}

const char *
machine_fill_state_name(int state)
{
	switch (state) {
	case MACHINE_FILL_WAITING:	return ("waiting");
	case MACHINE_FILL_FILLING:	return ("filling");
	case MACHINE_FILL_DONE:		return ("done");
	case MACHINE_FILL_LOST:		return ("lost");
	default:			return ("failed");
	}
}

void
machine_set_memory(struct machine *m, bool lazy, const char *reason,
    struct machine_fill *fill)
{
	m->memory = lazy ? "lazy" : "eager";
	free(m->memory_reason);
	m->memory_reason = reason != NULL ? xstrdup(reason) : NULL;
	m->fill = machine_fill_put(m->fill);
	if (fill != NULL)
		m->fill = machine_fill_ref(fill);
}

int
machine_exit_status(const struct machine *m)
{
	return (m->has_exit && m->status_known ? m->status : -1);
}

const char *
machine_failure(const struct machine *m)
{
	return (m->failure);
}
