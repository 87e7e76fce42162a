#!/bin/bash
# Save a running guest, restore a clone in a new machine dir while the
# original keeps running: the clone continues where the original was
# (counter not restarted, init not re-run, uptime continuous), announces
# itself on the notify socket, and halting it leaves nothing behind and
# does not disturb the original.
source "$(dirname "$0")/lib.sh"
make_image
boot_and_wait a
wait_console a "^synced 2[^0-9]" 30 || die "no fsync writer"

save_point a
r=$(save a "$WORK/cap") || die "save: $r"
log "save: $r"
sleep 4	# offline time the guest's monotonic clock must not see

host_before=$(date +%s)

notify_listen c
restore c "$WORK/cap"
wait_console c "^sbuml: restored from" 30 || die "clone did not restore"
grep -a "^sbuml: restored" "$WORK/c/console.log"
carries_on c
t_first=$T_FIRST
# ... but its wall clock follows the host's (as after a resume)
wait_console c "^wall " 20 || fail "clone prints no wall clock"
w=$(first_num c wall)
log "clone wall clock $w, host before restore $host_before"
check [ "$w" -ge $((host_before - 1)) ]
check [ "$w" -le $(( $(date +%s) + 1 )) ]
# the clone lives on
wait_console c "^tick $((t_first + 6)) " 30 || fail "clone stopped ticking"
s=$(last_num c synced)
wait_console c "^synced $((s + 2))[^0-9]" 30 || fail "clone fsync writer stuck"
wait_console c "^PIPE OK " 60 || fail "clone pipe checker stuck"
# mconsole of the clone, identity
rv=$(mc c version 2>/dev/null); check [ "${rv#OK Linux}" != "$rv" ]
ri=$(mc c sbuml info 2>/dev/null); check [ "${ri%% uffd=*}" = "OK sbuml 1 build-id=$(kv "$r" build_id)" ]
check grep -q "^3 sbuml restored pid=$PID_c umid=uml mconsole=$WORK/c/uml/mconsole stopped=0" "$WORK/c/notify.log"
check [ "$(cat "$WORK/c/uml/pid")" = "$PID_c" ]
check [ -S "$WORK/a/uml/mconsole" ]
check [ -S "$WORK/c/uml/mconsole" ]
check grep -aq "sbuml_restore=$WORK/cap" "/proc/$PID_c/cmdline"
# the clone writes to its own disk only
check grep -aq "SBUMLFILE:$((s + 2))" "$WORK/c/disk0.cow"
# the original is unaffected
ta=$(last_num a tick)
wait_console a "^tick $((ta + 3)) " 20 || fail "original stopped"
# halt the clone: everything goes, the original stays
halt_machine c
check [ ! -e "$WORK/c/uml/mconsole" ]
check [ -S "$WORK/a/uml/mconsole" ]
ta=$(last_num a tick)
wait_console a "^tick $((ta + 3)) " 20 || fail "original stopped after the clone's halt"
rv=$(mc a version 2>/dev/null); check [ "${rv#OK Linux}" != "$rv" ]
console_clean a
console_clean c
exit $FAILED
