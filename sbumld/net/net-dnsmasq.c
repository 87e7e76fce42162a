/* SPDX-License-Identifier: MIT */
/*
 * One dnsmasq per network, a child of sbumld: DHCP in "static" mode (only
 * the MACs of sbumld's dhcp-host lines get an address, the one sbumld
 * allocated) and DNS on the gateway address.  Its files live in the
 * network's state dir: dnsmasq.conf, hosts.conf (its dhcp-host lines,
 * rewritten as machines come and go),
 * leases (dnsmasq's, what the guests took), dnsmasq.log (its stderr) and
 * dnsmasq.pid (ours: found and killed after a crash).  A dnsmasq that dies
 * is started again after a second, at most 5 times a minute.
 *
 * The hosts are configuration lines, not a dhcp-hostsfile, and a change
 * restarts dnsmasq rather than sending it SIGHUP: dnsmasq reads a
 * hostsfile (at start too) as the unprivileged user it drops to (nobody),
 * who cannot reach the daemon's state dir, while its configuration is read
 * before it drops; and a SIGHUP that comes before it has set its handler
 * up kills it.  The lease file carries the leases over; a guest's DHCP
 * client retries a lost packet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "child.h"
#include "context.h"
#include "log.h"
#include "net-int.h"
#include "net-run.h"
#include "util.h"

#define NET_DNS_RESTARTS	5	/* per minute */
#define NET_DNS_LEASE_MAX	(1 << 20)

static int	net_dnsmasq_spawn(struct net_dnsmasq *d, char *err, size_t errlen);
static void	net_dnsmasq_kill(struct net_dnsmasq *d);

static char *
net_dnsmasq_file(const struct net_dnsmasq *d, const char *file)
{
	return (xasprintf("%s/%s", d->dir, file));
}

static int
net_dnsmasq_write_conf(const struct net_dnsmasq *d, char *err, size_t errlen)
{
	char		 gw[INET_ADDRSTRLEN], net[INET_ADDRSTRLEN], mask[INET_ADDRSTRLEN];
	char		*conf, *path = net_dnsmasq_file(d, "dnsmasq.conf");
	struct in_addr	 a;
	int		 r;

	a.s_addr = net_subnet_gateway(&d->subnet);
	inet_ntop(AF_INET, &a, gw, sizeof(gw));
	a.s_addr = d->subnet.addr;
	inet_ntop(AF_INET, &a, net, sizeof(net));
	a.s_addr = htonl(0xffffffffu << (32 - d->subnet.prefix));
	inet_ntop(AF_INET, &a, mask, sizeof(mask));
	conf = xasprintf(
	    "# Written by sbumld; rewritten whenever the network comes up.\n"
	    "interface=%s\n"
	    "bind-interfaces\n"
	    "except-interface=lo\n"
	    "listen-address=%s\n"
	    "dhcp-range=%s,static,%s,1h\n"
	    "conf-file=%s/hosts.conf\n"
	    "dhcp-leasefile=%s/leases\n"
	    "dhcp-authoritative\n"
	    "dhcp-option=option:router,%s\n"
	    "dhcp-option=option:dns-server,%s\n"
	    "domain-needed\n"
	    "bogus-priv\n"
	    "no-hosts\n"
	    "pid-file=\n"
	    "log-facility=-\n",
	    d->bridge, gw, net, mask, d->dir, d->dir, gw, gw);
	if ((r = write_file_atomic(path, conf, strlen(conf), 0600)) < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
	free(conf);
	free(path);
	return (r);
}

static void
net_dnsmasq_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_dnsmasq	*d = arg;
	char			 err[512];

	(void)fd;
	(void)what;
	if (d->stopping || d->pid > 0)
		return;
	if (net_dnsmasq_spawn(d, err, sizeof(err)) < 0)
		log_warnx("dnsmasq on %s: %s", d->bridge, err);
}

static void
net_dnsmasq_exited(pid_t pid, int status, void *arg)
{
	struct net_dnsmasq	*d = arg;
	struct timeval		 tv = { 1, 0 };
	uint64_t		 now = now_usec();

	(void)pid;
	d->pid = 0;
	if (d->stopping)
		return;
	log_warnx("dnsmasq on %s ended (status %d); see %s/dnsmasq.log",
	    d->bridge, status, d->dir);
	if (now - d->window_start > 60 * 1000000ULL) {
		d->window_start = now;
		d->restarts = 0;
	}
	if (++d->restarts > NET_DNS_RESTARTS) {
		log_warnx("dnsmasq on %s: ended %d times in a minute, not "
		    "started again: guests there get no DHCP", d->bridge,
		    NET_DNS_RESTARTS);
		return;
	}
	if (d->ev_restart == NULL)
		d->ev_restart = evtimer_new(daemon_base, net_dnsmasq_restart_cb, d);
	if (d->ev_restart != NULL)
		evtimer_add(d->ev_restart, &tv);
}

