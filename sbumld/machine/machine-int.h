/* SPDX-License-Identifier: MIT */
/*
 * What the files of the machine module share and nobody else sees: the
 * machine object and the helpers one file offers another.  The contract
 * for everyone else is machine.h.
 *
 *	machine.c		registry, accessors, state, waiters, pause/resume, job slot
 *	machine-json.c		the machine object, console tail and event of doc/rpc.md
 *	machine-start.c		starting the UML process (boot, restore)
 *	machine-supervise.c	watching it: exit, boot readiness, halt, kill, re-adoption
 *	machine-disk.c		machine directories and records: create, load, scan, delete
 *	machine-nic.c		its NIC while it lives: tap, address (net.h)
 *
 * They build on modules of their own below them: machine-state.h (state
 * names), machine-config.h (machine.json, run.json, names), console-tail.h,
 * child.h (SIGCHLD), mconsole.h, uml.h (launch and kill) and jail.h.
 */
#ifndef SBUMLD_MACHINE_INT_H
#define SBUMLD_MACHINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "fsat.h"
#include "machine-config.h"
#include "machine.h"

enum machine_wait {
	MACHINE_WAIT_RUNNING,		/* boot finished (or failed) */
	MACHINE_WAIT_EXIT,		/* the process is gone */
};

struct machine_waiter {
	enum machine_wait	 kind;
	machine_done_cb		 cb;
	void			*arg;
};

struct machine {
	char			*name;		/* plain name or absolute path */
	char			*dir;
	/*
	 * Where machine.json and run.json that sbumld trusts live: dir for a
	 * named machine, <state-dir>/paths/<hash> for a path machine (whose
	 * directory a user may write).
	 */
	char			*rec;
	struct fs_id		 dir_id;	/* what dir named when created */
	/*
	 * While live: the directory the UML process runs in, whatever its
	 * path is now (a user may rename it): killing sweeps processes by
	 * their cwd, which must be that directory's current path.
	 */
	int			 live_dfd;
	bool			 is_path;
	struct machine_config	 cfg;
	enum machine_state	 state;

	/* The live process. */
	pid_t			 pid;		/* 0 when not live */
	uint64_t		 starttime;
	bool			 is_child;	/* ours: exit status known */
	int			 pidfd;
	struct event		*ev_pidfd;
	char			 started[32];
	struct mconsole		*mc;
	struct mconsole_notifier *notifier;
	bool			 savable;
	char			 tap[NET_TAP_LEN + 1];	/* its NIC's tap while live, "" none */
	bool			 uffd;		/* its kernel got /dev/userfaultfd (uml.h) */
	/* Restored: "lazy" or "eager" (NULL: booted), why not lazy, the fill. */
	const char		*memory;
	char			*memory_reason;
	struct machine_fill	*fill;
	/* Re-adopted while its pager fills: fill.json polled (machine-fill.c). */
	bool			 fill_watched;
	struct event		*ev_fill;
	char			*failure;	/* why it failed, if known (status 97) */

	/* How it ended. */
	bool			 has_exit;
	bool			 status_known, signal_known;
	int			 status, signal;
	bool			 expect_exit;	/* halt or kill asked for it */
	bool			 panicked;
	bool			 boot_timed_out;

	/* Boot, halt, pause/resume in progress. */
	struct event		*ev_boot;	/* boot deadline */
	struct event		*ev_probe;	/* readiness probe while booting */
	bool			 probing;
	/*
	 * A restore is starting: the restored kernel binds its mconsole before
	 * its interrupts are re-armed, so requests wait for its "sbuml restored"
	 * notify (or, should that be lost, this deadline).
	 */
	uint64_t		 restore_wait_until;
	struct event		*ev_halt;	/* next halt escalation */
	struct event		*ev_cad;	/* repeats cad while halting */
	int			 halt_stage;
	bool			 op_pending;

