/* SPDX-License-Identifier: MIT */
/*
 * Machine directories and sbumld's records of them (doc/machine-layout.md):
 * create, load at start-up (<state-dir>/machines and <state-dir>/paths),
 * record a path machine found on disk, persist run.json, delete.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "fsat.h"
#include "log.h"
#include "machine-int.h"
#include "util.h"

/* Write run to the machine's record. 0 or -errno. */
int
machine_write_run(const struct machine *m, const struct machine_run *run)
{
	int	fd, r;

	if ((fd = fs_open_dir(m->rec, NULL, NULL)) < 0)
		return (fd);
	r = machine_run_write(fd, run);
	(void)close(fd);
	return (r);
}

/* Persist run.json; failures are logged, the daemon goes on. */
int
machine_save_run(struct machine *m)
{
	struct machine_run	run;
	int			r;

	memset(&run, 0, sizeof(run));
	run.state = m->state;
	run.pid = m->pid;
	run.starttime = m->starttime;
	memcpy(run.started, m->started, sizeof(run.started));
	run.has_exit = m->has_exit;
	run.status_known = m->status_known;
	run.status = m->status;
	run.signal_known = m->signal_known;
	run.signal = m->signal;
	run.savable = m->savable;
	memcpy(run.tap, m->tap, sizeof(run.tap));
	run.uffd = m->uffd;
	if (m->memory != NULL)
		snprintf(run.memory, sizeof(run.memory), "%s", m->memory);
	if (m->memory_reason != NULL)
		snprintf(run.memory_reason, sizeof(run.memory_reason), "%s",
		    m->memory_reason);
	if ((r = machine_write_run(m, &run)) < 0)
		log_warnx("%s: cannot write %s: %s", m->name, MACHINE_RUN_FILE,
		    strerror(-r));
	return (r);
}

/*
 * Remove the umid dir of a dead instance, so UML never finds a stale pid
 * file.  Relative to the checked dir fd: a uml that is a symlink is
 * removed itself, never followed into another directory.
 */
void
machine_remove_umid(struct machine *m, int dfd)
{
	struct stat	st;
	int		ufd;

	if (fstatat(dfd, "uml", &st, AT_SYMLINK_NOFOLLOW) == -1)
		return;
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s: %s/uml is not a directory, removing it", m->name,
		    m->dir);
		(void)fs_unlink_at(dfd, "uml");
		return;
	}
	ufd = openat(dfd, "uml", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (ufd >= 0) {
		(void)fs_unlink_at(ufd, "pid");
		(void)fs_unlink_at(ufd, "mconsole");
		(void)close(ufd);
	}
	if (unlinkat(dfd, "uml", AT_REMOVEDIR) == -1 && errno != ENOENT)
		log_debug("%s: rmdir %s/uml: %s", m->name, m->dir,
		    strerror(errno));
}

/* 1 if the directory dfd holds nothing, 0 if it holds something, -errno. */
static int
machine_dir_is_empty(int dfd)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, r = 1;

	if ((fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return (-errno);
	if ((d = fdopendir(fd)) == NULL) {
		r = -errno;
		(void)close(fd);
		return (r);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			r = 0;
			break;
		}
	}
	(void)closedir(d);
	return (r);
}

/*
 * Refuse a directory (dfd) that lies inside the state dir, however the
 * path reached it (a symlink, a bind mount): the state dir is sbumld's.
 * 0 or -EINVAL with a message in err.
 */
static int
machine_check_outside_state(int dfd, const char *dir, char *err, size_t errlen)
{
	struct fs_id	sid;
	int		r;

	if ((r = fs_id_of_path(daemon_config.state_dir, &sid)) < 0) {
		snprintf(err, errlen, "%s: %s", daemon_config.state_dir,
		    strerror(-r));
		return (r);
	}
	if ((r = fs_dir_is_within(dfd, &sid)) != 0) {
		if (r > 0)
			snprintf(err, errlen, "machine path %s is inside the "
			    "state directory %s", dir, daemon_config.state_dir);
		else
			snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return (r > 0 ? -EINVAL : r);
	}
	return (0);
}

