/* SPDX-License-Identifier: MIT */
/*
 * The daemon's life cycle (machined's manager_new/startup, vmd's main loop):
 * event base and signals, the RPC server, re-adopting machines, READY=1,
 * the systemd watchdog, and the shutdown order.
 *
 * Signals: SIGINT/SIGTERM stop gracefully, SIGHUP reopens the log, SIGPIPE
 * is ignored (a client closing early must not kill us; writes get EPIPE).
 * SIGCHLD belongs to the machine code, which installs its own evsignal.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "events.h"
#include "log.h"
#include "machine.h"
#include "net.h"
#include "recover.h"
#include "rpc-methods.h"
#include "server.h"
#include "worker.h"

static struct event	*ev_sigint, *ev_sigterm, *ev_sighup;
static struct event	*ev_watchdog;
static int		 daemon_stopping;

/* A connection went away: nobody reads its answers, so its jobs stop waiting on its descriptors. */
static void
daemon_client_gone(struct client *c)
{
	worker_cancel_owner(c);
}

/* The server's connections speak JSON-RPC (rpc.c) to the method table (api/). */
static const struct server_handlers daemon_server_handlers = {
	.line = rpc_process_line,
	.disconnect = daemon_client_gone,
	.error_line = rpc_server_error_line,
};

/* Ask the loop to stop; safe before the loop runs and more than once. */
void
daemon_request_stop(void)
{
	if (daemon_stopping)
		return;
	daemon_stopping = 1;
	(void)sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");
	/* No new clients while shutting down. */
	server_stop_listening();
	if (daemon_base != NULL)
		event_base_loopexit(daemon_base, NULL);
}

/* SIGINT, SIGTERM: stop; SIGHUP: reopen the log. */
static void
daemon_signal_cb(evutil_socket_t sig, short events, void *arg)
{
	(void)events;
	(void)arg;
	switch (sig) {
	case SIGHUP:
		log_info("SIGHUP: reopening the log");
		log_reopen();
		break;
	default:
		log_info("SIG%s received, stopping", sigabbrev_np(sig));
		daemon_request_stop();
		break;
	}
}

/* Tell systemd we are alive; runs at half the watchdog interval. */
static void
daemon_watchdog_cb(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	(void)sd_notify(0, "WATCHDOG=1");
}

/* Install a persistent signal event; fatal on failure (start-up only). */
static struct event *
daemon_signal(int sig)
{
	struct event	*ev;

	if ((ev = evsignal_new(daemon_base, sig, daemon_signal_cb, NULL)) == NULL ||
	    evsignal_add(ev, NULL) == -1)
		fatalx("cannot watch SIG%s", sigabbrev_np(sig));
	return (ev);
}

/* Arm the watchdog timer if systemd asked for one (WatchdogSec=). */
static void
daemon_watchdog_init(void)
{
	struct timeval	tv;
	uint64_t	usec;
	int		r;

	/* Unset WATCHDOG_USEC/PID: machines we start must not inherit them. */
	r = sd_watchdog_enabled(1, &usec);
	if (r < 0) {
		log_warnx("watchdog: %s, ignoring", strerror(-r));
		return;
	}
	if (r == 0)
		return;
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	ev_watchdog = event_new(daemon_base, -1, EV_PERSIST, daemon_watchdog_cb,
	    NULL);
	if (ev_watchdog == NULL || event_add(ev_watchdog, &tv) == -1)
		fatalx("cannot arm the watchdog timer");
	log_debug("watchdog: pinging every %llu us", (unsigned long long)usec);
}

/*
 * A machine changed state: the machine.state event, only to those who may
 * see the machine (doc/rpc.md "Who may call what").
 */
static void
daemon_machine_state(const struct machine *m, struct json_object *ev,
    void *arg)
{
	(void)arg;
	events_broadcast_owned("machine.state", ev, machine_config(m)->owner);
}

/* Free an event if set. */
static void
daemon_event_free(struct event **ev)
{
	if (*ev != NULL) {
		event_free(*ev);
		*ev = NULL;
	}
}

/* Run the daemon; see daemon.h.  The order matters and is commented inline. */
int
daemon_run(void)
{
	struct sigaction	sa;
	int			r, ret = 1;

	/* Writes to a closed client socket must fail with EPIPE, not kill us. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigemptyset(&sa.sa_mask) == -1 || sigaction(SIGPIPE, &sa, NULL) == -1)
		fatal("sigaction(SIGPIPE)");

	if ((daemon_base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	log_debug("libevent %s, method %s", event_get_version(),
	    event_base_get_method(daemon_base));
	ev_sigint = daemon_signal(SIGINT);
	ev_sigterm = daemon_signal(SIGTERM);
	ev_sighup = daemon_signal(SIGHUP);

	/* Listen first: clients connecting while we re-adopt machines wait in the backlog. */
	rpc_init(rpc_method_find);
	if ((r = server_init(daemon_base, daemon_config.socket_path,
	    &daemon_server_handlers)) < 0) {
		(void)sd_notifyf(0, "STATUS=Cannot listen on %s: %s\nERRNO=%d",
		    daemon_config.socket_path, strerror(-r), -r);
		goto out;
	}
	machine_set_state_hook(daemon_machine_state, NULL);
	{
		char	nerr[512];

		/* Before re-adopting: a machine's tap goes on a network made anew. */
		if ((r = net_init((const char *const *)daemon_config.networks,
		    daemon_config.nnetworks, daemon_config.default_network, nerr,
		    sizeof(nerr))) < 0) {
			log_warnx("%s", nerr);
			(void)sd_notifyf(0, "STATUS=%s\nERRNO=%d", nerr, -r);
			server_shutdown();
			goto out;
		}
	}
	/* READY=1 only once existing machines are known again (machined deserializes first). */
	if ((r = machine_registry_init()) < 0) {
		log_warnx("cannot re-adopt machines from %s: %s",
		    daemon_config.state_dir, strerror(-r));
		(void)sd_notifyf(0, "STATUS=Cannot load machines: %s\nERRNO=%d",
		    strerror(-r), -r);
		server_shutdown();
		goto out;
	}
	/*
	 * Clean up what a daemon killed mid-save or mid-restore left, before
	 * the loop can start a job of ours; after re-adopting, so a restored
	 * kernel that was starting has had its time to read its capture.
	 */
	if ((r = recover_run()) < 0)
		log_warnx("start-up recovery incomplete: %s", strerror(-r));
	daemon_watchdog_init();
	(void)sd_notifyf(0, "READY=1\nSTATUS=Serving on %s",
	    server_listen_name());
	log_info("ready: socket %s, state dir %s", server_listen_name(),
	    daemon_config.state_dir);

	if (!daemon_stopping && event_base_dispatch(daemon_base) == -1)
		log_warnx("event loop failed");
	else
		ret = 0;

	/* Stop accepting (done already on a signal), then let machines drop their calls, then close clients. */
	daemon_request_stop();
	/* Bridges, table, dnsmasq go; machines keep their taps (re-attached at start). */
	net_shutdown();
	machine_registry_shutdown();
	server_shutdown();
	log_info("stopped");

out:
	daemon_event_free(&ev_watchdog);
	daemon_event_free(&ev_sighup);
	daemon_event_free(&ev_sigterm);
	daemon_event_free(&ev_sigint);
	event_base_free(daemon_base);
	daemon_base = NULL;
	return (ret);
}
