/* SPDX-License-Identifier: MIT */
/*
 * A machine's NIC while it lives (net.h does the host side): its tap is
 * made before the UML process starts and deleted when it ends; a daemon
 * that re-adopts a live machine attaches its tap again.  The IPv4
 * reservation the network gives is kept in machine.json, so the machine
 * asks for the same address next time.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"
#include "machine-int.h"

/* Write machine.json again after the reservation changed. */
static void
machine_nic_persist(struct machine *m)
{
	int	fd, r;

	if ((fd = fs_open_dir(m->rec, NULL, NULL)) < 0) {
		log_warnx("%s: %s: %s", m->name, m->rec, strerror(-fd));
		return;
	}
	if ((r = machine_config_write(fd, m->name, &m->cfg,
	    m->is_path ? &m->dir_id : NULL)) < 0)
		log_warnx("%s: cannot write %s: %s", m->name,
		    MACHINE_CONFIG_FILE, strerror(-r));
	(void)close(fd);
}

/*
 * The kernel's tuntap driver opens /dev/net/tun as the jail user: Debian
 * makes it 0666, a container may not.  -EACCES (err) if it cannot.
 */
int
machine_nic_check_tun(char *err, size_t errlen)
{
	struct stat	st;

	if (stat("/dev/net/tun", &st) == -1) {
		snprintf(err, errlen, "/dev/net/tun: %s: machines cannot have "
		    "a network here", strerror(errno));
		return (-ENODEV);
	}
	if (jail_active() && (st.st_mode & 0006) != 0006 &&
	    !(st.st_uid == jail_uid() && (st.st_mode & 0600) == 0600) &&
	    !(st.st_gid == jail_gid() && (st.st_mode & 0060) == 0060)) {
		snprintf(err, errlen, "/dev/net/tun (mode %04o) is not open to "
		    "user %s, so UML cannot use its tap: make it 0666 (Debian's "
		    "default) or boot with net none", (unsigned int)(st.st_mode &
		    07777), JAIL_USER);
		return (-EACCES);
	}
	return (0);
}

int
machine_nic_start(struct machine *m, char *err, size_t errlen)
{
	uint32_t	before = m->cfg.nic.ipv4;
	int		r;

	m->tap[0] = '\0';
	if (m->cfg.nic.network[0] == '\0')
		return (0);
	if ((r = machine_nic_check_tun(err, errlen)) < 0)
		return (r);
	if ((r = net_nic_start(m->name, &m->cfg.nic,
	    jail_active() ? jail_uid() : geteuid(), m->tap, sizeof(m->tap),
	    err, errlen)) < 0) {
		m->tap[0] = '\0';
		return (r);
	}
	if (m->cfg.nic.ipv4 != before)
		machine_nic_persist(m);
	return (0);
}

void
machine_nic_release(struct machine *m)
{
	if (m->cfg.nic.network[0] == '\0' && m->tap[0] == '\0')
		return;
	net_nic_stop(m->name, m->tap);
	m->tap[0] = '\0';
}

void
machine_nic_readopt(struct machine *m, const char *tap)
{
	char	err[512];

	if (tap[0] == '\0' || m->cfg.nic.network[0] == '\0')
		return;
	snprintf(m->tap, sizeof(m->tap), "%s", tap);
	if (net_nic_readopt(m->name, &m->cfg.nic, m->tap, err, sizeof(err)) < 0)
		log_warnx("%s: its network does not come back: %s", m->name, err);
}
