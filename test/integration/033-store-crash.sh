#!/bin/sh
# SPDX-License-Identifier: MIT
# kill -9 of sbumld in the middle of a save or a restore leaves no half
# snapshot and a consistent chunk store: the next daemon re-adopts the
# machines and removes what the dead one left half-done (work directories of
# named saves and, through the journal, of path saves; a restore's
# materialised capture; uncommitted packs), store.gc then collects the
# orphaned chunks, every saved snapshot still verifies and restores, and
# saving works again.  Three kill points: (a) a named and a path save held
# before the kernel is asked (SBUMLD_TEST_SAVE_DELAY_MS), (b) a path save in
# its storing phase with chunks written (SBUMLD_TEST_STORE_DELAY_MS), (c) a
# restore while its capture is materialised in store/tmp
# (SBUMLD_TEST_RESTORE_DELAY_MS).
TEST_NAME=store-crash
. "$(dirname "$0")/lib.sh"

SNAPS="$T/snaps"	# parent of the path snapshots
mkdir -p "$SNAPS"

# jget FILE EXPR: evaluate a Python expression on the JSON in FILE (as j).
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# The store's committed chunk files: packs and their indexes (and loose
# chunk files of older stores).
chunk_list() { find "$STATE/store/packs" "$STATE/store/chunks" -type f \( -name '*.zst' -o -name '*.pack' -o -name '*.idx' \) ! -name '.tmp-*' 2>/dev/null | sort; }
# Bytes in the pack a save is writing (it is committed only at the end).
pack_tmp_bytes() { cat "$STATE"/store/packs/.tmp-*.pack 2>/dev/null | wc -c; }
# Everything a dead daemon can leave half-done, one path a line.
leftovers() {
	find "$STATE" "$SNAPS" \( -name '.*.partial-*' -o -path '*/store/tmp/*' \
		-o -name '.tmp-*' \) -print 2>/dev/null
}
kill_daemon() {
	kill -9 "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=""
}
log_lines() { grep -c "$1" "$T/daemon.log" || true; }
snapshot_names() { rpc snapshot.list | python3 -c 'import json,sys; print(" ".join(s["snapshot"] for s in json.load(sys.stdin)["snapshots"]))'; }
verify() { rpc snapshot.verify "{\"snapshot\": \"$1\"}" >"$T/v.json" || fail "$1 does not verify: $(cat "$T/v.json")"; }

# killer.py: SIGKILL the daemon at a precise point.
#   killer.py PID glob PATTERN            once a path matching PATTERN exists
#   killer.py PID save SOCK PARAMS PHASE PACKS N
#       after sending snapshot.save PARAMS, once a job.progress of PHASE with
#       bytes > 0 arrives and a pack being written in PACKS (.tmp-*.pack)
#       holds more than N bytes
cat >"$T/killer.py" <<'PY'
import glob, json, os, signal, socket, sys, time
pid = int(sys.argv[1])
end = time.monotonic() + 120
if sys.argv[2] == "glob":
    while time.monotonic() < end:
        hit = glob.glob(sys.argv[3])
        if hit:
            os.kill(pid, signal.SIGKILL)
            print("killed: %s exists" % hit[0])
            sys.exit(0)
        time.sleep(0.001)
    sys.exit("killer: %s never appeared" % sys.argv[3])
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[3])
s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "snapshot.save",
                      "params": json.loads(sys.argv[4])}).encode() + b"\n")
f = s.makefile("rb")
for line in f:
    msg = json.loads(line)
    if "id" in msg:
        sys.exit("killer: the save finished first: %s" % msg)
    p = msg.get("params", {})
    if msg.get("method") == "job.progress" and p.get("phase") == sys.argv[5] and p.get("bytes", 0) > 0 \
            and any(os.path.getsize(t) > int(sys.argv[7]) for t in glob.glob(sys.argv[6] + "/.tmp-*.pack")):
        os.kill(pid, signal.SIGKILL)
        print("killed: phase %s, %d bytes" % (p["phase"], p["bytes"]))
        sys.exit(0)
sys.exit("killer: connection closed")
PY

