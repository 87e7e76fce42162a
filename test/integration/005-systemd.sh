#!/bin/sh
# SPDX-License-Identifier: MIT
# systemd integration: socket activation (sd_listen_fds) and sd_notify
# READY=1 / STATUS= / WATCHDOG=1 / STOPPING=1, observed on a real notify socket;
# READY=1 only once a running machine is re-adopted after a restart; a real
# machine booted, saved and halted by a daemon under the unit's hardening.
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
	"$SBUMLD" -d --default-network none --state-dir "$STATE" --kernel "$SBUML_KERNEL" --image "$SBUML_IMAGE" \
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
say "socket activation and notifications"

# ---- READY=1 only after re-adoption ----
# A machine runs while the daemon is stopped with a plain SIGTERM (machines
# outlive it) and started again.  The listener asks machine.list the moment
# READY=1 arrives: the machine must already be known and running.
start_daemon
ctl boot keep --mem 64 >/dev/null || fail "boot keep"
wait_until 60 heartbeat_at_least keep 1 || fail "keep: no heartbeat"
keep_pid=$(info_field keep pid)
stop_daemon
kill -0 "$keep_pid" || fail "keep died with the daemon's SIGTERM"
NOTIFY2="$T/notify2.sock"
python3 - "$NOTIFY2" "$SOCK" >"$T/ready.log" <<'PY' &
import json, socket, sys
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
n.bind(sys.argv[1])
n.settimeout(60)
while True:
    msg = n.recv(4096).decode()
    if "READY=1" in msg.split("\n"):
        break
# Right away: what does the daemon know now?
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.settimeout(30)
c.connect(sys.argv[2])
c.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "machine.list"}\n')
buf = b""
while b"\n" not in buf:
    chunk = c.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.split(b"\n")[0].decode(), flush=True)
PY
rlistener=$!
wait_until 10 test -S "$NOTIFY2" || fail "second notify listener did not start"
NOTIFY_SOCKET="$NOTIFY2" "$SBUMLD" -d --default-network none --socket "$SOCK" --state-dir "$STATE" \
	--kernel "$SBUML_KERNEL" --image "$SBUML_IMAGE" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
wait "$rlistener" || fail "no READY=1 from the restarted daemon"
python3 - "$keep_pid" "$T/ready.log" <<'PY' || fail "at READY=1 the machine was not re-adopted: $(cat "$T/ready.log")"
import json, sys
resp = json.loads(open(sys.argv[2]).readline())
ms = resp["result"]["machines"]
keep = [m for m in ms if m.get("machine") == "keep"]
assert keep, ("keep unknown at READY=1", ms)
assert keep[0]["state"] == "running", keep[0]
assert keep[0].get("pid") == int(sys.argv[1]), keep[0]
PY
state_is keep running || fail "keep not running after the restart"
ctl kill keep >/dev/null || fail "kill keep"
stop_daemon
say "READY=1 after re-adoption"

# ---- the daemon under the unit's hardening ----
# The hardening set is read from units/sbumld.service.in, between its
# "Hardening that UML tolerates" and "Left out on purpose" markers, so a
# property added there is exercised here (or this test says it cannot).
UNIT_IN="$TEST_SRCDIR/../../units/sbumld.service.in"
HARDENING=$(sed -n '/^# ---- Hardening/,/^# ---- Left out/p' "$UNIT_IN" | grep -E '^[A-Za-z]+=')
[ -n "$HARDENING" ] || fail "no hardening properties found in $UNIT_IN"
HSTATE="$T/hstate"
mkdir -p "$HSTATE"
HUNIT=""
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; then
	# systemd is PID 1: a transient service with the unit's service type,
	# kill mode and every hardening property, private socket and state dir.
	HUNIT="sbumld-test-$$"
	set --
	for p in $HARDENING; do set -- "$@" -p "$p"; done
	trap 'rc=$?; systemctl stop "$HUNIT" 2>/dev/null; systemctl reset-failed "$HUNIT" 2>/dev/null; (exit $rc); cleanup' EXIT
	systemd-run --unit="$HUNIT" -p Type=notify -p KillMode=process \
		-p StandardOutput="append:$T/hardened.log" -p StandardError="append:$T/hardened.log" \
		"$@" "$SBUMLD" -d --default-network none --socket "$SOCK" --state-dir "$HSTATE" \
		--kernel "$SBUML_KERNEL" --image "$SBUML_IMAGE" >/dev/null 2>&1 ||
		fail "systemd-run of the hardened daemon: $(cat "$T/hardened.log" 2>/dev/null)"
	hpid=$(systemctl show -p MainPID --value "$HUNIT")
	how="systemd-run"
