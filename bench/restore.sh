#!/bin/sh
# SPDX-License-Identifier: MIT
# restore: restore-to-running time against a cold boot of the same guest,
# measured in the same run.
#
# For guests with BENCH_SIZES MiB in use (default "64 512 2048"; memcheck of
# the bench payload holds that much, a 20 ms tick line runs beside it):
#   cold     BENCH_RUNS cold boots (`sbumlctl boot`), each timed from issuing
#            the command until (a) the guest's first "sbuml-heartbeat N" line
#            (the init starts the heartbeat right after "up", before the
#            payload runs) and (b) "CHECK memcheck start ... mib=N": the
#            payload has filled its memory, the point at which the snapshot
#            is taken ("the same point")
#   restore  the last cold-booted guest is saved (continue) once its memory
#            is filled, and killed; then BENCH_RUNS restores of that
#            snapshot, each timed from issuing `sbumlctl restore` until the
#            restored guest's first post-restore output: its first 20 ms tick
#            line in <machine dir>/console.log (a new file: everything in it
#            comes after the restore); also when the command returned
#            (machine running) and the first heartbeat line
#   restoreL the same restores under a CPU-bound host load (BENCH_LOADS,
#            default "idle cpu"; cpu: stress-ng on every CPU, bench/lib.sh)
# Target (issue 13): restore-to-first-output <= 1 % of a cold boot of the
# same guest to the same point (medians, idle host; the save issue's was
# 3 %).  Also printed against the cold boot to the first heartbeat, a far
# stricter baseline (an empty guest).
#
# To explain the figures, per cold boot and per restore (never hidden again):
#   minflt/majflt  page faults of the machine's UML kernel process (the pid
#            in <machine dir>/uml/pid) from its start to the moment the
#            waiter saw the line (cold: memory filled, the saved point;
#            restore: the first tick), and of its helpers (every other
#            process whose cwd is the machine dir: stubs, io thread; ones
#            that exited are not counted), read by the waiter right then
#   physmem  restores: which path the kernel took, from its console line
#            "sbuml: restored from ... physmem=fd|copied" (fd: it adopted
#            the memfd the daemon materialised; copied: it copied the
#            capture's physmem file), with its phase_a_us, phase_b_us and
#            fixups_us; and the daemon's own report (its debug log): how
#            long materialising the snapshot took and whether the guest
#            memory went into a memfd (memfd), was left to the lazy
#            restore's pager (pager), or went into a file (file)
# With BENCH_CHECK=1 (the test bench-smoke) a missing or absurd one fails.
#
# Memory modes: BENCH_MEMORIES (default "eager lazy"): every restore run is
# made once per mode, interleaved (lazy: `sbumlctl restore --lazy`), kinds
# eager, lazy, eagerL, lazyL; per restore the machine object's memory and
# memory_reason, and for lazy the time until fill.state is done, with the
# fill's faults and filled pages. With BENCH_CHECK=1 a lazy restore that
# came back eager (fell back) fails.
#
# Clones: BENCH_CLONES (default 8) concurrent restores of the smallest
# snapshot, once per memory mode; the total time from launching them until
# every clone printed its first tick (lazy: and until every fill is done).
#
# If restore is not available (the kernel refuses, NotSupported, BootFailed,
# Incompatible) this says so and exits 1; any other failure exits 1 too.
# Exit 0 with MISSes unless BENCH_STRICT=1.
BENCH_NAME=restore
. "$(dirname "$0")/lib.sh"

SIZES=${BENCH_SIZES:-64 512 2048}
RUNS=${BENCH_RUNS:-3}
CLONES=${BENCH_CLONES:-8}
# The restore paths compared in this run (issue 13): each run restores once
# with every memory mode, one after the other (eager: all of the memory in
# before the machine runs; lazy: `sbumlctl restore --lazy`, filled while it
# runs). Kinds: <memory>[L], e.g. eager, lazyL.
MEMS=${BENCH_MEMORIES:-eager lazy}
for mode in $MEMS; do
	case $mode in eager|lazy) ;; *) echo "restore: BENCH_MEMORIES: unknown memory '$mode' (eager, lazy)" >&2; exit 2 ;; esac
done
TICK=0.02
HB='sbuml-heartbeat [0-9]+ '
TK='sbuml-bench-tick [0-9]+'

