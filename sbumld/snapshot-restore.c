/* SPDX-License-Identifier: MIT */
/*
 * The restore job: check the snapshot (manifest, files, kernel build-id),
 * create the new machine with the saved configuration, give it its own
 * copies of the saved disks (reflinked where the filesystem can), and start
 * the kernel in restore mode.  The guest then carries on exactly where it
 * was saved.  A restore the kernel refuses leaves no machine behind.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "buildid.h"
#include "fsutil.h"
#include "log.h"
#include "machine.h"
#include "rpc.h"
#include "snapshot.h"
#include "snapshot-restore.h"
#include "util.h"

struct restore_job {
	struct rpc_call	*call;
	struct machine	*m;
	char		*snapshot;
	bool		 saved_paused;	/* the capture is in UML's stop loop */
	bool		 cont;
};

/* Free the job (the machine stays, registered or deleted by the caller). */
static void
restore_job_free(struct restore_job *job)
{
	rpc_call_unref(job->call);
	free(job->snapshot);
	free(job);
}

/* Get string member key of o, or NULL. */
static const char *
get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Answer with an error object carrying data.reason. */
static void
answer_reason(struct rpc_call *call, int code, const char *reason)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "reason", json_object_new_string(reason));
	rpc_error_data(call, code, d, "%s", reason);
}

/*
 * Pick the kernel binary for the capture: the one the machine used, or the
 * daemon's, whichever has the build-id the capture was written by.
 */
static int
choose_kernel(struct json_object *man, const char **ret, char *err, size_t errlen)
{
	struct json_object	*k, *mach;
	const char		*want, *cands[2];
	char			 id[160];

	if (!json_object_object_get_ex(man, "kernel", &k) ||
	    (want = get_str(k, "build_id")) == NULL || *want == '\0') {
		snprintf(err, errlen, "the manifest records no kernel build-id");
		return -EBADMSG;
	}
	cands[0] = json_object_object_get_ex(man, "machine", &mach) ?
	    get_str(mach, "kernel") : NULL;
	cands[1] = daemon_config.kernel;
	for (size_t i = 0; i < 2; i++) {
		if (cands[i] == NULL || elf_build_id(cands[i], id, sizeof(id)) < 0)
			continue;
		if (strcmp(id, want) == 0) {
			*ret = cands[i];
			return 0;
		}
	}
	snprintf(err, errlen, "the snapshot was written by kernel build %s, and "
	    "neither %s nor %s is that build: install the kernel it was saved with",
	    want, cands[0] ? cands[0] : "(none)", cands[1]);
	return -ENOEXEC;
}

/* The new machine's configuration from the manifest's "machine" section. */
static int
config_from_manifest(struct json_object *man, const char *kernel,
    struct machine_config *cfg, char *err, size_t errlen)
{
	struct json_object	*mach, *v, *disks;
	const char		*image;

	memset(cfg, 0, sizeof(*cfg));
	if (!json_object_object_get_ex(man, "machine", &mach) ||
	    (image = get_str(mach, "image")) == NULL ||
	    !json_object_object_get_ex(mach, "mem_mb", &v) ||
	    !json_object_object_get_ex(mach, "disks", &disks) ||
	    !json_object_is_type(disks, json_type_array) ||
	    json_object_array_length(disks) > UML_MAX_DISKS) {
		snprintf(err, errlen, "the manifest's machine section is malformed");
		return -EBADMSG;
	}
	cfg->image = xstrdup(image);
	cfg->kernel = xstrdup(kernel);
	cfg->cmdline = xstrdup(get_str(mach, "cmdline") ? get_str(mach, "cmdline") : "");
	cfg->mem_mb = (unsigned int)json_object_get_int(v);
	for (size_t i = 0; i < json_object_array_length(disks); i++)
		cfg->disks[cfg->ndisks++] = xstrdup(json_object_get_string(
		    json_object_array_get_idx(disks, i)));
	/* The overlays refer to their base images by path: those must be here. */
	for (size_t i = 0; i <= cfg->ndisks; i++) {
		const char *p = i == 0 ? cfg->image : cfg->disks[i - 1];

		if (access(p, R_OK) < 0) {
			snprintf(err, errlen, "base image %s of the snapshot is not "
			    "readable here: %s", p, strerror(errno));
			machine_config_clear(cfg);
			return -ENOENT;
		}
	}
	return 0;
}

