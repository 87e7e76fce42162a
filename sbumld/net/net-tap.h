/* SPDX-License-Identifier: MIT */
/*
 * A machine's tap: a persistent tap device made with /dev/net/tun ioctls
 * (TUNSETIFF IFF_TAP|IFF_NO_PI, TUNSETOWNER, TUNSETPERSIST), owned by the
 * uid the UML process runs as so the kernel's tuntap driver can open it
 * without privileges (doc/kernel.md), enslaved to a bridge with ip(8).
 */
#ifndef SBUMLD_NET_TAP_H
#define SBUMLD_NET_TAP_H

#include <stddef.h>
#include <sys/types.h>

/* Make the persistent tap name owned by uid, on bridge, up. 0 or -errno (err). */
int	net_tap_create(const char *name, uid_t uid, const char *bridge,
	    char *err, size_t errlen);
/* Put an existing tap on bridge and up (a re-adopted machine). 0 or -errno (err). */
int	net_tap_attach(const char *name, const char *bridge, char *err,
	    size_t errlen);
/* Delete the tap (gone already is fine). 0 or -errno (err). */
int	net_tap_delete(const char *name, char *err, size_t errlen);

#endif