start_daemon -v
build_payload
mkdir "$T/sn"
RES="$T/results"
: >"$RES"
EXPL="$T/explain"
: >"$EXPL"
# per restore: "kind size run memory memory_reason fill_done_us faults filled_pages chunks total_chunks"
PATHS="$T/paths"
: >"$PATHS"
CLONERES="$T/clones"
: >"$CLONERES"

now_us() { echo $(( $(date +%s%N) / 1000 )); }
to_us() { awk -v t="$1" 'BEGIN { printf "%.0f", t * 1000000 }'; }

# waiter OUT REGEX FILE...: background waitline, its pid in BG_PIDS;
# OUT gets a time per file, or with waiter_faults also the page faults of
# that machine's processes at that moment (benchtool.py waitline --faults).
waiter() {
	out=$1; shift
	$BT waitline 180 "$@" >"$out" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	LAST_WAITER=$!
}
waiter_faults() {
	out=$1; shift
	$BT waitline --faults 180 "$@" >"$out" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	LAST_WAITER=$!
}
# reap PID: wait for a waiter, fail on timeout.
reap() {
	wait "$1" || return 1
	BG_PIDS=$(echo "$BG_PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

restore_unavailable() { # MESSAGE
	echo "restore: RESTORE NOT AVAILABLE: $1" >&2
	echo "restore: (uml-patches/series lists $(grep -c restore "$BENCH_SRCDIR/../uml-patches/series" 2>/dev/null || echo 0) restore patch(es); kernel $SBUML_KERNEL)" >&2
	dump_debug >&2
	exit 1
}
# check_field NAME VALUE: with BENCH_CHECK=1, fail unless VALUE is a count
check_field() {
	[ "${BENCH_CHECK:-0}" = 1 ] || return 0
	case $2 in ''|*[!0-9]*) fail "$1 is not a count: '$2'" ;; esac
}
# restored_field MACHINE KEY: KEY=VALUE of the kernel's "restored from" line
restored_field() {
	grep -a 'sbuml: restored from ' "$(console_of "$1")" | head -n 1 |
		sed -n "s/.* $2=\([^ ]*\).*/\1/p"
}

check_restore_error() { # FILE-with-stderr
	if grep -qE 'NotSupported|BootFailed|Incompatible|refus' "$1"; then
		restore_unavailable "$(cat "$1")"
	fi
	fail "restore: $(cat "$1")"
}

# materialised MACHINE: "<us> memfd|pager|file" from the daemon's debug line
# "MACHINE: snapshot materialised ... in N us[ (guest memory in a memfd)|
# (guest memory left to the pager)]"
materialised() {
	grep -aE "(^| )$1: snapshot materialised " "$T/daemon.log" | tail -n 1 |
		sed -n 's/.* in \([0-9]*\) us\(.*\)$/\1\2/p' |
		sed 's/ (guest memory in a memfd)$/ memfd/; s/ (guest memory left to the pager)$/ pager/; s/^\([0-9]*\) *$/\1 file/'
}

# explain KIND SIZE RUN MACHINE KMIN KMAJ HMIN HMAJ: the faults the waiter
# read and, for a restore, the kernel's and the daemon's own reports; one
# line of EXPL
explain() {
	path=- pa=- pb=- fx=- mat=- mem=-
	if [ "$1" != cold ]; then
		path=$(restored_field "$4" physmem); pa=$(restored_field "$4" phase_a_us)
		pb=$(restored_field "$4" phase_b_us); fx=$(restored_field "$4" fixups_us)
		mm=$(materialised "$4"); mat=${mm%% *}; mem=${mm#* }
		case $path in fd|copied) ;; *) [ "${BENCH_CHECK:-0}" = 1 ] && fail "$4: no physmem=fd|copied in its 'restored from' line" ;; esac
		case $mem in memfd|pager|file) ;; *) [ "${BENCH_CHECK:-0}" = 1 ] && fail "$4: no 'snapshot materialised' line in the daemon log" ;; esac
		check_field "$4 phase_a_us" "$pa"
		check_field "$4 materialise us" "$mat"
	fi
	check_field "$4 kernel minflt" "$5"; check_field "$4 kernel majflt" "$6"
	check_field "$4 helpers minflt" "$7"; check_field "$4 helpers majflt" "$8"
	echo "$1 $2 $3 $5 $6 $7 $8 ${mat:--} ${mem:--} ${path:--} ${pa:--} ${pb:--} ${fx:--}" >>"$EXPL"
	if [ "$1" != cold ]; then
		say "$4: daemon materialised the snapshot in $mat us (guest memory: $mem), kernel physmem=$path phase_a $pa us, phase_b $pb us, fixups $fx us; page faults from start to first tick: kernel minflt $5 majflt $6, helpers minflt $7 majflt $8"
	else
		say "$4: page faults from start to the saved point: kernel minflt $5 majflt $6, helpers minflt $7 majflt $8"
	fi
}

