/* SPDX-License-Identifier: MIT */
/* The snapshot.* RPC handlers (doc/rpc.md "Snapshots"). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "context.h"
#include "fsutil.h"
#include "hostfacts.h"
#include "log.h"
#include "machine.h"
#include "rpc-authz.h"
#include "rpc-methods.h"
#include "snapshot.h"
#include "snapshot-delete.h"
#include "snapshot-owner.h"
#include "snapshot-kernel.h"
#include "snapshot-restore.h"
#include "snapshot-save.h"
#include "store.h"
#include "util.h"
#include "worker.h"

/* Answer -32602 for a bad snapshot name, naming the parameter. */
static void
bad_name(struct rpc_call *call, const char *param, const char *msg)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "param", json_object_new_string(param));
	rpc_error_data(call, RPC_INVALID_PARAMS, d, "%s: %s", param, msg);
}

/*
 * Resolve the machine param of a snapshot call, a machine the caller may
 * control; answers the call on failure.
 */
static struct machine *
lookup_machine(struct rpc_call *call, const char *name)
{
	struct machine *m = machine_lookup(name);

	if (m == NULL)
		rpc_error(call, RPC_E_NO_SUCH_MACHINE, "no machine named %s "
		    "(see machine.list)", name);
	else if (!rpc_authz_machine(call, m, AUTHZ_CONTROL))
		return NULL;
	return m;
}

struct save_params {
	const char	*machine;
	const char	*snapshot;
	const char	*prefix;
	bool		 cont;
	bool		 store;
};

int
rpc_snapshot_save(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = {
		{ "machine", RPC_PARAM_STRING, offsetof(struct save_params, machine), RPC_PARAM_REQUIRED, 0, 0 },
		{ "snapshot", RPC_PARAM_STRING, offsetof(struct save_params, snapshot), 0, 0, 0 },
		{ "prefix", RPC_PARAM_STRING, offsetof(struct save_params, prefix), 0, 0, 0 },
		{ "continue", RPC_PARAM_BOOL, offsetof(struct save_params, cont), 0, 0, 0 },
		{ "store", RPC_PARAM_BOOL, offsetof(struct save_params, store), 0, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 },
	};
	struct save_params	 p = { .cont = true, .store = true };
	struct machine		*m;
	char			 err[512], *dir = NULL, *name = NULL;
	enum machine_state	 st;
	int			 r;

	if (rpc_parse_params(call, params, table, &p) < 0)
		return 0;
	if (p.snapshot != NULL && p.prefix != NULL) {
		bad_name(call, "prefix", "give either snapshot or prefix, not both");
		return 0;
	}
	if ((m = lookup_machine(call, p.machine)) == NULL)
		return 0;
	st = machine_state(m);
	if (st != MACHINE_RUNNING && st != MACHINE_PAUSED) {
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "state",
		    json_object_new_string(machine_state_to_string(st)));
		rpc_error_data(call, RPC_E_BAD_STATE, d, "%s is %s: only a running "
		    "or paused machine can be saved", p.machine,
		    machine_state_to_string(st));
		return 0;
	}
	if (!machine_savable(m)) {
		rpc_error_data(call, RPC_E_NOT_SUPPORTED, rpc_reason("the kernel "
		    "has no sbuml save support"), "%s runs a kernel without "
		    "sbuml save support (%s); boot it with the sbuml kernel",
		    p.machine, machine_config(m)->kernel);
		return 0;
	}
	if (p.snapshot != NULL) {
		if ((r = snapshot_resolve(p.snapshot, &dir, err, sizeof(err))) < 0) {
			bad_name(call, "snapshot", err);
			return 0;
		}
		name = xstrdup(p.snapshot);
	} else {
		const char *prefix = p.prefix;
		char *base = NULL;

		if (prefix == NULL) {
			/* Default: named after the machine (its last path component). */
			const char *slash = strrchr(machine_name(m), '/');

			base = xstrdup(slash ? slash + 1 : machine_name(m));
			prefix = base;
		}
		r = snapshot_unique_name(prefix, &name, &dir, err, sizeof(err));
		free(base);
		if (r == -EINVAL) {
			bad_name(call, "prefix", err);
			return 0;
		}
		if (r < 0) {
			rpc_error(call, RPC_E_SNAPSHOT_EXISTS, "%s", err);
			return 0;
		}
	}
	/*
	 * A path snapshot would be the daemon's files (root's, 0700) in the
	 * caller's directory, which it could then neither read nor remove.
	 */
	if (strchr(name, '/') != NULL && !rpc_authz_admin(call, "save a "
	    "snapshot into a path (it would be root's files there); save a "
	    "named snapshot")) {
		free(name);
		free(dir);
		return 0;
	}
	r = snapshot_save_start(call, m, name, dir, p.cont, p.store);
	free(name);
	free(dir);
	return r;
}

