#!/bin/sh
# SPDX-License-Identifier: MIT
# The long fuzzing run (issue 9: 10 M executions per harness, zero
# crashes): every harness of test/fuzz/ for BENCH_FUZZ_RUNS executions or
# BENCH_FUZZ_SECONDS, whichever comes first, through scripts/fuzz.sh (same
# build dir, same corpus kept in it, so runs build on each other).  Prints,
# per harness, the executions, libFuzzer's coverage (cov: edges, ft:
# features) and the crash inputs kept; record them in bench/README.md.
#
# usage: bench/fuzz.sh [BUILD-DIR]      (default build-fuzz)
#   BENCH_FUZZ_RUNS     executions per harness (default 10000000)
#   BENCH_FUZZ_SECONDS  time cap per harness (default 3600)
#   BENCH_FUZZ_JOBS     parallel workers per harness (libFuzzer -fork, default 1)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build-fuzz"}
case $build in /*) ;; *) build="$top/$build" ;; esac
runs=${BENCH_FUZZ_RUNS:-10000000}
secs=${BENCH_FUZZ_SECONDS:-3600}
jobs=${BENCH_FUZZ_JOBS:-1}
args="-runs=$runs"
[ "$jobs" -gt 1 ] && args="$args -fork=$jobs"

echo "bench/fuzz.sh: $(date -u +%Y-%m-%dT%H:%MZ), up to $runs executions or $secs s per harness, load $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
FUZZ_ARGS="$args" "$top/scripts/fuzz.sh" "$build" "$secs" || rc=$?
for d in "$build"/crashes/*; do
	[ -d "$d" ] || continue
	echo "$(basename "$d"): $(find "$d" -type f | wc -l) crash inputs kept in $d, corpus $(find "$build/corpus/$(basename "$d")" -type f | wc -l) inputs"
done
exit $rc