# fill_state MACHINE: its fill.state now (machine.info); fails on failed/lost
# (in a command substitution: callers add `|| exit 1`)
fill_state() {
	ctl --json info "$1" >"$T/fill.$1.json" 2>/dev/null || fail "$1: info failed during the fill"
	st=$($BT json "$T/fill.$1.json" fill.state)
	case $st in failed|lost) fail "$1: lazy fill $st: $(cat "$T/fill.$1.json")" ;; esac
	echo "$st"
}

# restore_path KIND SIZE RUN MACHINE MEMORY RESULT-JSON T0 [DONE_US]: the
# path the restore took (the machine object's memory, memory_reason) and,
# for a lazy one, the time from T0 until fill.state is done (polled every
# 0.1 s, or DONE_US when the caller polled it: the clones) with the fill's
# faults and pages; one line of PATHS. With BENCH_CHECK=1 a lazy restore
# that fell back to eager, or a fill that failed, fails.
restore_path() {
	got=$($BT json "$6" memory); why=$($BT json "$6" memory_reason)
	if [ "${BENCH_CHECK:-0}" = 1 ]; then
		[ "$got" = "$5" ] || fail "$4: memory $5 asked, the restore says memory '$got'${why:+ ($why)}"
	fi
	fd=- flt=- pg=- ch=- tch=-
	if [ "$got" = lazy ]; then
		if [ -n "${8:-}" ]; then
			fd=$8
			st=$(fill_state "$4") || exit 1
			[ "$st" = done ] || fail "$4: fill not done any more"
		else
			while :; do
				st=$(fill_state "$4") || exit 1
				[ "$st" = done ] && { fd=$(( $(now_us) - $7 )); break; }
				[ $(( $(now_us) - $7 )) -lt 300000000 ] || fail "$4: lazy fill not done after 300 s: $(cat "$T/fill.$4.json")"
				sleep 0.1
			done
		fi
		fj="$T/fill.$4.json"
		flt=$($BT json "$fj" fill.faults); pg=$($BT json "$fj" fill.filled_pages)
		ch=$($BT json "$fj" fill.chunks); tch=$($BT json "$fj" fill.total_chunks)
		check_field "$4 fill.faults" "$flt"; check_field "$4 fill.filled_pages" "$pg"
	fi
	wr=$(printf '%s' "${why:--}" | tr ' ' '_')
	echo "$1 $2 $3 ${got:--} $wr $fd ${flt:--} ${pg:--} ${ch:--} ${tch:--}" >>"$PATHS"
	if [ "$got" = lazy ]; then
		say "$4: memory lazy, fill done $(( fd / 1000 )) ms after the restore was issued: $flt faults, $pg pages filled, $ch/$tch chunks"
	else
		say "$4: memory ${got:-?}${why:+ (lazy asked, fell back: $why)}"
	fi
}

