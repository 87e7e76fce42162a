/* SPDX-License-Identifier: MIT */
/*
 * sbuml-pager NAME LOG-LEVEL: the pager of one lazy restore (pager-core.h),
 * a process of its own so that a machine being filled survives a restart
 * of sbumld (doc/restore.md, "Lazy restore").  sbumld spawns it with its
 * descriptors at PAGER_FD_STORE..PAGER_FD_RECORD (pager-core.h) and
 * nothing else; NAME (the physmem file) is for messages.
 *
 * What it runs as (doc/security.md): sbumld's uid (root) so that it can
 * read the chunk store and write fill.json, both root's and 0700, without
 * any capability: it drops every one (effective, permitted, inheritable,
 * the bounding set) and sets no_new_privs before reading anything from the
 * kernel.  It opens nothing by a path it was not given as a descriptor
 * (the store through /proc/self/fd).
 *
 * It reports the fill after every change of state and every progress
 * tick (pager-core.c) twice: a record on the status channel, for the
 * daemon that started it, and fill.json in the machine's record, written
 * atomically, for a daemon that re-adopts the machine after a restart.
 * A daemon gone (EPIPE) costs the records only.  It ends when the kernel
 * closes its socket or ends (pager-core.c); exit 0, or 1 if it could not
 * start.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "log.h"
#include "machine-config.h"
#include "pager-core.h"
#include "util.h"

#define ENTRY_MAX	(64u << 20)	/* a physmem entry's JSON, far above any */
/*
 * fill.json at every change of state, and its counters at most this often:
 * each write is two fsyncs, taken between faults.
 */
#define FILE_EVERY_US	(2 * 1000 * 1000)

static bool	status_gone;
static uint32_t	file_state = UINT32_MAX;	/* what fill.json says */
static uint64_t	file_next;			/* its next counters update */

/* Record and file: see the comment at the top. */
static void
report(struct pager *p, void *arg)
{
	struct machine_fill	*f = p->fill;
	struct pager_status	 st;
	ssize_t			 n = 0;
	int			 r;

	(void)arg;
	memset(&st, 0, sizeof(st));
	st.state = (uint32_t)atomic_load_explicit(&f->state,
	    memory_order_acquire);
	st.filled = atomic_load(&f->filled);
	st.total = atomic_load(&f->total);
	st.chunks = atomic_load(&f->chunks);
	st.faults = atomic_load(&f->faults);
	if (st.state == MACHINE_FILL_FAILED)
		snprintf(st.reason, sizeof(st.reason), "%s", f->reason);
	/* Non-blocking: a daemon that does not read never stalls a fault. */
	while (!status_gone && (n = write(PAGER_FD_STATUS, &st,
	    sizeof(st))) < 0 && errno == EINTR)
		;
	if (!status_gone && n < 0 && errno == EPIPE)
		status_gone = true;	/* its daemon is gone; the file stays */
	if (st.state == file_state && now_usec() < file_next)
		return;
	file_state = st.state;
	file_next = now_usec() + FILE_EVERY_US;
	if ((r = machine_fill_write(PAGER_FD_RECORD, f, getpid())) < 0)
		log_warnx("%s: pager: cannot write %s: %s", p->name,
		    MACHINE_FILL_FILE, strerror(-r));
}

/* Every capability gone for good, and no way to get one back. */
static int
drop_privileges(void)
{
	struct __user_cap_header_struct	hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct	data[2];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* The bounding set needs CAP_SETPCAP, so it goes first. */
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
		    errno != EINVAL && errno != EPERM)
			return -errno;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

/* The store entry of the physmem file, from its memfd. */
static struct json_object *
read_entry(char *err, size_t errlen)
{
	struct json_object	*obj;
	char			*buf;
	size_t			 len;
	int			 r;

	if (lseek(PAGER_FD_ENTRY, 0, SEEK_SET) < 0 ||
	    (r = read_fd(PAGER_FD_ENTRY, ENTRY_MAX, &buf, &len)) < 0) {
		snprintf(err, errlen, "reading the store entry: %s",
		    strerror(errno));
		return NULL;
	}
	closefd(&(int){ PAGER_FD_ENTRY });
	obj = json_tokener_parse(buf);
	free(buf);
	if (obj == NULL || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		snprintf(err, errlen, "the store entry is not a JSON object");
		return NULL;
	}
	return obj;
}

int
main(int argc, char *argv[])
{
	struct machine_fill	*fill;
	struct json_object	*entry = NULL;
	struct pager		 p;
	enum log_level		 level = LOG_LEVEL_INFO;
	char			 err[1024], root[64];
	int			 r;

	if (argc != 3 || log_level_from_string(argv[2], &level) < 0) {
		fprintf(stderr, "usage: sbuml-pager NAME LOG-LEVEL (spawned by "
		    "sbumld)\n");
		return 2;
	}
	log_init(1, level);
	for (int fd = PAGER_FD_STORE; fd <= PAGER_FD_RECORD; fd++)
		if (fcntl(fd, F_GETFD) < 0) {
			log_warnx("sbuml-pager: descriptor %d missing", fd);
			return 1;
		}
	/* Nothing else the daemon may have left open. */
	(void)close_range(PAGER_FD_RECORD + 1, ~0U, 0);
	(void)signal(SIGPIPE, SIG_IGN);
	(void)fcntl(PAGER_FD_STATUS, F_SETFL, O_NONBLOCK);
	fill = machine_fill_new();
	if ((r = drop_privileges()) < 0) {
		snprintf(err, sizeof(err), "cannot drop privileges: %s",
		    strerror(-r));
		goto fail;
	}
	if ((entry = read_entry(err, sizeof(err))) == NULL)
		goto fail;
	snprintf(root, sizeof(root), "/proc/self/fd/%d", PAGER_FD_STORE);
	r = pager_init(&p, argv[1], root, entry, PAGER_FD_KERNEL, fill, err,
	    sizeof(err));
	json_object_put(entry);
	if (r < 0) {
		pager_fini(&p);
		goto fail;
	}
	p.report = report;
	report(&p, NULL);
	pager_run(&p);
	pager_fini(&p);
	machine_fill_put(fill);
	return 0;
fail:
	/* The kernel sees end of file when we exit: status 97. */
	snprintf(fill->reason, sizeof(fill->reason), "%.500s", err);
	atomic_store(&fill->state, MACHINE_FILL_FAILED);
	{
		struct pager	q = { .name = argv[1], .fill = fill };

		report(&q, NULL);
	}
	log_warnx("%s: pager: %s", argv[1], err);
	machine_fill_put(fill);
	return 1;
}