# A busy 128 MB guest (its memory keeps changing) and a small idle one.
start_daemon
seed=$(( $(od -An -N3 -tu4 /dev/urandom | tr -d ' ') % 900000 + 100000 ))
ctl boot a --mem 128 --disk "$SBUML_PAYLOAD" --cmdline "sbuml.seed=$seed" >/dev/null || fail "boot a"
ctl boot b --mem 64 >/dev/null || fail "boot b"
wait_until 90 console_has a 'CHECK memcheck ok' || fail "a: the payload did not start"
wait_until 60 heartbeat_at_least b 2 || fail "b: no heartbeat"
pid_a=$(info_field a pid); pid_b=$(info_field b pid)
rpc snapshot.save '{"machine": "a", "snapshot": "base", "store": true}' >"$T/s.json" || fail "save base: $(cat "$T/s.json")"
verify base
[ -z "$(leftovers)" ] || fail "a good save left $(leftovers)"
say "saved base ($(jget "$STATE/snapshots/base/manifest.json" 'j["store"]["new_chunks"]') chunks)"

# Restart the daemon (after kill -9) and check what every case must hold.
restart_and_check() {	# restart_and_check CASE
	start_daemon
	[ -z "$(leftovers)" ] || fail "$1: left after recovery: $(leftovers)"
	state_is a running && [ "$(info_field a pid)" = "$pid_a" ] || fail "$1: a not re-adopted: $(ctl --json info a)"
	state_is b running && [ "$(info_field b pid)" = "$pid_b" ] || fail "$1: b not re-adopted: $(ctl --json info b)"
	[ "$(snapshot_names)" = base ] || fail "$1: snapshot.list shows $(snapshot_names)"
	verify base
}

# (a) kill -9 while a named and a path save wait before the kernel is asked.
kill_daemon
SBUMLD_TEST_SAVE_DELAY_MS=30000 start_daemon
rpc snapshot.save '{"machine": "a", "snapshot": "n1", "store": true}' >/dev/null 2>&1 &
rpc snapshot.save "{\"machine\": \"b\", \"snapshot\": \"$SNAPS/p1\", \"store\": true}" >/dev/null 2>&1 &
partials_a() { ls -d "$STATE"/snapshots/.n1.partial-* && ls -d "$SNAPS"/.p1.partial-* && ls "$STATE"/store/tmp/partial-*; }
wait_until 20 partials_a || fail "(a): the saves did not start: $(leftovers)"
kill_daemon
wait
say "(a) killed during the capture delay, leaving: $(leftovers | sed "s|$T/||" | tr '\n' ' ')"
n=$(log_lines 'recovery: removed')
restart_and_check "(a)"
[ ! -e "$SNAPS/p1" ] && [ ! -e "$STATE/snapshots/n1" ] || fail "(a): a half snapshot appeared"
[ $(( $(log_lines 'recovery: removed') - n )) -eq 2 ] || fail "(a): recovery did not log both work directories"
say "(a) recovered: both work directories removed (the path one through the journal)"

# (b) kill -9 in the storing phase, after the first chunks are written (to
# packs/.tmp-*.pack: a save commits its pack only at the end).  A reference
# registered just before the rename stands in for the point no timer can hit.
before=$(chunk_list)
kill_daemon
SBUMLD_TEST_STORE_DELAY_MS=30000 start_daemon
python3 "$T/killer.py" "$DAEMON_PID" save "$SOCK" \
	"{\"machine\": \"a\", \"snapshot\": \"$SNAPS/p2\", \"store\": true}" storing \
	"$STATE/store/packs" 16 >"$T/k.out" ||
	fail "(b): $(cat "$T/k.out")"
wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=""
written=$(pack_tmp_bytes)
[ "$written" -gt 16 ] || fail "(b): no chunk was written before the kill"
ls -d "$SNAPS"/.p2.partial-* >/dev/null && ls "$STATE"/store/tmp/partial-* >/dev/null ||
	fail "(b): no work directory or journal entry at the kill: $(leftovers)"
ln -s "$SNAPS/p9" "$STATE/store/refs/00000000000000000000000000000009"
say "(b) $(cat "$T/k.out"), $written bytes of pack written, leaving: $(leftovers | sed "s|$T/||" | sort | tr -s '\n' ' ')"
restart_and_check "(b)"
[ ! -e "$SNAPS/p2" ] || fail "(b): a half snapshot appeared"
rpc store.gc >"$T/gc.json" || fail "(b): store.gc: $(cat "$T/gc.json")"
[ "$(chunk_list)" = "$before" ] || fail "(b): the store after gc is not the store before the killed save"
[ ! -e "$STATE/store/refs/00000000000000000000000000000009" ] || fail "(b): gc kept a reference to a missing snapshot"
[ "$(ls "$STATE/store/refs" | wc -l)" -eq 1 ] || fail "(b): refs: $(ls "$STATE/store/refs")"
verify base
say "(b) recovered: the uncommitted pack removed, gc freed $(jget "$T/gc.json" 'j["chunks"]') chunks, the store is as before the save, base verifies"

