/* SPDX-License-Identifier: MIT */
/*
 * Machines: one UML instance each, living in one directory
 * (doc/machine-layout.md).  The registry (name or path -> machine), the
 * state machine of doc/rpc.md, starting the UML process, supervising it
 * (pidfd + SIGCHLD through child.h) and re-adopting it after a daemon
 * restart; machine-int.h says which file does what.  Names, machine.json
 * and run.json are machine-config.h's, state names machine-state.h's,
 * mconsole.h speaks to UML, uml.h starts and kills it.  The layers above
 * learn of state changes through the state hook (machine_set_state_hook).
 *
 * Asynchronous operations (boot, pause, resume, halt, kill) take a
 * machine_done_cb that runs exactly once, from the event loop, with 0 or
 * -errno and a message for the user:
 *	-ECHILD		the machine died (boot: while booting)
 *	-ETIMEDOUT	boot did not finish in time, or mconsole did not answer
 *	-EREMOTEIO	UML answered with an error (msg is its text)
 *	-ECANCELED	the daemon is shutting down
 * The machine is still registered when the callback runs.
 *
 * For the snapshot jobs: look the machine up (machine_lookup), take the
 * job slot (machine_job_begin: at most one job per machine, the job is
 * told when the machine dies and gets its MCONSOLE_USER_NOTIFY messages),
 * send mconsole commands with a long timeout (machine_mconsole_send), and
 * move the state (machine_set_state) if the job pauses or resumes the
 * guest itself.
 */
#ifndef SBUMLD_MACHINE_H
#define SBUMLD_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>

#include "machine-config.h"
#include "machine-state.h"
#include "mconsole.h"
#include "uml.h"

#define MACHINE_MAX		64	/* machines in the registry */
#define MACHINE_BOOT_TIMEOUT_S	60
#define MACHINE_HALT_TIMEOUT_S	30	/* default of machine.halt */
#define MACHINE_HALT_KILL_S	5	/* after mconsole halt, before SIGKILL */
#define MACHINE_CAD_REPEAT_S	3	/* halt: cad again until the guest reacts */
#define MACHINE_CONSOLE_TAIL	20	/* lines in console_tail */
#define MACHINE_MAX_WAITERS	64	/* pending calls per machine */
/* Probe sent once a machine boots: a kernel that answers OK can save. */
#define MACHINE_SAVABLE_PROBE	"sbuml info"

struct machine;

/* A save/restore job holding a machine's job slot (owned by the caller). */
struct machine_job {
	const char	*kind;		/* "save", ... for messages */
	/*
	 * The machine is going away from under the job: its UML process
	 * died, or the daemon is shutting down (machine_registry_shutdown,
	 * after which m is freed).  The job must finish or fail itself and
	 * must not touch m afterwards.  Runs after the state change.
	 */
	void		(*on_exit)(struct machine *m, void *arg);
	/* A MCONSOLE_USER_NOTIFY (guest or patched kernel) message; may be NULL. */
	void		(*on_notify)(struct machine *m, const char *data,
			    size_t len, void *arg);
	void		*arg;
};

typedef void (*machine_done_cb)(struct machine *m, int err, const char *msg,
	    void *arg);

/* --- Registry --- */

/* Re-adopt every machine found in the state dir. Called before READY=1. 0 or -errno. */
int	machine_registry_init(void);
/* Stop watching (machines keep running: a restarted daemon re-adopts them). */
void	machine_registry_shutdown(void);
/* The machine named name (a plain name or an absolute path), or NULL. */
struct machine *machine_lookup(const char *name);
size_t	machine_count(void);
/* Every machine sorted by name; a malloc'd array the caller frees (not the machines). */
struct machine **machine_list(size_t *ret_n);

/* --- Create, load, delete (names and machine.json: machine-config.h) --- */

/*
 * Create a machine (state stopped, never booted) in the registry: makes its
 * directory (0700), writes machine.json, records a path machine under
 * <state-dir>/paths.  Takes ownership of *cfg's strings (cfg is cleared).
 * -EEXIST if the name is taken or the directory is in use, -ENOSPC past
 * MACHINE_MAX, other -errno from the file system (message in err).
 */
int	machine_create(const char *name, struct machine_config *cfg,
	    struct machine **ret, char *err, size_t errlen);
/*
 * Load an unregistered path machine from dir/machine.json (a directory that
 * already holds a machine but lost its registry entry).  -ENOENT if there
 * is no machine.json.
 */