	struct machine_waiter	 waiters[MACHINE_MAX_WAITERS];
	size_t			 nwaiters;
	const struct machine_job *job;
	struct console_hub	*console;	/* attached streams (machine-console.c) */
};

/* machine.c */
/* A new, unregistered machine (state stopped); takes cfg's strings. */
struct machine *machine_new(const char *name, const char *dir, const char *rec,
	    bool is_path, const struct fs_id *id, struct machine_config *cfg);
/* Put m into the registry (the caller checked MACHINE_MAX). */
void	machine_register(struct machine *m);
/* Take m out of the registry and free it; no waiter may be left. */
void	machine_free(struct machine *m);
/* dir/file (caller frees). */
char	*machine_path(const struct machine *m, const char *file);
/* The machine directory, unless its path now names another one (-ESTALE). An fd or -errno. */
int	machine_dir_open(const struct machine *m);
void	machine_event_free(struct event **ev);
/* Arm *ev (made on first use) to run fn(m) in ms milliseconds. */
void	machine_timer(struct machine *m, struct event **ev, event_callback_fn fn,
	    unsigned int ms, bool persist);
/* Call cb once m gets to kind (machine_wake).  -ENOSPC past MACHINE_MAX_WAITERS. */
int	machine_add_waiter(struct machine *m, enum machine_wait kind,
	    machine_done_cb cb, void *arg);
/* Run and drop the waiters of kind (all: every waiter) with err and msg. */
void	machine_wake(struct machine *m, bool all, enum machine_wait kind,
	    int err, const char *msg);

/* machine-console.c */
/*
 * End every console stream of m: it stopped (what is left of the log is
 * still written to them), or now (it is being freed as sbumld stops).
 */
void	machine_console_close_all(struct machine *m, bool now);

/* machine-json.c */
/* The machine.state event (doc/rpc.md "Events") of m's move from previous. */
struct json_object *machine_state_event(const struct machine *m,
	    enum machine_state previous);

/* machine-nic.c */
/* Make m's tap and reserve its address (no NIC: nothing). 0 or -errno (err). */
int	machine_nic_start(struct machine *m, char *err, size_t errlen);
/* m ended (or did not start): its tap, address and ports go. */
void	machine_nic_release(struct machine *m);
/* machine-fill.c */
/*
 * A machine loaded from its record: memory and reason as run.json has
 * them; a lazy one's fill from fill.json, watched while live and not done.
 */
void	machine_memory_readopt(struct machine *m, const char *memory,
	    const char *reason, bool live);
/* Stop watching fill.json (the kernel ended, or m is freed). */
void	machine_fill_unwatch(struct machine *m);

/* A re-adopted live machine: tap (from run.json, "" none) on its bridge again. */
void	machine_nic_readopt(struct machine *m, const char *tap);

/* machine-supervise.c */
/* Bind dir/notify.sock, where the kernel reports. 0 or -errno. */
int	machine_open_notifier(struct machine *m);
/*
 * Supervise our new UML child pid, whose directory is dfd (duplicated):
 * SIGCHLD and pidfd watch, start time, the mconsole client.  Failures are
 * logged; the process is watched by whatever did succeed.
 */
void	machine_watch_child(struct machine *m, pid_t pid, int dfd);
/* Arm the boot deadline and the readiness probe of a booting machine. */
void	machine_boot_watch(struct machine *m);
/*
 * Take over the process run.json names if it is still the machine's
 * (same start time, runs in its directory); else record how it ended.
 */
void	machine_adopt(struct machine *m, const struct machine_run *run);

/* machine-disk.c */
/* Write run into the machine's record. 0 or -errno. */
int	machine_write_run(const struct machine *m, const struct machine_run *run);
/* Write m's run state into its record; a failure is logged. 0 or -errno. */
int	machine_save_run(struct machine *m);
/* Remove the uml/ directory a dead instance left in dfd. */
void	machine_remove_umid(struct machine *m, int dfd);
/* Load and re-adopt every machine of <state-dir>/machines and /paths. */
void	machine_scan(void);

#endif
