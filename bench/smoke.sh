#!/bin/sh
# SPDX-License-Identifier: MIT
# bench-smoke (meson test, suite integration, normal build only): the save
# and restore benchmarks at the smallest size, once each, with BENCH_CHECK=1,
# so a benchmark that stops working, or stops printing what explains its
# figures (staged, copy rate, page faults, steal, the restore path), fails
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

# save-pause.sh at 16 MiB, one save per host load (idle, and under stress-ng)
run_bench save-pause BENCH_SIZES=16 BENCH_RUNS=1 BENCH_MEMTOUCH_MIB=16
expect "where the pause goes, per save"
expect "run  *staged  *stage_ms  *copy_MiB/s  *minflt  *flt/page  *majflt  *child_minflt  *usr_ms  *sys_ms  *steal_ms  *src_rss_MiB"
expect "m16-1  *[01] "
expect "bb-1  *[01] "
expect "m16L-1  *[01] "
expect "bbL-1  *[01] "
expect "issue 13 targets"
expect "16  *cpu  *[0-9.]* "
expect "the pause's copy against this host's memcpy"
expect "  memtouch case=pretouched mib=16 "
expect "targets missed: "

# restore.sh at 16 MiB, one restore per host load, one clone
run_bench restore BENCH_SIZES=16 BENCH_RUNS=1 BENCH_CLONES=1
expect "page faults (kernel process, helpers"
expect "cold  *16  *1  *[0-9][0-9]* "
expect "restore  *16  *1  *[0-9][0-9]* .* \(memfd\|file\)  *\(fd\|copied\) "
expect "restoreL  *16  *1  *[0-9][0-9]* .* \(memfd\|file\)  *\(fd\|copied\) "
expect "    16   cpu "
expect "targets missed: "
echo "bench-smoke: ok"
