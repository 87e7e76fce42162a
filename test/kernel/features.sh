#!/bin/bash
# The guest kernel has the feature groups listed in doc/kernel.md §1 "Guest
# features" (cgroup v2 and its controllers, namespaces, inotify/fanotify,
# autofs, IPv6, packet sockets, netfilter, seccomp, BPF, io_uring,
# userfaultfd, FUSE, overlayfs, squashfs, xfs, vfat on loop, ...): checked
# inside a busybox guest by features-guest, which then keeps state in each
# (a limited and a frozen cgroup, a shell in new namespaces, overlay, vfat,
# xfs and squashfs mounts, a bridge) and re-checks it every second. The
# state carries across a save into a restored clone and keeps working
# there, and the original goes on after the save.
source "$(dirname "$0")/lib.sh"
for t in mkfs.xfs mksquashfs; do
	command -v "$t" >/dev/null || die "$t missing (xfsprogs, squashfs-tools)"
done
GUEST_EXTRA=$KTEST_DIR/features-guest
make_image
mkdir -p "$WORK/sqroot" "$WORK/a"
echo squash >"$WORK/sqroot/hello"
mksquashfs "$WORK/sqroot" "$WORK/sq.img" -quiet -noappend >/dev/null || die "mksquashfs"
# the smallest xfs mkfs.xfs makes; sparse
truncate -s 300M "$WORK/a/xfs.img"
mkfs.xfs -q "$WORK/a/xfs.img" || die "mkfs.xfs"

boot a ubd1="$WORK/a/xfs.img" ubd2r="$WORK/sq.img"
wait_console a "^FEATURES DONE" 180 || die "the feature checks did not finish"
if grep -a "^FEAT MISSING" "$WORK/a/console.log"; then fail "features missing (above)"; fi
nok=$(grep -ac "^FEAT ok " "$WORK/a/console.log")
log "$nok feature checks passed"
# every check features-guest makes (145) answered ok: one that silently
# printed nothing would lower the count
check [ "$nok" -eq 145 ]
wait_console a "^LIVE 3 " 30 || die "no LIVE lines"
wait_console a "^NSBOX nsbox 1.?$" 30 || fail "no shell in new namespaces"

r=$(save a "$WORK/cap") || die "save: $r"
log "save: $r"
la=$(last_num a LIVE)

mkdir -p "$WORK/c"
cp --reflink=auto --sparse=always "$WORK/cap/disk1" "$WORK/c/disk1" || die "copy disk1"
restore c "$WORK/cap" sbuml_disk=1:"$WORK/c/disk1"
wait_console c "^sbuml: restored from" 30 || die "clone did not restore"
wait_console c "^LIVE [0-9]+ " 30 || die "clone prints no LIVE line"
first=$(first_num c LIVE)
wait_console c "^LIVE $((first + 3)) " 30 || fail "clone stopped its LIVE loop"
wait_console c "^NSBOX nsbox 1.?$" 30 || fail "clone's namespace shell does not go on"
log "original at LIVE $la when saved; clone goes on from LIVE $first"
# carried on, not re-run
check [ "$first" -ge "$la" ]
check [ "$first" -le $((la + 3)) ]
if grep -aqE "^(BOOT|FEAT|FEATURES DONE)" "$WORK/c/console.log"; then fail "the clone re-ran init"; fi
wait_console a "^LIVE $((la + 3)) " 30 || fail "original stopped after the save"
for m in a c; do
	if grep -a "^LIVE .* bad:" "$WORK/$m/console.log"; then fail "state broken in $m (above)"; fi
done

halt_machine c
halt_machine a
console_clean a
console_clean c
exit $FAILED
