#!/bin/bash
# The guest clock continues when the host's monotonic clock is SMALLER at
# the restore than it was at the save (another boot, another host): the
# original runs in a time namespace whose monotonic and boottime clocks
# are 100000 s ahead, the clone is restored in the host's namespace. Its
# uptime continues from the saved value (offline time not seen, no jump
# back), its timers keep running and clockcheck (test/guest/clockcheck.c,
# CLOCK_MONOTONIC and CLOCK_BOOTTIME sampled every 100 ms) sees no step
# back and no forward jump over 3 s. No time namespace here = FAIL.
source "$(dirname "$0")/lib.sh"
OFF=100000
[ -x "${SBUML_CLOCKCHECK:-}" ] || die "set SBUML_CLOCKCHECK to the static clockcheck binary (test/guest)"
up=$(unshare --time --fork --monotonic $OFF --boottime $OFF cat /proc/uptime) ||
	die "no time namespace (unshare --time) on this host"
awk -v u="${up%% *}" -v o=$OFF 'BEGIN { exit !(u >= o) }' ||
	die "unshare --time did not move the clocks (uptime $up)"

printf '#!/bin/sh\nexec /bin/clockcheck -r 1 3000\n' >"$WORK/clock.sh"
GUEST_EXTRA=$WORK/clock.sh GUEST_BINS=$SBUML_CLOCKCHECK make_image
BOOT_WRAP="unshare --time --fork --monotonic $OFF --boottime $OFF" boot_and_wait a
wait_console a "^CHECK clockcheck ok " 30 || die "clockcheck does not run in the guest"
# the original kernel runs in the time namespace, we do not
kpid=$(pgrep -P "$PID_a" | head -1)
check [ -n "$kpid" ]
check grep -Eq "^monotonic +$OFF " "/proc/$kpid/timens_offsets"
check [ "$(readlink "/proc/$kpid/ns/time")" != "$(readlink /proc/self/ns/time)" ]
sleep 2

save_point a
r=$(save a "$WORK/cap") || die "save: $r"
log "save (host monotonic +$OFF s): $r"
sleep 4	# offline time the guest's monotonic clock must not see

notify_listen c
restore c "$WORK/cap"
wait_console c "^sbuml: restored from" 30 || die "clone did not restore"
grep -a "^sbuml: restored" "$WORK/c/console.log"
check [ "$(readlink "/proc/$PID_c/ns/time")" = "$(readlink /proc/self/ns/time)" ]
log "the original ran with the host's monotonic clock +$OFF s"
# uptime continues from the saved value: not back, no offline time
carries_on c
t_first=$T_FIRST; up_first=$UP_FIRST
# timers keep running: ticks (sleep 0.5) and clockcheck rounds go on
wait_console c "^tick $((t_first + 8)) " 30 || fail "clone stopped ticking"
up_late=$(uptime_of c "$((t_first + 8))")
check awk -v a="$up_late" -v b="$up_first" 'BEGIN { exit !(a >= b + 3.5 && a < b + 300) }'
n0=$(grep -ac "^CHECK clockcheck ok " "$WORK/c/console.log")
for i in $(seq 3000); do
	[ "$(grep -ac "^CHECK clockcheck ok " "$WORK/c/console.log")" -ge $((n0 + 3)) ] && break
	sleep 0.1
done
check [ "$(grep -ac "^CHECK clockcheck ok " "$WORK/c/console.log")" -ge $((n0 + 3)) ]
log "clone clockcheck: $(grep -a "^CHECK clockcheck ok " "$WORK/c/console.log" | tail -1)"
if grep -aE "^CHECK clockcheck (FAIL|info)" "$WORK/c/console.log"; then
	fail "the clone's clock went back or jumped"
fi
if grep -aq "^BOOT" "$WORK/c/console.log"; then fail "init re-ran in the clone"; fi
s=$(last_num c synced)
wait_console c "^synced $((s + 2))[^0-9]" 30 || fail "clone fsync writer stuck"
halt_machine c
if grep -aE "^CHECK clockcheck (FAIL|info)" "$WORK/a/console.log"; then
	fail "the original's clock went back or jumped"
fi
console_clean a
console_clean c
exit $FAILED
