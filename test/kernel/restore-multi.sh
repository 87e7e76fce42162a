#!/bin/bash
# Three clones of one capture at once, each on its own disk copy, with
# different randomness; then three generations (save a restored machine,
# restore that, save again, restore again).
source "$(dirname "$0")/lib.sh"
make_image
boot_and_wait a
wait_console a "^rnd " 30 || die "no rnd"
r=$(save a "$WORK/cap") || die "save: $r"
for c in c1 c2 c3; do restore $c "$WORK/cap"; done
for c in c1 c2 c3; do
	wait_console $c "^sbuml: restored from" 30 || fail "$c did not restore"
done
for c in c1 c2 c3; do
	t=$(first_tick $c)
	wait_console $c "^tick $((t + 6)) " 40 || fail "$c does not tick"
	wait_console $c "^rnd " 20 || fail "$c prints no rnd"
	if grep -aq "^BOOT" "$WORK/$c/console.log"; then fail "init re-ran in $c"; fi
done
# clones draw different random numbers (and differ from the original)
sleep 3
for c in c1 c2 c3; do grep -aoE "^rnd [0-9a-f]+" "$WORK/$c/console.log" | tail -1; done >"$WORK/rnd"
cat "$WORK/rnd"
check [ "$(sort -u "$WORK/rnd" | wc -l)" = 3 ]
# each writes its own disk, all locked by their own instance
for c in c1 c2 c3; do
	s=$(last_num $c synced)
	wait_console $c "^synced $((s + 1))[^0-9]" 20 || fail "$c writer stuck"
done
check [ "$(grep -c "POSIX  ADVISORY  WRITE" /proc/locks)" -ge 4 ]
# generations: c1 -> cap2 -> g2 -> cap3 -> g3
r=$(save c1 "$WORK/cap2") || fail "save of a clone: $r"
log "gen 1 save: $r"
restore g2 "$WORK/cap2"
wait_console g2 "^sbuml: restored from" 30 || fail "g2 did not restore"
t=$(first_tick g2)
wait_console g2 "^tick $((t + 4)) " 30 || fail "g2 does not tick"
r=$(save g2 "$WORK/cap3") || fail "save of gen 2: $r"
restore g3 "$WORK/cap3"
wait_console g3 "^sbuml: restored from" 30 || fail "g3 did not restore"
t3=$(first_tick g3)
check [ "$t3" -gt "$t" ]
wait_console g3 "^tick $((t3 + 4)) " 30 || fail "g3 does not tick"
s=$(last_num g3 synced)
wait_console g3 "^synced $((s + 1))[^0-9]" 20 || fail "g3 writer stuck"
if grep -aq "^BOOT" "$WORK/g3/console.log"; then fail "init re-ran in g3"; fi
# everyone still alive; halt the clones, the original stays
for c in c1 c2 c3 g2 g3; do halt_machine $c; done
ta=$(last_num a tick)
wait_console a "^tick $((ta + 3)) " 20 || fail "original stopped"
for c in a c1 c2 c3 g2 g3; do console_clean $c; done
exit $FAILED