/*
 * Make (or claim an empty) machine directory with mode 0700, relative to
 * its parent's fd so nothing is resolved twice.  An fd of the directory
 * (and its identity in *ret_id), or -errno with a message in err.
 */
static int
machine_make_dir(const char *dir, bool is_path, struct fs_id *ret_id,
    char *err, size_t errlen)
{
	struct stat	 st;
	const char	*base = strrchr(dir, '/') + 1;
	char		*parent;
	bool		 made = false;
	int		 pfd, fd = -1, r;

	parent = base - 1 == dir ? xstrdup("/") :
	    xasprintf("%.*s", (int)(base - 1 - dir), dir);
	if (!is_path && (r = mkdir_p(parent, 0700)) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", parent,
		    strerror(-r));
		free(parent);
		return (r);
	}
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd == -1) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s%s", dir, strerror(-r),
		    r == -ENOENT ? " (the parent directory must exist)" : "");
		free(parent);
		return (r);
	}
	free(parent);
	if (is_path && (r = machine_check_outside_state(pfd, dir, err,
	    errlen)) < 0)
		goto out;
	if (mkdirat(pfd, base, 0700) == 0)
		made = true;
	else if (errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-r));
		goto out;
	}
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		r = errno == ELOOP || errno == ENOTDIR ? -EEXIST : -errno;
		snprintf(err, errlen, "%s exists and is not a directory", dir);
		goto out;
	}
	if (!made && (r = machine_dir_is_empty(fd)) <= 0) {
		snprintf(err, errlen, "%s is not empty and holds no sbuml "
		    "machine", dir);
		r = r < 0 ? r : -EEXIST;
		goto out;
	}
	if (fchmod(fd, 0700) == -1) {
		r = -errno;
		snprintf(err, errlen, "chmod %s: %s", dir, strerror(-r));
		goto out;
	}
	ret_id->dev = st.st_dev;
	ret_id->ino = st.st_ino;
	(void)close(pfd);
	return (fd);
out:
	closefd(&fd);
	if (made)
		(void)unlinkat(pfd, base, AT_REMOVEDIR);
	(void)close(pfd);
	return (r);
}

/* Create a new stopped machine; see machine.h. */
int
machine_create(const char *name, struct machine_config *cfg,
    struct machine **ret, char *err, size_t errlen)
{
	struct machine	*m;
	struct fs_id	 id;
	char		*dir = NULL, *rec = NULL;
	bool		 is_path;
	int		 r, dfd = -1;

	if ((r = machine_name_resolve(name, &dir, &is_path, err, errlen)) < 0)
		return (r);
	if (machine_lookup(name) != NULL) {
		snprintf(err, errlen, "machine %s already exists", name);
		r = -EEXIST;
		goto out;
	}
	if (machine_count() >= MACHINE_MAX) {
		snprintf(err, errlen, "at most %d machines", MACHINE_MAX);
		r = -ENOSPC;
		goto out;
	}
	if ((dfd = machine_make_dir(dir, is_path, &id, err, errlen)) < 0) {
		r = dfd;
		goto out;
	}
	if (cfg->created[0] == '\0')
		iso8601_utc(time(NULL), cfg->created, sizeof(cfg->created));
	/* In a path machine's directory, machine.json is for the user to read. */
	if ((r = machine_config_write(dfd, name, cfg, NULL)) < 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s", dir,
		    MACHINE_CONFIG_FILE, strerror(-r));
		(void)rmdir(dir);
		goto out;
	}
	if (is_path && (r = machine_paths_add(dir, cfg, &id)) < 0) {
		snprintf(err, errlen, "cannot record %s in %s/paths: %s", dir,
		    daemon_config.state_dir, strerror(-r));
		(void)fs_unlink_at(dfd, MACHINE_CONFIG_FILE);
		(void)rmdir(dir);
		goto out;
	}
	rec = is_path ? machine_paths_link(dir) : xstrdup(dir);
	m = machine_new(name, dir, rec, is_path, &id, cfg);
	machine_register(m);
	log_info("%s: created in %s", name, dir);
	*ret = m;
	r = 0;
out:
	closefd(&dfd);
	free(rec);
	free(dir);
	return (r);
}

/*
 * Load the machine in dir (named name) from its record rec (machine.json
 * and run.json that sbumld wrote) and register it.  0, or -errno (logged
 * by the caller; -ENOENT: the machine is gone).
 */
