#!/bin/sh
# SPDX-License-Identifier: MIT
# save-pause: how long a save (continue mode) freezes a busy guest, against
# the time to copy the same resident memory on this host, in this run.
#
# For guests with BENCH_SIZES MiB in use (default "64 128 512": memcheck from
# the bench payload fills and keeps rewriting that much), BENCH_RUNS saves
# each (default 3) with `sbumlctl --json save --raw` (format 1: the baseline copies its capture/physmem); per save:
#   pause     timings.pause_us, measured by the kernel (guest frozen)
#   resident  sizes.physmem, resident guest memory copied
#   hostmem   peak drop of MemAvailable during the save (sampled every 10 ms)
#   baseline  right after the save: `cp --sparse=always` of a tmpfs file holding
#             exactly the snapshot's physmem data extents (/dev/shm, where UML
#             keeps its physmem) to a new file beside the snapshot (same
#             filesystem, after `sync`): the copy the pause has to make
#   guest_stall  the largest step of CLOCK_MONOTONIC seen inside the guest by
#             clockcheck -i 1 (payload sbuml.stall=1, 10 ms guest ticks) from
#             just before the save to 0.3 s after it: what the guest felt
#             (under 25 ms is shown as 25: steps are only printed above that)
# Then a plain 64 MB busybox guest (no payload) is saved BENCH_RUNS times.
# Targets (medians): pause / baseline <= 2, pause <= 0.5 ms per MiB
# resident, 64 MB busybox pause < 20 ms.  Exit 0 with MISSes (it is a
# benchmark) unless BENCH_STRICT=1; non-zero when something does not work.
BENCH_NAME=save-pause
. "$(dirname "$0")/lib.sh"

SIZES=${BENCH_SIZES:-64 128 512}
RUNS=${BENCH_RUNS:-3}
MiB=1048576

start_daemon
build_payload
mkdir "$T/sn"
RES="$T/results"
: >"$RES"

# largest clockcheck step (ms) on the console of MACHINE after line N; "-"
# without clockcheck (the plain busybox guest), 25 when none was printed
stall_after() {
	c=$(console_of "$1")
	if ! grep -aq "CHECK clockcheck start" "$c"; then echo -; return; fi
	tail -n +$(($2 + 1)) "$c" | grep -a "CHECK clockcheck info gap_ms=" |
		sed 's/.*gap_ms=\([0-9]*\).*/\1/' | sort -n | tail -1 | grep . || echo 25
}

# save_once MACHINE TAG: one save + its baseline; appends a result line
# "tag pause_us physmem copy_us job_us baseline_us baseline_bytes drop_kib stall_ms".
save_once() {
	m=$1; tag=$2; snap="$T/sn/$tag"
	sync
	$BT memsample "$T/mem" &
	SAMPLER_PID=$!
	wait_until 10 test -e "$T/mem.ready" || fail "memory sampler did not start"
	rm -f "$T/mem.ready"
	sleep 0.05
	n0=$(grep -ac "" "$(console_of "$m")")
	ctl --json save --raw "$m" "$snap" >"$T/save.json" 2>"$T/save.err" ||
		fail "save $m: $(cat "$T/save.err")"
	sleep 0.3
	stall=$(stall_after "$m" "$n0")
	kill "$SAMPLER_PID"; wait "$SAMPLER_PID" || true; SAMPLER_PID=""
	[ -f "$T/mem" ] || fail "no memory samples"
	drop=$(cut -d' ' -f3 "$T/mem"); rm -f "$T/mem"
	set -- $($BT json "$T/save.json" timings.pause_us sizes.physmem timings.copy_us timings.job_us)
	pause=$1; physmem=$2; copy=${3:-0}; job=${4:-0}
	[ -n "$pause" ] && [ -n "$physmem" ] || fail "no timings in: $(cat "$T/save.json")"
	# Baseline: the same data, tmpfs -> the snapshot's filesystem.
	cp --sparse=always "$snap/capture/physmem" "$SHM/src"
	bbytes=$($BT dataextent "$SHM/src")
	sync
	t0=$(date +%s%N)
	cp --sparse=always "$SHM/src" "$snap/baseline.copy"
	t1=$(date +%s%N)
	base=$(( (t1 - t0) / 1000 ))
	rm -rf "$SHM/src" "$snap"
	echo "$tag $pause $physmem $copy $job $base $bbytes $drop $stall" >>"$RES"
	say "$tag: pause $(calc "$pause/1000") ms, guest stall $stall ms, $(calc "$physmem/$MiB") MiB resident, baseline copy $(calc "$base/1000") ms, host MemAvailable drop $(calc "$drop/1024") MiB"
}