/* In the child: stdin /dev/null, stdout and stderr the log, exec dnsmasq. */
static void __attribute__((noreturn))
net_dnsmasq_child(const char *path, char *arg, int logfd)
{
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	char	*const argv[] = { "dnsmasq", "--keep-in-foreground", arg, NULL };
	int	 null = open("/dev/null", O_RDONLY);
	sigset_t all;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (null < 0 || dup2(null, 0) < 0 || dup2(logfd, 1) < 0 ||
	    dup2(logfd, 2) < 0)
		_exit(126);
	setsid();
	execve(path, argv, envp);
	_exit(127);
}

static int
net_dnsmasq_spawn(struct net_dnsmasq *d, char *err, size_t errlen)
{
	const char	*path = net_tool_path("dnsmasq");
	char		*conf = xasprintf("--conf-file=%s/dnsmasq.conf", d->dir);
	char		*logp = net_dnsmasq_file(d, "dnsmasq.log");
	char		*pidp = net_dnsmasq_file(d, "dnsmasq.pid"), buf[32];
	int		 logfd = -1, r = 0;
	pid_t		 pid;

	if (path == NULL) {
		snprintf(err, errlen, "dnsmasq is not installed (Debian "
		    "package dnsmasq-base)");
		r = -ENOENT;
		goto out;
	}
	if ((logfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", logp, strerror(-r));
		goto out;
	}
	if ((pid = fork()) == -1) {
		r = -errno;
		snprintf(err, errlen, "fork: %s", strerror(-r));
		goto out;
	}
	if (pid == 0)
		net_dnsmasq_child(path, conf, logfd);
	d->pid = pid;
	if (child_watch(pid, net_dnsmasq_exited, d) < 0)
		log_warnx("dnsmasq on %s: cannot watch pid %d", d->bridge,
		    (int)pid);
	snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write_file_atomic(pidp, buf, strlen(buf), 0600) < 0)
		log_warn("%s", pidp);
out:
	if (logfd >= 0)
		close(logfd);
	free(conf);
	free(logp);
	free(pidp);
	return (r);
}

int
net_dnsmasq_start(const char *dir, const char *bridge,
    const struct net_subnet *s, struct net_dnsmasq **ret, char *err,
    size_t errlen)
{
	struct net_dnsmasq	*d = xcalloc(1, sizeof(*d));
	char			*hosts;
	int			 r;

	d->dir = xstrdup(dir);
	snprintf(d->bridge, sizeof(d->bridge), "%s", bridge);
	d->subnet = *s;
	d->window_start = now_usec();
	hosts = net_dnsmasq_file(d, "hosts.conf");
	/* dnsmasq reads it at start: it must exist. */
	if ((r = write_file_atomic(hosts, "", 0, 0600)) < 0)
		snprintf(err, errlen, "%s: %s", hosts, strerror(-r));
	free(hosts);
	if (r < 0 || (r = net_dnsmasq_write_conf(d, err, errlen)) < 0 ||
	    (r = net_dnsmasq_spawn(d, err, errlen)) < 0) {
		net_dnsmasq_stop(d);
		return (r);
	}
	*ret = d;
	return (0);
}

/* Is MAC (with address LIP) still a machine of NET at that address? */
static bool
lease_held(const struct net_network *net, const char *mac, const char *lip)
{
	struct in_addr	a;

	if (inet_pton(AF_INET, lip, &a) != 1)
		return (false);
	for (size_t i = 0; i < net_holder_count(); i++) {
		const struct net_holder *h = net_holder_at(i);

		if (h->net == net && h->ip == a.s_addr &&
		    strcasecmp(h->mac, mac) == 0)
			return (true);
	}
	return (false);
}

/*
 * Drop the leases of machines that are gone, while dnsmasq is stopped.
 * sbumld gives an ended machine's address to the next one at once, but
 * dnsmasq keeps the old MAC's lease for its hour and refuses the address
 * to the new MAC ("leased to ..."): the new machine got no lease at all.
 */