static int
machine_load(const char *dir, const char *name, const char *rec, bool is_path,
    struct machine **ret)
{
	struct machine_config	 cfg;
	struct machine_run	 run;
	struct machine		*m;
	struct fs_id		 id;
	char			*json_name = NULL, err[256];
	int			 r, rfd, dfd;

	if (machine_count() >= MACHINE_MAX)
		return (-ENOSPC);
	if ((rfd = fs_open_dir(rec, NULL, NULL)) < 0)
		return (rfd);
	if ((r = machine_config_read(rfd, false, &cfg, &json_name, &id, err,
	    sizeof(err))) < 0) {
		if (r != -ENOENT)
			log_warnx("%s: %s/%s", name, rec, err);
		(void)close(rfd);
		return (r);
	}
	if (strcmp(json_name, name) != 0) {
		free(json_name);
		machine_config_clear(&cfg);
		(void)close(rfd);
		return (-EINVAL);
	}
	free(json_name);
	r = machine_run_read(rfd, &run);
	(void)close(rfd);
	/* A named machine's dir is in the state dir: its identity is now. */
	dfd = fs_open_dir(dir, is_path ? &id : NULL, is_path ? NULL : &id);
	if (dfd == -ENOENT && !(r == 0 && machine_state_is_live(run.state))) {
		machine_config_clear(&cfg);
		return (-ENOENT);
	}
	if (dfd < 0)
		log_warnx("%s: %s: %s; sbumld will not use it", name, dir,
		    fs_strerror(dfd));
	closefd(&dfd);
	m = machine_new(name, dir, rec, is_path, &id, &cfg);
	/* How a restore brought its memory in, and a lazy one's fill. */
	if (r == 0 && run.memory[0] != '\0')
		machine_memory_readopt(m, run.memory, run.memory_reason,
		    machine_state_is_live(run.state) && run.pid > 0);
	if (r == 0 && machine_state_is_live(run.state) && run.pid > 0) {
		machine_adopt(m, &run);
	} else if (r == 0) {
		m->state = machine_state_is_live(run.state) ? MACHINE_CRASHED :
		    run.state;
		memcpy(m->started, run.started, sizeof(m->started));
		m->has_exit = run.has_exit;
		m->status_known = run.status_known;
		m->status = run.status;
		m->signal_known = run.signal_known;
		m->signal = run.signal;
	} else if (r != -ENOENT) {
		log_warnx("%s: %s/%s: %s, treating the machine as stopped",
		    name, rec, MACHINE_RUN_FILE, strerror(-r));
	}
	machine_register(m);
	*ret = m;
	return (0);
}

/*
 * Record a path machine that sbumld has no record of (lost, or an older
 * daemon's symlink) from the files in its directory.  Only a machine.json
 * sbumld itself wrote (owned by its uid, one link) is believed: one a user
 * wrote must not choose what runs as root.  run.json is copied so a live
 * machine is re-adopted.  0 or -errno (-ENOENT: no machine there).
 */
static int
machine_record_path(const char *path)
{
	struct machine_config	 cfg;
	struct machine_run	 run;
	struct fs_id		 id;
	char			*json_name = NULL, *rec, err[256];
	int			 dfd, rfd, r;

	if ((dfd = fs_open_dir(path, NULL, &id)) < 0)
		return (dfd);
	if ((r = machine_check_outside_state(dfd, path, err, sizeof(err))) < 0 ||
	    (r = machine_config_read(dfd, true, &cfg, &json_name, NULL, err,
	    sizeof(err))) < 0) {
		if (r != -ENOENT)
			log_warnx("%s: %s, not loading it", path, err);
		(void)close(dfd);
		return (r);
	}
	r = strcmp(json_name, path) == 0 ? 0 : -EINVAL;
	free(json_name);
	if (r == 0)
		r = machine_paths_add(path, &cfg, &id);
	machine_config_clear(&cfg);
	if (r == 0 && machine_run_read(dfd, &run) == 0) {
		rec = machine_paths_link(path);
		if ((rfd = fs_open_dir(rec, NULL, NULL)) >= 0) {
			r = machine_run_write(rfd, &run);
			(void)close(rfd);
		}
		free(rec);
	}
	(void)close(dfd);
	return (r);
}