struct snap_params {
	const char	*snapshot;
};

static const struct rpc_param snap_table[] = {
	{ "snapshot", RPC_PARAM_STRING, offsetof(struct snap_params, snapshot), RPC_PARAM_REQUIRED, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 },
};

/* The snapshot object with its owner: a named snapshot's record (path ones have none). */
static struct json_object *
snapshot_object(const char *name, const char *dir, struct json_object *man)
{
	struct json_object *o = snapshot_to_json(name, dir, man);

	if (strchr(name, '/') == NULL)
		json_object_object_add(o, "owner", json_object_new_int64(
		    (int64_t)snapshot_owner_read(dir)));
	return o;
}

/* Answer a manifest load failure with NoSuchSnapshot or BadSnapshot. */
void
rpc_snapshot_load_error(struct rpc_call *call, int r, const char *msg)
{
	if (r == -ENOENT)
		rpc_error(call, RPC_E_NO_SUCH_SNAPSHOT, "%s", msg);
	else
		rpc_error_data(call, RPC_E_BAD_SNAPSHOT, rpc_reason(msg), "%s", msg);
}

/*
 * A snapshot.* call whose file and store work runs in the worker pool
 * (worker.h): the handler checks the parameters on the event loop, the
 * worker loads and reads, and the loop answers with what it left: res, or
 * the error code, data and message.
 */
struct snap_job {
	struct rpc_call		*call;
	char			*name;		/* as the client named it */
	char			*dir;		/* resolved */
	struct json_object	*res;		/* the result, or NULL: */
	int			 code;		/* the error */
	struct json_object	*data;		/* its error.data (may be NULL) */
	char			 err[1536];
	bool			 chunked;	/* delete: a format 2 snapshot went */
	struct ucred		 caller;	/* list: whose snapshots to show */
};

static struct snap_job *
snap_job_new(struct rpc_call *call, const char *name, char *dir)
{
	struct snap_job *job = xcalloc(1, sizeof(*job));

	const struct ucred *cred = rpc_caller(call);

	job->call = rpc_call_ref(call);
	job->name = name != NULL ? xstrdup(name) : NULL;
	job->dir = dir;
	/* A caller already gone sees nothing: uid -1 owns no snapshot. */
	job->caller = cred != NULL ? *cred : (struct ucred){ 0, (uid_t)-1, (gid_t)-1 };
	return job;
}

static void
snap_job_free(struct snap_job *job)
{
	rpc_call_unref(job->call);
	json_object_put(job->res);
	json_object_put(job->data);
	free(job->name);
	free(job->dir);
	free(job);
}

/* In the worker: fail with code, data (taken, may be NULL) and a message. */
static void __attribute__((format(printf, 4, 5)))
snap_job_fail(struct snap_job *job, int code, struct json_object *data,
    const char *fmt, ...)
{
	va_list ap;

	job->code = code;
	json_object_put(job->data);
	job->data = data;
	va_start(ap, fmt);
	vsnprintf(job->err, sizeof(job->err), fmt, ap);
	va_end(ap);
}

/* In the worker: a manifest load failure, as rpc_snapshot_load_error answers it. */
static void
snap_job_load_error(struct snap_job *job, int r, const char *msg)
{
	if (r == -ENOENT)
		snap_job_fail(job, RPC_E_NO_SUCH_SNAPSHOT, NULL, "%s", msg);
	else
		snap_job_fail(job, RPC_E_BAD_SNAPSHOT, rpc_reason(msg), "%s", msg);
}

/* On the loop: answer with what the worker left, and free the job. */
static void
snap_job_answer(void *arg)
{
	struct snap_job *job = arg;

	if (job->res != NULL) {
		rpc_reply(job->call, job->res);
		job->res = NULL;
	} else {
		rpc_error_data(job->call, job->code, job->data, "%s", job->err);
		job->data = NULL;
	}
	snap_job_free(job);
}

