/* SPDX-License-Identifier: MIT */
/* The snapshot.* RPC handlers (doc/rpc.md "Snapshots"). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "fsutil.h"
#include "hostfacts.h"
#include "log.h"
#include "machine.h"
#include "rpc-authz.h"
#include "rpc-methods.h"
#include "snapshot.h"
#include "snapshot-owner.h"
#include "snapshot-restore.h"
#include "snapshot-save.h"
#include "store.h"
#include "util.h"

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

/*
 * The {"snapshot": name} of info, verify and check: parse it, resolve it,
 * check the caller may see it and load its manifest.  On failure the call
 * is answered and -1 returned; on success *ret_dir (caller frees) and
 * *ret_man (caller puts) are set.
 */
static int
load_snapshot_param(struct rpc_call *call, struct json_object *params,
    struct snap_params *p, char **ret_dir, struct json_object **ret_man)
{
	char	 err[1024], *dir;
	int	 r;

	if (rpc_parse_params(call, params, snap_table, p) < 0)
		return -1;
	if (snapshot_resolve(p->snapshot, &dir, err, sizeof(err)) < 0) {
		bad_name(call, "snapshot", err);
		return -1;
	}
	if (!rpc_authz_snapshot(call, p->snapshot, dir, AUTHZ_VIEW, false)) {
		free(dir);
		return -1;
	}
	if ((r = snapshot_manifest_load(dir, ret_man, err, sizeof(err))) < 0) {
		rpc_snapshot_load_error(call, r, err);
		free(dir);
		return -1;
	}
	*ret_dir = dir;
	return 0;
}