/* Load an unregistered path machine; see machine.h. */
int
machine_load_path(const char *path, struct machine **ret)
{
	char	*rec;
	int	 r;

	if ((r = machine_record_path(path)) < 0)
		return (r);
	rec = machine_paths_link(path);
	r = machine_load(path, path, rec, true, ret);
	free(rec);
	return (r);
}

/* Remove one file sbuml created in the machine dir; ENOENT is fine. */
static int
machine_unlink(struct machine *m, int dfd, const char *file, char *err,
    size_t errlen)
{
	int	r;

	if ((r = fs_unlink_at(dfd, file)) < 0)
		snprintf(err, errlen, "cannot remove %s/%s: %s", m->dir, file,
		    strerror(-r));
	return (r);
}

/* Remove the files sbuml created in the machine directory, then the directory. */
static int
machine_remove_files(struct machine *m, int dfd, char *err, size_t errlen)
{
	static const char *const files[] = { "notify.sock", "console.log",
	    MACHINE_RUN_FILE, MACHINE_FILL_FILE, MACHINE_RESTORING_FILE,
	    MACHINE_CONFIG_FILE };
	char	 file[32];
	int	 r;

	machine_remove_umid(m, dfd);
	for (size_t i = 0; i <= UML_MAX_DISKS; i++) {
		snprintf(file, sizeof(file), "disk%zu.cow", i);
		if ((r = machine_unlink(m, dfd, file, err, errlen)) < 0)
			return (r);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((r = machine_unlink(m, dfd, files[i], err, errlen)) < 0)
			return (r);
	}
	if (rmdir(m->dir) == -1) {
		if (errno != ENOTEMPTY && errno != ENOENT) {
			r = -errno;
			snprintf(err, errlen, "cannot remove %s: %s", m->dir,
			    strerror(-r));
			return (r);
		}
		if (errno == ENOTEMPTY)
			log_info("%s: %s holds files sbuml did not create, "
			    "left in place", m->name, m->dir);
	}
	return (0);
}

/* Delete a dead machine; see machine.h. */
int
machine_delete(struct machine *m, char *err, size_t errlen)
{
	pid_t	 user;
	int	 r, dfd;

	if (m->job != NULL) {
		snprintf(err, errlen, "machine %s is busy: a %s is running on it",
		    m->name, m->job->kind);
		return (-EBUSY);
	}
	if (machine_state_is_live(m->state) || m->nwaiters > 0) {
		snprintf(err, errlen, "machine %s is %s", m->name,
		    machine_state_to_string(m->state));
		return (-EBUSY);
	}
	/*
	 * A process sbumld lost track of (its run.json could not be written,
	 * or was lost) may still run in the directory: never pull the files
	 * from under it.
	 */
	if ((user = uml_find_cwd_user(m->dir_id.dev, m->dir_id.ino)) > 0) {
		snprintf(err, errlen, "machine %s is %s, but process %ld still "
		    "runs in %s: kill it first", m->name,
		    machine_state_to_string(m->state), (long)user, m->dir);
		return (-EBUSY);
	}
	if ((dfd = machine_dir_open(m)) >= 0) {
		r = machine_remove_files(m, dfd, err, errlen);
		(void)close(dfd);
		if (r < 0)
			return (r);
	} else if (dfd != -ENOENT) {
		/* Re-pointed or replaced: forget the machine, touch nothing there. */
		log_warnx("%s: %s: %s, forgetting the machine without removing "
		    "files", m->name, m->dir, fs_strerror(dfd));
	}
	if (m->is_path && (r = machine_paths_remove(m->dir)) < 0)
		log_warnx("%s: cannot remove its record in %s/paths: %s, "
		    "ignoring", m->name, daemon_config.state_dir, strerror(-r));
	log_info("%s: deleted", m->name);
	machine_free(m);
	return (0);
}

/*
 * Run fn on every entry of <state-dir>/sub but those starting with '.'
 * (base: that directory's path).  A missing directory holds nothing.
 */
