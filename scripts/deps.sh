#!/bin/sh
# SPDX-License-Identifier: MIT
# Install every Debian 12 package sbuml needs to build, run and test.
# Runs apt-get only when something is missing, so a second call is instant.
set -eu

PACKAGES="
  build-essential meson ninja-build pkg-config
  libevent-dev libjson-c-dev libzstd-dev libsystemd-dev libssl-dev zstd
  libcurl4-openssl-dev
  linux-source-6.1 bc bison flex xz-utils ccache patch
  busybox-static e2fsprogs mmdebstrap
  iproute2 nftables dnsmasq-base
  xfsprogs squashfs-tools
  user-mode-linux uml-utilities
  socat python3 systemd util-linux procps psmisc strace stress-ng
  clang libclang-rt-14-dev
  docker-registry skopeo apache2-utils curl
"

# The unprivileged user the UML machines run as (sbumld/machine/jail.h), from the
# sysusers.d file meson installs.  sbumld creates it too when it can; this
# covers a daemon run under the unit (ProtectSystem=full: /etc read-only).
ensure_jail_user() {
	getent passwd sbuml-uml >/dev/null && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: user sbuml-uml is missing; run as root to create it" >&2
		return 0
	fi
	echo "deps: creating the system user sbuml-uml"
	# systemd-sysusers takes a file argument only as an absolute path.
	systemd-sysusers "$(cd "$(dirname "$0")/.." && pwd)/units/sbuml.sysusers"
}

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "deps: all packages present"
	ensure_jail_user
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing; run as root (or with sudo) to install them" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
ensure_jail_user
