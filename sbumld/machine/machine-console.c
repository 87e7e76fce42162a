/* SPDX-License-Identifier: MIT */
/*
 * Interactive console streams (machine.console-attach, doc/rpc.md): one
 * hub per live machine that has streams, any number of readers, at most
 * one writer.
 *
 * Output: the hub follows console.log (what UML writes to its fd 1/2)
 * with inotify and copies every new byte to each stream, so the log stays
 * the one record of the output and a stream sees exactly what it holds.
 * A new stream first gets the last CONSOLE_BACKLOG bytes (from a line
 * start) for context.
 * Input: the UML process has a FIFO as fd 0 (uml.c), which it holds open
 * for reading and writing, so it never sees end of file.  The hub opens
 * it as /proc/<pid>/fd/0: whatever its launcher gave the process (a boot,
 * a reboot's re-exec, a restore), with no path a user could swap, and
 * again after a daemon restart.
 * A stream that falls CONSOLE_MAX_QUEUED bytes behind is closed, so a
 * stalled reader costs bounded memory.  When the machine stops, every
 * stream gets what is left of the log and then end of file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "context.h"
#include "log.h"
#include "machine-int.h"
#include "util.h"

#define CONSOLE_BACKLOG		4096		/* bytes of context for a new stream */
#define CONSOLE_MAX_QUEUED	(1024 * 1024)	/* unread output before a stream is dropped */
#define CONSOLE_MAX_INPUT	65536		/* input queued for the guest before reading stops */
#define CONSOLE_CHUNK		65536		/* bytes per read of console.log */
#define CONSOLE_FLUSH_SEC	5		/* a closing stream's output deadline */

struct machine_console {
	struct console_hub	*hub;	/* NULL once the machine has gone */
	uid_t			 uid;	/* who attached */
	bool			 write;
	bool			 started;
	struct bufferevent	*bev;
	char			 name[64];
	TAILQ_ENTRY(machine_console) entry;
};
TAILQ_HEAD(console_list, machine_console);

struct console_hub {
	struct machine		*m;
	int			 log_fd;	/* console.log, read only */
	off_t			 off;		/* streamed up to here */
	int			 ino_fd;
	struct event		*ino_ev;
	int			 fifo_fd;	/* the guest's input, -1 until a writer */
	struct event		*fifo_ev;	/* waiting for room in the FIFO */
	struct evbuffer		*to_guest;
	struct machine_console	*writer;
	struct console_list	 streams;
	size_t			 nstreams;
};

static size_t	console_total;	/* streams of all machines */
static struct machine_console_uid {
	uid_t	uid;
	size_t	n;
} console_uids[MACHINE_CONSOLE_MAX_TOTAL];	/* streams per non-root uid */

/* The streams slot of a non-root uid (NULL for root, or if none is free and n is 0). */
static struct machine_console_uid *
console_uid_slot(uid_t uid)
{
	struct machine_console_uid	*free_slot = NULL;

	if (uid == 0)
		return (NULL);
	for (size_t i = 0; i < MACHINE_CONSOLE_MAX_TOTAL; i++) {
		if (console_uids[i].n > 0 && console_uids[i].uid == uid)
			return (&console_uids[i]);
		if (console_uids[i].n == 0 && free_slot == NULL)
			free_slot = &console_uids[i];
	}
	if (free_slot != NULL)
		free_slot->uid = uid;
	return (free_slot);
}
static unsigned	console_next_id = 1;

static void	console_stream_end(struct machine_console *, const char *);
static void	console_hub_put(struct console_hub *);

/* Send buf to every started stream; drop the ones too far behind. */
static void
console_hub_broadcast(struct console_hub *h, const char *buf, size_t len)
{
	struct machine_console	*s, *next;

	for (s = TAILQ_FIRST(&h->streams); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (!s->started)
			continue;
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) + len >
		    CONSOLE_MAX_QUEUED) {
			console_stream_end(s, "too far behind");
			continue;
		}
		if (bufferevent_write(s->bev, buf, len) == -1)
			fatalx("bufferevent_write: out of memory");
	}
}