int	machine_load_path(const char *path, struct machine **ret);
/*
 * Delete a stopped or crashed machine: remove only the files sbuml created,
 * rmdir its directory, drop its registry entries, free it.  -EBUSY if it is
 * live or has a job; other -errno (message in err) if a file could not be
 * removed (the machine is then still registered).
 */
int	machine_delete(struct machine *m, char *err, size_t errlen);

/* --- State and accessors (state names: machine-state.h) --- */

const char *machine_name(const struct machine *m);
const char *machine_dir(const struct machine *m);
bool	machine_is_path(const struct machine *m);
enum machine_state machine_state(const struct machine *m);
pid_t	machine_pid(const struct machine *m);	/* 0 when not live */
/* Whether the kernel answered MACHINE_SAVABLE_PROBE when it booted. */
bool	machine_savable(const struct machine *m);
const struct machine_config *machine_config(const struct machine *m);
/*
 * Move to state: persists run.json and tells the state hook.  For the
 * snapshot jobs when they stop/continue the guest themselves (paused <->
 * running); live -> stopped/crashed happens only through supervision.
 */
void	machine_set_state(struct machine *m, enum machine_state state);
/*
 * Called on every state change, after run.json is written, with the
 * machine.state event of doc/rpc.md ("Events"), which fn owns.  The layer
 * that publishes events sets it before machine_registry_init; one hook,
 * NULL for none (then no event is built).
 */
typedef void (*machine_state_hook)(const struct machine *m,
	    struct json_object *ev, void *arg);
void	machine_set_state_hook(machine_state_hook fn, void *arg);
/* The machine object of doc/rpc.md (caller owns it). */
struct json_object *machine_to_json(const struct machine *m);
/*
 * The last n lines of console.log, oldest first, as a JSON array of
 * strings in *ret (caller owns it): console-tail.h, which says how they
 * are cleaned and how much is read.  No console.log gives an empty array.
 * 0 or -errno: -ESTALE if the machine's path names another directory now,
 * -ELOOP, -EMLINK, -EINVAL for a console.log that is a symlink, a hard
 * link or not a regular file (fs_openat_file; fs_strerror words them).
 */
int	machine_console_tail(const struct machine *m, size_t n,
	    struct json_object **ret);

/* --- Interactive console (machine-console.c, doc/rpc.md) --- */

#define MACHINE_CONSOLE_MAX_STREAMS	16	/* per machine */
#define MACHINE_CONSOLE_MAX_TOTAL	128	/* all machines */
#define MACHINE_CONSOLE_MAX_PER_UID	32	/* of any uid but root */

struct machine_console;
struct evbuffer;
/*
 * Reserve a console stream of a live machine: write makes it the one
 * writer (its bytes go to the guest's console input).  The stream starts
 * when machine_console_start gets its socket, which must follow exactly
 * once.  uid: the caller's (a uid other than root has at most
 * MACHINE_CONSOLE_MAX_PER_UID streams).  -EINVAL if m is not live, -EBUSY if write and another stream
 * writes, -ENOSPC past the limits above, -ENOTTY if the UML process has
 * no console FIFO (started by an sbumld without one), other -errno from
 * opening console.log or the FIFO.
 */
int	machine_console_attach(struct machine *m, uid_t uid, bool write,
	    struct machine_console **ret);
/*
 * Start the stream arg (a struct machine_console) on the connected socket
 * fd (taken), after the client's bytes in pending (may be NULL; taken
 * from).  fd -1 cancels the reservation.  The signature is the ipc
 * layer's hand-over callback's (server_client_handover).  If the machine
 * stopped meanwhile, fd is closed at once: the client sees end of file.
 */
void	machine_console_start(int fd, struct evbuffer *pending, void *arg);

/* --- Operations --- */

/*
 * Boot a stopped/crashed machine with its saved configuration.  0: cb runs
 * once the machine is running (mconsole answers) or failed.  -errno (msg
 * in err, cb will not run) if the UML process could not be started.
 */
int	machine_boot(struct machine *m, machine_done_cb cb, void *arg,
	    char *err, size_t errlen);