# (c) kill -9 while a restore materialises its capture into store/tmp (held
# there by the test knob: materialising is faster than the killer's polling).
kill_daemon
SBUMLD_TEST_RESTORE_DELAY_MS=30000 start_daemon
rpc snapshot.restore '{"snapshot": "base", "machine": "r1"}' >/dev/null 2>&1 &
restoring() { ls -d "$STATE"/store/tmp/restore-* >/dev/null 2>&1; }
wait_until 20 restoring || fail "(c): the restore did not start"
# While it materialises (in a worker thread) the daemon answers, and the
# half-made machine can be neither booted nor deleted.
ctl ping >/dev/null || fail "(c): the daemon does not answer during a restore"
state_is r1 stopped || fail "(c): r1 during its restore: $(ctl --json info r1)"
rpc machine.boot '{"machine": "r1"}' >"$T/b.json" 2>&1 && fail "(c): r1 booted during its restore"
grep -q 'BadState' "$T/b.json" && grep -q 'restore is running' "$T/b.json" || fail "(c): boot of r1: $(cat "$T/b.json")"
rpc machine.delete '{"machine": "r1"}' >"$T/d.json" 2>&1 && fail "(c): r1 deleted during its restore"
grep -q 'BadState' "$T/d.json" && grep -q 'restore is running' "$T/d.json" || fail "(c): delete of r1: $(cat "$T/d.json")"
python3 "$T/killer.py" "$DAEMON_PID" glob "$STATE/store/tmp/restore-*" >"$T/k.out" || fail "(c): $(cat "$T/k.out")"
wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=""
wait
say "(c) $(cat "$T/k.out" | sed "s|$T/||"), leaving: $(leftovers | sed "s|$T/||" | tr '\n' ' ')"
restart_and_check "(c)"
# The half-made machine (its kernel never ran, its disks half written) is gone.
! ctl info r1 >/dev/null 2>&1 || fail "(c): the interrupted restore left machine r1: $(ctl --json info r1)"
[ ! -e "$STATE/machines/r1" ] || fail "(c): $STATE/machines/r1 is still there: $(ls -A "$STATE/machines/r1")"
grep -q "removed machine r1, whose restore was interrupted" "$T/daemon.log" || fail "(c): recovery did not say it removed r1"
say "(c) recovered: no materialised capture left, the half-made machine r1 removed"

# After all that: saves (named and path) work and clean up after themselves,
# every snapshot verifies, a restore runs, gc keeps them all.
at=$(heartbeat a)
rpc snapshot.save '{"machine": "a", "snapshot": "after", "store": true}' >"$T/s.json" || fail "save after: $(cat "$T/s.json")"
rpc snapshot.save "{\"machine\": \"b\", \"snapshot\": \"$SNAPS/p3\", \"store\": true}" >"$T/s.json" || fail "save p3: $(cat "$T/s.json")"
[ -z "$(leftovers)" ] || fail "saves after recovery left $(leftovers)"
rpc snapshot.restore '{"snapshot": "after", "machine": "r2"}' >"$T/r.json" || fail "restore after: $(cat "$T/r.json")"
wait_until 30 heartbeat_at_least r2 $((at + 3)) || fail "r2 does not count on"
rpc store.gc >"$T/gc.json" || fail "store.gc: $(cat "$T/gc.json")"
for s in base after "$SNAPS/p3"; do verify "$s"; done
[ "$(snapshot_names)" = "after base" ] || fail "snapshot.list shows $(snapshot_names)"
[ -z "$(leftovers)" ] || fail "left at the end: $(leftovers)"
for m in a b r2; do ctl kill $m >/dev/null || fail "kill $m"; done
say "after recovery: saves, restore (r2 counts on), gc and verify all work"
grep -a 'recovery' "$T/daemon.log" | sed "s|$T/||; s|^|    |"
say "ok"
