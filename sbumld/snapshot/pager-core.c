/* SPDX-License-Identifier: MIT */
/*
 * The pager of one lazy restore (pager-core.h), the work of sbuml-pager
 * (pager-main.c), a process per restore that sbumld spawns.
 *
 * Blocking in poll(2) on the kernel's userfaultfd
 * and the socket: faults first (each is a guest, a kernel thread or a
 * host system call waiting), then one 64 KiB chunk of the background fill
 * at a time, so that a fault never waits behind more than one chunk.  The
 * unit of both is the store's chunk: a fault fills the whole chunk around
 * the faulting page (its neighbours are likely next; the chunk has to be
 * decompressed whole anyway), a hole (zero run) answers the faulting page
 * alone with zeros.  The guest's physmem is a shared memfd, so a page
 * filled through one mapping of it is there for every mapping showing it.
 *
 * Everything the thread reads from the kernel is hostile input: the hello
 * is checked before any of it is used; fault addresses outside the
 * mappings it named are ignored.  If the pager cannot go on (a chunk
 * fails its check, an ioctl fails), it closes the socket: the kernel
 * then ends with status 97 rather than run on memory that is wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/userfaultfd.h>
#include <sys/syscall.h>

#include "log.h"
#include "pager-core.h"
#include "store.h"
#include "util.h"

/* Records to the kernel: u32 type, u32 0, u64 pages filled. */
#define PAGER_PROGRESS		1
#define PAGER_DONE		2
#define PAGER_PROGRESS_MS	500
/* Fault messages read at once. */
#define PAGER_MSGS		16


static const unsigned char zeros[PAGER_PAGE];

static uint64_t
get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

int
snapshot_pager_parse_hello(const void *buf, size_t len, uint64_t physmem_size,
    struct pager_hello *h, struct pager_vma **ret_vmas, char *err,
    size_t errlen)
{
	const unsigned char	*p = buf;
	struct pager_vma	*v;

	if (len < PAGER_HELLO_LEN) {
		snprintf(err, errlen, "hello of %zu bytes, shorter than its header", len);
		return -EBADMSG;
	}
	if (memcmp(p, "SBUMLPGR", 8) != 0) {
		snprintf(err, errlen, "hello without the SBUMLPGR magic");
		return -EBADMSG;
	}
	h->version = get_le32(p + 8);
	h->nvmas = get_le32(p + 12);
	h->physmem_size = get_le64(p + 16);
	h->page_size = get_le64(p + 24);
	h->pid = (int32_t)get_le32(p + 32);
	h->flags = get_le32(p + 36);
	if (h->version != 1 || h->page_size != PAGER_PAGE || h->flags != 0) {
		snprintf(err, errlen, "hello of version %u, page size %llu, flags "
		    "0x%x (want 1, %d, 0)", h->version,
		    (unsigned long long)h->page_size, h->flags, PAGER_PAGE);
		return -EBADMSG;
	}
	if (h->physmem_size != physmem_size || physmem_size % PAGER_PAGE != 0) {
		snprintf(err, errlen, "hello for physmem of %llu bytes, the "
		    "snapshot's is %llu", (unsigned long long)h->physmem_size,
		    (unsigned long long)physmem_size);
		return -EBADMSG;
	}
	if (h->pid <= 0) {
		snprintf(err, errlen, "hello with pid %d", h->pid);
		return -EBADMSG;
	}
	if (h->nvmas == 0 || h->nvmas > PAGER_MAX_VMAS ||
	    len != PAGER_HELLO_LEN + (size_t)h->nvmas * PAGER_VMA_LEN) {
		snprintf(err, errlen, "hello of %zu bytes for %u mappings", len,
		    h->nvmas);
		return -EBADMSG;
	}
	v = xcalloc(h->nvmas, sizeof(*v));
	for (uint32_t i = 0; i < h->nvmas; i++) {
		const unsigned char *q = p + PAGER_HELLO_LEN + (size_t)i * PAGER_VMA_LEN;

		v[i].start = get_le64(q);
		v[i].end = get_le64(q + 8);
		v[i].off = get_le64(q + 16);
		/* start < end, so end - start cannot wrap; off + len checked as off <= size - len. */
		if (v[i].start >= v[i].end || v[i].start % PAGER_PAGE != 0 ||
		    v[i].end % PAGER_PAGE != 0 || v[i].off % PAGER_PAGE != 0 ||
		    v[i].end - v[i].start > physmem_size ||
		    v[i].off > physmem_size - (v[i].end - v[i].start)) {
			snprintf(err, errlen, "hello mapping %u (0x%llx-0x%llx at "
			    "offset 0x%llx) is not page-aligned within the %llu "
			    "bytes of physmem", i, (unsigned long long)v[i].start,
			    (unsigned long long)v[i].end,
			    (unsigned long long)v[i].off,
			    (unsigned long long)physmem_size);
			free(v);
			return -EBADMSG;
		}
	}
	*ret_vmas = v;
	return 0;
}

