#!/bin/sh
# SPDX-License-Identifier: MIT
# systemd integration: socket activation (sd_listen_fds) and sd_notify
# READY=1 / STATUS= / WATCHDOG=1 / STOPPING=1, observed on a real notify socket.
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
NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=600000 systemd-socket-activate -l "$SOCK" --fdname=rpc \
	-E NOTIFY_SOCKET -E WATCHDOG_USEC \
	"$SBUMLD" -d --state-dir "$STATE" --kernel "$SBUML_KERNEL" --image "$SBUML_IMAGE" \
	>>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_until 20 ctl ping || fail "socket-activated daemon does not answer"
wait_until 10 grep -q 'READY=1' "$T/notify.log" || fail "no READY=1: $(cat "$T/notify.log")"
grep -q 'STATUS=' "$T/notify.log" || fail "no STATUS="
# WatchdogSec=0.6s: a ping at least every 0.3 s, so several within 2 s.
sleep 2
[ "$(grep -c 'WATCHDOG=1' "$T/notify.log")" -ge 3 ] || fail "watchdog pings missing: $(cat "$T/notify.log")"
stop_daemon
wait_until 10 grep -q 'STOPPING=1' "$T/notify.log" || fail "no STOPPING=1: $(cat "$T/notify.log")"
wait "$listener" 2>/dev/null || true
say "ok"
