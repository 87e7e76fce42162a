#!/bin/sh
# SPDX-License-Identifier: MIT
# Hostile and broken input gets the right JSON-RPC errors and never hurts
# the daemon: malformed JSON, wrong types, unknown methods and params,
# oversized lines, path tricks, bad names.
TEST_NAME=bad-input
. "$(dirname "$0")/lib.sh"

start_daemon
raw() { python3 "$TEST_SRCDIR/rawrpc.py" "$SOCK" "$@"; }
expect_code() { # expect_code CODE LINE: the single answer to LINE carries error CODE
	out=$(raw "$2") || fail "no answer to $2"
	echo "$out" | grep -q "\"code\": *$1" || fail "expected error $1 for $2, got: $out"
}

expect_code -32700 '{"jsonrpc":"2.0","method":"daemon.ping","id":1'
expect_code -32700 'not json at all'
expect_code -32600 '{"jsonrpc":"1.0","method":"daemon.ping","id":1}'
expect_code -32600 '{"jsonrpc":"2.0","method":42,"id":1}'
expect_code -32600 '[]'
expect_code -32600 '{"jsonrpc":"2.0","method":"daemon.ping","id":[1]}'
expect_code -32601 '{"jsonrpc":"2.0","method":"no.such.method","id":1}'
expect_code -32602 '{"jsonrpc":"2.0","method":"machine.info","id":1,"params":[]}'
expect_code -32602 '{"jsonrpc":"2.0","method":"machine.info","id":1,"params":{}}'
expect_code -32602 '{"jsonrpc":"2.0","method":"machine.info","id":1,"params":{"machine":7}}'
expect_code -32602 '{"jsonrpc":"2.0","method":"machine.info","id":1,"params":{"machine":"x","bogus":1}}'
expect_code -32602 '{"jsonrpc":"2.0","method":"machine.boot","id":1,"params":{"machine":"x","mem_mb":-5}}'
expect_code -32602 '{"jsonrpc":"2.0","method":"machine.boot","id":1,"params":{"machine":"x","mem_mb":"lots"}}'
expect_code -32001 '{"jsonrpc":"2.0","method":"machine.info","id":1,"params":{"machine":"nobody"}}'
say "envelope and parameter errors"

for bad in '../etc' '..' '.hidden' '-rf' 'a/../../etc' 'relative/path' '/tmp/../etc/x' '/tmp//x' '/tmp/x/' \
	"$(printf 'x%.0s' $(seq 1 70))" "/tmp/$(printf 'y%.0s' $(seq 1 100))" 'a b' 'a;b' ''; do
	out=$(raw "{\"jsonrpc\":\"2.0\",\"method\":\"machine.boot\",\"id\":1,\"params\":{\"machine\":\"$bad\"}}")
	echo "$out" | grep -q '"code": *-32602' || fail "machine name '$bad' not refused with -32602: $out"
done
out=$(raw '{"jsonrpc":"2.0","method":"machine.boot","id":1,"params":{"machine":"x","image":"/etc/shadow-nonexistent"}}')
echo "$out" | grep -q '"error"' || fail "nonexistent image accepted: $out"
out=$(raw '{"jsonrpc":"2.0","method":"machine.boot","id":1,"params":{"machine":"x","cmdline":"a\nb"}}')
echo "$out" | grep -q '"code": *-32602' || fail "cmdline with newline accepted: $out"
[ ! -e "$STATE/machines/x" ] || fail "a refused boot left $STATE/machines/x behind"
[ ! -e /etc/x ] || fail "something was created outside the state dir"
say "path tricks and bad names refused"

# Batches and notifications.
out=$(raw '[{"jsonrpc":"2.0","method":"daemon.ping","id":1},{"jsonrpc":"2.0","method":"daemon.ping"},{"jsonrpc":"2.0","method":"nope","id":2}]')
echo "$out" | grep -q '^\[' || fail "batch not answered with an array: $out"
echo "$out" | grep -q '"id": *1' && echo "$out" | grep -q '"code": *-32601' || fail "batch answer incomplete: $out"
[ "$(echo "$out" | grep -o '"jsonrpc"' | wc -l)" -eq 2 ] || fail "notification in batch was answered: $out"
out=$(raw '{"jsonrpc":"2.0","method":"daemon.ping"}' '{"jsonrpc":"2.0","method":"daemon.ping","id":"ping-final"}')
[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "notification was answered: $out"
say "batches and notifications"

# Oversized line: error, connection closed, daemon fine.
out=$(raw --big 2000000)
echo "$out" | head -n 1 | grep -q '"code": *-32600' || fail "oversized line not refused: $out"
echo "$out" | tail -n 1 | grep -q closed || fail "connection not closed after oversized line"
ctl ping >/dev/null || fail "daemon does not answer after oversized line"

# Many clients at once: the daemon refuses the excess and keeps serving.
python3 - "$SOCK" <<'PY' || fail "client limit"
import socket, sys, json
socks = []
for i in range(80):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
refused = 0
for s in socks[64:]:
    s.settimeout(5)
    data = s.recv(4096)
    if b"-32000" in data:
        refused += 1
assert refused == 16, refused
for s in socks:
    s.close()
PY
ctl ping >/dev/null || fail "daemon does not answer after client flood"
kill -0 "$DAEMON_PID" || fail "daemon died"
say "ok"
