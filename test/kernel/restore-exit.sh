#!/bin/bash
# How restored machines end: a guest power-off of a clone must not unlink
# the original's mconsole socket, and a reboot of a clone boots its own
# disk under its own identity (not the original's command line).
source "$(dirname "$0")/lib.sh"
make_image
notify_listen a
boot_and_wait a
r=$(save a "$WORK/cap") || die "save: $r"

# a clone restored without mconsole=notify: never notifies the original's
# listener (and a guest write to /proc/mconsole is dropped, not a crash)
NO_NOTIFY=1 restore n "$WORK/cap"
wait_console n "^sbuml: restored from" 30 || die "n did not restore"
first_tick n >/dev/null || fail "n does not tick"
sleep 1
cat "$WORK/a/notify.log"
check grep -q "^0 $WORK/a/uml/mconsole" "$WORK/a/notify.log"
if grep -q "sbuml restored" "$WORK/a/notify.log"; then fail "clone notified the original's listener"; fi
halt_machine n

# power-off (sysrq o runs the reboot notifiers, like a guest poweroff)
restore p "$WORK/cap"
wait_console p "^sbuml: restored from" 30 || die "p did not restore"
first_tick p >/dev/null || fail "p does not tick"
mc p sysrq o >/dev/null 2>&1
for i in $(seq 1200); do kill -0 $PID_p 2>/dev/null || break; sleep 0.1; done
check [ ! -e /proc/$PID_p/status ]
check [ ! -e "$WORK/p/uml/mconsole" ]
check [ -S "$WORK/a/uml/mconsole" ]
rv=$(mc a version 2>/dev/null); check [ "${rv#OK Linux}" != "$rv" ]

# reboot (sysrq b): the same host process re-execs with the clone's disk
restore b "$WORK/cap"
wait_console b "^sbuml: restored from" 30 || die "b did not restore"
first_tick b >/dev/null || fail "b does not tick"
mc b sysrq b >/dev/null 2>&1
wait_console b "^BOOT 2" 60 || fail "b did not boot again from its own disk"
wait_console b "^tick 2 " 60 || fail "rebooted b does not tick"
check grep -aq "ubd0=$WORK/b/disk0.cow" /proc/$PID_b/cmdline
check grep -aq "uml_dir=$WORK/b/" /proc/$PID_b/cmdline
rv=$(mc b version 2>/dev/null); check [ "${rv#OK Linux}" != "$rv" ]
check [ -S "$WORK/a/uml/mconsole" ]
halt_machine b
# the original never noticed
check [ "$(grep -ac '^BOOT' "$WORK/a/console.log")" = 1 ]
ta=$(last_num a tick)
wait_console a "^tick $((ta + 3)) " 20 || fail "original stopped"
console_clean a
exit $FAILED