/*
 * Queue fn(job) in the pool for the call's client; done(job) answers.
 * Returns RPC_DEFERRED, or 0 after answering a refusal (LimitExceeded).
 * Takes the job.
 */
static int
snap_job_submit(struct snap_job *job, enum worker_store store,
    void (*fn)(void *), void (*done)(void *))
{
	struct worker_opts	o = { rpc_call_client(job->call), store };
	int			r;

	if ((r = worker_submit(&o, fn, done, job, NULL)) < 0) {
		if (r == -EAGAIN)
			rpc_error_limit_jobs(job->call);
		else
			rpc_error_errno(job->call, RPC_E_IO_ERROR, -r, "cannot start "
			    "a worker");
		snap_job_free(job);
		return 0;
	}
	return RPC_DEFERRED;
}

/*
 * Parse {"snapshot": name}, resolve it and check the caller may do action
 * to it (may_remove: snapshot.delete) into a new job.  NULL after
 * answering a bad parameter or a refusal.
 */
static struct snap_job *
snap_job_param(struct rpc_call *call, struct json_object *params,
    enum authz_action action, bool may_remove)
{
	struct snap_params	 p = { 0 };
	char			 err[1024], *dir;

	if (rpc_parse_params(call, params, snap_table, &p) < 0)
		return NULL;
	if (snapshot_resolve(p.snapshot, &dir, err, sizeof(err)) < 0) {
		bad_name(call, "snapshot", err);
		return NULL;
	}
	if (!rpc_authz_snapshot(call, p.snapshot, dir, action, may_remove)) {
		free(dir);
		return NULL;
	}
	return snap_job_new(call, p.snapshot, dir);
}

/* In the worker: load the job's manifest.  NULL after failing the job. */
static struct json_object *
snap_job_manifest(struct snap_job *job)
{
	struct json_object	*man;
	char			 err[1024];
	int			 r;

	if ((r = snapshot_manifest_load(job->dir, &man, err, sizeof(err))) < 0) {
		snap_job_load_error(job, r, err);
		return NULL;
	}
	return man;
}

/*
 * Add the chunk store figures of a format 2 snapshot to its object o:
 * "stored_bytes" (compressed chunks it uses) and "freeable_bytes" (those
 * no other snapshot uses: what deleting it frees).
 */
static void
add_store_usage(struct json_object *o, const char *dir, struct json_object *man)
{
	struct store	*s;
	char		*root = snapshot_store_root(), *named = snapshot_named_root();
	char		 err[1024];
	uint64_t	 stored = 0, freeable = 0;

	s = store_open(root, err, sizeof(err));
	if (s != NULL && store_usage(s, named, dir, man, &stored, &freeable, err,
	    sizeof(err)) == 0) {
		json_object_object_add(o, "stored_bytes", json_object_new_int64((int64_t)stored));
		json_object_object_add(o, "freeable_bytes", json_object_new_int64((int64_t)freeable));
	} else
		log_warnx("snapshot %s: cannot measure its chunks: %s, ignoring", dir, err);
	store_free(s);
	free(root);
	free(named);
}

/*
 * Mark and sweep the chunk store.  Sets *ret (caller owns) to the result
 * object {"chunks", "bytes"} or {"deferred": reason}.  0 or -errno, message
 * in err.
 */
static int
collect_garbage(struct json_object **ret, char *err, size_t errlen)
{
	struct store	*s;
	char		*root = snapshot_store_root(), *named = snapshot_named_root();
	uint64_t	 chunks = 0, bytes = 0;
	int		 r;

	*ret = json_object_new_object();
	s = store_open(root, err, errlen);
	r = s == NULL ? -EIO : store_gc(s, named, &chunks, &bytes, err, errlen);
	if (r == 0) {
		json_object_object_add(*ret, "chunks", json_object_new_int64((int64_t)chunks));
		json_object_object_add(*ret, "bytes", json_object_new_int64((int64_t)bytes));
		log_info("store: %llu chunks (%llu bytes) freed",
		    (unsigned long long)chunks, (unsigned long long)bytes);
	} else if (r == -EBUSY)
		json_object_object_add(*ret, "deferred", json_object_new_string(err));
	store_free(s);
	free(root);
	free(named);
	return r;
}

