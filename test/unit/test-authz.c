/* SPDX-License-Identifier: MIT */
/*
 * The authorisation policy (authz.c), file access with a caller's rights
 * (asuser.c, run as root: it switches to other uids), and the owner
 * records of machines (machine.json) and named snapshots (owner.json).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "asuser.h"
#include "authz.h"
#include "log.h"
#include "machine-config.h"
#include "machine.h"
#include "snapshot-owner.h"
#include "util.h"

#include "test.h"
#include "test-tmpdir.h"

static char	dir[] = "/tmp/test-authz.XXXXXX";

/* A uid and gid no passwd entry names: its only group is its gid. */
#define U1	54321
#define G1	54321
#define U2	54322
#define G2	54322

static struct ucred
cred(uid_t uid, gid_t gid)
{
	struct ucred c = { .pid = 1, .uid = uid, .gid = gid };

	return c;
}

/* Root does everything; others act on their own only; nobody on admin. */
static void
test_policy(void)
{
	struct ucred	root = cred(0, 0), u1 = cred(U1, G1), u2 = cred(U2, G2);

	for (int a = AUTHZ_VIEW; a < _AUTHZ_ACTION_MAX; a++) {
		CHECK(authz_may(&root, a, 0));
		CHECK(authz_may(&root, a, U1));
		CHECK(!authz_may(NULL, a, 0));
		CHECK(!authz_may(NULL, a, U1));
	}
	CHECK(authz_may(&u1, AUTHZ_VIEW, U1));
	CHECK(authz_may(&u1, AUTHZ_CONTROL, U1));
	CHECK(!authz_may(&u1, AUTHZ_VIEW, 0));
	CHECK(!authz_may(&u1, AUTHZ_CONTROL, 0));
	CHECK(!authz_may(&u1, AUTHZ_VIEW, U2));
	CHECK(!authz_may(&u1, AUTHZ_CONTROL, U2));
	CHECK(!authz_may(&u2, AUTHZ_CONTROL, U1));
	/* Owning something grants nothing that is root's alone. */
	CHECK(!authz_may(&u1, AUTHZ_ADMIN, U1));
	CHECK(!authz_may(&u1, AUTHZ_ADMIN, 0));
	/* The gid is no root: only uid 0 is. */
	{
		struct ucred g0 = cred(U1, 0);

		CHECK(!authz_is_root(&g0));
		CHECK(!authz_may(&g0, AUTHZ_CONTROL, 0));
	}
	CHECK(authz_is_root(&root) && !authz_is_root(&u1) && !authz_is_root(NULL));
	CHECK_STR(authz_action_name(AUTHZ_VIEW), "see");
	CHECK_STR(authz_action_name(AUTHZ_CONTROL), "control");
	CHECK_STR(authz_action_name(AUTHZ_ADMIN), "administer");
}

/* Make path with mode, owner uid and group gid. */
static void
make_file(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	CHECK(write_file_atomic(path, "x", 1, mode) == 0);
	CHECK(chown(path, uid, gid) == 0);
	CHECK(chmod(path, mode) == 0);
}

/* The thread's file-access ids are root's again. */
static bool
is_root_again(void)
{
	return syscall(SYS_setfsuid, -1) == 0 && syscall(SYS_setfsgid, -1) == 0;
}

struct peek {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 stage;
	long		 fsuid;
};

