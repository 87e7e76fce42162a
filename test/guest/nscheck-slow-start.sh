#!/bin/sh
# SPDX-License-Identifier: MIT
# nscheck waits for its namespace child's first round however long the
# child's setup takes.  A fixed 10 s limit once failed it at start-up in a
# Debian guest starting 21 checkers on a loaded host ("namespace child never
# completed a round", then no ok line for 060 to find).  Here, on the host
# (root: the checker makes user, pid, net ... and time namespaces), strace
# holds the child's first setup step (sethostname) for 11 s: nscheck must
# say it is still waiting, then start, report ok rounds and end without a
# failure on SIGTERM.
#   nscheck-slow-start.sh NSCHECK
set -eu
NSCHECK=$(realpath "$1")
T=$(mktemp -d /tmp/nscheck-slow.XXXXXX)
PID=""	# strace's; the checker is its child (a killed strace leaves it running)
cleanup() {
	if [ -n "$PID" ]; then
		for p in $(ps -o pid= --ppid "$PID") "$PID"; do kill -9 "$p" 2>/dev/null; done
	fi
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "nscheck-slow-start: FAIL: $*" >&2; cat "$T/out" >&2; exit 1; }

cd "$T"
strace -f -qq -o /dev/null -e trace=sethostname \
	-e inject=sethostname:delay_enter=11000000 "$NSCHECK" -r 1 >"$T/out" 2>&1 &
PID=$!
# Progress, not a time bound: the limit is only a safety net.
n=0
until [ "$(grep -c '^CHECK nscheck ok ' "$T/out")" -ge 2 ]; do
	kill -0 "$PID" 2>/dev/null || fail "nscheck ended before its second ok line"
	n=$((n + 1))
	[ "$n" -lt 1200 ] || fail "no second ok line in 240 s"
	sleep 0.2
done
# The checker itself (strace passes no signal on): it ends strace too.
kill -TERM $(ps -o pid= --ppid "$PID")
rc=0
wait "$PID" || rc=$?
PID=""
[ "$rc" -eq 0 ] || fail "exit status $rc"
grep -q '^CHECK nscheck info namespace child still setting up after' "$T/out" ||
	fail "no info line while the child was held"
setup=$(sed -n 's/^CHECK nscheck start .* setup_ms=\([0-9]*\)$/\1/p' "$T/out")
[ "${setup:-0}" -ge 11000 ] || fail "setup_ms '$setup', want the 11 s hold in it"
! grep -q 'FAIL' "$T/out" || fail "a FAIL line"
grep -q '^CHECK nscheck summary iterations=[0-9]* failures=0 ' "$T/out" || fail "no clean summary"
echo "nscheck-slow-start: ok (child held 11 s, setup_ms=$setup)"
