#!/bin/sh
# SPDX-License-Identifier: MIT
# A live UML is never lost (issue 9, row 7).  A boot whose process cannot be
# recorded in run.json (a full state disk) fails and kills the UML, and a
# restarted daemon finds no orphan; a machine whose record was lost is not
# deleted from under its live UML.  The daemon keeps answering.  Needs root
# (a small tmpfs): CI runs as root.
TEST_NAME=lost-uml
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
	[ -n "${CI:-}" ] && fail "needs root to mount a small tmpfs"
	say "skipped: needs root"; exit 77
fi

# The machine's error for CMD must contain WORDS, within 20 s (never block).
refused() {
	want=$1; shift
	if timeout 120 "$SBUMLCTL" --socket "$SOCK" "$@" >"$T/out" 2>"$T/err"; then
		fail "$* was accepted: $(cat "$T/out")"
	fi
	grep -q -- "$want" "$T/err" || fail "$*: no \"$want\" in: $(cat "$T/err")"
	say "$*: $(tail -n 1 "$T/err")"
}

start_daemon

# --- Row 7: a live UML is never lost. ---
# A record that was lost (run.json gone): delete must not pull the files.
ctl boot "$T/lost" --mem 64 >/dev/null || fail "boot $T/lost"
wait_until 60 heartbeat_at_least "$T/lost" 1 || fail "no heartbeat in $T/lost"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=""
rm "$(dirname "$(grep -l "\"$T/lost\"" "$STATE"/paths/*/machine.json)")/run.json"
start_daemon
refused "still runs in" delete "$T/lost"
[ -f "$T/lost/disk0.cow" ] || fail "delete removed files under the live UML"
# The admin kills the lost UML and its helpers by hand.
kill_lost() {
	for p in $(uml_pids_under "$T/lost"); do kill -9 "$p" 2>/dev/null || true; done
	[ -z "$(uml_pids_under "$T/lost")" ]
}
wait_until 20 kill_lost || fail "UML of $T/lost does not die"
ctl delete "$T/lost" >/dev/null || fail "delete $T/lost once nothing runs there"
say "row 7: delete refused while a process runs in the directory"

# The state disk is full when the boot records the process: the boot
# fails, the UML is killed, a restarted daemon finds no orphan.
H="$T/small"
mkdir -p "$H"
mount -t tmpfs -o size=3m,mode=0711 sbuml-test "$H" || fail "mount tmpfs"
UMOUNTS="$H"
start_other_daemon "$H"
ctlb() { "$SBUMLCTL" --socket "$H/s.sock" "$@"; }
B="$H/state/machines/b"
no_uml_in_b() { [ -z "$(uml_pids_under "$B")" ]; }
ctlb boot b --mem 64 >/dev/null || fail "boot b"
ctlb kill b >/dev/null || fail "kill b"
# What the next start removes (the killed UML's uml/pid) would free a page.
rm -rf "$B/uml"
dd if=/dev/zero of="$H/fill" bs=64k 2>/dev/null || true
! ctlb boot b >"$T/out" 2>"$T/err" || fail "boot with a full state disk succeeded"
grep -q "cannot record" "$T/err" || fail "boot on a full state disk: $(cat "$T/err")"
say "full state disk: $(tail -n 1 "$T/err")"
wait_until 20 no_uml_in_b || fail "a UML runs in $B after the failed boot"
for p in $OTHER_PIDS; do kill -9 "$p"; wait "$p" 2>/dev/null || true; done
OTHER_PIDS=""
start_other_daemon "$H"
st=$(ctlb --json info b | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
[ "$st" != running ] && [ "$st" != booting ] || fail "b shown $st"
rm "$H/fill"
ctlb delete b >/dev/null || fail "delete b"
say "row 7: a boot that cannot record its UML fails and leaves none behind"

ctl ping >/dev/null || fail "the daemon stopped answering"
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes"
say "ok"
