#!/bin/bash
# Measure the guest pause of `sbuml save` for a 64 MiB guest with 0, 20
# and 40 MiB of extra resident memory (tmpfs filled from /dev/urandom),
# and the restore time of the largest capture. Asserts that the figures
# hold together (the copy inside the pause, the pause inside the save), not
# how fast they are (bench/); prints a table for doc/kernel.md.
source "$(dirname "$0")/lib.sh"
make_image
for fill in 0 20 40; do
	boot_and_wait m$fill sbfill=$fill
	if [ $fill != 0 ]; then wait_console m$fill "^FILLED" 120 || die "fill $fill"; fi
	sleep 1
	for i in 1 2 3; do
		r=$(save m$fill "$WORK/cap$fill.$i") || fail "save: $r"
		echo "fill=$fill run=$i physmem_bytes=$(kv "$r" physmem_bytes) private_bytes=$(kv "$r" private_bytes) pause_us=$(kv "$r" pause_us) quiesce_us=$(kv "$r" quiesce_us) copy_us=$(kv "$r" copy_us) disk_us=$(kv "$r" disk_us) fork_us=$(kv "$r" fork_us) write_us=$(kv "$r" write_us)"
		# how long is bench/save-pause.sh's business (a loaded host paused
		# 1.6 s); here the figures must hold together
		p=$(kv "$r" pause_us); c=$(kv "$r" copy_us); t=$(kv "$r" total_us)
		[ "${p:-0}" -gt 0 ] && [ "${c:-x}" -le "$p" ] && [ "$p" -le "${t:-0}" ] ||
			fail "pause_us=$p copy_us=$c total_us=$t do not hold together"
	done
	kill_tree "$(eval echo \$PID_m$fill)"
done
restore r "$WORK/cap40.3"
wait_console r "^sbuml: restored from" 30 || fail "restore"
grep -a "^sbuml: restored from" "$WORK/r/console.log"
t=$(first_tick r)
wait_console r "^tick $((t + 2)) " 30 || fail "restored machine does not tick"
console_clean r
exit $FAILED
