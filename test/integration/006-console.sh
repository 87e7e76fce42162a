#!/bin/sh
# SPDX-License-Identifier: MIT
# The interactive console (machine.console-attach, sbumlctl console
# --attach): a shell on the default guest's console takes commands; one
# writer, many readers; Ctrl-] detaches; the shell goes on in a restored
# clone and in the original after a save; console input works after a
# kill -9 of the daemon; bad requests get clear errors.
TEST_NAME=console
. "$(dirname "$0")/lib.sh"

# attach TAG MACHINE [OPTIONS]: a console client in the background reading
# the FIFO $T/TAG.in (held open here on a descriptor of its own, so it never
# sees end of file) and writing $T/TAG.out and $T/TAG.err; its pid in $T/TAG.pid.
# Both run in $T, so lib.sh's cleanup kills whatever is left of them.
attach() {
	_tag=$1; _m=$2; shift 2
	rm -f "$T/$_tag.in"
	mkfifo "$T/$_tag.in"
	(cd "$T" && exec "$SBUMLCTL" --socket "$SOCK" console "$_m" --attach "$@" \
		<"$T/$_tag.in" >"$T/$_tag.out" 2>"$T/$_tag.err") &
	echo $! >"$T/$_tag.pid"
	# Holds the FIFO open for writing, so the client never reads its end.
	(cd "$T" && exec sleep 100000 <>"$T/$_tag.in" >/dev/null 2>&1) &
	wait_until 30 grep -q "Connected to the console of $_m" "$T/$_tag.err" ||
		fail "$_tag: not attached: $(cat "$T/$_tag.err")"
}
# type TAG TEXT: what a user types on TAG's console.
type_in() { printf '%s\n' "$2" >"$T/$1.in"; }
# saw TAG REGEX: TAG's client has printed a match of REGEX.
saw() { grep -aqE -- "$2" "$T/$1.out"; }
expect() { wait_until 60 saw "$1" "$2" || fail "$1: no '$2' on the console: $(tail -c 600 "$T/$1.out")"; }
running() { kill -0 "$(cat "$T/$1.pid")" 2>/dev/null; }
gone() { ! running "$1"; }

start_daemon
ctl boot a --mem 64 --cmdline sbuml.heartbeat=0 >/dev/null || fail "boot a"
wait_until 60 console_has a "console shell: press Enter" || fail "a: no console shell"

# --- A writer gets a shell. ---
attach w1 a
type_in w1 ""
type_in w1 'echo "RES-$((6 * 7))"'
expect w1 "RES-42"
say "a command typed on the console runs"

# --- A second writer is refused; a reader follows the same output. ---
if ctl console a --attach </dev/null >"$T/w2.out" 2>"$T/w2.err"; then
	fail "a second writer was accepted"
fi
grep -q "another client is writing" "$T/w2.err" || fail "second writer: $(cat "$T/w2.err")"
attach r1 a --read-only
type_in w1 'echo "TWO-$((1 + 1))"'
expect w1 "TWO-2"
expect r1 "TWO-2"
# A reader's keys go nowhere.
printf 'echo "READER-$((3 + 3))"\n' >"$T/r1.in"
type_in w1 'echo "MARK-$((4 + 4))"'
expect w1 "MARK-8"
! saw w1 "READER-6" || fail "a read-only client's input reached the guest"
say "one writer, readers follow"

# --- Ctrl-] detaches; the machine goes on; the writer's place is free. ---
printf '\035' >"$T/w1.in"
wait_until 30 gone w1 || fail "w1 did not detach on Ctrl-]"
wait "$(cat "$T/w1.pid")" || fail "detach: exit status $?"
grep -q "Detached" "$T/w1.err" || fail "detach: $(cat "$T/w1.err")"
state_is a running || fail "a is $(info_field a state) after a detach"
attach w3 a
type_in w3 'X=42; echo "PID-$$-END"'
expect w3 "PID-[0-9]+-END"
shell_pid=$(grep -aoE "PID-[0-9]+-END" "$T/w3.out" | tail -n 1 | tr -dc 0-9)
say "Ctrl-] detached; shell pid $shell_pid"