/*
 * Like machine_boot, but the UML process restores the snapshot capture in
 * capture instead of booting (the disk files dir/disk<N>.cow must already be
 * the snapshot's copies).  cb runs once the restored kernel answers on its
 * new mconsole, or with -ECHILD if it refused or died.  physmem_fd > 0:
 * the guest memory, which the kernel adopts (uml_launch.physmem_fd; the
 * caller still closes its copy).  saved_mac: the MAC of the saved NIC
 * (NULL: none); the machine's NIC (its configuration) gets a new tap, and
 * the kernel its MAC unless it is saved_mac (doc/restore.md).
 */
int	machine_restore(struct machine *m, const char *capture, int physmem_fd,
	    int pager_fd, const char *saved_mac, machine_done_cb cb, void *arg,
	    char *err, size_t errlen);

/*
 * The memory fill of a lazily restored machine (doc/restore.md): written
 * by its pager thread (snapshot-pager.c), read by the event loop for the
 * machine object.  Shared, counted: the machine and the pager each hold a
 * reference (machine_fill_put drops one).
 */
enum machine_fill_state {
	MACHINE_FILL_WAITING,	/* the kernel has not sent its hello yet */
	MACHINE_FILL_FILLING,
	MACHINE_FILL_DONE,	/* every data page is in (DONE sent) */
	MACHINE_FILL_LOST,	/* the kernel went away before DONE */
	MACHINE_FILL_FAILED,	/* the pager gave up (reason says why) */
};
struct machine_fill {
	_Atomic int		 refs;
	_Atomic int		 state;		/* enum machine_fill_state */
	_Atomic uint64_t	 filled;	/* pages copied in */
	_Atomic uint64_t	 total;		/* data chunks to fill */
	_Atomic uint64_t	 chunks;	/* data chunks filled */
	_Atomic uint64_t	 faults;	/* faults served */
	/* Written before state becomes FAILED (release), then never again. */
	char			 reason[512];
};
struct machine_fill *machine_fill_new(void);
struct machine_fill *machine_fill_ref(struct machine_fill *f);
/* Drop one reference; accepts NULL; returns NULL. */
struct machine_fill *machine_fill_put(struct machine_fill *f);
const char *machine_fill_state_name(int state);
/*
 * How the restore of m brought its memory in: lazy (fill not NULL; m takes
 * a reference) or eager, with why it is not lazy (reason may be NULL).
 */
void	machine_set_memory(struct machine *m, bool lazy, const char *reason,
	    struct machine_fill *fill);
/* The exit status of m's last UML process, -1 if unknown or signalled. */
int	machine_exit_status(const struct machine *m);
/* Why m failed, if sbumld knows more than its exit (NULL: nothing). */
const char *machine_failure(const struct machine *m);
/* mconsole stop (running -> paused) / go (paused -> running). -EBUSY, -EINVAL for a bad state. */
int	machine_pause(struct machine *m, machine_done_cb cb, void *arg);
int	machine_resume(struct machine *m, machine_done_cb cb, void *arg);
/* cad, after timeout_s mconsole halt, after 5 s more SIGKILL; cb when the process is gone. */
int	machine_halt(struct machine *m, unsigned int timeout_s,
	    machine_done_cb cb, void *arg);
/* SIGKILL of the instance and all its host helpers; cb when it is gone. */
int	machine_kill(struct machine *m, machine_done_cb cb, void *arg);
/* 0 when UML processes can open /dev/net/tun here, else -errno (err). */
int	machine_nic_check_tun(char *err, size_t errlen);
/* True while a pause/resume is waiting for mconsole. */
bool	machine_op_pending(const struct machine *m);

/* --- For the snapshot jobs --- */

/* Take the job slot. -EBUSY if a job holds it, -EINVAL if the machine is not live. */
int	machine_job_begin(struct machine *m, const struct machine_job *job);
/*
 * Take the job slot of a machine that is not running (a restore filling in
 * its disks): boot and delete are refused (-EBUSY) until machine_job_end.
 * -EBUSY if a job holds it, -EINVAL if the machine is live.
 */
int	machine_job_reserve(struct machine *m, const struct machine_job *job);
/* Release the job slot (job must be the one that holds it). */
void	machine_job_end(struct machine *m, const struct machine_job *job);
/* The job holding the slot, or NULL. */
const struct machine_job *machine_job(const struct machine *m);
/*
 * Send an mconsole command to a live machine (mconsole.h semantics;
 * timeout_ms may be long, e.g. 120000 for "sbuml save DIR").
 * -ENOTCONN if the machine is not live.
 */
int	machine_mconsole_send(struct machine *m, const char *cmd,
	    unsigned int timeout_ms, mconsole_cb cb, void *arg);

#endif