static void
machine_scan_dir(const char *sub, void (*fn)(const char *base,
    const char *entry))
{
	struct dirent	*de;
	char		*base;
	DIR		*d;

	base = xasprintf("%s/%s", daemon_config.state_dir, sub);
	if ((d = opendir(base)) == NULL) {
		if (errno != ENOENT)
			log_warn("%s", base);
		free(base);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			fn(base, de->d_name);
	}
	(void)closedir(d);
	free(base);
}

/* Load the named machine <state-dir>/machines/name (base: that directory). */
static void
machine_scan_name(const char *base, const char *name)
{
	struct machine	*m;
	char		*dir, err[256];
	bool		 is_path;
	int		 r;

	if (machine_name_resolve(name, &dir, &is_path, err, sizeof(err)) < 0) {
		log_warnx("%s/%s: %s, ignoring", base, name, err);
		return;
	}
	if ((r = machine_load(dir, name, dir, false, &m)) < 0)
		log_warnx("%s: cannot load %s: %s, ignoring", name, dir,
		    strerror(-r));
	free(dir);
}

/*
 * The path a <state-dir>/paths entry stands for: an older daemon's
 * symlink names it as its target, a record names it in its machine.json.
 * NULL (logged) if the entry is not one of ours.
 */
static char *
machine_paths_entry(const char *link, bool *ret_legacy)
{
	struct machine_config	 cfg;
	struct stat		 st;
	char			 target[4096], *name = NULL, err[256];
	ssize_t			 n;
	int			 fd;

	if (lstat(link, &st) == -1)
		return (NULL);
	*ret_legacy = S_ISLNK(st.st_mode);
	if (*ret_legacy) {
		if ((n = readlink(link, target, sizeof(target) - 1)) < 0)
			return (NULL);
		target[n] = '\0';
		return (xstrdup(target));
	}
	if (!S_ISDIR(st.st_mode) || (fd = fs_open_dir(link, NULL, NULL)) < 0) {
		log_warnx("%s: not a record, ignoring", link);
		return (NULL);
	}
	if (machine_config_read(fd, false, &cfg, &name, NULL, err,
	    sizeof(err)) < 0)
		log_warnx("%s: %s, ignoring", link, err);
	else
		machine_config_clear(&cfg);
	(void)close(fd);
	return (name);
}

/*
 * Load the path machine recorded as <state-dir>/paths/entry (base: that
 * directory), or forget it if its directory is gone and nothing runs.
 */
static void
machine_scan_path(const char *base, const char *entry)
{
	struct machine	*m;
	char		*link, *expect, *target, *dir, err[256];
	bool		 is_path, legacy;
	int		 r;

	link = xasprintf("%s/%s", base, entry);
	if ((target = machine_paths_entry(link, &legacy)) == NULL) {
		free(link);
		return;
	}
	expect = machine_paths_link(target);
	if (strcmp(expect, link) != 0 ||
	    machine_name_resolve(target, &dir, &is_path, err,
	    sizeof(err)) < 0 || !is_path) {
		log_warnx("%s: bad record of %s, ignoring", link, target);
		free(expect);
		free(target);
		free(link);
		return;
	}
	free(expect);
	r = 0;
	/* An older daemon's link: make the record from sbumld's own files. */
	if (legacy && machine_lookup(target) == NULL &&
	    (r = machine_record_path(target)) == -ENOENT) {
		log_info("%s: gone, forgetting it", target);
		if (unlink(link) == -1)
			log_warn("unlink %s", link);
	} else if (r < 0) {
		log_warnx("%s: cannot load: %s, ignoring", target,
		    strerror(-r));
	} else if (machine_lookup(target) == NULL &&
	    (r = machine_load(dir, target, link, true, &m)) < 0) {
		if (r == -ENOENT) {
			/* The directory is gone and nothing runs. */
			log_info("%s: gone, forgetting it", target);
			(void)machine_paths_remove(target);
		} else
			log_warnx("%s: cannot load: %s, ignoring", target,
			    strerror(-r));
	}
	free(dir);
	free(target);
	free(link);
}

/* Load every named machine, then every recorded path machine; see machine-int.h. */
void
machine_scan(void)
{
	machine_scan_dir("machines", machine_scan_name);
	machine_scan_dir("paths", machine_scan_path);
}