for size in $SIZES; do
	m=b$size
	say "booting a guest with $size MiB in use (mem $(mem_for "$size")M)"
	boot_busy "$m" "$size" sbuml.stall=1
	wait_until 30 console_has "$m" "CHECK clockcheck start" || fail "$m: no clockcheck"
	i=1
	while [ "$i" -le "$RUNS" ]; do
		save_once "$m" "m$size-$i"
		sleep 1
		i=$((i + 1))
	done
	console_has "$m" "CHECK memcheck FAIL" && fail "$m: memcheck failed after the saves"
	kill_machine "$m"
done

say "booting the plain 64 MB busybox guest"
ctl boot bb --mem 64 >/dev/null || fail "boot bb"
wait_until 60 console_has bb "sbuml-heartbeat 3 " || fail "bb: no heartbeat"
i=1
while [ "$i" -le "$RUNS" ]; do
	save_once bb "bb-$i"
	sleep 0.5
	i=$((i + 1))
done
kill_machine bb

# Report.
col() { awk -v t="$1" -v c="$2" '$1 ~ "^" t "-" { print $c }' "$RES"; }
echo
echo "=== save-pause results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r)) ==="
printf '%-8s %9s %14s %11s %12s %11s %9s %12s %13s\n' run pause_ms guest_stall_ms resident_MiB kern_copy_ms baseline_ms job_ms hostdrop_MiB pause/baseline
while read -r tag pause physmem copy job base bbytes drop stall; do
	printf '%-8s %9.2f %14s %11.1f %12.2f %11.2f %9.1f %12.1f %13.2f\n' "$tag" \
		"$(calc "$pause/1000")" "$stall" "$(calc "$physmem/$MiB")" "$(calc "$copy/1000")" \
		"$(calc "$base/1000")" "$(calc "$job/1000")" "$(calc "$drop/1024")" \
		"$(calc "$pause/($base > 0 ? $base : 1)")"
done <"$RES"
echo
echo "medians per size (targets: pause/baseline <= 2 (median of the per-save ratios), pause <= 0.5 ms/MiB resident):"
printf '%-8s %9s %14s %11s %11s %13s %6s %11s %6s %12s\n' size pause_ms guest_stall_ms resident_MiB baseline_ms pause/baseline target ms/MiB target hostdrop_MiB
misses=0
for size in $SIZES bb; do
	case $size in bb) t=bb ;; *) t=m$size ;; esac
	p=$(median $(col "$t" 2)); r=$(median $(col "$t" 3)); b=$(median $(col "$t" 6)); d=$(median $(col "$t" 8))
	case $size in bb) g=- ;; *) g=$(median $(col "$t" 9)) ;; esac
	# Median of the per-save ratios: each save against its own baseline,
	# taken seconds apart, so slow drifts of the shared host cancel out.
	ratio=$(median $(awk -v t="$t" '$1 ~ "^" t "-" { print $2 / ($6 > 0 ? $6 : 1) }' "$RES"))
	per=$(calc "($p/1000)/($r/$MiB)")
	v1=$(verdict "$ratio <= 2"); v2=$(verdict "$per <= 0.5")
	[ "$v1" = PASS ] || misses=$((misses + 1))
	[ "$v2" = PASS ] || misses=$((misses + 1))
	printf '%-8s %9.2f %14s %11.1f %11.2f %13.2f %6s %11.3f %6s %12.1f\n' "$t" \
		"$(calc "$p/1000")" "$g" "$(calc "$r/$MiB")" "$(calc "$b/1000")" "$ratio" "$v1" "$per" "$v2" "$(calc "$d/1024")"
done
bbp=$(median $(col bb 2))
v3=$(verdict "$bbp < 20000")
[ "$v3" = PASS ] || misses=$((misses + 1))
echo "64 MB busybox guest pause < 20 ms: median $(calc "$bbp/1000") ms: $v3"
echo "targets missed: $misses"
if [ "$misses" -gt 0 ] && [ "${BENCH_STRICT:-0}" = 1 ]; then exit 1; fi
exit 0
