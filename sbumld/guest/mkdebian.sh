#!/bin/sh
# SPDX-License-Identifier: MIT
# mkdebian.sh [--release R] [--packages a,b] [--size 4G] [--hostname H] OUTPUT
#
# Builds a Debian root image for sbuml machines with mmdebstrap (from
# Debian's mirror, the one the host's apt uses) and mke2fs -d: an ext4 file
# system in a sparse file of the given size, booting systemd to
# multi-user.target on a UML kernel, with a password-less root login on the
# console.  See README.md in this directory ("Debian images").
#
# Cached by a hash of its inputs (release, packages, size, mirror, this
# script): the first build lands in $SBUML_IMAGE_CACHE/<hash>.img, later
# builds with the same inputs copy it (reflink where the file system can).
# OUTPUT gets the image; OUTPUT with .img replaced by .json its inputs, hash
# and size.  Prints "cache hit <hash>" or "cache miss <hash>" on stdout.
#
# Needs root (mmdebstrap's root mode keeps owners; mke2fs -d copies them).
#
# Environment:
#   SBUML_IMAGE_CACHE  cache directory (default /var/cache/sbuml/images)
#   SOURCE_DATE_EPOCH  timestamp for the file system (default 946684800)
set -eu

die() { echo "mkdebian.sh: $*" >&2; exit 1; }
usage() { die "usage: mkdebian.sh [--release R] [--packages a,b] [--size 4G] [--hostname H] OUTPUT"; }

RELEASE=bookworm
PACKAGES=
SIZE=4G
HOSTNAME_=
while [ $# -gt 0 ]; do
	case $1 in
	--release) [ $# -ge 2 ] || usage; RELEASE=$2; shift 2 ;;
	--packages) [ $# -ge 2 ] || usage; PACKAGES=$2; shift 2 ;;
	--size) [ $# -ge 2 ] || usage; SIZE=$2; shift 2 ;;
	--hostname) [ $# -ge 2 ] || usage; HOSTNAME_=$2; shift 2 ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || usage
OUTPUT=$1
CACHE=${SBUML_IMAGE_CACHE:-/var/cache/sbuml/images}
EPOCH=${SOURCE_DATE_EPOCH:-946684800}
# Fixed identity so that the file system's UUID does not depend on the run.
FS_UUID=5b0a1e00-57b0-4e1d-9a5e-000000000d0b
HASH_SEED=5b0a1e00-57b0-4e1d-9a5e-000000000d0c
# What every image has: an init, device manager, ip, ps, a login.
BASE_PACKAGES="systemd-sysv,udev,dbus,iproute2,procps,login,passwd"

[ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap keeps file owners only as root)"
case $RELEASE in ''|*[!a-z0-9-]*) die "bad release name: $RELEASE" ;; esac
case $PACKAGES in *[!a-z0-9.+,-]*) die "bad package list (names separated by commas): $PACKAGES" ;; esac
echo "$SIZE" | grep -Eq '^[0-9]{1,7}[MGmg]?$' || die "bad size (a number of MiB, or with M or G): $SIZE"
case $SIZE in
	*[Gg]) SIZE_MB=$(( ${SIZE%?} * 1024 )) ;;
	*[Mm]) SIZE_MB=${SIZE%?} ;;
	*) SIZE_MB=$SIZE ;;
esac
[ "$SIZE_MB" -ge 512 ] || die "size must be at least 512M: $SIZE"
[ "$SIZE_MB" -le 1048576 ] || die "size must be at most 1024G: $SIZE"
[ -n "$HOSTNAME_" ] || HOSTNAME_=$(basename "$OUTPUT" .img)
case $HOSTNAME_ in ''|*[!A-Za-z0-9-]*|-*) HOSTNAME_=debian ;; esac
case $OUTPUT in *.img) ;; *) die "OUTPUT must end in .img: $OUTPUT" ;; esac
# Machines' overlays record their base image's size and time: replacing
# it under them would break their next boot.
[ ! -e "$OUTPUT" ] || die "$OUTPUT exists: build under a new name (or remove it once no machine uses it)"
command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install mmdebstrap)"
command -v mke2fs >/dev/null || die "mke2fs not found (apt-get install e2fsprogs)"

