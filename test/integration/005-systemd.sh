#!/bin/sh
# SPDX-License-Identifier: MIT
# systemd integration: socket activation (sd_listen_fds) and sd_notify
# READY=1 / STATUS= / STOPPING=1, observed on a real notify socket.
TEST_NAME=systemd
. "$(dirname "$0")/lib.sh"

NOTIFY="$T/notify.sock"
python3 - "$NOTIFY" >"$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
try:
    while True:
        msg = s.recv(4096).decode()
        print(msg.replace("\n", " "), flush=True)
        if "STOPPING=1" in msg:
            break
except socket.timeout:
    pass
PY
listener=$!
wait_until 10 test -S "$NOTIFY" || fail "notify listener did not start"

mkdir -p "$STATE"
NOTIFY_SOCKET="$NOTIFY" systemd-socket-activate -l "$SOCK" --fdname=rpc -E NOTIFY_SOCKET \
	"$SBUMLD" -d --state-dir "$STATE" --kernel "$SBUML_KERNEL" --image "$SBUML_IMAGE" \
	>>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_until 20 ctl ping || fail "socket-activated daemon does not answer"
wait_until 10 grep -q 'READY=1' "$T/notify.log" || fail "no READY=1: $(cat "$T/notify.log")"
grep -q 'STATUS=' "$T/notify.log" || fail "no STATUS="
stop_daemon
wait_until 10 grep -q 'STOPPING=1' "$T/notify.log" || fail "no STOPPING=1: $(cat "$T/notify.log")"
wait "$listener" 2>/dev/null || true
say "ok"
