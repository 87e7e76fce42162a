#!/bin/sh
# SPDX-License-Identifier: MIT
# bench-smoke (meson test, suite integration, normal build only): the save
# and restore benchmarks at the smallest size, once each, with BENCH_CHECK=1,
# so a benchmark that stops working, or stops printing what explains its
# figures (staged, copy rate, page faults, steal, the capture method and
# its cow timings, the restore path and the lazy fill), fails
# CI instead of the next person who needs the numbers. No figure is judged
# here (timings on a shared host are not a test): only that each is there
# and sane.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp /tmp/sbsmoke.XXXXXX)
trap 'rm -f "$out"' EXIT

fail() { echo "bench-smoke: FAIL: $*" >&2; exit 1; }

# expect HEADING: the last benchmark's output has a line starting so
expect() { grep -q -- "^$1" "$out" || fail "no line '$1' in the output above"; }

# run_bench NAME VAR=VALUE...: bench/NAME.sh with BENCH_CHECK=1 and those
# variables; its output, shown, is what expect reads next
run_bench() {
	name=$1; shift
	echo "bench-smoke: $name.sh with $*"
	env BENCH_CHECK=1 "$@" sh "$here/$name.sh" >"$out" 2>&1 || { cat "$out"; fail "$name.sh failed"; }
	cat "$out"
}

# save-pause.sh at 16 MiB, one save per capture method (staged, cow) per host
# load (idle, and under stress-ng): BENCH_CHECK=1 fails a cow save that fell
# back or reports no capture member
run_bench save-pause BENCH_SIZES=16 BENCH_RUNS=1 BENCH_MEMTOUCH_MIB=16 BENCH_CAPTURES="staged cow"
expect "where the pause goes, per save"
expect "run  *staged  *stage_ms  *copy_MiB/s  *minflt  *flt/page  *majflt  *child_minflt  *usr_ms  *sys_ms  *steal_ms  *src_rss_MiB"
expect "m16.staged-1  *[01] "
expect "m16.cow-1  *[01] "
expect "bb.staged-1  *[01] "
expect "bbL.cow-1  *[01] "
expect "issue 13: staged against cow in the same run"
expect "16  *idle  *cow  *[0-9.]* "
expect "issue 13 targets on the cow saves"
expect "16  *cpu  *[0-9.]* "
expect "m16.cow-1  *cow  *cow  *-  *[0-9][0-9]* "
expect "m16L.cow-1  *cow  *cow  *-  *[0-9][0-9]* "
expect "the pause's copy against this host's memcpy"
expect "  memtouch case=pretouched mib=16 "
expect "targets missed: "

# restore.sh at 16 MiB, one restore per memory mode (eager, lazy) per host
# load, one clone each: BENCH_CHECK=1 fails a lazy restore that fell back
run_bench restore BENCH_SIZES=16 BENCH_RUNS=1 BENCH_CLONES=1 BENCH_MEMORIES="eager lazy"
expect "page faults (kernel process, helpers"
expect "cold  *16  *1  *[0-9][0-9]* "
expect "eager  *16  *1  *[0-9][0-9]* .* \(memfd\|file\)  *\(fd\|copied\) "
expect "eagerL  *16  *1  *[0-9][0-9]* .* \(memfd\|file\)  *\(fd\|copied\) "
expect "lazy  *16  *1  *[0-9][0-9]* "
expect "lazyL  *16  *1  *[0-9][0-9]* "
expect "the restore path"
expect "lazy  *16  *1  *lazy  *-  *[0-9.][0-9.]*  *[0-9][0-9]* "
expect "clonelazy  *16  *1  *lazy  *-  *[0-9.][0-9.]* "
expect "    16   cpu  *lazy "
expect "1 concurrent lazy clones (16 MiB in use)"
expect "targets missed: "
echo "bench-smoke: ok"
