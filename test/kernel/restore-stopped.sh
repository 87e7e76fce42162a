#!/bin/bash
# A capture made with `sbuml save <dir> stop` restores into the mconsole
# stop loop: the clone is frozen until `go`.
source "$(dirname "$0")/lib.sh"
make_image
boot_and_wait a
r=$(save a "$WORK/cap" stop) || die "save stop: $r"
r=$(mc a go 2>/dev/null); check [ "${r% }" = "OK" ]
notify_listen c
restore c "$WORK/cap"
wait_console c "^sbuml: restored from" 30 || die "clone did not restore"
sleep 0.5
n=$(lines c); sleep 2; check [ "$(lines c)" = "$n" ]
check grep -q "stopped=1" "$WORK/c/notify.log"
r=$(mc c go 2>/dev/null); check [ "${r% }" = "OK" ]
wait_console c "^tick " 20 || fail "clone does not tick after go"
t=$(first_num c tick)
wait_console c "^tick $((t + 4)) " 20 || fail "clone stopped again"
halt_machine c
console_clean c
exit $FAILED