# --- Save (continue) and restore a clone: the same shell in both. ---
ctl save a s1 >/dev/null || fail "save"
ctl restore s1 b >/dev/null || fail "restore"
attach w4 b
type_in w4 'echo "B-$X-$$"'
expect w4 "B-42-$shell_pid\b"
type_in w3 'echo "A-$X-$$"'
expect w3 "A-42-$shell_pid\b"
say "the console shell goes on in the restored clone and in the original"

# --- The machine stops: attached clients see the end. ---
attach r2 b --read-only
ctl halt b >/dev/null || fail "halt b"
wait_until 60 gone w4 || fail "w4 still attached to a halted machine"
wait_until 60 gone r2 || fail "r2 still attached to a halted machine"
grep -q "closed" "$T/r2.err" || fail "r2: $(cat "$T/r2.err")"
if ctl console b --attach </dev/null 2>"$T/stopped.err"; then
	fail "attached to a stopped machine"
fi
grep -q BadState "$T/stopped.err" || fail "stopped: $(cat "$T/stopped.err")"
say "halt ends the streams; a stopped machine is refused"

# --- kill -9 of the daemon: the clients end; a new daemon's writer types on. ---
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=""
wait_until 30 gone w3 || fail "w3 outlived the daemon"
start_daemon
state_is a running || fail "a not re-adopted"
attach w5 a
type_in w5 'echo "AFTER-$X-$$"'
expect w5 "AFTER-42-$shell_pid\b"
say "console input works after the daemon was restarted"

# --- The raw protocol (doc/rpc.md): bytes right after the request are input. ---
python3 - "$SOCK" <<'EOF' >"$T/raw.out" 2>&1 || fail "raw protocol: $(cat "$T/raw.out")"
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = {"jsonrpc": "2.0", "id": 1, "method": "machine.console-attach",
       "params": {"machine": "a", "write": False}}
s.sendall((json.dumps(req) + "\n").encode())
buf = b""
while b"\n" not in buf:
    buf += s.recv(4096)
line, rest = buf.split(b"\n", 1)
res = json.loads(line)["result"]
assert res == {"machine": "a", "write": False, "stream": "raw"}, res
s.close()
EOF
# A writer (the only one: w5 detaches first) sends its input pipelined.
printf '\035' >"$T/w5.in"
wait_until 30 gone w5 || fail "w5 did not detach"
python3 - "$SOCK" <<'EOF' >"$T/raw2.out" 2>&1 || fail "raw writer: $(cat "$T/raw2.out")"
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = {"jsonrpc": "2.0", "id": 7, "method": "machine.console-attach",
       "params": {"machine": "a"}}
s.sendall((json.dumps(req) + "\necho \"PIPE-$((2 + 3))\"\n").encode())
buf = b""
deadline = time.monotonic() + 60
s.settimeout(60)
while b"PIPE-5" not in buf.split(b"\n", 1)[-1] and time.monotonic() < deadline:
    buf += s.recv(4096)
head = json.loads(buf.split(b"\n", 1)[0])
assert head["id"] == 7 and head["result"]["write"] is True, head
assert b"PIPE-5" in buf.split(b"\n", 1)[1], buf
EOF
say "raw stream protocol"

# --- Bad requests: clear errors, the daemon keeps running. ---
if ctl console nosuch --attach </dev/null 2>"$T/bad1.err"; then fail "attached to no machine"; fi
grep -q NoSuchMachine "$T/bad1.err" || fail "unknown machine: $(cat "$T/bad1.err")"
for params in '{"machine": 5}' '{"machine": "a", "write": "yes"}' '{"machine": "a", "bogus": 1}' '{}'; do
	if rpc machine.console-attach "$params" >"$T/bad2.out" 2>&1; then
		fail "accepted $params"
	fi
	grep -q InvalidParams "$T/bad2.out" || fail "$params: $(cat "$T/bad2.out")"
done
if ctl console a --attach --lines 3 </dev/null 2>/dev/null; then fail "--attach --lines accepted"; fi
ctl ping >/dev/null || fail "daemon gone after bad requests"
state_is a running || fail "a is $(info_field a state)"
say "ok"
