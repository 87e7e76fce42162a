# SPDX-License-Identifier: MIT
# Shared harness for the integration tests: a private sbumld in a temp dir,
# the real sbumlctl, real UML guests.  Every test sources this file.
#
# Environment (set by test/integration/meson.build):
#   SBUMLD, SBUMLCTL, SBUML_KERNEL, SBUML_IMAGE, SBUML_STOCK_KERNEL, TEST_SRCDIR
set -eu

T=$(mktemp -d /tmp/sbt.XXXXXX)
SOCK="$T/s.sock"
STATE="$T/state"
DAEMON_PID=""
OTHER_PIDS=""	# more daemons (start_other_daemon), killed on exit
UMOUNTS=""	# file systems a test mounted under $T, unmounted on exit
export SBUML_SOCKET="$SOCK"

say() { printf '%s: %s\n' "${TEST_NAME:-test}" "$*"; }
fail() {
	printf '%s: FAIL: %s\n' "${TEST_NAME:-test}" "$*" >&2
	dump_debug >&2
	exit 1
}

dump_debug() {
	[ -f "$T/daemon.log" ] && { echo "--- daemon log (tail)"; tail -n 40 "$T/daemon.log"; }
	for c in "$STATE"/machines/*/console.log "$T"/*/console.log; do
		[ -f "$c" ] && { echo "--- $c (tail)"; tail -n 15 "$c"; }
	done
	return 0
}

. "$(dirname "$0")/procs.sh"

cleanup() {
	rc=$?
	set +e
	[ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2>/dev/null
	for p in $OTHER_PIDS; do kill -9 "$p" 2>/dev/null; done
	for p in $(uml_pids_under "$T"); do kill -9 "$p" 2>/dev/null; done
	sleep 0.2
	for p in $(uml_pids_under "$T"); do kill -9 "$p" 2>/dev/null; done
	for m in $UMOUNTS; do umount -l "$m" 2>/dev/null; done
	if [ "$rc" -eq 0 ] || [ -z "${KEEP_TMP:-}" ]; then rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT INT TERM

ctl() { "$SBUMLCTL" --socket "$SOCK" "$@"; }
rpc() { python3 "$TEST_SRCDIR/rpc.py" "$SOCK" "$@"; }

# Start a private daemon; extra arguments are passed to sbumld.
start_daemon() {
	mkdir -p "$STATE"
	"$SBUMLD" -d --socket "$SOCK" --state-dir "$STATE" \
		--kernel "${SBUML_KERNEL}" --image "${SBUML_IMAGE}" "$@" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_until 20 ctl ping || fail "daemon did not come up"
}

# start_other_daemon DIR: a second daemon with its own state dir and socket
# (DIR/state, DIR/s.sock), standing for another host.  Drive it with
# "$SBUMLCTL" --socket DIR/s.sock.
start_other_daemon() {
	mkdir -p "$1/state"
	"$SBUMLD" -d --socket "$1/s.sock" --state-dir "$1/state" \
		--kernel "${SBUML_KERNEL}" --image "${SBUML_IMAGE}" >>"$1/daemon.log" 2>&1 &
	OTHER_PIDS="$OTHER_PIDS $!"
	wait_until 20 "$SBUMLCTL" --socket "$1/s.sock" ping || fail "daemon in $1 did not come up"
}

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=""
}

# wait_until SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_until() {
	limit=$1; shift
	end=$(( $(date +%s) + limit ))
	while [ "$(date +%s)" -lt "$end" ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	return 1
}

# Console log path of a machine given by name or path.
console_of() {
	case "$1" in */*) echo "$1/console.log" ;; *) echo "$STATE/machines/$1/console.log" ;; esac
}
# Highest heartbeat number printed so far (0 if none).
heartbeat() {
	grep -a -o 'sbuml-heartbeat [0-9]*' "$(console_of "$1")" 2>/dev/null | tail -n 1 | awk '{print $2+0}' | grep . || echo 0
}
heartbeat_at_least() { [ "$(heartbeat "$1")" -ge "$2" ]; }
console_has() { grep -aq -- "$2" "$(console_of "$1")"; }

# JSON field of `sbumlctl --json info MACHINE` (top-level member).
info_field() {
	ctl --json info "$1" | python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$2"
}
state_is() { [ "$(info_field "$1" state)" = "$2" ]; }