static void
info_worker(void *arg)
{
	struct snap_job		*job = arg;
	struct json_object	*man;

	if ((man = snap_job_manifest(job)) == NULL)
		return;
	job->res = snapshot_object(job->name, job->dir, man);
	if (snapshot_manifest_version(man) == SNAPSHOT_VERSION)
		add_store_usage(job->res, job->dir, man);
	json_object_put(man);
}

int
rpc_snapshot_info(struct rpc_call *call, struct json_object *params)
{
	struct snap_job *job = snap_job_param(call, params, AUTHZ_VIEW,
	    false);

	return job == NULL ? 0 : snap_job_submit(job, WORKER_STORE_SHARED,
	    info_worker, snap_job_answer);
}

/* qsort comparator for snapshot objects by "snapshot" member. */
static int
cmp_snapshot(const void *a, const void *b)
{
	struct json_object *const *x = a, *const *y = b, *vx, *vy;

	json_object_object_get_ex(*x, "snapshot", &vx);
	json_object_object_get_ex(*y, "snapshot", &vy);
	return strcmp(json_object_get_string(vx), json_object_get_string(vy));
}

static void
list_worker(void *arg)
{
	struct snap_job		*job = arg;
	struct json_object	*arr = json_object_new_array();
	char			*root = snapshot_named_root();
	DIR			*d;
	struct dirent		*de;

	if ((d = opendir(root)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			struct json_object	*man;
			char			 err[512], *dir;

			if (de->d_name[0] == '.')
				continue;	/* also skips half-written saves */
			dir = xasprintf("%s/%s", root, de->d_name);
			if (!authz_may(&job->caller, AUTHZ_VIEW,
			    snapshot_owner_read(dir))) {
				free(dir);
				continue;
			}
			if (snapshot_manifest_load(dir, &man, err, sizeof(err)) == 0) {
				json_object_array_add(arr, snapshot_object(de->d_name, dir, man));
				json_object_put(man);
			}
			free(dir);
		}
		closedir(d);
	}
	free(root);
	json_object_array_sort(arr, cmp_snapshot);
	job->res = json_object_new_object();
	json_object_object_add(job->res, "snapshots", arr);
}

int
rpc_snapshot_list(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = { { NULL, 0, 0, 0, 0, 0 } };
	char dummy;

	if (rpc_parse_params(call, params, table, &dummy) < 0)
		return 0;
	return snap_job_submit(snap_job_new(call, NULL, NULL), WORKER_STORE_SHARED,
	    list_worker, snap_job_answer);
}

/*
 * In the worker: remove the snapshot if it provably is one, and only the
 * files sbuml made in it (snapshot-delete.h); unregister a format 2 one
 * from the store first (a crash after that leaves chunks for the next gc).
 */
static void
delete_worker(void *arg)
{
	struct snap_job		*job = arg;
	struct json_object	*man;
	struct store		*s;
	char			 err[1024], *root;
	int			 dfd, r;

	if ((r = snapshot_delete_check(job->dir, &dfd, &man, err, sizeof(err))) < 0) {
		if (r == -ENOENT)
			snap_job_fail(job, RPC_E_NO_SUCH_SNAPSHOT, NULL, "%s", err);
		else if (r == -EBADMSG || r == -ENOTEMPTY)
			snap_job_fail(job, RPC_E_BAD_SNAPSHOT, rpc_reason(err), "%s is "
			    "not an sbuml snapshot: %s; not deleting it", job->dir, err);
		else
			snap_job_fail(job, RPC_E_IO_ERROR, rpc_reason(err), "%s: %s",
			    job->dir, err);
		return;
	}
	job->chunked = snapshot_manifest_version(man) == SNAPSHOT_VERSION;
	if (job->chunked) {
		root = snapshot_store_root();
		if ((s = store_open(root, err, sizeof(err))) != NULL) {
			(void)store_ref_del(s, job->dir);
			s = store_free(s);
		}
		free(root);
	}
	r = snapshot_delete_files(job->dir, dfd, man, err, sizeof(err));
	(void)close(dfd);
	json_object_put(man);
	if (r < 0) {
		snap_job_fail(job, RPC_E_IO_ERROR, rpc_reason(err), "cannot remove %s: %s",
		    job->dir, err);
		return;
	}
	job->res = json_object_new_object();
	json_object_object_add(job->res, "deleted", json_object_new_string(job->name));
}

