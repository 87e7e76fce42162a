#!/bin/sh
# mkimage.sh OUTPUT [SIZE_MB]
#
# Builds the sbuml default guest root filesystem (ext2) from Debian's
# busybox-static.  Needs no root privileges and no network, and is
# reproducible: the UUID, directory hash seed, file system timestamps
# and every inode's owner and times are fixed, so the same inputs give
# a byte-identical image.
#
# Environment:
#   BUSYBOX            busybox binary to install (default: /bin/busybox,
#                      must be statically linked)
#   SOURCE_DATE_EPOCH  timestamp for all inodes and the superblock
#                      (default: 946684800 = 2000-01-01T00:00:00Z)
set -eu

die() { echo "mkimage.sh: $*" >&2; exit 1; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: mkimage.sh OUTPUT [SIZE_MB]"; fi
OUTPUT=$1
SIZE_MB=${2:-32}
BUSYBOX=${BUSYBOX:-/bin/busybox}
EPOCH=${SOURCE_DATE_EPOCH:-946684800}
# Fixed identity so two builds are byte-identical.
FS_UUID=5b0a1e00-57b0-4e1d-9a5e-000000000001
HASH_SEED=5b0a1e00-57b0-4e1d-9a5e-000000000002

HERE=$(cd "$(dirname "$0")" && pwd)
INIT_SRC=$HERE/init
DHCP_SRC=$HERE/udhcpc.script

case $SIZE_MB in ''|*[!0-9]*) die "SIZE_MB must be a number: $SIZE_MB" ;; esac
[ "$SIZE_MB" -ge 8 ] || die "SIZE_MB must be at least 8"
[ -x "$BUSYBOX" ] || die "busybox not found at $BUSYBOX (apt-get install busybox-static)"
[ -f "$INIT_SRC" ] || die "init script not found at $INIT_SRC"
[ -f "$DHCP_SRC" ] || die "udhcpc script not found at $DHCP_SRC"
command -v mke2fs >/dev/null || die "mke2fs not found (apt-get install e2fsprogs)"
command -v debugfs >/dev/null || die "debugfs not found (apt-get install e2fsprogs)"
# A dynamic busybox would not run in the library-less guest.
if command -v file >/dev/null && file -L "$BUSYBOX" | grep -q "dynamically linked"; then
    die "$BUSYBOX is dynamically linked; the guest needs busybox-static"
fi

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/sbuml-mkimage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT INT TERM
ROOT=$STAGE/root
umask 022

# --- Directory skeleton -------------------------------------------------
for d in bin sbin usr/bin usr/sbin dev proc sys tmp run etc root \
         mnt mnt/test var var/log usr/share/udhcpc; do
    mkdir -p "$ROOT/$d"
done
chmod 1777 "$ROOT/tmp"
chmod 0700 "$ROOT/root"

# --- busybox and its applet links ---------------------------------------
cp "$BUSYBOX" "$ROOT/bin/busybox"
chmod 0755 "$ROOT/bin/busybox"
# --list-full prints paths like "usr/bin/awk"; /sbin/init is our script
# and /linuxrc is never used, so both are skipped.
"$BUSYBOX" --list-full | while read -r applet; do
    case $applet in
        sbin/init|linuxrc|bin/busybox) continue ;;
    esac
    # Relative links keep the image usable when mounted elsewhere.
    depth=$(echo "$applet" | tr -cd / | wc -c)
    up=
    i=0
    while [ "$i" -lt "$depth" ]; do up="../$up"; i=$((i + 1)); done
    ln -sf "${up}bin/busybox" "$ROOT/$applet"
done
[ -L "$ROOT/bin/sh" ] || die "busybox has no sh applet"

# --- init and /etc --------------------------------------------------------
cp "$INIT_SRC" "$ROOT/sbin/init"
chmod 0755 "$ROOT/sbin/init"
# eth0's DHCP client (init: start_network) runs this on every lease event.
cp "$DHCP_SRC" "$ROOT/usr/share/udhcpc/default.script"
chmod 0755 "$ROOT/usr/share/udhcpc/default.script"
"$BUSYBOX" --list | grep -qx udhcpc || die "busybox has no udhcpc applet"

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    > "$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$ROOT/etc/group"
echo sbuml > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tsbuml\n' > "$ROOT/etc/hosts"
echo 'export PATH=/bin:/sbin:/usr/bin:/usr/sbin' > "$ROOT/etc/profile"
echo 'sbuml-guest 1' > "$ROOT/etc/sbuml-release"
# busybox mount/umount look here for the mount table.
ln -s ../proc/mounts "$ROOT/etc/mtab"

# --- Reproducible metadata ----------------------------------------------
# mke2fs -d copies each inode's owner and times from the staging tree.
# Owners depend on who runs the build and ctime cannot be set with
# touch, so both are rewritten afterwards with debugfs for every inode.
find "$ROOT" -exec touch -h -d "@$EPOCH" {} +

rm -f "$OUTPUT"
# Sorted, so the debugfs script does not depend on readdir order.
(cd "$ROOT" && find . -mindepth 1 | sed 's|^\.||' | LC_ALL=C sort) > "$STAGE/paths"

E2FSPROGS_FAKE_TIME=$EPOCH mke2fs -q -F -t ext2 -b 1024 -m 0 \
    -I 256 -L sbuml-root -U "$FS_UUID" -E "hash_seed=$HASH_SEED,root_owner=0:0" \
    -d "$ROOT" "$OUTPUT" "${SIZE_MB}M" >/dev/null \
    || die "mke2fs failed"

# One debugfs session fixes every inode (plus the root and lost+found).
{
    for p in / /lost+found $(cat "$STAGE/paths"); do
        for f in uid gid; do echo "sif $p $f 0"; done
        for f in atime mtime ctime; do echo "sif $p $f @$EPOCH"; done
    done
} > "$STAGE/debugfs.cmd"
E2FSPROGS_FAKE_TIME=$EPOCH debugfs -w -f "$STAGE/debugfs.cmd" "$OUTPUT" \
    > "$STAGE/debugfs.log" 2>&1 || { cat "$STAGE/debugfs.log" >&2; die "debugfs failed"; }
# debugfs reports per-command errors on stderr without failing.
if grep -v "^debugfs" "$STAGE/debugfs.log" | grep -q .; then
    cat "$STAGE/debugfs.log" >&2
    die "debugfs reported errors"
fi
