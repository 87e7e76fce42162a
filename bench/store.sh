#!/bin/sh
# SPDX-License-Identifier: MIT
# store: what a save into the chunk store (format 2) costs in bytes and in
# time, against plain zstd and tar --zstd of the same data, in this run.
#
# 1. Sizes.  The idle default guest (`boot --mem 128`, no payload) after a
#    few heartbeats: a first save into an empty store ("full") and a second
#    one BENCH_STORE_GAP seconds later (default 3).  Size of a save = bytes
#    it added to <state-dir>/store/packs (du -sb before/after; the
#    manifest's store.new_bytes too) + its snapshot directory (the
#    manifest).  The first save also stores the kernel binary, which every
#    later snapshot running that kernel shares: reported with and without it.
#    Targets: full <= 8 MiB (with the kernel), second <= 512 KiB.
# 2. Throughput.  store.store_us (wall time of the storing phase: chunking,
#    SHA-256, zstd, fsyncs) against `zstd -1 -T1` of the same capture files:
#    each store save is preceded by a raw (format 1) save of the same guest
#    (`save --raw`, then sync, then the store save about a second later),
#    whose capture/ is then compressed with zstd -1 -T1 to /dev/null
#    (median of 3).  Idle guest (first save, empty store; second save) and
#    a busy guest (bench payload, memcheck holding BENCH_STORE_MIB MiB,
#    default 128, pseudo-random data).  Target: store MB/s >= zstd MB/s.
# 3. Size against `tar --zstd` of the machine directory plus its memory
#    file (the raw twin's capture/physmem): reported, no target.
# Exit 0 with MISSes (it is a benchmark) unless BENCH_STRICT=1; non-zero
# when something does not work.
BENCH_NAME=store
. "$(dirname "$0")/lib.sh"

GAP=${BENCH_STORE_GAP:-3}
BUSY_MIB=${BENCH_STORE_MIB:-128}
STORE="$STATE/store"
RES="$T/results"
: >"$RES"

du_b() { if [ -e "$1" ]; then du -sb "$1" | cut -f1; else echo 0; fi; }
# The store's chunks: packs and their indexes, and loose chunk files if any.
du_store() { echo $(( $(du_b "$STORE/packs") + $(du_b "$STORE/chunks") )); }
mf() { $BT json "$1/manifest.json" "$2"; }
now_ns() { date +%s%N; }

# save_store MACHINE SNAP: a save into the store (the default); appends
# "SNAP store_delta snapdir new_bytes store_us logical kernel_only kchunks".
save_store() {
	snap=$2
	before=$(du_store)
	ctl --json save "$1" "$T/sn/$snap" >"$T/save.json" 2>"$T/save.err" ||
		fail "save $1: $(cat "$T/save.err")"
	after=$(du_store)
	[ "$(mf "$T/sn/$snap" version)" = 2 ] || fail "$snap is not a format 2 snapshot"
	[ ! -e "$T/sn/$snap/capture" ] || fail "$snap kept its raw capture"
	new=$(mf "$T/sn/$snap" store.new_bytes)
	sus=$(mf "$T/sn/$snap" store.store_us)
	[ -n "$new" ] && [ -n "$sus" ] ||
		fail "$snap: no store.new_bytes/store_us in its manifest (sbumld too old?)"
	sizes=$($BT storesizes "$T/sn/$snap/manifest.json" "$STORE")
	echo "$snap $((after - before)) $(du_b "$T/sn/$snap") $new $sus $sizes" >>"$RES"
}

# save_raw MACHINE SNAP: a format 1 save (capture/ kept in the snapshot).
save_raw() {
	ctl --json save --raw "$1" "$T/sn/$2" >"$T/save.json" 2>"$T/save.err" ||
		fail "save --raw $1: $(cat "$T/save.err")"
	[ -f "$T/sn/$2/capture/physmem" ] || fail "$2: no capture/physmem"
}