/* In the worker: mark and sweep; res gets "freed" (delete) or is the result (gc). */
static void
gc_worker(void *arg)
{
	struct snap_job		*job = arg;
	struct json_object	*gc;
	int			 r;

	r = collect_garbage(&gc, job->err, sizeof(job->err));
	if (job->res != NULL) {
		/* After a delete: a failed gc is only logged, the next one frees. */
		json_object_object_add(job->res, "freed", gc);
		job->code = r < 0 && r != -EBUSY ? -1 : 0;
		return;
	}
	if (r == 0) {
		job->res = gc;
		return;
	}
	json_object_put(gc);
	job->code = r == -EBUSY ? RPC_E_BAD_STATE : RPC_E_IO_ERROR;
}

/* After a delete's gc: log its failure, answer the delete. */
static void
delete_gc_done(void *arg)
{
	struct snap_job *job = arg;

	if (job->code == -1)
		log_warnx("store: %s, ignoring", job->err);
	job->code = 0;
	snap_job_answer(job);
}

/* Why a gc cannot run now, or NULL.  On the loop. */
static const char *
gc_blocked(void)
{
	if (store_writers_active())
		return "a save or an import is writing to the chunk store; collect "
		    "garbage after it";
	if (store_readers_active() || worker_store_busy())
		return "a job is reading the chunk store (an export, restore, "
		    "verify, info, check, list or delete); collect garbage after it";
	return NULL;
}

/* The delete is done: answer, collecting garbage first for a format 2 one. */
static void
delete_done(void *arg)
{
	struct snap_job		*job = arg;
	struct worker_opts	 o = { NULL, WORKER_STORE_EXCLUSIVE };
	struct json_object	*d;
	const char		*busy;

	if (job->res == NULL || !job->chunked) {
		if (job->res != NULL)
			log_info("snapshot %s deleted", job->dir);
		snap_job_answer(job);
		return;
	}
	log_info("snapshot %s deleted", job->dir);
	o.owner = rpc_call_client(job->call);
	if ((busy = gc_blocked()) == NULL &&
	    worker_submit(&o, gc_worker, delete_gc_done, job, NULL) == 0)
		return;
	/* The snapshot is gone either way: the next delete or store.gc frees. */
	d = json_object_new_object();
	json_object_object_add(d, "deferred", json_object_new_string(busy != NULL ?
	    busy : "too many jobs; run store.gc later"));
	json_object_object_add(job->res, "freed", d);
	snap_job_answer(job);
}

int
rpc_snapshot_delete(struct rpc_call *call, struct json_object *params)
{
	struct snap_job *job = snap_job_param(call, params, AUTHZ_CONTROL,
	    true);

	return job == NULL ? 0 : snap_job_submit(job, WORKER_STORE_SHARED,
	    delete_worker, delete_done);
}

struct restore_params {
	const char	*snapshot;
	const char	*machine;
	bool		 cont;
};

int
rpc_snapshot_restore(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = {
		{ "snapshot", RPC_PARAM_STRING, offsetof(struct restore_params, snapshot), RPC_PARAM_REQUIRED, 0, 0 },
		{ "machine", RPC_PARAM_STRING, offsetof(struct restore_params, machine), RPC_PARAM_REQUIRED, 0, 0 },
		{ "continue", RPC_PARAM_BOOL, offsetof(struct restore_params, cont), 0, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 },
	};
	struct restore_params	 p = { .cont = true };
	char			 err[1024], *dir;
	bool			 ok;

	if (rpc_parse_params(call, params, table, &p) < 0)
		return 0;
	/* A bad name is answered by snapshot_restore_start. */
	if (snapshot_resolve(p.snapshot, &dir, err, sizeof(err)) == 0) {
		ok = rpc_authz_snapshot(call, p.snapshot, dir, AUTHZ_CONTROL,
		    false);
		free(dir);
		if (!ok)
			return 0;
	}
	return snapshot_restore_start(call, p.snapshot, p.machine, p.cont);
}

