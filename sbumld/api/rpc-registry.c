/* SPDX-License-Identifier: MIT */
/*
 * snapshot.push, snapshot.pull, snapshot.tags and snapshot.search (doc/rpc.md
 * "Registries").
 * The registry credentials are the caller's: its auth file (the
 * "auth_file" parameter, which sbumlctl fills from $REGISTRY_AUTH_FILE),
 * else /run/user/UID/containers/auth.json, else ~/.docker/config.json of
 * its home, each opened with the caller's rights (asuser.h), so a caller
 * can use only credentials it could read itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asuser.h"
#include "oci-auth.h"
#include "oci-ref.h"
#include "rpc-authz.h"
#include "rpc-job.h"
#include "rpc-methods.h"
#include "snapshot.h"
#include "snapshot-oci.h"
#include "util.h"

#define AUTH_FILE_MAX	(1024 * 1024)

struct registry_params {
	const char	*snapshot;
	const char	*ref;
	const char	*auth_file;
	bool		 insecure;
	const char	*from;
};

static const struct rpc_param registry_table[] = {
	{ "snapshot", RPC_PARAM_STRING, offsetof(struct registry_params, snapshot), 0, 0, 0 },
	{ "ref", RPC_PARAM_STRING, offsetof(struct registry_params, ref), RPC_PARAM_REQUIRED, 0, 0 },
	{ "auth_file", RPC_PARAM_STRING, offsetof(struct registry_params, auth_file), 0, 0, 0 },
	{ "insecure", RPC_PARAM_BOOL, offsetof(struct registry_params, insecure), 0, 0, 0 },
	{ "from", RPC_PARAM_STRING, offsetof(struct registry_params, from), 0, 0, 0 },
	{ NULL, 0, 0, 0, 0, 0 },
};

/* Open path as the caller: a regular file, never blocking on a FIFO. */
static int
open_as_caller(struct rpc_call *call, const char *path)
{
	const struct ucred	*cred = rpc_caller(call);
	struct stat		 st;
	int			 fd;

	if (cred == NULL)
		return -EPERM;
	if (rpc_caller_is_root(call))
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	else
		fd = asuser_open(cred, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0)
		return fd == -1 ? -errno : fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/*
 * The base64 credentials for host in path: *ret (NULL if the file has
 * none).  0, -ENOENT (no such file), or another -errno with err.
 */
static int
read_auth_file(struct rpc_call *call, const char *path, const char *host,
    char **ret, char *err, size_t errlen)
{
	char	*text = NULL, e[256];
	size_t	 len;
	int	 fd, r;

	*ret = NULL;
	if ((fd = open_as_caller(call, path)) < 0) {
		if (fd != -ENOENT && fd != -ENOTDIR)
			snprintf(err, errlen, "auth file %s: %s", path,
			    fd == -EINVAL ? "not a regular file" : strerror(-fd));
		return fd == -ENOTDIR ? -ENOENT : fd;
	}
	r = read_fd(fd, AUTH_FILE_MAX, &text, &len);
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "auth file %s: %s", path, strerror(-r));
		return r;
	}
	if ((r = oci_auth_lookup(text, len, host, ret, e, sizeof(e))) < 0)
		snprintf(err, errlen, "auth file %s: %s", path, e);
	free(text);
	return r;
}

/*
 * The caller's credentials for the registry of ref (a reference string):
 * *ret, or NULL (anonymous).  Answers the call and returns -1 on a bad
 * auth file.
 */
int
rpc_registry_credentials(struct rpc_call *call, const char *refstr,
    const char *auth_file, char **ret)
{
	struct oci_ref		 ref;
	struct passwd		 pw, *pwp = NULL;
	char			 buf[4096], err[1024], *paths[2] = { NULL, NULL };
	int			 r = 0;

	*ret = NULL;
	if (refstr == NULL || oci_ref_parse(refstr, &ref, err, sizeof(err)) < 0)
		return 0;	/* the job answers it */
	if (auth_file != NULL) {
		if (auth_file[0] != '/') {
			rpc_error(call, RPC_INVALID_PARAMS, "auth_file: must be an absolute path");
			return -1;
		}
		paths[0] = xstrdup(auth_file);
	} else {
		uid_t uid = rpc_caller_uid(call);

		paths[0] = xasprintf("/run/user/%u/containers/auth.json", (unsigned)uid);
		if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp != NULL &&
		    pw.pw_dir[0] == '/')
			paths[1] = xasprintf("%s/.docker/config.json", pw.pw_dir);
	}
	for (int i = 0; i < 2 && paths[i] != NULL && *ret == NULL; i++) {
		r = read_auth_file(call, paths[i], ref.host, ret, err, sizeof(err));
		if (r == -ENOENT && auth_file == NULL)
			r = 0;
		else if (r == -ENOENT)
			snprintf(err, sizeof(err), "auth file %s: no such file", paths[i]);
		if (r < 0)
			break;
	}
	free(paths[0]);
	free(paths[1]);
	if (r < 0) {
		rpc_error(call, RPC_INVALID_PARAMS, "%s", err);
		return -1;
	}
	return 0;
}

typedef void (*registry_start_fn)(struct rpc_call *call,
    const struct registry_params *p, const struct snapshot_oci_target *t,
    const struct snapshot_caller *caller, const struct snapshot_job_cb *cb);

static void tags_start(struct rpc_call *, const struct registry_params *,
    const struct snapshot_oci_target *, const struct snapshot_caller *,
    const struct snapshot_job_cb *);