static void
net_dnsmasq_prune_leases(struct net_network *net)
{
	char		*path = net_dnsmasq_file(net->dns, "leases"), *buf = NULL;
	char		*line, *save = NULL;
	struct evbuffer	*kept;
	size_t		 len, dropped = 0;
	int		 r;

	if (read_file(path, NET_DNS_LEASE_MAX, &buf, &len) != 0)
		goto out;
	if ((kept = evbuffer_new()) == NULL)
		fatalx("out of memory");
	/* "<expiry> <mac> <ip> <hostname> <client-id>" per line. */
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char	lmac[32], lip[32];

		if (sscanf(line, "%*s %31s %31s", lmac, lip) == 2 &&
		    lease_held(net, lmac, lip))
			evbuffer_add_printf(kept, "%s\n", line);
		else
			dropped++;
	}
	if (dropped > 0) {
		size_t	 klen = evbuffer_get_length(kept);
		char	*text = xmalloc(klen + 1);

		evbuffer_remove(kept, text, klen);
		if ((r = write_file_atomic(path, text, klen, 0644)) < 0)
			log_warnx("network %s: %s: %s", net->name, path, strerror(-r));
		else
			log_debug("network %s: %zu lease(s) of ended machines "
			    "dropped", net->name, dropped);
		free(text);
	}
	evbuffer_free(kept);
out:
	free(buf);
	free(path);
}

int
net_dnsmasq_hosts(struct net_network *net, char *err, size_t errlen)
{
	struct evbuffer	*b;
	char		*path, *text, ip[INET_ADDRSTRLEN];
	size_t		 len;
	int		 r;

	if (net->dns == NULL)
		return (0);
	if ((b = evbuffer_new()) == NULL)
		fatalx("out of memory");
	for (size_t i = 0; i < net_holder_count(); i++) {
		const struct net_holder *h = net_holder_at(i);
		struct in_addr a = { .s_addr = h->ip };

		if (h->net != net)
			continue;
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		evbuffer_add_printf(b, "dhcp-host=%s,%s\n", h->mac, ip);
	}
	len = evbuffer_get_length(b);
	text = xmalloc(len + 1);
	evbuffer_remove(b, text, len);
	evbuffer_free(b);
	path = net_dnsmasq_file(net->dns, "hosts.conf");
	if ((r = write_file_atomic(path, text, len, 0600)) < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
	else if (net->dns->pid > 0) {
		net_dnsmasq_kill(net->dns);
		net_dnsmasq_prune_leases(net);
		r = net_dnsmasq_spawn(net->dns, err, errlen);
	}
	free(path);
	free(text);
	return (r);
}

/* End the running dnsmasq and reap it (not a death: no restart). */
static void
net_dnsmasq_kill(struct net_dnsmasq *d)
{
	int	status;

	if (d->pid <= 0)
		return;
	child_unwatch(d->pid);
	(void)kill(d->pid, SIGTERM);
	while (waitpid(d->pid, &status, 0) == -1 && errno == EINTR)
		;
	d->pid = 0;
}

void
net_dnsmasq_stop(struct net_dnsmasq *d)
{
	if (d == NULL)
		return;
	d->stopping = true;
	net_dnsmasq_kill(d);
	if (d->ev_restart != NULL)
		event_free(d->ev_restart);
	{
		char *pidp = net_dnsmasq_file(d, "dnsmasq.pid");

		(void)unlink(pidp);
		free(pidp);
	}
	free(d->dir);
	free(d);
}

void
net_dnsmasq_kill_stale(const char *dir)
{
	char	*pidp = xasprintf("%s/dnsmasq.pid", dir), *buf = NULL;
	char	*cmdp = NULL, *cmd = NULL, *conf;
	size_t	 len, clen;
	long	 pid;

	if (read_file(pidp, 32, &buf, &len) < 0)
		goto out;
	pid = strtol(buf, NULL, 10);
	if (pid <= 1)
		goto out;
	/* Only the dnsmasq that runs on our configuration file. */
	cmdp = xasprintf("/proc/%ld/cmdline", pid);
	conf = xasprintf("--conf-file=%s/dnsmasq.conf", dir);
	if (read_file(cmdp, 4096, &cmd, &clen) == 0 &&
	    memmem(cmd, clen, conf, strlen(conf) + 1) != NULL) {
		log_info("network: stopping dnsmasq %ld left by an earlier "
		    "daemon", pid);
		(void)kill((pid_t)pid, SIGKILL);
	}
	free(conf);
out:
	(void)unlink(pidp);
	free(cmd);
	free(cmdp);
	free(buf);
	free(pidp);
}

uint32_t
net_dnsmasq_lease(const char *dir, const char *mac)
{
	char		*path = xasprintf("%s/leases", dir), *buf = NULL, *line;
	char		*save = NULL;
	size_t		 len;
	uint32_t	 ip = 0;

	if (read_file(path, NET_DNS_LEASE_MAX, &buf, &len) == 0) {
		/* "<expiry> <mac> <ip> <hostname> <client-id>" per line. */
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			char		 lmac[32], lip[32];
			struct in_addr	 a;

			if (sscanf(line, "%*s %31s %31s", lmac, lip) == 2 &&
			    strcasecmp(lmac, mac) == 0 &&
			    inet_pton(AF_INET, lip, &a) == 1)
				ip = a.s_addr;
		}
	}
	free(buf);
	free(path);
	return (ip);
}
