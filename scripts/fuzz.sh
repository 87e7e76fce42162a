#!/bin/sh
# SPDX-License-Identifier: MIT
# Run every libFuzzer harness of test/fuzz/ for a bounded time, as CI does
# (scripts/test.sh calls this).  Builds them in their own meson build dir,
# configured with clang from Debian, ASan+UBSan and libFuzzer's coverage
# instrumentation.  Each harness starts from its committed seed corpus and
# its regressions (inputs that once crashed it), and adds what it finds to a
# corpus kept in the build dir.  A crash, a leak, a sanitizer report or a
# timeout fails the run; the input is saved as
# <build-dir>/crashes/<harness>/crash-* (copy it into
# test/fuzz/regressions/<harness>/ once fixed: the replay test runs it).
#
# usage: scripts/fuzz.sh [BUILD-DIR] [SECONDS-PER-HARNESS]   (build-fuzz, 20)
#   FUZZ_ARGS adds libFuzzer options (e.g. FUZZ_ARGS=-runs=10000000, as
#   bench/fuzz.sh does); FUZZ_HARNESSES="stream rpc" runs only those.
# The last line is "N passed, M failed" (harnesses), which scripts/test.sh adds up.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build-fuzz"}
case $build in /*) ;; *) build="$top/$build" ;; esac
secs=${2:-20}
harnesses=${FUZZ_HARNESSES:-"stream manifest rpc machine-config oci"}

"$top/scripts/deps.sh"
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$top" -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link -Dbuildtype=debugoptimized
fi
targets=""
for h in $harnesses; do targets="$targets test/fuzz/fuzz-$h"; done
# shellcheck disable=SC2086
ninja -C "$build" $targets

passed=0
failed=0
for h in $harnesses; do
	corpus="$build/corpus/$h"
	crashes="$build/crashes/$h"
	log="$build/fuzz-$h.log"
	mkdir -p "$corpus" "$crashes"
	# Leaks and UB are failures; a slow input (10 s) is one too.
	# shellcheck disable=SC2086
	if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    "$build/test/fuzz/fuzz-$h" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} \
	    "$corpus" "$top/test/fuzz/corpus/$h" "$top/test/fuzz/regressions/$h" \
	    >"$log" 2>&1; then
		passed=$((passed + 1))
		status=ok
	else
		failed=$((failed + 1))
		status="FAILED (see $log; input in $crashes/)"
		tail -n 40 "$log" >&2
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
	echo "fuzz-$h: ${execs:-?} executions, ${cov:-no coverage line}: $status"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