/* Copy whatever console.log gained since the last time to the streams. */
static void
console_hub_pump(struct console_hub *h)
{
	char		*buf = xmalloc(CONSOLE_CHUNK);
	struct stat	 st;
	ssize_t		 n;

	/* Truncated (by hand): start again from its beginning. */
	if (fstat(h->log_fd, &st) == 0 && st.st_size < h->off)
		h->off = 0;
	for (;;) {
		n = pread(h->log_fd, buf, CONSOLE_CHUNK, h->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == -1)
				log_warn("%s: console.log", h->m->name);
			break;
		}
		h->off += n;
		console_hub_broadcast(h, buf, (size_t)n);
	}
	free(buf);
}

/* console.log changed (inotify). */
static void
console_hub_inotify_cb(evutil_socket_t fd, short events, void *arg)
{
	char	buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	(void)events;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	console_hub_pump(arg);
	console_hub_put(arg);	/* it may have dropped the last stream */
}

/* Write queued input into the FIFO; wait for room when it is full. */
static void
console_hub_flush_input(struct console_hub *h)
{
	while (evbuffer_get_length(h->to_guest) > 0) {
		if (evbuffer_write(h->to_guest, h->fifo_fd) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (event_add(h->fifo_ev, NULL) == -1)
					fatalx("cannot watch the console FIFO");
			} else {
				log_warn("%s: console input", h->m->name);
				evbuffer_drain(h->to_guest,
				    evbuffer_get_length(h->to_guest));
			}
			break;
		}
	}
	/* Reading from the writer resumes once the guest has caught up. */
	if (h->writer != NULL && h->writer->started &&
	    evbuffer_get_length(h->to_guest) < CONSOLE_MAX_INPUT)
		bufferevent_enable(h->writer->bev, EV_READ);
}

static void
console_hub_fifo_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	console_hub_flush_input(arg);
}

/*
 * The guest's console input: fd 0 of its UML process, which must be the
 * FIFO uml.c gave it (a machine started by an older sbumld has /dev/null
 * there: -ENOTTY).
 */