# The mirror the host's apt uses (deb822 or one-line sources), so the build
# needs no other network than the one apt already reaches.
host_uri() {	# $1: a grep -E pattern the URI must match
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
	    /etc/apt/sources.list.d/*.sources 2>/dev/null |
	    sed -n -e 's/^URIs:[[:space:]]*//p' \
	    -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}//p' |
	    tr ' \t' '\n\n' | grep -E "$1" | head -n 1
}
MIRROR=$(host_uri '^https?://.*/debian/?$' || true)
SECURITY=$(host_uri '^https?://.*/debian-security/?$' || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
set -- "deb $MIRROR $RELEASE main"
case $RELEASE in
	sid|unstable|experimental|rc-buggy) ;;
	*) set -- "$@" "deb $MIRROR $RELEASE-updates main" \
	    "deb $SECURITY $RELEASE-security main" ;;
esac

ALL_PACKAGES=$BASE_PACKAGES${PACKAGES:+,$PACKAGES}
SELF=$(readlink -f "$0")
SETUP=$(dirname "$SELF")/debian-setup.sh
[ -f "$SETUP" ] || die "debian-setup.sh not found next to $SELF"
# Everything the image is made of; the hostname is set per copy (below).
HASH=$(
	{
		echo "release=$RELEASE"
		echo "packages=$ALL_PACKAGES"
		echo "size_mb=$SIZE_MB"
		echo "epoch=$EPOCH"
		for s in "$@"; do echo "source=$s"; done
		cat "$SELF" "$SETUP"
	} | sha256sum | cut -c1-32
)

mkdir -p "$CACHE"
CACHED=$CACHE/$HASH.img
STAGE=$(mktemp -d "${TMPDIR:-/var/tmp}/sbuml-mkdebian.XXXXXX")
TMP_OUT=$OUTPUT.tmp
trap 'rm -rf "$STAGE" "$TMP_OUT" "${OUTPUT%.img}.json.tmp"' EXIT
trap 'exit 1' INT TERM
# apt downloads as user _apt, which must reach the tree inside.
chmod 0755 "$STAGE"
# Two builds of the same inputs at once: the second waits and copies.
exec 9>"$CACHE/$HASH.lock"
flock 9

if [ -f "$CACHED" ]; then
	echo "cache hit $HASH"
else
	echo "cache miss $HASH"
	ROOT=$STAGE/root
	SOURCE_DATE_EPOCH=$EPOCH mmdebstrap --mode=root --variant=minbase \
	    --include="$ALL_PACKAGES" \
	    --customize-hook="sh -s \"\$1\" < '$SETUP'" \
	    "$RELEASE" "$ROOT" "$@" >&2 || die "mmdebstrap failed"
	E2FSPROGS_FAKE_TIME=$EPOCH mke2fs -q -F -t ext4 -m 0 -L sbuml-root \
	    -U "$FS_UUID" -E "hash_seed=$HASH_SEED,root_owner=0:0" \
	    -d "$ROOT" "$STAGE/image.img" "${SIZE_MB}M" >&2 || die "mke2fs failed"
	chmod 0644 "$STAGE/image.img"
	mv "$STAGE/image.img" "$CACHED.tmp"
	mv "$CACHED.tmp" "$CACHED"
fi

# The copy: reflink where possible, else a sparse copy.  The hostname is the
# only per-image difference and is written into the copy's /etc/hostname.
cp --reflink=auto --sparse=always "$CACHED" "$TMP_OUT"
printf '%s\n' "$HOSTNAME_" > "$STAGE/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
    "$HOSTNAME_" > "$STAGE/hosts"
debugfs -w -f - "$TMP_OUT" >"$STAGE/debugfs.log" 2>&1 <<EOF || die "debugfs failed"
cd /etc
rm hostname
write $STAGE/hostname hostname
rm hosts
write $STAGE/hosts hosts
EOF
if grep -v -e '^debugfs' -e '^Allocated inode' -e '^$' "$STAGE/debugfs.log" | grep -q .; then
	cat "$STAGE/debugfs.log" >&2
	die "debugfs reported errors"
fi
chmod 0644 "$TMP_OUT"
JSON=${OUTPUT%.img}.json
printf '{"name":"%s","release":"%s","packages":"%s","size_mb":%s,"hash":"%s","mirror":"%s","created":"%s"}\n' \
    "$(basename "$OUTPUT" .img)" "$RELEASE" "$ALL_PACKAGES" "$SIZE_MB" "$HASH" \
    "$MIRROR" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$JSON.tmp"
chmod 0644 "$JSON.tmp"
mv "$TMP_OUT" "$OUTPUT"
mv "$JSON.tmp" "$JSON"