# restore_runs SIZE LOAD: BENCH_RUNS rounds of timed restores of snapshot
# s<SIZE> under host load LOAD, each round once per memory mode of
# BENCH_MEMORIES (kind <memory>, or <memory>L under the CPU load); lines of RES
restore_runs() {
	size=$1 load=$2
	host_load_start "$load"
	i=1
	while [ "$i" -le "$RUNS" ]; do
	for mode in $MEMS; do
		kind=$mode$(load_tag "$load")
		m=r$size$(load_tag "$load")-$mode-$i
		lz=""; [ "$mode" = lazy ] && lz=--lazy
		waiter "$T/w.hb" "$HB" "$(console_of "$m")"; whb=$LAST_WAITER
		waiter_faults "$T/w.tk" "$TK" "$(console_of "$m")"; wtk=$LAST_WAITER
		sleep 0.3
		t0=$(now_us)
		ctl --json restore $lz "$T/sn/s$size" "$m" >"$T/restore.json" 2>"$T/restore.err" || check_restore_error "$T/restore.err"
		t1=$(now_us)
		reap "$whb" || fail "$m: no heartbeat after the restore"
		reap "$wtk" || fail "$m: no tick after the restore"
		read -r ttk kmin kmaj hmin hmaj <"$T/w.tk"
		thb=$(to_us "$(cat "$T/w.hb")"); ttk=$(to_us "$ttk")
		console_has "$m" 'sbuml-guest: up' && fail "$m: the guest booted again instead of carrying on"
		echo "$kind $size $i $((t1 - t0)) $((ttk - t0)) $((thb - t0)) 0" >>"$RES"
		say "$kind $m ($load host): running after $(( (t1 - t0) / 1000 )) ms, first tick after $(( (ttk - t0) / 1000 )) ms, first heartbeat after $(( (thb - t0) / 1000 )) ms"
		explain "$kind" "$size" "$i" "$m" "$kmin" "$kmaj" "$hmin" "$hmaj"
		restore_path "$kind" "$size" "$i" "$m" "$mode" "$T/restore.json" "$t0"
		sleep 1
		console_has "$m" "CHECK memcheck FAIL" && fail "$m: memcheck failed after the restore"
		kill_machine "$m"
	done
		i=$((i + 1))
	done
	host_load_stop
}

for size in $SIZES; do
	mem=$(mem_for "$size")
	i=1
	while [ "$i" -le "$RUNS" ]; do
		m=c$size-$i
		waiter "$T/w.hb" "$HB" "$(console_of "$m")"; w=$LAST_WAITER
		waiter_faults "$T/w.same" "CHECK memcheck start .*mib=$size " "$(console_of "$m")"; ws=$LAST_WAITER
		sleep 0.3 # the waiter is polling before the clock starts
		t0=$(now_us)
		ctl boot "$m" --mem "$mem" --disk "$PAYLOAD" --cmdline "sbuml.mib=$size sbuml.tick=$TICK" \
			>/dev/null 2>"$T/boot.err" || fail "boot $m: $(cat "$T/boot.err")"
		t1=$(now_us)
		reap "$w" || fail "$m: no heartbeat after a cold boot"
		reap "$ws" || fail "$m: memcheck did not fill $size MiB"
		read -r tsame kmin kmaj hmin hmaj <"$T/w.same"
		thb=$(to_us "$(cat "$T/w.hb")"); tsame=$(to_us "$tsame")
		echo "cold $size $i $((t1 - t0)) 0 $((thb - t0)) $((tsame - t0))" >>"$RES"
		say "cold boot $m (mem ${mem}M): running after $(( (t1 - t0) / 1000 )) ms, first heartbeat after $(( (thb - t0) / 1000 )) ms, memory filled (the saved point) after $(( (tsame - t0) / 1000 )) ms"
		explain cold "$size" "$i" "$m" "$kmin" "$kmaj" "$hmin" "$hmaj"
		[ "$i" -lt "$RUNS" ] && kill_machine "$m"
		i=$((i + 1))
	done
	src=c$size-$RUNS
	wait_until 180 console_has "$src" "CHECK memcheck start .*mib=$size " || fail "$src: memcheck did not fill $size MiB"
	sleep 1
	ctl --json save "$src" "$T/sn/s$size" >"$T/save.json" 2>"$T/save.err" || fail "save $src: $(cat "$T/save.err")"
	say "saved $src: $($BT json "$T/save.json" sizes.physmem | awk '{ printf "%.1f", $1 / 1048576 }') MiB resident"
	kill_machine "$src"

	for load in $LOADS; do restore_runs "$size" "$load"; done
done

