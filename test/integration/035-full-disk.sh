#!/bin/sh
# SPDX-License-Identifier: MIT
# A full disk loses nothing: a daemon whose state dir is on a small tmpfs
# refuses an import that does not fit (IoError, no snapshot, no chunk
# temporaries or work directories left), and a save that does not fit fails
# cleanly while the machine runs on and can be saved elsewhere afterwards.
# The daemon keeps serving throughout.  Needs root (mount): CI runs as root.
TEST_NAME=full-disk
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
	[ -n "${CI:-}" ] && fail "needs root to mount a small tmpfs"
	say "skipped: needs root"; exit 77
fi

start_daemon
ctl boot a --mem 64 >/dev/null || fail "boot a"
wait_until 60 heartbeat_at_least a 2 || fail "no heartbeat"
ctl save a s1 >/dev/null 2>&1 || fail "save s1"
ctl export s1 "$T/s1.sbx" >/dev/null || fail "export s1"

# Host 2: its whole state dir on a 3 MiB file system.
H="$T/small"
mkdir -p "$H"
mount -t tmpfs -o size=3m,mode=0711 sbuml-test "$H" || fail "mount tmpfs"
UMOUNTS="$H"
start_other_daemon "$H"
ctlb() { "$SBUMLCTL" --socket "$H/s.sock" "$@"; }
leftovers() { find "$H/state" \( -name '.tmp-*' -o -name '*.partial-*' -o -name 'restore-*' \) 2>/dev/null; }

# An import that does not fit: refused, nothing registered or left over.
! ctlb import "$T/s1.sbx" 2>"$T/err" || fail "a 5 MB import fit in 3 MiB"
grep -q "IoError" "$T/err" && grep -q "No space left on device" "$T/err" || fail "import on a full disk: $(cat "$T/err")"
[ ! -e "$H/state/snapshots/s1" ] || fail "the failed import registered s1"
[ -z "$(leftovers)" ] || fail "the failed import left $(leftovers)"
say "import on a full disk: $(sed 's/^.*failed: //' "$T/err")"
ctlb ping >/dev/null || fail "the daemon died"

# A machine there, then a save that does not fit.
ctlb boot b --mem 64 >/dev/null || fail "boot b on the small disk"
wait_until 60 heartbeat_at_least "$H/state/machines/b" 2 || fail "b does not run"
! ctlb save b sb 2>"$T/err" >/dev/null || fail "a 64 MB guest's save fit in 3 MiB"
grep -q "No space left on device\|ENOSPC" "$T/err" || fail "save on a full disk: $(cat "$T/err")"
[ ! -e "$H/state/snapshots/sb" ] || fail "the failed save left a snapshot"
[ -z "$(leftovers)" ] || fail "the failed save left $(leftovers)"
say "save on a full disk: $(sed 's/^.*: \(IoError\|BadState\)/\1/' "$T/err" | head -n 1)"
h=$(heartbeat "$H/state/machines/b")
wait_until 20 heartbeat_at_least "$H/state/machines/b" $((h + 2)) || fail "b stopped after the failed save"
[ "$("$SBUMLCTL" --socket "$H/s.sock" --json info b | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = running ] || fail "b is not running"
# Saved elsewhere (a raw snapshot on the big disk), it is whole.
ctlb save b "$T/b-raw" --raw >/dev/null 2>&1 || fail "save b elsewhere after the failure"
ctlb snapshot verify "$T/b-raw" >/dev/null || fail "b-raw does not verify"
ctlb restore "$T/b-raw" "$T/b2" >/dev/null || fail "restore b-raw"
wait_until 30 heartbeat_at_least "$T/b2" $((h + 2)) || fail "b2 does not count on"
say "b runs on after the failed save; saved elsewhere and restored, it counts on"

ctlb halt b >/dev/null || fail "halt b"
ctlb halt "$T/b2" >/dev/null || fail "halt b2"
ctl halt a >/dev/null || fail "halt a"
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes"
say "ok"