static int
console_open_input(struct machine *m)
{
	struct stat	st;
	char		path[64];
	int		fd;

	snprintf(path, sizeof(path), "/proc/%ld/fd/0", (long)m->pid);
	if ((fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return (errno == ENXIO ? -ENOTTY : -errno);
	if (fstat(fd, &st) == -1 || !S_ISFIFO(st.st_mode)) {
		(void)close(fd);
		return (-ENOTTY);
	}
	return (fd);
}

static void
console_hub_free(struct console_hub *h)
{
	if (h->ino_ev != NULL)
		event_free(h->ino_ev);
	if (h->fifo_ev != NULL)
		event_free(h->fifo_ev);
	if (h->to_guest != NULL)
		evbuffer_free(h->to_guest);
	closefd(&h->ino_fd);
	closefd(&h->fifo_fd);
	closefd(&h->log_fd);
	free(h);
}

/* The hub of a live machine, made on its first stream.  0 or -errno. */
static int
console_hub_get(struct machine *m, struct console_hub **ret)
{
	struct console_hub	*h;
	struct stat		 st;
	char			 path[64];

	if ((*ret = m->console) != NULL)
		return (0);
	h = xcalloc(1, sizeof(*h));
	h->m = m;
	h->fifo_fd = -1;
	h->ino_fd = -1;
	TAILQ_INIT(&h->streams);
	/* The directory the process runs in, whatever its path says now. */
	h->log_fd = fs_openat_file(m->live_dfd, "console.log", O_RDONLY, 0);
	if (h->log_fd < 0 || fstat(h->log_fd, &st) == -1) {
		int r = h->log_fd < 0 ? h->log_fd : -errno;

		h->log_fd = -1;
		console_hub_free(h);
		return (r);
	}
	h->off = st.st_size;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", h->log_fd);
	if ((h->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    inotify_add_watch(h->ino_fd, path, IN_MODIFY) == -1) {
		int r = -errno;

		console_hub_free(h);
		return (r);
	}
	h->ino_ev = event_new(daemon_base, h->ino_fd, EV_READ | EV_PERSIST,
	    console_hub_inotify_cb, h);
	if (h->ino_ev == NULL || event_add(h->ino_ev, NULL) == -1)
		fatalx("cannot watch console.log");
	if ((h->to_guest = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	m->console = *ret = h;
	return (0);
}

/* A hub without streams goes (and a writer's FIFO with it). */
static void
console_hub_put(struct console_hub *h)
{
	if (h->nstreams > 0)
		return;
	h->m->console = NULL;
	console_hub_free(h);
}

static void
console_stream_free(struct machine_console *s)
{
	struct machine_console_uid	*u = console_uid_slot(s->uid);

	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (u != NULL)
		u->n--;
	console_total--;
	free(s);
}

/* A closing stream's output is out (or will never be): free it. */
static void
console_stream_drained_cb(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		console_stream_free(arg);
}

static void
console_stream_closing_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	console_stream_free(arg);
}

/*
 * Take s out of its hub; what is queued for it is still written, then EOF.
 * The hub stays even without streams (the caller may be iterating them):
 * the outermost caller puts it (console_hub_put).
 */
static void
console_stream_end(struct machine_console *s, const char *why)
{
	struct console_hub	*h = s->hub;
	struct timeval		 tv = { CONSOLE_FLUSH_SEC, 0 };

	log_debug("%s: ending: %s", s->name, why);
	if (h != NULL) {
		TAILQ_REMOVE(&h->streams, s, entry);
		h->nstreams--;
		if (h->writer == s)
			h->writer = NULL;
		s->hub = NULL;
	}
	if (!s->started)
		return;		/* freed when the hand-over arrives */
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		console_stream_free(s);
	} else {
		bufferevent_setcb(s->bev, NULL, console_stream_drained_cb,
		    console_stream_closing_event_cb, s);
		bufferevent_set_timeouts(s->bev, NULL, &tv);
	}
}

/* Bytes from the client: the writer's go to the guest, a reader's nowhere. */
static void
console_stream_input(struct machine_console *s, struct evbuffer *in)
{
	struct console_hub	*h = s->hub;

	if (!s->write || h == NULL) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (evbuffer_add_buffer(h->to_guest, in) == -1)
		fatalx("evbuffer_add_buffer: out of memory");
	if (evbuffer_get_length(h->to_guest) >= CONSOLE_MAX_INPUT)
		bufferevent_disable(s->bev, EV_READ);
	console_hub_flush_input(h);
}

static void
console_stream_read_cb(struct bufferevent *bev, void *arg)
{
	console_stream_input(arg, bufferevent_get_input(bev));
}

static void
console_stream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct machine_console	*s = arg;
	struct console_hub	*h;
	struct pollfd		 pfd;

	if (what & BEV_EVENT_EOF) {
		/* Only half-closed (`... | socat`): the peer still reads. */
		pfd.fd = bufferevent_getfd(bev);
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 1 &&
		    !(pfd.revents & (POLLHUP | POLLERR))) {
			bufferevent_disable(bev, EV_READ);
			return;
		}
	}
	h = s->hub;
	console_stream_end(s, what & BEV_EVENT_EOF ? "end of file" :
	    "connection error");
	if (h != NULL)
		console_hub_put(h);
}

/* See machine.h. */
int
machine_console_attach(struct machine *m, uid_t uid, bool write,
    struct machine_console **ret)
{
	struct machine_console_uid	*u = console_uid_slot(uid);
	struct machine_console		*s;
	struct console_hub		*h;
	int				 r, fifo = -1;

	if (!machine_state_is_live(m->state) || m->pid <= 0)
		return (-EINVAL);
	if (console_total >= MACHINE_CONSOLE_MAX_TOTAL ||
	    (u != NULL && u->n >= MACHINE_CONSOLE_MAX_PER_UID) ||
	    (m->console != NULL &&
	    m->console->nstreams >= MACHINE_CONSOLE_MAX_STREAMS))
		return (-ENOSPC);
	if (write && m->console != NULL && m->console->writer != NULL)
		return (-EBUSY);
	if (write && (m->console == NULL || m->console->fifo_fd < 0) &&
	    (fifo = console_open_input(m)) < 0)
		return (fifo);
	if ((r = console_hub_get(m, &h)) < 0) {
		closefd(&fifo);
		return (r);
	}
	if (fifo >= 0) {
		h->fifo_fd = fifo;
		h->fifo_ev = event_new(daemon_base, fifo, EV_WRITE,
		    console_hub_fifo_cb, h);
		if (h->fifo_ev == NULL)
			fatalx("event_new failed");
	}
	s = xcalloc(1, sizeof(*s));
	s->hub = h;
	s->uid = uid;
	s->write = write;
	if (u != NULL)
		u->n++;
	snprintf(s->name, sizeof(s->name), "%.32s: console stream %u",
	    m->name, console_next_id++);
	TAILQ_INSERT_TAIL(&h->streams, s, entry);
	h->nstreams++;
	console_total++;
	if (write)
		h->writer = s;
	*ret = s;
	return (0);
}

/*
 * The start of the stream: the last CONSOLE_BACKLOG bytes up to where the
 * hub is, from the first line start in them unless that is the log's.
 */
static void
console_stream_backlog(struct machine_console *s)
{
	struct console_hub	*h = s->hub;
	off_t			 from = h->off > CONSOLE_BACKLOG ?
				    h->off - CONSOLE_BACKLOG : 0;
	char			 buf[CONSOLE_BACKLOG], *p = buf, *nl;
	ssize_t			 n;

	n = pread(h->log_fd, buf, (size_t)(h->off - from), from);
	if (n <= 0)
		return;
	if (from > 0 && (nl = memchr(buf, '\n', (size_t)n)) != NULL)
		p = nl + 1;
	if (bufferevent_write(s->bev, p, (size_t)(buf + n - p)) == -1)
		fatalx("bufferevent_write: out of memory");
}

/* See machine.h. */
void
machine_console_start(int fd, struct evbuffer *pending, void *arg)
{
	struct machine_console	*s = arg;
	struct console_hub	*h = s->hub;

	if (fd < 0 || h == NULL) {
		if (fd >= 0)
			(void)close(fd);
		if (h != NULL) {
			console_stream_end(s, "the client went away");
			console_hub_put(h);
		}
		console_stream_free(s);
		return;
	}
	s->bev = bufferevent_socket_new(daemon_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	s->started = true;
	log_info("%s: attached (%s)", s->name, s->write ? "read-write" :
	    "read-only");
	bufferevent_setcb(s->bev, console_stream_read_cb, NULL,
	    console_stream_event_cb, s);
	console_hub_pump(s->hub);
	console_stream_backlog(s);
	if (bufferevent_enable(s->bev, EV_READ | EV_WRITE) == -1)
		fatalx("bufferevent_enable failed");
	/* What the client sent right after its request. */
	if (pending != NULL && evbuffer_get_length(pending) > 0)
		console_stream_input(s, pending);
}

/* See machine-int.h. */
void
machine_console_close_all(struct machine *m, bool now)
{
	struct console_hub	*h = m->console;
	struct machine_console	*s;

	if (h == NULL)
		return;
	console_hub_pump(h);
	while ((s = TAILQ_FIRST(&h->streams)) != NULL) {
		/* No loop will run to write it: the stream goes at once. */
		if (now && s->started)
			evbuffer_drain(bufferevent_get_output(s->bev),
			    evbuffer_get_length(bufferevent_get_output(s->bev)));
		console_stream_end(s, now ? "sbumld is stopping" :
		    "the machine stopped");
	}
	console_hub_put(h);
}