else
	# No systemd as PID 1 (a container): the same restrictions by hand.
	#   NoNewPrivileges      setpriv --no-new-privs
	#   RestrictSUIDSGID     (seccomp in systemd) with no_new_privs set-id bits are not honoured
	#   ProtectSystem=full   read-only bind mounts of /usr, /boot, /efi, /etc
	#   ProtectKernelModules drop CAP_SYS_MODULE from the bounding set
	#   ProtectKernelTunables read-only /proc/sys and /sys
	#   ProtectKernelLogs    drop CAP_SYSLOG, /dev/kmsg replaced by /dev/null
	#   ProtectControlGroups read-only /sys/fs/cgroup (part of /sys)
	#   RestrictNamespaces, RestrictRealtime: seccomp filters, no setpriv/unshare equivalent
	for p in $HARDENING; do
		case $p in
		NoNewPrivileges=yes|RestrictSUIDSGID=yes|ProtectSystem=full|ProtectKernelModules=yes|\
		ProtectKernelTunables=yes|ProtectKernelLogs=yes|ProtectControlGroups=yes|\
		RestrictNamespaces=yes|RestrictRealtime=yes) ;;
		*) fail "no setpriv/unshare equivalent for $p: teach 005-systemd.sh" ;;
		esac
	done
	unshare -m --propagation private sh -c '
		for d in /usr /boot /efi /etc /proc/sys /sys; do
			[ -d "$d" ] || continue
			mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 90
		done
		mount --bind /dev/null /dev/kmsg || exit 91
		exec setpriv --no-new-privs --bounding-set -sys_module,-syslog "$@"
	' hardened "$SBUMLD" -d --default-network none --socket "$SOCK" --state-dir "$HSTATE" \
		--kernel "$SBUML_KERNEL" --image "$SBUML_IMAGE" >>"$T/hardened.log" 2>&1 &
	DAEMON_PID=$!
	wait_until 20 ctl ping || fail "hardened daemon did not come up: $(cat "$T/hardened.log")"
	hpid=$(pgrep -P "$DAEMON_PID" -x sbumld || echo "$DAEMON_PID")
	how="unshare+setpriv"
fi
ctl ping >/dev/null || fail "hardened daemon does not answer"
# The restrictions really apply to the daemon (and so to its machines).
grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$hpid/status" || fail "daemon $hpid runs without no_new_privs ($how)"
grep -q ' /usr .*\bro\b' "/proc/$hpid/mountinfo" || fail "daemon $hpid sees /usr writable ($how)"
STATE="$HSTATE"	# console_of, dump_debug
ctl boot hard --mem 64 >/dev/null || fail "boot under the hardening ($how): $(tail -n 20 "$T/hardened.log")"
wait_until 60 heartbeat_at_least hard 3 || fail "no heartbeat under the hardening ($how)"
upid=$(info_field hard pid)
grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$upid/status" || fail "the UML process escaped no_new_privs"
[ "$(awk '/^Uid:/ {print $2}' "/proc/$upid/status")" = "$(id -u sbuml-uml)" ] ||
	fail "the UML process under the hardening is not sbuml-uml: $(grep '^Uid:' "/proc/$upid/status")"
snap=$(ctl save hard hsnap 2>"$T/hsave.err") || fail "save under the hardening ($how): $(cat "$T/hsave.err")"
[ -f "$snap/manifest.json" ] || fail "no manifest in $snap"
state_is hard running || fail "not running after the save"
h=$(heartbeat hard)
wait_until 30 heartbeat_at_least hard $((h + 2)) || fail "no heartbeat after the save under the hardening"
ctl halt hard --timeout 30 >/dev/null || fail "halt under the hardening"
state_is hard stopped || fail "not stopped after halt"
console_has hard 'sbuml-guest: shutting down' || fail "halt under the hardening was not graceful"
kill -0 "$upid" 2>/dev/null && fail "UML pid $upid alive after halt"
if [ -n "$HUNIT" ]; then
	systemctl stop "$HUNIT" || fail "systemctl stop"
else
	kill -TERM "$hpid"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=""
fi
say "boot, heartbeat, save and halt under the unit's hardening ($how)"
say "ok"
