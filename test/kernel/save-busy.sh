#!/bin/bash
# Save a busy guest (CPU loop, pipe checker, fsync writer, sleeper) while
# it keeps running; check the capture contents and that the guest lives on.
source "$(dirname "$0")/lib.sh"
make_image
boot_and_wait a sbdd
wait_console a "^synced 3[^0-9]" 30 || die "no fsync writer"
wait_console a "^dd 2" 60 || die "no dd writer"
wait_console a "^marker " 30 || die "no marker"
pid=$PID_a

for round in 1 2 3; do
	markers_before=$(grep -aoE "^marker [0-9]+" "$WORK/a/console.log" | tail -1 | cut -d' ' -f2)
	synced=$(last_num a synced)
	n0=$(lines a)
	cap=$WORK/cap$round
	r=$(save a "$cap") || fail "save $round: $r"
	log "save $round: $r"
	# markers printed up to the reply are candidates for the live value
	markers=$(grep -aoE "^marker [0-9]+" "$WORK/a/console.log" | cut -d' ' -f2 | tail -3)
	# complete capture
	check [ -f "$cap/DONE" ]
	check grep -qx "build_id=$(kv "$r" build_id)" "$cap/DONE"
	check [ "$(stat -c %s "$cap/physmem")" = "$(kv "$r" physmem_size)" ]
	check [ "$(stat -c %s "$cap/private")" = "$(kv "$r" private_bytes)" ]
	check [ "$(stat -c %s "$cap/meta")" -gt 0 ]
	check [ -f "$cap/disk0" ]
	check [ ! -e "$cap/DONE.tmp" ]
	for k in pause_us quiesce_us copy_us fork_us write_us physmem_bytes private_bytes disk_bytes; do
		v=$(kv "$r" $k)
		[ -n "$v" ] || fail "reply lacks $k"
	done
	# the copy is inside the pause (its length is bench/save-pause.sh's business)
	[ "$(kv "$r" copy_us)" -le "$(kv "$r" pause_us)" ] || fail "copy_us above pause_us: $r"
	# the marker held by a guest shell is in the captured memory
	found=0
	for m in $markers_before $markers; do
		grep -aq "SBUMLMARK:$m" "$cap/physmem" && found=1
	done
	check [ $found = 1 ]
	# the synced file content is in the captured disk
	check grep -aq "SBUMLFILE:$synced" "$cap/disk0"
	# the writer was reaped: no zombie child left
	w=$(kv "$r" writer)
	if [ -e /proc/$w ] && [ "$(awk '{print $4}' /proc/$w/stat 2>/dev/null)" = "$pid" ]; then
		fail "writer $w still exists"
	fi
	# guest keeps running
	t=$(last_num a tick)
	wait_console a "^tick $((t + 4)) " 20 || fail "guest stopped ticking after save $round"
	s=$(last_num a synced)
	wait_console a "^synced $((s + 1))[^0-9]" 20 || fail "fsync writer stopped after save $round"
done
p=$(grep -aoE "^PIPE OK [0-9]+" "$WORK/a/console.log" | tail -1 | cut -d' ' -f3)
wait_console a "^PIPE OK $((${p:-0} + 2000))([^0-9]|$)" 60 || fail "pipe checker made no progress after the saves"
d=$(last_num a dd)
wait_console a "^dd $((d + 2))" 60 || fail "dd writer stuck"
# a capture taken under heavy disk writes restores into a working machine
restore c "$WORK/cap3"
wait_console c "^sbuml: restored from" 30 || fail "clone of a busy guest did not restore"
t=$(first_tick c)
wait_console c "^tick $((t + 4)) " 30 || fail "clone of a busy guest does not tick"
d=$(last_num c dd)
wait_console c "^dd $((d + 2))" 60 || fail "clone dd writer stuck"
console_clean c
check kill -0 $pid
console_clean a
r=$(mc a version 2>/dev/null); check [ "${r#OK Linux}" != "$r" ]
exit $FAILED
