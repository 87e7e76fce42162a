#!/bin/sh
# SPDX-License-Identifier: MIT
# Bounded resources (issue 9, rows 10 and 13, and the worker pool):
#  - one connection, then ten, start 1,000 imports on pipes nobody writes to:
#    at most 4 per connection and 32 in all are taken (the rest get
#    LimitExceeded at once), the daemon's threads stay within the pool's 8
#    and its fds bounded, ping answers, and once the clients disconnect
#    their jobs are cancelled: threads and fds go back to what they were and
#    store.gc runs again;
#  - a long snapshot.verify (held by SBUMLD_TEST_VERIFY_DELAY_MS in its
#    worker) does not stop daemon.ping from answering;
#  - connections: four non-root uids asking for 20 subscribed connections
#    each get at most 16 per uid and 56 in all, and root still connects
#    (the last 8 places are root's); idle connections are closed after the
#    idle timeout (SBUMLD_TEST_IDLE_MS) while an events subscriber stays.
TEST_NAME=limits
. "$(dirname "$0")/lib.sh"

jget() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
limits() { python3 "$TEST_SRCDIR/limits.py" "$SOCK" "$DAEMON_PID" "$@"; }

SBUMLD_TEST_VERIFY_DELAY_MS=60000 SBUMLD_TEST_IDLE_MS=5000 start_daemon

# --- Row 10: 1,000 imports on silent pipes. ---
limits imports 1 1000 >"$T/imp1.txt" || fail "limits.py imports 1"
a=$(sed -n 1p "$T/imp1.txt"); b=$(sed -n 2p "$T/imp1.txt")
say "one connection, 1000 imports: $a"
[ "$(jget "$a" 'j["deferred"]')" = 4 ] && [ "$(jget "$a" 'j["refused"]')" = 996 ] || fail "one connection's imports were not capped at 4: $a"
[ "$(jget "$a" 'j["threads"] <= j["base"][0] + 8')" = True ] || fail "threads not bounded: $a"
[ "$(jget "$a" 'j["ping"]')" = True ] || fail "ping did not answer: $a"
[ "$(jget "$a" 'j["gc_during"]["error"]["data"]["name"]')" = BadState ] || fail "gc during the imports: $a"
say "after the disconnect: $b"
[ "$(jget "$b" 'j["back"]')" = True ] || fail "the cancelled imports left threads or fds: $b"
[ "$(jget "$b" '"result" in j["gc_after"]')" = True ] || fail "store.gc still blocked after the disconnect: $b"
limits imports 10 100 >"$T/imp10.txt" || fail "limits.py imports 10"
a=$(sed -n 1p "$T/imp10.txt"); b=$(sed -n 2p "$T/imp10.txt")
say "ten connections, 100 imports each: $a"
[ "$(jget "$a" 'j["deferred"]')" = 32 ] && [ "$(jget "$a" 'j["refused"]')" = 968 ] || fail "all clients' imports were not capped at 32: $a"
[ "$(jget "$a" 'j["threads"] <= j["base"][0] + 8 and j["fds"] <= j["base"][1] + 100')" = True ] || fail "threads or fds not bounded: $a"
[ "$(jget "$b" 'j["back"]')" = True ] || fail "the cancelled imports left threads or fds: $b"
grep -q "import failed: cannot read the stream: Operation canceled" "$T/daemon.log" || fail "the cancelled imports were not reported"
ls -a "$STATE/snapshots" | grep -q silent && fail "a cancelled import left a snapshot"

# --- The worker pool: a long verify does not block the loop. ---
mkdir -p "$T/fake1/capture"
head -c 4096 /dev/zero >"$T/fake1/capture/physmem"
printf '{"format": "sbuml-snapshot", "version": 1, "files": [{"path": "capture/physmem", "size": 4096}]}\n' >"$T/fake1/manifest.json"
rpc snapshot.verify '{"snapshot": "'"$T"'/fake1"}' >"$T/v.json" 2>&1 &
VPID=$!
verify_running() { python3 -c 'import os,sys; t=os.listdir("/proc/%s/task" % sys.argv[1]); sys.exit(0 if len(t) > 1 else 1)' "$DAEMON_PID"; }
wait_until 90 verify_running || fail "the verify's worker thread did not start"
for i in 1 2 3; do
	ctl ping >/dev/null || fail "ping while a verify runs"
done
kill -0 "$VPID" 2>/dev/null || fail "the verify is no longer running: the pings prove nothing"
rpc store.gc >"$T/g.json" && fail "gc ran beside a verify"
grep -q BadState "$T/g.json" || fail "gc during a verify: $(cat "$T/g.json")"
say "ping answered 3 times while the verify ran; gc waits for it"

# --- Row 13: connections per uid, root's places, idle timeout. ---
chmod 711 "$T"; chmod 666 "$SOCK"
limits conns 65534,1,2,3 20 >"$T/conns.txt" || fail "limits.py conns"
a=$(sed -n 1p "$T/conns.txt"); b=$(sed -n 2p "$T/conns.txt")
say "four uids, 20 connections each: $a; root: $b"
[ "$(jget "$a" 'max(j["accepted"].values())')" = 16 ] || fail "a uid got more or fewer than 16 connections: $a"
# (The verify's connection, still waiting, holds one of the 64 places.)
[ "$(jget "$a" 'sum(j["accepted"].values()) <= 56 and j["accepted"]["3"] < 16')" = True ] || fail "non-root uids took more than 56 places: $a"
[ "$(jget "$b" 'j["root_pings"]')" = 8 ] || fail "root was locked out: $b"
limits idle 20 >"$T/idle.txt" || fail "limits.py idle"
a=$(cat "$T/idle.txt")
say "idle: $a"
[ "$(jget "$a" 'j["idle_closed"]')" = 20 ] || fail "idle connections were not closed: $a"
[ "$(jget "$a" 'j["subscribed"] and j["subscriber_ping"]')" = True ] || fail "the subscriber was closed: $a"
wait "$VPID" || fail "verify: $(cat "$T/v.json")"
grep -q '"hashes_checked": false' "$T/v.json" || fail "verify result: $(cat "$T/v.json")"
say "the long verify's connection outlived the idle timeout and got its answer"