/* Another thread: its fsuid while the main thread is switched. */
static void *
peek_thread(void *arg)
{
	struct peek *p = arg;

	pthread_mutex_lock(&p->lock);
	while (p->stage == 0)
		pthread_cond_wait(&p->cond, &p->lock);
	p->fsuid = syscall(SYS_setfsuid, -1);
	p->stage = 2;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void
test_asuser(void)
{
	struct ucred	 u1 = cred(U1, G1), u2 = cred(U2, G2);
	char		*secret, *shared, *grp, *mine, *udir, *rdir, *newf;
	int		 fd;

	CHECK(chmod(dir, 0755) == 0);
	secret = xasprintf("%s/secret", dir);
	shared = xasprintf("%s/shared", dir);
	grp = xasprintf("%s/grp", dir);
	udir = xasprintf("%s/u1", dir);
	rdir = xasprintf("%s/root", dir);
	mine = xasprintf("%s/mine", udir);
	newf = xasprintf("%s/new", udir);
	make_file(secret, 0600, 0, 0);
	make_file(shared, 0644, 0, 0);
	make_file(grp, 0640, 0, G1);
	CHECK(mkdir(udir, 0700) == 0 && chown(udir, U1, G1) == 0);
	CHECK(mkdir(rdir, 0755) == 0);
	make_file(mine, 0600, U1, G1);

	/* What the caller could not open itself, it cannot open through us. */
	CHECK(asuser_open(&u1, secret, O_RDONLY, 0) == -EACCES);
	CHECK(is_root_again());
	CHECK(asuser_access(&u1, secret, R_OK) == -EACCES);
	CHECK((fd = asuser_open(&u1, shared, O_RDONLY, 0)) >= 0);
	closefd(&fd);
	CHECK(asuser_open(&u1, shared, O_WRONLY, 0) == -EACCES);
	CHECK(asuser_access(&u1, shared, R_OK) == 0);
	CHECK(asuser_access(&u1, shared, W_OK) == -EACCES);
	/* Its gid counts, another gid does not. */
	CHECK(asuser_access(&u1, grp, R_OK) == 0);
	CHECK(asuser_access(&u2, grp, R_OK) == -EACCES);
	/* Its own files, also in its own 0700 directory. */
	CHECK(asuser_access(&u1, mine, R_OK | W_OK) == 0);
	CHECK(asuser_access(&u2, mine, R_OK) == -EACCES);
	CHECK(asuser_may_create(&u1, newf) == 0);
	CHECK(asuser_may_create(&u2, newf) == -EACCES);
	CHECK(asuser_may_create(&u1, rdir) == -EACCES);	/* in the 0755 root dir */
	CHECK(asuser_access(&u1, rdir, W_OK) == -EACCES);
	/* A file it creates is its own. */
	CHECK((fd = asuser_open(&u1, newf, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	if (fd >= 0) {
		struct stat st;

		CHECK(fstat(fd, &st) == 0 && st.st_uid == U1 && st.st_gid == G1);
		closefd(&fd);
	}
	CHECK(is_root_again());
	/* And root's rights are back: the secret opens again. */
	CHECK((fd = open(secret, O_RDONLY | O_CLOEXEC)) >= 0);
	closefd(&fd);

	/* Only the calling thread switches. */
	{
		struct peek	 p = { PTHREAD_MUTEX_INITIALIZER,
				    PTHREAD_COND_INITIALIZER, 0, -1 };
		pthread_t	 t;
		long		 mine_fsuid;

		CHECK(pthread_create(&t, NULL, peek_thread, &p) == 0);
		(void)syscall(SYS_setfsuid, U1);
		mine_fsuid = syscall(SYS_setfsuid, -1);
		pthread_mutex_lock(&p.lock);
		p.stage = 1;
		pthread_cond_broadcast(&p.cond);
		while (p.stage != 2)
			pthread_cond_wait(&p.cond, &p.lock);
		pthread_mutex_unlock(&p.lock);
		(void)syscall(SYS_setfsuid, 0);
		CHECK(pthread_join(t, NULL) == 0);
		CHECK(mine_fsuid == U1 && p.fsuid == 0);
	}
	free(secret);
	free(shared);
	free(grp);
	free(mine);
	free(udir);
	free(rdir);
	free(newf);
}

/* Named snapshots' owner.json: written, read back, anything odd is root's. */
static void
test_snapshot_owner(void)
{
	char	*sdir = xasprintf("%s/snap", dir), *path;

	CHECK(mkdir(sdir, 0700) == 0);
	path = xasprintf("%s/%s", sdir, SNAPSHOT_OWNER_FILE);
	CHECK(snapshot_owner_read(sdir) == 0);		/* before owners: root's */
	CHECK(snapshot_owner_write(sdir, U1) == 0);
	CHECK(snapshot_owner_read(sdir) == U1);
	CHECK(write_file_atomic(path, "{\"uid\": \"54321\"}", 16, 0600) == 0);
	CHECK(snapshot_owner_read(sdir) == 0);
	CHECK(write_file_atomic(path, "{\"uid\": -5}", 11, 0600) == 0);
	CHECK(snapshot_owner_read(sdir) == 0);
	CHECK(write_file_atomic(path, "{\"uid\": 4294967295}", 19, 0600) == 0);
	CHECK(snapshot_owner_read(sdir) == 0);
	CHECK(write_file_atomic(path, "[54321]", 7, 0600) == 0);
	CHECK(snapshot_owner_read(sdir) == 0);
	free(path);
	free(sdir);
}

/* machine.json carries "owner"; a file without one is root's. */
static void
test_machine_owner(void)
{
	struct machine_config	 cfg, got;
	char			*mdir = xasprintf("%s/m", dir), *name = NULL;
	static const char	 base[] = "{\"machine\":\"m\",\"image\":\"/i\","
	    "\"kernel\":\"/k\",\"cmdline\":\"\",\"mem_mb\":64,\"disks\":[]";
	char			*text, err[256];
	int			 dfd;

	CHECK(mkdir(mdir, 0700) == 0);
	CHECK((dfd = open(mdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.image = xstrdup("/i");
	cfg.kernel = xstrdup("/k");
	cfg.cmdline = xstrdup("");
	cfg.mem_mb = 64;
	cfg.owner = U1;
	CHECK(machine_config_write(dfd, "m", &cfg, NULL) == 0);
	CHECK(machine_config_read(dfd, false, &got, &name, NULL, err,
	    sizeof(err)) == 0);
	CHECK(got.owner == U1);
	free(name);
	machine_config_clear(&got);
	machine_config_clear(&cfg);

	text = xasprintf("%s}", base);
	CHECK(machine_config_parse(text, strlen(text), &got, &name, NULL, err,
	    sizeof(err)) == 0);
	free(text);
	CHECK(got.owner == 0);
	free(name);
	machine_config_clear(&got);

	static const char *const bad[] = { "\"54321\"", "-1", "4294967295",
	    "1.5", "null" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		text = xasprintf("%s,\"owner\":%s}", base, bad[i]);
		CHECK(machine_config_parse(text, strlen(text), &got, &name, NULL,
		    err, sizeof(err)) == -EBADMSG);
		CHECK(strstr(err, "owner") != NULL);
		free(text);
	}
	close(dfd);
	free(mdir);
}

int
main(void)
{
	if (test_tmpdir_begin(dir) < 0)
		return (1);
	test_policy();
	test_snapshot_owner();
	test_machine_owner();
	/* Switching uids needs root (the daemon runs as root). */
	CHECK(geteuid() == 0);
	test_asuser();

	test_tmpdir_end(dir);
	return (test_summary());
}
