#!/bin/sh
# SPDX-License-Identifier: MIT
# A UML that dies unexpectedly becomes `crashed` with an event; a daemon
# killed with SIGKILL loses no machine: the next one re-adopts it.
TEST_NAME=crash-readopt
. "$(dirname "$0")/lib.sh"

# b's kernel gets /dev/userfaultfd; the re-adopting daemon must still say so.
if uffd_dev_ok; then want_uffd=True; else want_uffd=False; fi
start_daemon
ctl boot b --mem 64 >/dev/null || fail "boot b"
wait_until 60 heartbeat_at_least b 1 || fail "b: no heartbeat"
[ "$(uffd_of b)" = "$want_uffd" ] || fail "b: uffd is $(uffd_of b), want $want_uffd"

# kill -9 of sbumld: machines live on and are re-adopted.
pid_b=$(info_field b pid)
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=""
kill -0 "$pid_b" || fail "b died with the daemon"
# The new daemon passes no device: what b reports comes from its run.json.
start_daemon --no-userfaultfd
state_is b running || fail "b not re-adopted as running: $(info_field b state)"
[ "$(info_field b pid)" = "$pid_b" ] || fail "b re-adopted with another pid"
[ "$(uffd_of b)" = "$want_uffd" ] || fail "re-adopted b: uffd is $(uffd_of b), want $want_uffd"
[ "$want_uffd" = False ] || [ "$(fd4_of "$pid_b")" = /dev/userfaultfd ] ||
	fail "re-adopted b's kernel no longer holds /dev/userfaultfd at fd 4"
ctl pause b >/dev/null || fail "pause after re-adopt"
ctl resume b >/dev/null || fail "resume after re-adopt"
say "re-adopted after kill -9 of the daemon"

# a is booted by this daemon (its child, so its exit status is known).
ctl boot a --mem 64 >/dev/null || fail "boot a"
[ "$(uffd_of a)" = False ] || fail "a: uffd is $(uffd_of a) under --no-userfaultfd"

# kill -9 of a UML kernel process: crashed, with an event.
ctl events --count 1 --json >"$T/events" 2>&1 &
ev=$!
sleep 1
pid_a=$(info_field a pid)
kill -9 "$pid_a"
wait_until 20 state_is a crashed || fail "a not crashed after kill -9"
wait_until 10 grep -q crashed "$T/events" || fail "no crashed event: $(cat "$T/events")"
wait "$ev" 2>/dev/null || true
grep -q '"machine": *"a"' "$T/events" || fail "event does not name the machine: $(cat "$T/events")"
[ -z "$(uml_pids_under "$STATE/machines/a")" ] || fail "helpers of the crashed machine still alive"
ctl --json info a | grep -q console_tail || fail "crashed info has no console tail"
# doc/rpc.md: a machine killed by a signal has "exit": {"status": null, "signal": N}.
ctl --json info a | python3 -c '
import json, sys
e = json.load(sys.stdin).get("exit")
assert isinstance(e, dict), "no exit object: %r" % (e,)
assert e.get("signal") == 9 and e.get("status") is None, "exit is %r, want signal 9, status null" % (e,)
' || fail "exit object of a kill -9: $(ctl --json info a)"
say "kill -9 of UML -> crashed event"

# The re-adopted machine also reports a crash (exit status unknown).
kill -9 "$pid_b"
wait_until 20 state_is b crashed || fail "re-adopted b not crashed after kill -9"
# Not sbumld's child: the exit status is unknown, both members null.
ctl --json info b | python3 -c '
import json, sys
e = json.load(sys.stdin).get("exit")
assert e == {"status": None, "signal": None}, "exit is %r, want both null" % (e,)
' || fail "exit object of a re-adopted machine: $(ctl --json info b)"
say "ok"