/* Copy capture/disk<N> to the machine's disk<N>.cow for every saved disk. */
static int
copy_disks(const char *snapdir, const char *mdir, size_t ndisks, char *err,
    size_t errlen)
{
	for (size_t i = 0; i <= ndisks; i++) {
		char	*src = xasprintf("%s/%s/disk%zu", snapdir, SNAPSHOT_CAPTURE, i);
		char	*dst = xasprintf("%s/disk%zu.cow", mdir, i);
		int	 r = fs_copy_file(src, dst, 0600);

		if (r < 0)
			snprintf(err, errlen, "cannot copy %s to %s: %s", src, dst,
			    strerror(-r));
		free(src);
		free(dst);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The kernel's own words on a refused restore, from the console log. */
static void
refusal_reason(struct machine *m, char *buf, size_t len)
{
	struct json_object *tail = machine_console_tail(m, 40);

	snprintf(buf, len, "the restored kernel exited");
	if (tail == NULL)
		return;
	for (size_t i = 0; i < json_object_array_length(tail); i++) {
		const char *l = json_object_get_string(json_object_array_get_idx(tail, i));
		const char *p = strstr(l, "sbuml restore:");

		if (p != NULL)
			snprintf(buf, len, "%s", p);
	}
	json_object_put(tail);
}

/* The final answer: the machine object. */
static void
restore_reply(struct restore_job *job)
{
	log_info("%s: restored from %s", machine_name(job->m), job->snapshot);
	rpc_reply(job->call, machine_to_json(job->m));
	restore_job_free(job);
}

/* A pause/resume to put the restored machine into the state asked for. */
static void
restore_settle_cb(struct machine *m, int err, const char *msg, void *arg)
{
	struct restore_job *job = arg;

	if (err < 0) {
		rpc_error(job->call, RPC_E_BOOT_FAILED, "%s was restored, but %s "
		    "failed: %s", machine_name(m), job->cont ? "resuming" : "pausing", msg);
		restore_job_free(job);
		return;
	}
	restore_reply(job);
}

/* The restored kernel answered on its new mconsole, or died trying. */
static void
restore_started_cb(struct machine *m, int err, const char *msg, void *arg)
{
	struct restore_job	*job = arg;
	char			 reason[512], derr[256];
	int			 r;

	if (err < 0) {
		refusal_reason(m, reason, sizeof(reason));
		log_warnx("%s: restore failed: %s (%s)", machine_name(m), reason, msg);
		if (machine_state_is_live(machine_state(m))) {
			/* Answered, then died: keep it for the post-mortem. */
			rpc_error(job->call, RPC_E_BOOT_FAILED, "%s: %s", machine_name(m), reason);
		} else {
			if ((r = machine_delete(m, derr, sizeof(derr))) < 0)
				log_warnx("restore: cannot remove the failed machine: %s", derr);
			answer_reason(job->call, strstr(reason, "refused") ?
			    RPC_E_INCOMPATIBLE : RPC_E_BOOT_FAILED, reason);
		}
		restore_job_free(job);
		return;
	}
	/* The saved state: a stop-mode capture wakes up in UML's stop loop. */
	if (job->saved_paused)
		machine_set_state(m, MACHINE_PAUSED);
	if (job->saved_paused && job->cont)
		r = machine_resume(m, restore_settle_cb, job);
	else if (!job->saved_paused && !job->cont)
		r = machine_pause(m, restore_settle_cb, job);
	else {
		restore_reply(job);
		return;
	}
	if (r < 0) {
		rpc_error(job->call, RPC_E_BOOT_FAILED, "%s was restored but cannot be "
		    "%s: %s", machine_name(m), job->cont ? "resumed" : "paused",
		    strerror(-r));
		restore_job_free(job);
	}
}

int
snapshot_restore_start(struct rpc_call *call, const char *snapshot,
    const char *name, bool cont)
{
	struct json_object	*man = NULL;
	struct machine_config	 cfg;
	struct restore_job	*job;
	struct machine		*m;
	const char		*kernel, *state;
	char			 err[512], *dir = NULL, *mdir = NULL, *capture = NULL;
	bool			 is_path;
	int			 r;

	/* Check everything before creating anything. */
	if (snapshot_resolve(snapshot, &dir, err, sizeof(err)) < 0) {
		answer_reason(call, RPC_INVALID_PARAMS, err);
		return 0;
	}
	if ((r = machine_name_resolve(name, &mdir, &is_path, err, sizeof(err))) < 0) {
		answer_reason(call, RPC_INVALID_PARAMS, err);
		goto out;
	}
	if (machine_lookup(name) != NULL) {
		rpc_error(call, RPC_E_MACHINE_EXISTS, "machine %s already exists: "
		    "restore into a new name or path", name);
		goto out;
	}
	if ((r = snapshot_manifest_load(dir, &man, err, sizeof(err))) < 0) {
		if (r == -ENOENT)
			rpc_error(call, RPC_E_NO_SUCH_SNAPSHOT, "%s", err);
		else
			answer_reason(call, RPC_E_BAD_SNAPSHOT, err);
		goto out;
	}
	if ((r = choose_kernel(man, &kernel, err, sizeof(err))) < 0) {
		answer_reason(call, r == -EBADMSG ? RPC_E_BAD_SNAPSHOT :
		    RPC_E_INCOMPATIBLE, err);
		goto out;
	}
	if ((r = config_from_manifest(man, kernel, &cfg, err, sizeof(err))) < 0) {
		answer_reason(call, r == -EBADMSG ? RPC_E_BAD_SNAPSHOT :
		    RPC_E_INCOMPATIBLE, err);
		goto out;
	}
	state = get_str(man, "state");

	if ((r = machine_create(name, &cfg, &m, err, sizeof(err))) < 0) {
		machine_config_clear(&cfg);
		rpc_error(call, r == -EEXIST ? RPC_E_MACHINE_EXISTS :
		    r == -ENOSPC ? RPC_E_LIMIT_EXCEEDED : RPC_E_IO_ERROR, "%s", err);
		goto out;
	}
	if ((r = copy_disks(dir, machine_dir(m), machine_config(m)->ndisks, err,
	    sizeof(err))) < 0) {
		char derr[256];

		(void)machine_delete(m, derr, sizeof(derr));
		rpc_error(call, RPC_E_IO_ERROR, "%s", err);
		goto out;
	}
	job = xcalloc(1, sizeof(*job));
	job->call = rpc_call_ref(call);
	job->m = m;
	job->snapshot = xstrdup(snapshot);
	job->cont = cont;
	job->saved_paused = state != NULL && strcmp(state, "paused") == 0;
	capture = xasprintf("%s/%s", dir, SNAPSHOT_CAPTURE);
	if ((r = machine_restore(m, capture, restore_started_cb, job, err,
	    sizeof(err))) < 0) {
		char derr[256];

		(void)machine_delete(m, derr, sizeof(derr));
		rpc_error(call, RPC_E_BOOT_FAILED, "%s", err);
		restore_job_free(job);
		goto out;
	}
	log_info("%s: restoring from %s", name, dir);
	r = RPC_DEFERRED;
out:
	json_object_put(man);
	free(capture);
	free(mdir);
	free(dir);
	return r == RPC_DEFERRED ? RPC_DEFERRED : 0;
}