static void
verify_worker(void *arg)
{
	struct snap_job		*job = arg;
	struct json_object	*man, *files, *v;
	struct store		*s = NULL;
	char			 err[1024], *root;
	int64_t			 bytes = 0;
	int			 r = 0;

	if ((man = snap_job_manifest(job)) == NULL)
		return;
	test_knob_sleep("SBUMLD_TEST_VERIFY_DELAY_MS");
	json_object_object_get_ex(man, "files", &files);
	if (snapshot_manifest_version(man) == SNAPSHOT_VERSION) {
		root = snapshot_store_root();
		s = store_open(root, err, sizeof(err));
		free(root);
		/* Each distinct chunk once: the work is the chunks, not the declared sizes. */
		r = s == NULL ? -EIO : store_check_manifest(s, man, err, sizeof(err));
		for (size_t i = 0; r == 0 && i < json_object_array_length(files); i++) {
			json_object_object_get_ex(json_object_array_get_idx(files, i),
			    "size", &v);
			bytes += json_object_get_int64(v);
		}
		s = store_free(s);
	} else {
		/* Format 1 has no hashes: the sizes were checked when loading. */
		for (size_t i = 0; i < json_object_array_length(files); i++) {
			json_object_object_get_ex(json_object_array_get_idx(files, i),
			    "size", &v);
			bytes += json_object_get_int64(v);
		}
	}
	if (r < 0) {
		snap_job_load_error(job, r == -ENOENT ? -EBADMSG : r, err);
		json_object_put(man);
		return;
	}
	job->res = json_object_new_object();
	json_object_object_add(job->res, "snapshot", json_object_new_string(job->name));
	json_object_object_add(job->res, "version", json_object_new_int(
	    snapshot_manifest_version(man)));
	json_object_object_add(job->res, "hashes_checked", json_object_new_boolean(
	    snapshot_manifest_version(man) == SNAPSHOT_VERSION));
	json_object_object_add(job->res, "files", json_object_new_int(
	    (int)json_object_array_length(files)));
	json_object_object_add(job->res, "bytes", json_object_new_int64(bytes));
	json_object_put(man);
}

static void
verify_done(void *arg)
{
	struct snap_job *job = arg;

	if (job->res == NULL && job->code != RPC_E_NO_SUCH_SNAPSHOT)
		log_warnx("snapshot %s: verify failed: %s", job->dir, job->err);
	snap_job_answer(job);
}

int
rpc_snapshot_verify(struct rpc_call *call, struct json_object *params)
{
	struct snap_job *job = snap_job_param(call, params, AUTHZ_VIEW,
	    false);

	return job == NULL ? 0 : snap_job_submit(job, WORKER_STORE_SHARED,
	    verify_worker, verify_done);
}

/*
 * Append {"check": name, "ok": ok, "detail": detail} to checks; a failed
 * check makes the snapshot not restorable.
 */
static void
add_check(struct json_object *checks, bool *restorable, const char *name,
    bool ok, const char *detail)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "check", json_object_new_string(name));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	json_object_array_add(checks, o);
	if (!ok)
		*restorable = false;
}

/*
 * The kernel check: a kernel binary of the manifest's build-id is here
 * (the restore's own lookup, without materialising anything).
 */
static bool
check_kernel(struct json_object *man, char *detail, size_t len)
{
	enum snapshot_kernel_source	 src;
	struct json_object		*k, *v;
	const char			*id = "?";
	char				 err[1024], *path = NULL;
	int				 r;

	if (json_object_object_get_ex(man, "kernel", &k) &&
	    json_object_object_get_ex(k, "build_id", &v))
		id = json_object_get_string(v);
	if ((r = snapshot_kernel_find(man, false, &path, &src, err, sizeof(err))) < 0) {
		snprintf(detail, len, "%s", err);
		return false;
	}
	if (src == SNAPSHOT_KERNEL_INSTALLED)
		snprintf(detail, len, "build %s: %s", id, path);
	else if (src == SNAPSHOT_KERNEL_STORE)
		snprintf(detail, len, "build %s: %s (rebuilt earlier from the "
		    "snapshot's chunks)", id, path);
	else
		snprintf(detail, len, "build %s: not installed here; the restore "
		    "rebuilds it from the snapshot's chunks (checked) as %s", id, path);
	free(path);
	return true;
}

/*
 * The base_images check: the disk overlays refer to their base images by
 * path, so each must be readable here (as the restore requires).
 */