int
rpc_snapshot_info(struct rpc_call *call, struct json_object *params)
{
	struct snap_params	 p = { 0 };
	struct json_object	*man, *res;
	char			*dir;

	if (load_snapshot_param(call, params, &p, &dir, &man) < 0)
		return 0;
	res = snapshot_object(p.snapshot, dir, man);
	if (snapshot_manifest_version(man) == SNAPSHOT_VERSION)
		add_store_usage(res, dir, man);
	rpc_reply(call, res);
	json_object_put(man);
	free(dir);
	return 0;
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

int
rpc_snapshot_list(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = { { NULL, 0, 0, 0, 0, 0 } };
	const struct ucred	*cred = rpc_caller(call);
	struct json_object	*arr = json_object_new_array(), *res;
	char			*root;
	DIR			*d;
	struct dirent		*de;
	char			 dummy;

	if (rpc_parse_params(call, params, table, &dummy) < 0) {
		json_object_put(arr);
		return 0;
	}
	root = xasprintf("%s/snapshots", daemon_config.state_dir);
	if ((d = opendir(root)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			struct json_object	*man;
			char			 err[512], *dir;

			if (de->d_name[0] == '.')
				continue;	/* also skips half-written saves */
			dir = xasprintf("%s/%s", root, de->d_name);
			if (!authz_may(cred, AUTHZ_VIEW, snapshot_owner_read(dir))) {
				free(dir);
				continue;
			}
			if (snapshot_manifest_load(dir, &man, err, sizeof(err)) == 0) {
				json_object_array_add(arr, snapshot_object(de->d_name, dir, man));
				json_object_put(man);
			} else
				log_debug("snapshot.list: skipping %s: %s", dir, err);
			free(dir);
		}
		closedir(d);
	}
	free(root);
	json_object_array_sort(arr, cmp_snapshot);
	res = json_object_new_object();
	json_object_object_add(res, "snapshots", arr);
	rpc_reply(call, res);
	return 0;
}

int
rpc_snapshot_delete(struct rpc_call *call, struct json_object *params)
{
	struct snap_params	 p = { 0 };
	struct json_object	*res, *mj;
	struct stat		 st;
	struct store		*s;
	char			 err[1024], *dir, *man;
	bool			 chunked = false;
	int			 r;

	if (rpc_parse_params(call, params, snap_table, &p) < 0)
		return 0;
	if (snapshot_resolve(p.snapshot, &dir, err, sizeof(err)) < 0) {
		bad_name(call, "snapshot", err);
		return 0;
	}
	if (!rpc_authz_snapshot(call, p.snapshot, dir, AUTHZ_CONTROL, true)) {
		free(dir);
		return 0;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		rpc_error(call, RPC_E_NO_SUCH_SNAPSHOT, "no snapshot at %s", dir);
		free(dir);
		return 0;
	}
	/* Only ever remove what is recognisably a snapshot. */
	man = xasprintf("%s/%s", dir, SNAPSHOT_MANIFEST);
	r = access(man, F_OK);
	free(man);
	if (r < 0) {
		rpc_error_data(call, RPC_E_BAD_SNAPSHOT, rpc_reason("no manifest.json"),
		    "%s holds no sbuml snapshot; "
		    "not deleting it", dir);
		free(dir);
		return 0;
	}
	if (snapshot_manifest_load(dir, &mj, err, sizeof(err)) == 0) {
		chunked = snapshot_manifest_version(mj) == SNAPSHOT_VERSION;
		json_object_put(mj);
	} else {
		/* Possibly a format 2 snapshot with missing chunks: unregister anyway. */
		chunked = true;
	}
	/* Unregister first: a crash after this leaves chunks for the next gc. */
	if (chunked) {
		char *root = snapshot_store_root();

		if ((s = store_open(root, err, sizeof(err))) != NULL) {
			(void)store_ref_del(s, dir);
			s = store_free(s);
		}
		free(root);
	}
	if ((r = fs_remove_tree(dir)) < 0) {
		rpc_error(call, RPC_E_IO_ERROR, "cannot remove %s: %s", dir, strerror(-r));
		free(dir);
		return 0;
	}
	log_info("snapshot %s deleted", dir);
	res = json_object_new_object();
	json_object_object_add(res, "deleted", json_object_new_string(p.snapshot));
	if (chunked) {
		struct json_object *gc;

		r = collect_garbage(&gc, err, sizeof(err));
		if (r < 0 && r != -EBUSY)
			log_warnx("store: %s, ignoring", err);
		json_object_object_add(res, "freed", gc);
	}
	rpc_reply(call, res);
	free(dir);
	return 0;
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

int
rpc_snapshot_verify(struct rpc_call *call, struct json_object *params)
{
	struct snap_params	 p = { 0 };
	struct json_object	*man, *files, *v, *res;
	struct store		*s = NULL;
	char			 err[1024], *dir, *root;
	int64_t			 bytes = 0;
	int			 r = 0;

	if (load_snapshot_param(call, params, &p, &dir, &man) < 0)
		return 0;
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
		rpc_snapshot_load_error(call, r == -ENOENT ? -EBADMSG : r, err);
		log_warnx("snapshot %s: verify failed: %s", dir, err);
	} else {
		res = json_object_new_object();
		json_object_object_add(res, "snapshot", json_object_new_string(p.snapshot));
		json_object_object_add(res, "version", json_object_new_int(
		    snapshot_manifest_version(man)));
		json_object_object_add(res, "hashes_checked", json_object_new_boolean(
		    snapshot_manifest_version(man) == SNAPSHOT_VERSION));
		json_object_object_add(res, "files", json_object_new_int(
		    (int)json_object_array_length(files)));
		json_object_object_add(res, "bytes", json_object_new_int64(bytes));
		rpc_reply(call, res);
	}
	json_object_put(man);
	free(dir);
	return 0;
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

int
rpc_snapshot_check(struct rpc_call *call, struct json_object *params)
{
	struct snap_params	 p = { 0 };
	struct json_object	*man, *res, *checks, *host, *hc;
	struct hostfacts	 here;
	char			*dir, detail[1024];
	bool			 restorable = true, ok;
	int			 r;

	/* A missing or corrupt snapshot is an error, as for snapshot.info. */
	if (load_snapshot_param(call, params, &p, &dir, &man) < 0)
		return 0;
	if ((r = hostfacts_read(&here)) < 0) {
		rpc_error(call, RPC_INTERNAL_ERROR, "cannot read this host's "
		    "facts: %s", strerror(-r));
		goto out;
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

	res = json_object_new_object();
	json_object_object_add(res, "snapshot", json_object_new_string(p.snapshot));
	json_object_object_add(res, "restorable", json_object_new_boolean(restorable));
	json_object_object_add(res, "checks", checks);
	rpc_reply(call, res);
out:
	json_object_put(man);
	free(dir);
	return 0;
}

int
rpc_store_gc(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = { { NULL, 0, 0, 0, 0, 0 } };
	struct json_object	*res;
	char			 err[1024], dummy;
	int			 r;

	if (rpc_parse_params(call, params, table, &dummy) < 0 ||
	    !rpc_authz_admin(call, "collect the chunk store's garbage"))
		return 0;
	r = collect_garbage(&res, err, sizeof(err));
	if (r == -EBUSY) {
		json_object_put(res);
		rpc_error(call, RPC_E_BAD_STATE, "%s", err);
	} else if (r < 0) {
		json_object_put(res);
		rpc_error(call, RPC_E_IO_ERROR, "%s", err);
	} else
		rpc_reply(call, res);
	return 0;
}
