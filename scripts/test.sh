#!/bin/sh
# SPDX-License-Identifier: MIT
# Run the whole sbuml test suite, as CI does: unit, kernel and integration
# tests (real UML guests, real daemon, real CLI) in a normal build, then the
# unit and integration tests again in an ASan+UBSan build, then every
# libFuzzer harness for a bounded time (scripts/fuzz.sh, clang build dir).
# A skipped test is a failure: nothing here may silently not run.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
asan="$top/build-asan"

passed=0
failed_tests=0
failures=$(mktemp)
trap 'rm -f "$failures"' EXIT
run_suite() {
	dir=$1; shift
	log="$dir/meson-logs/testlog.txt"
	out="$dir/meson-logs/test-summary.txt"
	# Shown as it runs and kept for the counts; the exit status survives the pipe.
	{ meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" 2>&1; echo $? >"$out.rc"; } | tee "$out"
	status=$(cat "$out.rc")
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$out" | tail -n 1)
	bad=$(sed -n 's/^\(Fail\|Timeout\|Unexpected Pass\): *\([0-9]*\).*/\2/p' "$out" | awk '{s+=$1} END {print s+0}')
	# Remembered for the last lines of the run, which are all a CI page shows.
	grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|SKIP|EXPECTEDFAIL|UNEXPECTEDPASS) ' "$out" |
		sort -u | sed "s|^|$(basename "$dir"): |" >>"$failures" || true
	passed=$((passed + ${ok:-0}))
	failed_tests=$((failed_tests + ${bad:-0}))
	if grep -Eq '^(Skipped|Expected Fail|Unexpected Pass): *[1-9]' "$out"; then
		echo "test.sh: some tests were skipped or unexpected in $dir; that is a failure (see $log)" >&2
		status=1
	fi
	return $status
}

"$top/scripts/build.sh" "$build"
"$top/scripts/build.sh" "$asan" -Db_sanitize=address,undefined -Db_lundef=false

failed=0
run_suite "$build" || failed=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suite "$asan" --no-suite kernel --no-suite debian || failed=1

# The fuzzers: their last line is "N passed, M failed" (harnesses).
fuzzlog="$build/meson-logs/fuzz-summary.txt"
{ "$top/scripts/fuzz.sh" "$top/build-fuzz" 2>&1; echo $? >"$fuzzlog.rc"; } | tee "$fuzzlog"
[ "$(cat "$fuzzlog.rc")" -eq 0 ] || failed=1
counts=$(tail -n 1 "$fuzzlog")
case $counts in
*" passed, "*" failed")
	passed=$((passed + ${counts%% passed*}))
	rest=${counts#* passed, }
	failed_tests=$((failed_tests + ${rest%% failed*}))
	;;
*)	echo "test.sh: scripts/fuzz.sh did not report its counts" >&2
	failed=1 ;;
esac

# What failed and how it ended, so a CI page's tail says which tests to read.
if [ -s "$failures" ]; then
	echo "test.sh: not passed:"
	cat "$failures"
	sed -n 's/^\([^:]*\): *\([0-9]*\)\/[0-9]* .*/\1 \2/p' "$failures" | while read -r d n; do
		echo "--- $d test $n: last lines of its output ---"
		# Its FAIL lines say why; a guest's console fills the rest.
		awk -v n="$n" '/^=+ [0-9]+\/[0-9]+ =+$/ { split($2, a, "/"); cur = (a[1] == n) } cur' \
			"$top/$d/meson-logs/testlog.txt" | grep -E 'FAIL|rror|Assert|timed out' | tail -n 12
	done
fi
echo "$passed passed, $failed_tests failed"
if [ "$failed" -ne 0 ]; then
	echo "test.sh: FAILED" >&2
	exit 1
fi
echo "test.sh: all tests passed"