static int
registry_run(struct rpc_call *call, struct json_object *params, bool want_snapshot,
    registry_start_fn start)
{
	struct registry_params	 p = { 0 };
	struct snapshot_oci_target t;
	struct snapshot_caller	 caller;
	struct snapshot_job_cb	 cb;
	char			*basic = NULL;

	if (rpc_parse_params(call, params, registry_table, &p) < 0)
		return 0;
	if (want_snapshot && p.snapshot == NULL) {
		rpc_error(call, RPC_INVALID_PARAMS, "Missing parameter \"snapshot\"");
		return 0;
	}
	if (start == tags_start && p.snapshot != NULL) {
		rpc_error(call, RPC_INVALID_PARAMS, "Unknown parameter \"snapshot\"");
		return 0;
	}
	if (rpc_registry_credentials(call, p.ref, p.auth_file, &basic) < 0)
		return 0;
	t = (struct snapshot_oci_target){ p.ref, basic, p.insecure, p.from };
	rpc_job_caller(call, &caller);
	rpc_job_cb(call, &cb);
	start(call, &p, &t, &caller, &cb);
	free(basic);
	return RPC_DEFERRED;
}

static void
push_start(struct rpc_call *call, const struct registry_params *p,
    const struct snapshot_oci_target *t, const struct snapshot_caller *caller,
    const struct snapshot_job_cb *cb)
{
	(void)call;
	snapshot_push_start(p->snapshot, t, caller, cb);
}

static void
pull_start(struct rpc_call *call, const struct registry_params *p,
    const struct snapshot_oci_target *t, const struct snapshot_caller *caller,
    const struct snapshot_job_cb *cb)
{
	(void)call;
	snapshot_pull_start(t, p->snapshot, caller, cb);
}

static void
tags_start(struct rpc_call *call, const struct registry_params *p,
    const struct snapshot_oci_target *t, const struct snapshot_caller *caller,
    const struct snapshot_job_cb *cb)
{
	(void)call;
	(void)p;
	snapshot_tags_start(t, caller, cb);
}

int
rpc_snapshot_push(struct rpc_call *call, struct json_object *params)
{
	struct registry_params	 p = { 0 };
	char			 err[1024], *dir;
	bool			 ok = true;

	/* Peek at the snapshot for authorisation: as export, the caller must control it. */
	if (json_object_is_type(params, json_type_object)) {
		struct json_object *v;

		if (json_object_object_get_ex(params, "snapshot", &v) &&
		    json_object_is_type(v, json_type_string))
			p.snapshot = json_object_get_string(v);
	}
	if (p.snapshot != NULL && snapshot_resolve(p.snapshot, &dir, err, sizeof(err)) == 0) {
		ok = rpc_authz_snapshot(call, p.snapshot, dir, AUTHZ_CONTROL, false);
		free(dir);
	}
	if (!ok)
		return 0;
	return registry_run(call, params, true, push_start);
}

int
rpc_snapshot_pull(struct rpc_call *call, struct json_object *params)
{
	struct json_object *v;

	/* A pull into a path is root's, as an import into one (snapshot.import). */
	if (json_object_is_type(params, json_type_object) &&
	    json_object_object_get_ex(params, "snapshot", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strchr(json_object_get_string(v), '/') != NULL &&
	    !rpc_authz_admin(call, "pull a snapshot into a path (it would be "
	    "root's files there); pull into a named snapshot"))
		return 0;
	return registry_run(call, params, false, pull_start);
}

int
rpc_snapshot_tags(struct rpc_call *call, struct json_object *params)
{
	return registry_run(call, params, false, tags_start);
}

struct search_params {
	const char	*registry;
	bool		 tags;
	const char	*auth_file;
	bool		 insecure;
};

int
rpc_snapshot_search(struct rpc_call *call, struct json_object *params)
{
	static const struct rpc_param table[] = {
		{ "registry", RPC_PARAM_STRING, offsetof(struct search_params, registry), RPC_PARAM_REQUIRED, 0, 0 },
		{ "tags", RPC_PARAM_BOOL, offsetof(struct search_params, tags), 0, 0, 0 },
		{ "auth_file", RPC_PARAM_STRING, offsetof(struct search_params, auth_file), 0, 0, 0 },
		{ "insecure", RPC_PARAM_BOOL, offsetof(struct search_params, insecure), 0, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 },
	};
	struct search_params	 p = { 0 };
	struct snapshot_oci_target t;
	struct snapshot_caller	 caller;
	struct snapshot_job_cb	 cb;
	struct oci_ref		 ref;
	char			 prefix[OCI_REPO_MAX + 1], err[512], *basic = NULL, *probe = NULL;

	if (rpc_parse_params(call, params, table, &p) < 0)
		return 0;
	/* The credentials are the registry's: ask for them as for a repository there. */
	if (oci_registry_parse(p.registry, &ref, prefix, err, sizeof(err)) == 0)
		probe = xasprintf("%s/x", ref.host);
	if (rpc_registry_credentials(call, probe, p.auth_file, &basic) < 0) {
		free(probe);
		return 0;
	}
	free(probe);
	t = (struct snapshot_oci_target){ p.registry, basic, p.insecure, NULL };
	rpc_job_caller(call, &caller);
	rpc_job_cb(call, &cb);
	snapshot_search_start(&t, p.tags, &caller, &cb);
	free(basic);
	return RPC_DEFERRED;
}
