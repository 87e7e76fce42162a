#!/bin/bash
# A reboot always comes back: a booted machine and a restored clone are
# each rebooted many times in a row (mconsole reboot: the same host process
# re-executes itself), and every time the new kernel mounts its own disk,
# boots (BOOT n+1) and ticks, and the machine can still be saved.  Before the kernel reaped its helpers at
# reboot, a helper still sharing the old file table kept the disk's POSIX
# lock across the exec and about one reboot of a clone in three panicked
# with "file already locked by pid <its own pid>".
source "$(dirname "$0")/lib.sh"
# 20 + 20 reboots took 70 s on the shared 2-core host (load 4)
REBOOTS=${SBUML_REBOOTS:-20}

# ticks printed since the last BOOT line of NAME's console
ticks_since_boot() {
	awk '/^BOOT /{n=0} /^tick /{n++} END{print n+0}' "$WORK/$1/console.log"
}

# reboot_n NAME N BOOTS: N reboots in a row of a machine whose disk has
# been booted BOOTS times; each must reach its next BOOT line and tick, the
# host pid never changes and no host process piles up
reboot_n() {
	local name=$1 n=$2 boot=$3 i pid fds0 fds
	eval "pid=\$PID_$name"
	fds0=$(ls "/proc/$pid/fd" | wc -l)
	for i in $(seq "$n"); do
		mc "$name" reboot >/dev/null 2>&1
		boot=$((boot + 1))
		wait_console "$name" "^BOOT $boot([^0-9]|\$)" 120 ||
			die "$name: reboot $i did not boot again (console above)"
		w=0
		until [ "$(ticks_since_boot "$name")" -gt 0 ]; do
			kill -0 "$pid" 2>/dev/null || die "$name: died after reboot $i"
			w=$((w + 1))
			[ "$w" -lt 1500 ] || die "$name: no tick in 300 s after reboot $i: $(tail -n 5 "$WORK/$name/console.log")"
			sleep 0.2
		done
		if grep -aE "already locked|Unable to mount root|Kernel panic" "$WORK/$name/console.log"; then
			die "$name: reboot $i failed"
		fi
		[ $((i % 5)) -ne 0 ] || log "$name: $i reboots came back"
	done
	# no descriptor of an earlier incarnation is left behind
	fds=$(ls "/proc/$pid/fd" | wc -l)
	[ "$fds" -le $((fds0 + 2)) ] ||
		fail "$name: $fds0 host fds before $n reboots, $fds after"
	log "$name: $n reboots in pid $pid, each came back (BOOT $boot; $fds0 -> $fds host fds)"
}

make_image
boot_and_wait a
r=$(save a "$WORK/cap") || die "save: $r"
reboot_n a "${REBOOTS_A:-$REBOOTS}" 1
# nothing of an earlier incarnation is left in the process: still savable
r=$(save a "$WORK/cap2") || fail "save after the reboots: $r"

restore b "$WORK/cap"
wait_console b "^sbuml: restored from" 60 || die "b did not restore"
first_tick b >/dev/null || fail "b does not tick"
reboot_n b "$REBOOTS" 1
# the clone rebooted from its own disk under its own identity
check grep -aq "ubd0=$WORK/b/disk0.cow" /proc/$PID_b/cmdline
check [ -S "$WORK/a/uml/mconsole" ]
r=$(save b "$WORK/cap3") || fail "save of the rebooted clone: $r"
console_clean a
console_clean b
halt_machine b
halt_machine a
exit $FAILED
