#!/bin/sh
# SPDX-License-Identifier: MIT
# Save of a paused machine; save with --stop then resume; a second save
# during the first (SaveInProgress); kill -9 of the UML process during a save
# (error, nothing left behind, daemon fine), in the test delay and while the
# kernel's writer runs; a stock-kernel machine refused.
TEST_NAME=save-modes
. "$(dirname "$0")/lib.sh"

# The test knob holds each save for 3 s before the kernel is asked, so the
# races below are deterministic.
SBUMLD_TEST_SAVE_DELAY_MS=3000 start_daemon
ctl boot m --mem 64 >/dev/null || fail "boot"
wait_until 60 heartbeat_at_least m 2 || fail "no heartbeat"

# Paused machine: stays paused, snapshot records state paused.
ctl pause m >/dev/null || fail "pause"
p=$(ctl save m paused-snap 2>/dev/null) || fail "save of a paused machine"
state_is m paused || fail "machine not paused after saving it paused"
grep -q '"state": *"paused"' "$p/manifest.json" || fail "manifest state is not paused"
a=$(heartbeat m); sleep 2
[ "$(heartbeat m)" = "$a" ] || fail "the paused machine ran during/after its save"
ctl resume m >/dev/null || fail "resume"
wait_until 20 heartbeat_at_least m $((a + 2)) || fail "no heartbeat after resume"
say "save of a paused machine"

# --stop: frozen afterwards, resumable.
ctl save m stopped-snap --stop >/dev/null 2>&1 || fail "save --stop"
state_is m paused || fail "not paused after save --stop: $(info_field m state)"
a=$(heartbeat m); sleep 2
[ "$(heartbeat m)" = "$a" ] || fail "machine ran after save --stop"
ctl resume m >/dev/null || fail "resume after --stop"
wait_until 20 heartbeat_at_least m $((a + 2)) || fail "no heartbeat after resume"
say "save --stop then resume"

# A second save while the first runs.
ctl save m first >"$T/first.out" 2>&1 &
first=$!
sleep 1
out=$(ctl save m second 2>&1) && fail "second concurrent save accepted"
echo "$out" | grep -q SaveInProgress || fail "second save: expected SaveInProgress, got: $out"
wait "$first" || fail "first save failed: $(cat "$T/first.out")"
[ ! -e "$STATE/snapshots/second" ] || fail "refused save left a snapshot"
say "SaveInProgress"

# kill -9 of the UML process while its save runs: killed when the save's
# first progress notification ("capturing") arrives, which the daemon sends
# before the 3 s test delay (a fixed sleep here lost the race on a loaded
# host: the save was done before the kill).
# savekill.py SOCK MACHINE SNAPSHOT PID PHASE MIN_BYTES: save MACHINE and
# kill -9 PID at the first job.progress of PHASE with at least MIN_BYTES;
# succeeds if it killed and the save then failed.
cat >"$T/savekill.py" <<'PY'
import json, os, signal, socket, sys
sock, machine, snapshot, pid, phase, min_bytes = sys.argv[1:7]
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.settimeout(300)
c.connect(sock)
c.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "snapshot.save",
                      "params": {"machine": machine, "snapshot": snapshot}}).encode() + b"\n")
buf, killed = b"", None
while True:
    while b"\n" not in buf:
        chunk = c.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
    line, buf = buf.split(b"\n", 1)
    msg = json.loads(line)
    if msg.get("id") == 1:
        print("killed:", killed)
        print("response:", json.dumps(msg))
        sys.exit(0 if killed and "error" in msg else 1)
    p = msg.get("params") or {}
    print("progress:", p.get("phase"), p.get("bytes"), flush=True)
    if killed is None and p.get("phase") == phase and p.get("bytes", 0) >= int(min_bytes):
        os.kill(int(pid), signal.SIGKILL)
        killed = "%s at %d bytes" % (phase, p.get("bytes", 0))
PY
python3 "$T/savekill.py" "$SOCK" m doomed "$(info_field m pid)" capturing 0 >"$T/doomed.out" 2>&1 ||
	fail "save of a killed machine: $(cat "$T/doomed.out")"
grep -q 'died' "$T/doomed.out" || fail "unclear error: $(cat "$T/doomed.out")"
[ ! -e "$STATE/snapshots/doomed" ] || fail "half snapshot left behind"
ls -a "$STATE/snapshots" | grep -q partial && fail "temporary directory left behind"
ctl ping >/dev/null || fail "daemon unhealthy"
wait_until 20 state_is m crashed || fail "machine not crashed"
say "kill -9 during save"

# A machine on the stock Debian kernel cannot be saved: a clear refusal.
ctl boot stock --mem 64 --kernel "$SBUML_STOCK_KERNEL" >/dev/null || fail "boot stock"
out=$(ctl save stock s 2>&1) && fail "save of a stock-kernel machine accepted"
echo "$out" | grep -q NotSupported || fail "stock kernel: expected NotSupported, got: $out"
[ ! -e "$STATE/snapshots/s" ] || fail "refused save left a snapshot"
ctl kill stock >/dev/null
say "stock kernel refused"

# kill -9 of the UML process while its kernel's writer is filling the
# snapshot (job.progress "writing" with bytes on disk), not in the test
# delay: a guest with ~600 MB of non-zero memory (tmpfs filled from
# /dev/urandom) so that writing takes a while.
mkdir -p "$T/fill"
cat >"$T/fill/run" <<'SH'
mount -o remount,size=90% /tmp
dd if=/dev/urandom of=/tmp/fill bs=1M count=600 2>/dev/null
echo "sbuml-test: filled $(du -m /tmp/fill | cut -f1) MB"
while :; do sleep 1; done
SH
mke2fs -q -t ext2 -d "$T/fill" "$T/fill.img" 4M >/dev/null 2>&1 || fail "mke2fs of the payload disk"
ctl boot big --mem 768 --disk "$T/fill.img" >/dev/null || fail "boot big"
wait_until 180 console_has big 'sbuml-test: filled' || fail "big guest did not fill its memory"
console_has big 'filled 600 MB' || fail "fill incomplete: $(grep -a 'sbuml-test' "$(console_of big)")"
big_pid=$(info_field big pid)
# Killed once the writer has put 8 MB of the ~600 MB on disk.
python3 "$T/savekill.py" "$SOCK" big killed-writing "$big_pid" writing $((8 << 20)) >"$T/writerkill.log" 2>&1 ||
	fail "kill -9 during the kernel's writer: $(cat "$T/writerkill.log")"
grep -q 'died' "$T/writerkill.log" || fail "unclear error: $(cat "$T/writerkill.log")"
wait_until 20 state_is big crashed || fail "big not crashed: $(info_field big state)"
wait_until 20 sh -c "[ -z \"\$(ls -A '$STATE/snapshots' | grep -e killed-writing -e partial)\" ]" ||
	fail "the killed save left something behind: $(ls -A "$STATE/snapshots")"
ctl ping >/dev/null || fail "daemon unhealthy after kill -9 during writing"
ctl snapshot info killed-writing 2>/dev/null && fail "a snapshot of the killed save exists"
# The store is consistent: the earlier snapshots still verify, gc works.
ctl snapshot verify first >/dev/null || fail "snapshot first no longer verifies"
ctl snapshot gc >/dev/null || fail "store gc after the killed save"
ctl snapshot verify first >/dev/null || fail "snapshot first does not verify after gc"
say "kill -9 while the kernel's writer runs: $(grep killed: "$T/writerkill.log")"
say "ok"