/* The pager gives up: say why (once), for the machine object and the log. */
static void
pager_fail(struct pager *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
pager_fail(struct pager *p, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(p->fill->reason, sizeof(p->fill->reason), fmt, ap);
	va_end(ap);
	atomic_store_explicit(&p->fill->state, MACHINE_FILL_FAILED,
	    memory_order_release);
}

/*
 * Receive the hello: one record with the userfaultfd.  0; 1 on end of
 * file (the kernel refused or died before it); -errno (pager_fail'ed).
 */
static int
pager_hello(struct pager *p)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct pager_hello	 h;
	struct cmsghdr		*c;
	struct msghdr		 msg;
	struct iovec		 iov;
	unsigned char		*buf = xmalloc(PAGER_MSG_MAX + 1);
	char			 link[64], why[512];
	char			 fdpath[64];
	ssize_t			 n, ln;
	size_t			 nfds = 0;
	int			 r = -EBADMSG;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = buf;
	iov.iov_len = PAGER_MSG_MAX + 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	while ((n = recvmsg(p->sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n <= 0) {
		free(buf);
		return n == 0 ? 1 : -errno;
	}
	/* Every fd that came is ours now: keep the first, close the rest. */
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		int	*fds = (int *)(void *)CMSG_DATA(c);
		size_t	 nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			if (nfds++ == 0)
				p->uffd = fds[i];
			else
				(void)close(fds[i]);
		}
	}
	if (nfds > 1) {
		pager_fail(p, "the hello carries %zu descriptors", nfds);
		goto out;
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		pager_fail(p, "the hello is too long");
		goto out;
	}
	if (p->uffd < 0) {
		pager_fail(p, "the hello carries no userfaultfd");
		goto out;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", p->uffd);
	if ((ln = readlink(fdpath, link, sizeof(link) - 1)) < 0)
		ln = 0;
	link[ln] = '\0';
	if (strcmp(link, "anon_inode:[userfaultfd]") != 0) {
		pager_fail(p, "the hello's descriptor is not a userfaultfd (%s)", link);
		goto out;
	}
	if (snapshot_pager_parse_hello(buf, (size_t)n, p->size, &h, &p->vmas,
	    why, sizeof(why)) < 0) {
		pager_fail(p, "bad hello from the kernel: %s", why);
		goto out;
	}
	p->nvmas = h.nvmas;
	p->kernel_pid = h.pid;
	/* Faults are drained with non-blocking reads (the flag is ours to set). */
	if (fcntl(p->uffd, F_SETFL, fcntl(p->uffd, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		pager_fail(p, "userfaultfd: %s", strerror(errno));
		goto out;
	}
	r = 0;
out:
	free(buf);
	return r;
}

/*
 * UFFDIO_COPY len bytes from src to dst, stepping over pages that are in
 * already (EEXIST) and retrying EAGAIN.  The pages copied, or -errno.
 */
static int64_t
pager_copy(struct pager *p, uint64_t dst, const void *src,
    uint64_t len)
{
	uint64_t	done = 0, copied = 0;
	unsigned int	spins = 0;

	while (done < len) {
		struct uffdio_copy c = {
			.dst = dst + done,
			.src = (uint64_t)(uintptr_t)src + done,
			.len = len - done,
			.mode = 0,
		};

		if (ioctl(p->uffd, UFFDIO_COPY, &c) == 0) {
			copied += len - done;
			break;
		}
		if (c.copy > 0) {
			done += (uint64_t)c.copy;
			copied += (uint64_t)c.copy;
			spins = 0;
		}
		if (errno == EEXIST)
			done += PAGER_PAGE;	/* that page is in already */
		else if (errno == EAGAIN || errno == EINTR) {
			/* The mm is changing: try again, gently if it lasts. */
			if (++spins > 100)
				(void)usleep(1000);
		} else
			return -errno;
	}
	return (int64_t)(copied / PAGER_PAGE);
}

/*
 * Fill data chunk i through every mapping showing part of it.  0, 1 if
 * the kernel's mm is gone (nothing to fill any more), -errno (failed).
 */
static int
pager_fill_chunk(struct pager *p, uint64_t i)
{
	uint64_t	lo = i * STORE_CHUNK_SIZE, hi, len;
	char		why[1024];
	int64_t		n;
	int		r;

	if (p->filled[i] || p->hex[i][0] == '\0')
		return 0;
	len = p->size - lo < STORE_CHUNK_SIZE ? p->size - lo : STORE_CHUNK_SIZE;
	hi = lo + len;
	if ((r = store_read_chunk(p->s, p->hex[i], len, p->buf, why,
	    sizeof(why))) < 0) {
		pager_fail(p, "%s, chunk %llu: %s", p->name,
		    (unsigned long long)i, why);
		return r;
	}
	for (uint32_t k = 0; k < p->nvmas; k++) {
		const struct pager_vma	*v = &p->vmas[k];
		uint64_t		 vend = v->off + (v->end - v->start);
		uint64_t		 a = lo > v->off ? lo : v->off;
		uint64_t		 b = hi < vend ? hi : vend;

		if (a >= b)
			continue;
		/* Page-aligned: chunks, mappings and the file size are. */
		n = pager_copy(p, v->start + (a - v->off), p->buf + (a - lo), b - a);
		if (n == -ESRCH || n == -ENOENT) {
			/* The mm is gone (the kernel is ending) or unregistered (DONE). */
			p->stopped = true;
			return 1;
		}
		if (n < 0) {
			pager_fail(p, "UFFDIO_COPY at 0x%llx: %s",
			    (unsigned long long)(v->start + (a - v->off)),
			    strerror((int)-n));
			return (int)n;
		}
		atomic_fetch_add(&p->fill->filled, (uint64_t)n);
	}
	p->filled[i] = 1;
	p->left--;
	atomic_fetch_add(&p->fill->chunks, 1);
	return 0;
}

/* Serve one fault at addr.  0, or -errno (the pager must give up). */
static int
pager_fault(struct pager *p, uint64_t addr)
{
	struct uffdio_range	 wake = { .start = addr, .len = PAGER_PAGE };
	const struct pager_vma	*v = NULL;
	uint64_t		 off, i;
	int64_t			 n;
	int			 r;

	for (uint32_t k = 0; k < p->nvmas && v == NULL; k++)
		if (addr >= p->vmas[k].start && addr < p->vmas[k].end)
			v = &p->vmas[k];
	if (v == NULL) {
		/* Not one of the mappings it named: nothing of ours to put there. */
		log_debug("%s: pager: fault at 0x%llx outside the mappings",
		    p->name, (unsigned long long)addr);
		return 0;
	}
	atomic_fetch_add(&p->fill->faults, 1);
	off = v->off + (addr - v->start);
	i = off / STORE_CHUNK_SIZE;
	if (p->hex[i][0] != '\0') {
		if ((r = pager_fill_chunk(p, i)) != 0)
			return r < 0 ? r : 0;
	} else {
		/* A hole of the snapshot: zeros, for this page alone. */
		n = pager_copy(p, addr, zeros, PAGER_PAGE);
		if (n == -ESRCH || n == -ENOENT) {
			p->stopped = true;
			return 0;
		}
		if (n < 0) {
			pager_fail(p, "UFFDIO_COPY of zeros at 0x%llx: %s",
			    (unsigned long long)addr, strerror((int)-n));
			return (int)n;
		}
	}
	/* The page may have been in already (EEXIST): wake its waiters anyway. */
	if (ioctl(p->uffd, UFFDIO_WAKE, &wake) < 0 && errno != ESRCH &&
	    errno != ENOENT) {
		pager_fail(p, "UFFDIO_WAKE at 0x%llx: %s",
		    (unsigned long long)addr, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Every fault waiting now.  0, or -errno. */
static int
pager_serve(struct pager *p)
{
	struct uffd_msg	 msgs[PAGER_MSGS];
	ssize_t		 n;
	int		 r;

	for (;;) {
		if ((n = read(p->uffd, msgs, sizeof(msgs))) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			pager_fail(p, "reading the userfaultfd: %s", strerror(errno));
			return -errno;
		}
		if (n == 0 || n % (ssize_t)sizeof(msgs[0]) != 0)
			return 0;
		for (ssize_t k = 0; k < n / (ssize_t)sizeof(msgs[0]); k++) {
			if (msgs[k].event != UFFD_EVENT_PAGEFAULT || p->stopped)
				continue;
			r = pager_fault(p, msgs[k].arg.pagefault.address &
			    ~(uint64_t)(PAGER_PAGE - 1));
			if (r < 0)
				return r;
		}
	}
}

/* A record to the kernel; a full socket or a gone kernel is not an error here. */
static void
pager_send(struct pager *p, uint32_t type)
{
	unsigned char	rec[16];
	uint64_t	v = atomic_load(&p->fill->filled);

	memset(rec, 0, sizeof(rec));
	for (int i = 0; i < 4; i++)
		rec[i] = (unsigned char)(type >> (8 * i));
	for (int i = 0; i < 8; i++)
		rec[8 + i] = (unsigned char)(v >> (8 * i));
	(void)!send(p->sock, rec, sizeof(rec), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Tell the owner (pager-main.c) how far the fill is. */
static void
pager_report(struct pager *p)
{
	if (p->report != NULL)
		p->report(p, p->report_arg);
}

/* Hello, then faults and the fill until the socket ends. */
static void
pager_serve_all(struct pager *p)
{
	struct pollfd	pfd[3];
	uint64_t	next_report = 0, next_bg = 0, t;
	bool		done_sent = false;
	char		buf[64];
	int		r, timeout;
	/*
	 * Tests only: a background fill slowed to one chunk per gap_ms (so
	 * that a test sees the guest run while it fills), a pager that dies
	 * after die_after faults (the kernel must then end with status 97).
	 */
	long		gap_ms = test_knob_ms("SBUMLD_TEST_PAGER_CHUNK_MS");
	long		die_after = test_knob_ms("SBUMLD_TEST_PAGER_DIE_AFTER");
	char		serr[1024];

	if ((p->s = store_open(p->root, serr, sizeof(serr))) == NULL) {
		pager_fail(p, "chunk store: %s", serr);
		return;
	}
	store_trust_frame_checksums(p->s);
	if ((r = pager_hello(p)) != 0) {
		if (r > 0)	/* refused or died before the hello */
			atomic_store(&p->fill->state, MACHINE_FILL_LOST);
		else if (atomic_load(&p->fill->state) != MACHINE_FILL_FAILED)
			pager_fail(p, "receiving the hello: %s", strerror(-r));
		return;
	}
	atomic_store(&p->fill->state, MACHINE_FILL_FILLING);
	pager_report(p);
	/*
	 * The kernel's end of the socket closing is how the pager learns that
	 * it ended; its pid (the hello's, so hostile: at worst the pager stops
	 * early, as if the kernel had gone) is a second way, should a helper
	 * of the kernel hold a copy of that end.
	 */
	p->kernel_pidfd = (int)syscall(SYS_pidfd_open, (pid_t)p->kernel_pid, 0);
	pfd[0].fd = p->uffd;
	pfd[0].events = POLLIN;
	pfd[1].fd = p->sock;
	pfd[1].events = POLLIN;
	pfd[2].fd = p->kernel_pidfd;	/* -1: ignored by poll */
	pfd[2].events = POLLIN;
	for (;;) {
		bool work = p->left > 0 && !p->stopped;

		timeout = work ? 0 : PAGER_PROGRESS_MS;
		if (work && gap_ms > 0 && (t = now_usec()) < next_bg)
			timeout = (int)((next_bg - t) / 1000) + 1;
		if (poll(pfd, 3, timeout) < 0) {
			if (errno == EINTR)
				continue;
			pager_fail(p, "poll: %s", strerror(errno));
			return;
		}
		if ((pfd[0].revents & POLLIN) && pager_serve(p) < 0)
			return;
		if (die_after > 0 && atomic_load(&p->fill->faults) >= (uint64_t)die_after) {
			pager_fail(p, "the pager stopped after %ld faults "
			    "(SBUMLD_TEST_PAGER_DIE_AFTER)", die_after);
			return;
		}
		if (pfd[2].revents & POLLIN) {
			/* The kernel process is gone. */
			if (!done_sent)
				atomic_store(&p->fill->state, MACHINE_FILL_LOST);
			return;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(p->sock, buf, sizeof(buf), MSG_DONTWAIT);

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				/* The kernel closed its end: after DONE, or lost. */
				if (!done_sent)
					atomic_store(&p->fill->state, MACHINE_FILL_LOST);
				return;
			}
		}
		/* One chunk of the background fill, then the faults again. */
		if (work && gap_ms > 0) {
			if (now_usec() < next_bg)
				work = false;
			else
				next_bg = now_usec() + (uint64_t)gap_ms * 1000;
		}
		while (work && p->next < p->nchunks && (p->filled[p->next] ||
		    p->hex[p->next][0] == '\0'))
			p->next++;
		if (work && p->next < p->nchunks &&
		    pager_fill_chunk(p, p->next) < 0)
			return;
		t = now_usec();
		if (!done_sent && t >= next_report) {
			next_report = t + PAGER_PROGRESS_MS * 1000;
			pager_send(p, PAGER_PROGRESS);
			pager_report(p);
		}
		/*
		 * Every data page is in: the kernel stops faulting to us.  Not
		 * when the fill stopped short (the mm is gone): DONE would make
		 * the missing pages zeros; the kernel's end of file follows.
		 */
		if (!done_sent && p->left == 0) {
			pager_send(p, PAGER_DONE);
			done_sent = true;
			atomic_store(&p->fill->state, MACHINE_FILL_DONE);
			pager_report(p);
		}
	}
}

void
pager_run(struct pager *p)
{
	pager_serve_all(p);
	/* Its last word before the kernel can end on what follows. */
	pager_report(p);
	/* The kernel sees end of file (status 97 unless DONE was sent). */
	closefd(&p->sock);
	closefd(&p->uffd);
	closefd(&p->kernel_pidfd);
	p->s = store_free(p->s);
}

void
pager_fini(struct pager *p)
{
	closefd(&p->sock);
	closefd(&p->uffd);
	closefd(&p->kernel_pidfd);
	p->fill = machine_fill_put(p->fill);
	p->s = store_free(p->s);
	free(p->vmas);
	free(p->buf);
	free(p->filled);
	free(p->hex);
	free(p->root);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

/* The chunk list of a checked entry, by chunk number. */
static int
pager_chunks(struct pager *p, struct json_object *entry, char *err,
    size_t errlen)
{
	struct json_object	*v, *list;
	uint64_t		 idx = 0;

	if (store_entry_check(p->name, entry, STORE_FILE_MAX, err, errlen) < 0)
		return -EBADMSG;
	json_object_object_get_ex(entry, "size", &v);
	p->size = (uint64_t)json_object_get_int64(v);
	json_object_object_get_ex(entry, "chunks", &list);
	p->nchunks = (p->size + STORE_CHUNK_SIZE - 1) / STORE_CHUNK_SIZE;
	p->hex = xcalloc(p->nchunks ? p->nchunks : 1, sizeof(*p->hex));
	p->filled = xcalloc(p->nchunks ? p->nchunks : 1, 1);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *jc = json_object_array_get_idx(list, i);

		if (json_object_is_type(jc, json_type_int)) {
			idx += (uint64_t)json_object_get_int64(jc);
			continue;
		}
		/* store_entry_check: the runs and hashes add up to nchunks. */
		snprintf(p->hex[idx++], STORE_HEX_LEN + 1, "%s",
		    json_object_get_string(jc));
		p->left++;
	}
	atomic_store(&p->fill->total, p->left);
	return 0;
}

int
pager_init(struct pager *p, const char *name, const char *root,
    struct json_object *entry, int sock, struct machine_fill *fill,
    char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->sock = sock;
	p->uffd = -1;
	p->kernel_pidfd = -1;
	p->name = xstrdup(name);
	p->root = xstrdup(root);
	p->fill = machine_fill_ref(fill);
	p->buf = xmalloc(STORE_CHUNK_SIZE);
	return pager_chunks(p, entry, err, errlen);
}
