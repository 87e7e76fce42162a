#!/bin/bash
# The machine's userfaultfds (issue 13): a launcher's /dev/userfaultfd
# passed as fd 4 with sbuml_uffd_dev=4 is what the kernel makes them from.
# It reports what they offer, keeps the device across a reboot, records it
# in a save (a machine holding it can be saved) and takes the new
# launcher's device, or none, at a restore.  Without the device it falls
# back to userfaultfd(2), which an unprivileged kernel is denied here.
source "$(dirname "$0")/lib.sh"
make_image
[ -c /dev/userfaultfd ] || die "/dev/userfaultfd missing: the host kernel is older than 6.1"
want=$("$KTEST_DIR/../host/uffd-probe") || die "uffd-probe"
log "host offers: $want"
DEV='exec 4<>/dev/userfaultfd'

fd4() { readlink "/proc/$1/fd/4" 2>/dev/null; }
# fd_is NAME TARGET: the kernel of NAME holds TARGET at fd 4
fd_is() {
	local pid
	eval "pid=\$PID_$1"
	[ "$(fd4 "$pid")" = "$2" ] && return 0
	fail "$1 (pid $pid): fd 4 is '$(fd4 "$pid")', not $2; its fds:"
	ls -l "/proc/$pid/fd" | sed -n '2,12p'
	return 1
}
info() { mc "$1" sbuml info 2>/dev/null; }
# has NAME WORDS...: every word is in the machine's `sbuml info`
has() {
	local name=$1 r w; shift
	r=" $(info "$name") "
	for w in "$@"; do
		case $r in *" $w "*) ;; *) fail "$name: '$w' not in: $r"; return 1 ;; esac
	done
}

# 1. booted with the device
BOOT_FDS=$DEV boot_and_wait a sbuml_uffd_dev=4
check has a "uffd=$want" uffd_src=dev
fd_is a /dev/userfaultfd
check grep -aq "^sbuml: uffd=$want uffd_src=dev" "$WORK/a/console.log"

# 2. a machine holding it can be saved (it is a known fd of its own role)
r=$(save a "$WORK/cap1") || die "save with the device: $r"
log "saved: $r"
# 3. restored with a new launcher's device: in the saved fd's place
RESTORE_FDS=$DEV restore c1 "$WORK/cap1" sbuml_uffd_dev=4
wait_console c1 "^sbuml: restored from" 30 || die "c1 did not restore"
wait_console c1 "^tick " 20 || die "c1 does not tick"
check has c1 "uffd=$want" uffd_src=dev
fd_is c1 /dev/userfaultfd
check grep -aq "^sbuml: restored from .* uffd=$want uffd_src=dev" "$WORK/c1/console.log"
# 4. restored without one: a placeholder keeps the slot, the root
#    kernel falls back to userfaultfd(2) and says why
restore c2 "$WORK/cap1"
wait_console c2 "^tick " 20 || die "c2 does not tick"
check has c2 "uffd=$want" uffd_src=syscall "uffd_why=dev:Inappropriate ioctl for device"
fd_is c2 /dev/null
# ... and its save keeps the slot: restored again with a device, it is there
r=$(save c2 "$WORK/cap2") || die "save of c2: $r"
RESTORE_FDS=$DEV restore c3 "$WORK/cap2" sbuml_uffd_dev=4
wait_console c3 "^tick " 20 || die "c3 does not tick"
check has c3 "uffd=$want" uffd_src=dev
fd_is c3 /dev/userfaultfd

# 5. a machine that had no device gets a restore's one at a high number
boot_and_wait b
check has b "uffd=$want" uffd_src=syscall
r=$(save b "$WORK/cap3") || die "save of b: $r"
RESTORE_FDS=$DEV restore c4 "$WORK/cap3" sbuml_uffd_dev=4
wait_console c4 "^tick " 20 || die "c4 does not tick"
check has c4 "uffd=$want" uffd_src=dev
check [ "$(ls -l "/proc/$PID_c4/fd" | grep -c ' -> /dev/userfaultfd$')" = 1 ]

# 6. a reboot keeps the device
mc a reboot >/dev/null 2>&1
for i in $(seq 600); do
	[ "$(grep -ac "^sbuml: uffd=" "$WORK/a/console.log")" -ge 2 ] && break
	sleep 0.1
done
wait_console a "^tick 2 " 60 || die "a did not come back from the reboot"
check [ "$(grep -ac "^sbuml: uffd=$want uffd_src=dev" "$WORK/a/console.log")" = 2 ]
check has a "uffd=$want" uffd_src=dev
fd_is a /dev/userfaultfd

# 7. unprivileged, as sbumld runs machines: the device is the only way
#    unless the host allows unprivileged userfaultfds
chmod 711 "$WORK"
chmod 644 "$WORK/base.img"
mkdir -p "$WORK/u" "$WORK/v"
chown 65534:65534 "$WORK/u" "$WORK/v"
JAIL="setpriv --reuid=65534 --regid=65534 --clear-groups"
BOOT_WRAP=$JAIL BOOT_FDS=$DEV boot_and_wait u sbuml_uffd_dev=4
check has u "uffd=$want" uffd_src=dev
BOOT_WRAP=$JAIL boot_and_wait v
if [ "$(sysctl -n vm.unprivileged_userfaultfd)" = 1 ]; then
	check has v "uffd=$want" uffd_src=syscall
else
	check has v uffd=none uffd_src=none
	check grep -aq "^sbuml: uffd=none uffd_src=none uffd_why=syscall:Operation not permitted" \
		"$WORK/v/console.log"
fi

for n in a b c1 c2 c3 c4 u v; do halt_machine $n; console_clean $n; done
exit $FAILED