static bool
check_base_images(struct json_object *man, char *detail, size_t len)
{
	struct json_object	*mach, *img, *disks = NULL;
	size_t			 n;

	if (!json_object_object_get_ex(man, "machine", &mach) ||
	    !json_object_object_get_ex(mach, "image", &img) ||
	    !json_object_is_type(img, json_type_string) ||
	    (json_object_object_get_ex(mach, "disks", &disks) &&
	    !json_object_is_type(disks, json_type_array))) {
		snprintf(detail, len, "the manifest's machine section is malformed");
		return false;
	}
	n = disks != NULL ? json_object_array_length(disks) : 0;
	for (size_t i = 0; i <= n; i++) {
		const char *p = i == 0 ? json_object_get_string(img) :
		    json_object_get_string(json_object_array_get_idx(disks, i - 1));

		if (p == NULL || access(p, R_OK) < 0) {
			snprintf(detail, len, "base image %s of the snapshot is not "
			    "readable here: %s", p != NULL ? p : "(null)",
			    p != NULL ? strerror(errno) : "not a path");
			return false;
		}
	}
	snprintf(detail, len, "%s%s readable", json_object_get_string(img),
	    n == 0 ? " is" : n == 1 ? " and 1 disk are" : " and the disks are");
	return true;
}

static void
check_worker(void *arg)
{
	struct snap_job		*job = arg;
	struct json_object	*man, *checks, *host, *hc;
	struct hostfacts	 here;
	char			 detail[1024];
	bool			 restorable = true, ok;
	int			 r;

	/* A missing or corrupt snapshot is an error, as for snapshot.info. */
	if ((man = snap_job_manifest(job)) == NULL)
		return;
	if ((r = hostfacts_read(&here)) < 0) {
		snap_job_fail(job, RPC_INTERNAL_ERROR, NULL, "cannot read this host's "
		    "facts: %s", strerror(-r));
		json_object_put(man);
		return;
	}
	checks = json_object_new_array();
	if (snapshot_manifest_version(man) == SNAPSHOT_VERSION)
		add_check(checks, &restorable, "format", true, "format 2 (chunk "
		    "store): every chunk it lists is in this host's store "
		    "(snapshot.verify checks their content)");
	else
		add_check(checks, &restorable, "format", true, "format 1: every "
		    "captured file is there with its size");
	ok = check_kernel(man, detail, sizeof(detail));
	add_check(checks, &restorable, "kernel", ok, detail);
	/* arch, cpu, xstate, host_kernel: the kernel's own refusal rules. */
	if (!json_object_object_get_ex(man, "host", &host))
		host = NULL;
	hc = hostfacts_checks(host, &here);
	for (size_t i = 0; i < json_object_array_length(hc); i++) {
		struct json_object *c = json_object_array_get_idx(hc, i), *v;

		json_object_object_get_ex(c, "ok", &v);
		if (!json_object_get_boolean(v))
			restorable = false;
		json_object_array_add(checks, json_object_get(c));
	}
	json_object_put(hc);
	ok = check_base_images(man, detail, sizeof(detail));
	add_check(checks, &restorable, "base_images", ok, detail);

	job->res = json_object_new_object();
	json_object_object_add(job->res, "snapshot", json_object_new_string(job->name));
	json_object_object_add(job->res, "restorable", json_object_new_boolean(restorable));
	json_object_object_add(job->res, "checks", checks);
	json_object_put(man);
}

int
rpc_snapshot_check(struct rpc_call *call, struct json_object *params)
{
	struct snap_job *job = snap_job_param(call, params, AUTHZ_VIEW,
	    false);

	return job == NULL ? 0 : snap_job_submit(job, WORKER_STORE_SHARED,
	    check_worker, snap_job_answer);
}

int
rpc_store_gc(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = { { NULL, 0, 0, 0, 0, 0 } };
	const char	*busy;
	char		 dummy;

	if (rpc_parse_params(call, params, table, &dummy) < 0 ||
	    !rpc_authz_admin(call, "collect the chunk store's garbage"))
		return 0;
	/* A gc never waits behind other store jobs: it is refused, as before. */
	if ((busy = gc_blocked()) != NULL) {
		rpc_error(call, RPC_E_BAD_STATE, "%s", busy);
		return 0;
	}
	return snap_job_submit(snap_job_new(call, NULL, NULL), WORKER_STORE_EXCLUSIVE,
	    gc_worker, snap_job_answer);
}
