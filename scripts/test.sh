#!/bin/sh
# SPDX-License-Identifier: MIT
# Run the whole sbuml test suite, as CI does: unit, kernel and integration
# tests (real UML guests, real daemon, real CLI) in a normal build, then the
# unit and integration tests again in an ASan+UBSan build.
# A skipped test is a failure: nothing here may silently not run.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
asan="$top/build-asan"

run_suite() {
	dir=$1; shift
	log="$dir/meson-logs/testlog.txt"
	status=0
	meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || status=$?
	if [ -f "$log" ] && grep -Eq '^(Skipped|Expected Fail|Unexpected Pass): *[1-9]' "$log"; then
		echo "test.sh: some tests were skipped or unexpected in $dir; that is a failure" >&2
		grep -E '^(Ok|Fail|Skipped|Expected Fail|Unexpected Pass|Timeout):' "$log" >&2 || true
		status=1
	fi
	return $status
}

"$top/scripts/build.sh" "$build"
"$top/scripts/build.sh" "$asan" -Db_sanitize=address,undefined -Db_lundef=false

failed=0
run_suite "$build" || failed=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suite "$asan" --no-suite kernel || failed=1

if [ "$failed" -ne 0 ]; then
	echo "test.sh: FAILED" >&2
	exit 1
fi
echo "test.sh: all tests passed"