# zstd_us FILE...: median of 3 timed `zstd -1 -T1` of FILE... to /dev/null, in µs.
zstd_us() {
	sync
	z1=""
	for _ in 1 2 3; do
		t0=$(now_ns)
		zstd -q -1 -T1 -c "$@" >/dev/null || fail "zstd $*"
		t1=$(now_ns)
		z1="$z1 $(( (t1 - t0) / 1000 ))"
	done
	median $z1
}

# baseline TAG RAWSNAP MACHINE: zstd of the raw twin's capture, its data
# extent, and tar --zstd of the machine directory plus the memory file (and
# plus the rest of the capture's guest state: private, meta, DONE);
# appends "TAG logical data zstd_phys_us zstd_all_us tar_bytes tar_all_bytes".
baseline() {
	cap="$T/sn/$2/capture"
	logical=0; data=0
	for f in "$cap"/*; do
		logical=$((logical + $(stat -c %s "$f")))
		data=$((data + $($BT dataextent "$f")))
	done
	zp=$(zstd_us "$cap/physmem")
	za=$(zstd_us "$cap"/*)
	# tar warns about the machine's sockets (ignored) and console.log growing.
	tarb=$(tar --zstd -cf - -C "$STATE/machines/$3" . -C "$cap" physmem 2>/dev/null | wc -c)
	tara=$(tar --zstd -cf - -C "$STATE/machines/$3" . -C "$cap" physmem private meta DONE 2>/dev/null | wc -c)
	[ "$tarb" -gt 0 ] && [ "$tara" -gt 0 ] || fail "tar --zstd of $3 produced nothing"
	echo "$1 $logical $data $zp $za $tarb $tara" >>"$T/base"
}

command -v zstd >/dev/null || fail "zstd is not installed"
tar --zstd -cf /dev/null -T /dev/null 2>/dev/null || fail "tar has no --zstd"

start_daemon
mkdir "$T/sn"
: >"$T/base"

# 1 + 2: the idle default guest.
say "booting the idle default guest (--mem 128, no payload)"
ctl boot idle --mem 128 >/dev/null || fail "boot idle"
wait_until 60 console_has idle "sbuml-heartbeat 3 " || fail "idle: no heartbeat"
sleep 1
save_raw idle idle-raw
sync
[ -z "$(find "$STATE/store" -type f \( -name '*.zst' -o -name '*.pack' \) 2>/dev/null | head -n 1)" ] ||
	fail "the store is not empty before the first save"
save_store idle idle-full
say "first save: $(tail -n 1 "$RES")"
sleep "$GAP"
save_store idle idle-second
say "second save ${GAP} s later: $(tail -n 1 "$RES")"
baseline idle idle-raw idle
say "idle baseline: $(tail -n 1 "$T/base")"
rm -rf "$T/sn/idle-raw"
kill_machine idle

# 2: the busy guest.
build_payload
say "booting a busy guest: memcheck holding $BUSY_MIB MiB (mem $(mem_for "$BUSY_MIB")M)"
boot_busy busy "$BUSY_MIB"
save_raw busy busy-raw
sync
save_store busy busy
say "busy save: $(tail -n 1 "$RES")"
baseline busy busy-raw busy
say "busy baseline: $(tail -n 1 "$T/base")"
console_has busy "CHECK memcheck FAIL" && fail "busy: memcheck failed after the saves"
rm -rf "$T/sn/busy-raw"
kill_machine busy

# Report.  r TAG FIELD: a field of the results line of TAG.
r() { awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$RES"; }
b() { awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$T/base"; }
MiB=1048576
misses=0
echo
echo "=== store results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r)) ==="
kern=$(mf "$T/sn/idle-full" kernel.size)
konly=$(r idle-full 7)
echo "kernel binary: $kern bytes, $(r idle-full 8) chunks, $konly bytes compressed in the store (first save only; shared by every later snapshot running this kernel)"
echo
echo "sizes, idle default guest --mem 128 (total = store du delta + snapshot dir):"
printf '%-22s %12s %12s %10s %12s %12s %7s\n' snapshot store_du_B new_bytes_B snapdir_B total_B target_B verdict
# size_row LABEL TAG SUBTRACT TARGET
size_row() {
	du_d=$(( $(r "$2" 2) - $3 )); nb=$(( $(r "$2" 4) - $3 )); sd=$(r "$2" 3)
	tot=$((du_d + sd))
	if [ -n "$4" ]; then
		v=$(verdict "$tot <= $4")
		[ "$v" = PASS ] || misses=$((misses + 1))
	else v=-; fi
	printf '%-22s %12d %12d %10d %12d %12s %7s\n' "$1" "$du_d" "$nb" "$sd" "$tot" "${4:--}" "$v"
}
size_row "full incl. kernel" idle-full 0 $((8 * MiB))
size_row "full excl. kernel" idle-full "$konly" ""
size_row "second (+${GAP} s)" idle-second 0 $((512 * 1024))
size_row "busy ${BUSY_MIB} MiB (warm)" busy 0 ""
echo "targets: full (incl. kernel) <= 8 MiB, second <= 512 KiB"
echo
echo "throughput: storing phase (store.store_us) vs zstd -1 -T1 of the raw twin's capture files (median of 3), MB = 10^6 B:"
printf '%-12s %10s %9s %9s %10s %12s %10s %10s %10s %7s %7s\n' save logical_MB data_MB store_ms store_MB/s st_data_MB/s zstd_pm_ms zstd_all_ms zstd_MB/s ratio verdict
# tp_row TAG BASETAG
tp_row() {
	lg=$(r "$1" 6); us=$(r "$1" 5)
	blg=$(b "$2" 2); bdata=$(b "$2" 3); zp=$(b "$2" 4); za=$(b "$2" 5)
	smb=$(calc "$lg / $us"); zmb=$(calc "$blg / ($za > 0 ? $za : 1)")
	ratio=$(calc "$smb / $zmb")
	v=$(verdict "$ratio >= 1")
	[ "$v" = PASS ] || misses=$((misses + 1))
	printf '%-12s %10.1f %9.1f %9.1f %10.1f %12.1f %10.1f %10.1f %10.1f %7.2f %7s\n' "$1" \
		"$(calc "$lg / 1e6")" "$(calc "$bdata / 1e6")" "$(calc "$us / 1000")" "$smb" \
		"$(calc "$bdata / $us")" "$(calc "$zp / 1000")" "$(calc "$za / 1000")" "$zmb" "$ratio" "$v"
}
tp_row idle-full idle
tp_row idle-second idle
tp_row busy busy
echo "target: store MB/s / zstd MB/s >= 1 (idle-full: empty store, kernel binary compressed too; idle-second: warm store)"
echo
echo "size against tar --zstd (level 3) of the machine directory + memory file (raw twin's capture/physmem);"
echo "snapshot_B = store du delta + snapshot dir, chunks_B = store.new_bytes + snapshot dir;"
echo "tar+state_B also holds the rest of the saved guest state (capture/private, meta, DONE):"
printf '%-28s %11s %11s %11s %11s %8s %8s %8s\n' snapshot snapshot_B chunks_B tar_zstd_B tar+state_B snap/tar chunk/tar snap/t+s
# tar_row LABEL TAG BASETAG SUBTRACT
tar_row() {
	s=$(( $(r "$2" 2) - $4 + $(r "$2" 3) )); c=$(( $(r "$2" 4) - $4 + $(r "$2" 3) ))
	t=$(b "$3" 6); ta=$(b "$3" 7)
	printf '%-28s %11d %11d %11d %11d %8.3f %8.3f %8.3f\n' "$1" "$s" "$c" "$t" "$ta" \
		"$(calc "$s / $t")" "$(calc "$c / $t")" "$(calc "$s / $ta")"
}
tar_row "idle full incl. kernel" idle-full idle 0
tar_row "idle full excl. kernel" idle-full idle "$konly"
tar_row "busy ${BUSY_MIB} MiB (warm store)" busy busy 0
echo "targets missed: $misses"
if [ "$misses" -gt 0 ] && [ "${BENCH_STRICT:-0}" = 1 ]; then exit 1; fi
exit 0
