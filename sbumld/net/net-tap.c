/* SPDX-License-Identifier: MIT */
/* Persistent taps; see net-tap.h. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "log.h"
#include "net-run.h"
#include "net-tap.h"
#include "util.h"

/* TUNSETIFF on name with persist on or off (off deletes it once closed). */
static int
net_tap_persist(const char *name, bool persist, uid_t uid, char *err,
    size_t errlen)
{
	struct ifreq	ifr;
	int		fd, r = 0;
	const char	*what;

	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) == -1) {
		r = -errno;
		snprintf(err, errlen, "/dev/net/tun: %s", strerror(-r));
		return (r);
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	what = "TUNSETIFF";
	if (ioctl(fd, TUNSETIFF, &ifr) == -1)
		goto fail;
	what = "TUNSETOWNER";
	if (persist && ioctl(fd, TUNSETOWNER, (unsigned long)uid) == -1)
		goto fail;
	what = "TUNSETPERSIST";
	if (ioctl(fd, TUNSETPERSIST, persist ? 1UL : 0UL) == -1)
		goto fail;
	close(fd);
	return (0);
fail:
	r = -errno;
	snprintf(err, errlen, "tap %s: %s: %s", name, what, strerror(-r));
	close(fd);
	return (r);
}

int
net_tap_attach(const char *name, const char *bridge, char *err, size_t errlen)
{
	const char *const argv[] = { "ip", "link", "set", "dev", name, "master",
	    bridge, "up", NULL };

	return (net_run(argv, NULL, err, errlen));
}

int
net_tap_create(const char *name, uid_t uid, const char *bridge, char *err,
    size_t errlen)
{
	char	derr[256];
	int	r;

	/* Never take over an interface someone else made. */
	if (if_nametoindex(name) != 0) {
		snprintf(err, errlen, "tap %s: an interface of that name exists",
		    name);
		return (-EEXIST);
	}
	if ((r = net_tap_persist(name, true, uid, err, errlen)) < 0)
		return (r);
	if ((r = net_tap_attach(name, bridge, err, errlen)) < 0)
		(void)net_tap_delete(name, derr, sizeof(derr));
	return (r);
}

int
net_tap_delete(const char *name, char *err, size_t errlen)
{
	const char *const argv[] = { "ip", "link", "delete", "dev", name, NULL };
	int	r;

	if (if_nametoindex(name) == 0)
		return (0);
	/*
	 * Busy: still attached, as a machine's helpers (ptrace stubs, the
	 * ubd thread: they share its descriptor table) may not have finished
	 * dying of their SIGKILL when its kernel process is seen gone.
	 * Deleting the link detaches them.
	 */
	if ((r = net_tap_persist(name, false, 0, err, errlen)) != -EBUSY)
		return (r);
	log_info("tap %s: still attached, deleting the link", name);
	return (net_run(argv, NULL, err, errlen));
}