# Concurrent clones of the smallest snapshot, per memory mode: the time from
# launching them until every clone printed its first tick (and, lazy, until
# every fill is done).
small=$(printf '%s\n' $SIZES | sort -n | head -n 1)
for mode in $MEMS; do
	lz=""; [ "$mode" = lazy ] && lz=--lazy
	files=""
	k=1
	while [ "$k" -le "$CLONES" ]; do files="$files $(console_of "k$mode$k")"; k=$((k + 1)); done
	# shellcheck disable=SC2086 # a list of files
	waiter "$T/w.clones" "$TK" $files; w=$LAST_WAITER
	sleep 0.3
	t0=$(now_us)
	pids=""
	k=1
	while [ "$k" -le "$CLONES" ]; do
		ctl --json restore $lz "$T/sn/s$small" "k$mode$k" >"$T/clone$k.json" 2>"$T/clone$k.err" &
		pids="$pids $!"
		k=$((k + 1))
	done
	k=1
	for p in $pids; do
		wait "$p" || check_restore_error "$T/clone$k.err"
		k=$((k + 1))
	done
	t1=$(now_us)
	reap "$w" || fail "not every clone printed a tick: $(tr '\n' ' ' <"$T/w.clones")"
	last=$(sort -g "$T/w.clones" | tail -n 1); first=$(sort -g "$T/w.clones" | head -n 1)
	tlast=$(to_us "$last"); tfirst=$(to_us "$first")
	# lazy: poll every clone's fill in one loop (one after the other would
	# add each poll's wait to the next clone's figure), noting when each was
	# first seen done; then the path of every clone
	: >"$T/filldone"
	if [ "$mode" = lazy ]; then
		pending=$(k=1; while [ "$k" -le "$CLONES" ]; do echo "$k"; k=$((k + 1)); done)
		while [ -n "$pending" ]; do
			left=""
			for k in $pending; do
				if [ "$($BT json "$T/clone$k.json" memory)" != lazy ]; then
					echo "$k -" >>"$T/filldone"
				elif st=$(fill_state "k$mode$k") || exit 1; [ "$st" = done ]; then
					echo "$k $(( $(now_us) - t0 ))" >>"$T/filldone"
				else
					left="$left $k"
				fi
			done
			pending=$left
			[ $(( $(now_us) - t0 )) -lt 300000000 ] || fail "lazy clones$pending: fill not done after 300 s"
			[ -n "$pending" ] && sleep 0.1
		done
	fi
	fills=-
	k=1
	while [ "$k" -le "$CLONES" ]; do
		dn=$(awk -v k="$k" '$1 == k && $2 != "-" { print $2 }' "$T/filldone")
		restore_path "clone$mode" "$small" "$k" "k$mode$k" "$mode" "$T/clone$k.json" "$t0" $dn
		k=$((k + 1))
	done
	[ "$mode" = lazy ] && fills=$(awk -v k="clone$mode" '$1 == k && $6 != "-" { if ($6 > m) m = $6 } END { print m + 0 }' "$PATHS")
	echo "$mode $CLONES $small $((t1 - t0)) $((tfirst - t0)) $((tlast - t0)) $fills" >>"$CLONERES"
	say "$CLONES $mode clones of the $small MiB guest: all running after $(( (t1 - t0) / 1000 )) ms, first output after $(( (tfirst - t0) / 1000 )) ms, all $CLONES after $(( (tlast - t0) / 1000 )) ms$([ "$fills" = - ] || echo ", every fill done after $((fills / 1000)) ms")"
	k=1
	while [ "$k" -le "$CLONES" ]; do kill_machine "k$mode$k"; k=$((k + 1)); done
done

# Report.
ms() { calc "$1/1000"; }
col() { awk -v k="$1" -v s="$2" -v c="$3" '$1 == k && $2 == s { print $c }' "$RES"; }
echo
echo "=== restore results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r)) ==="
printf '%-10s %6s %4s %11s %13s %13s %13s\n' kind MiB run running_ms first_tick_ms first_hb_ms same_point_ms
while read -r kind size run ret tick hb same; do
	if [ "$kind" = cold ]; then tk=-; sp=$(ms "$same"); else tk=$(ms "$tick"); sp=-; fi
	printf '%-10s %6s %4s %11.1f %13s %13.1f %13s\n' "$kind" "$size" "$run" "$(ms "$ret")" "$tk" "$(ms "$hb")" "$sp"
done <"$RES"
echo
echo "page faults (kernel process, helpers: stubs and io thread) from start to the cold boot's saved point / the restore's first tick, and the restore path:"
printf '%-10s %6s %4s %12s %12s %13s %13s %14s %6s %8s %11s %11s %11s\n' kind MiB run kern_minflt kern_majflt helper_minflt helper_majflt materialise_ms into physmem phase_a_us phase_b_us fixups_us
while read -r kind size run kmin kmaj hmin hmaj mat mem path pa pb fx; do
	case $mat in -) matms=- ;; *) matms=$(ms "$mat") ;; esac
	printf '%-10s %6s %4s %12s %12s %13s %13s %14s %6s %8s %11s %11s %11s\n' "$kind" "$size" "$run" "$kmin" "$kmaj" "$hmin" "$hmaj" "$matms" "$mem" "$path" "$pa" "$pb" "$fx"
done <"$EXPL"
echo
echo "the restore path (memory: what the machine object says; memory_reason: why lazy was not done) and, lazy, the fill from issuing the restore to fill.state done:"
printf '%-10s %6s %4s %-6s %-28s %12s %8s %12s %11s\n' kind MiB run memory memory_reason fill_done_ms faults filled_pages chunks
while read -r kind size run got why fd flt pg ch tch; do
	case $fd in -) fdm=- ;; *) fdm=$(awk "BEGIN { printf \"%.1f\", $fd/1000 }") ;; esac
	printf '%-10s %6s %4s %-6s %-28s %12s %8s %12s %11s\n' "$kind" "$size" "$run" "$got" "$why" "$fdm" "$flt" "$pg" "$ch/$tch"
done <"$PATHS"
echo
echo "medians; target (issue 13): restore to first output (tick) <= 1 % of a cold boot to the same point (memory filled), idle host, per memory mode;"
echo "under the CPU load (<memory>L: the same snapshot; the cold boots ran idle) the ratio to the idle restore of the same mode is shown, not judged;"
echo "fill_done_ms (lazy): restore issued to fill.state done:"
printf '%6s %5s %-6s %13s %11s %14s %13s %10s %12s %12s %6s %12s %8s\n' MiB load memory cold_same_ms cold_hb_ms restore_tick_ms restore_run_ms tick/same tick/cold_hb loaded/idle target fill_done_ms faults
misses=0
pcol() { awk -v k="$1" -v s="$2" -v c="$3" '$1 == k && $2 == s && $(c) != "-" { print $c }' "$PATHS"; }
for size in $SIZES; do
	cs=$(median $(col cold "$size" 7)); ch=$(median $(col cold "$size" 6))
	for load in $LOADS; do
		for mode in $MEMS; do
			kind=$mode$(load_tag "$load")
			it=$(median $(col "$mode" "$size" 5))
			rr=$(median $(col "$kind" "$size" 4)); rt=$(median $(col "$kind" "$size" 5))
			if [ "$load" = idle ]; then
				v=$(verdict "$rt <= 0.01 * $cs"); li=-
				[ "$v" = PASS ] || misses=$((misses + 1))
			else
				v=-; li=-
				[ -n "$it" ] && li=$(calc "$rt/($it > 0 ? $it : 1)")
			fi
			fd=$(pcol "$kind" "$size" 6); fl=$(pcol "$kind" "$size" 7)
			if [ -n "$fd" ]; then fd=$(awk "BEGIN { printf \"%.1f\", $(median $fd)/1000 }"); fl=$(median $fl); else fd=-; fl=-; fi
			case $li in -) ;; *) li=$(awk "BEGIN { printf \"%.2f\", $li }") ;; esac
			printf '%6s %5s %-6s %13.1f %11.1f %14.1f %13.1f %9.1f%% %11.1f%% %12s %6s %12s %8s\n' "$size" "$load" "$mode" "$(ms "$cs")" "$(ms "$ch")" "$(ms "$rt")" "$(ms "$rr")" \
				"$(calc "100*$rt/$cs")" "$(calc "100*$rt/$ch")" "$li" "$v" "$fd" "$fl"
		done
	done
done
while read -r mode n sz ret first last fills; do
	case $fills in -) fl="" ;; *) fl=", every lazy fill done after $(ms "$fills") ms" ;; esac
	echo "$n concurrent $mode clones ($sz MiB in use): all printed their first post-restore output (tick) $(ms "$last") ms after launch (first $(ms "$first") ms; all restores returned after $(ms "$ret") ms$fl)"
done <"$CLONERES"
echo "targets missed: $misses"
if [ "$misses" -gt 0 ] && [ "${BENCH_STRICT:-0}" = 1 ]; then exit 1; fi
exit 0
