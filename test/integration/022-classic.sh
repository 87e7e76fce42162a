#!/bin/sh
# SPDX-License-Identifier: MIT
# The classic workflow of the seed, verbatim:
#   sbumlboot /tmp/mymachine
#   sbumlsave /tmp/mymachine /tmp/mysnap -f -c
#   sbumlrestore /tmp/acopy /tmp/mysnap-<unique> -c
TEST_NAME=classic
. "$(dirname "$0")/lib.sh"

cli() { prog=$1; shift; "$(dirname "$SBUMLCTL")/$prog" --socket "$SOCK" "$@"; }
start_daemon
cli sbumlboot "$T/mymachine" >/dev/null || fail "sbumlboot"
wait_until 60 heartbeat_at_least "$T/mymachine" 3 || fail "no heartbeat"

snap=$(cli sbumlsave "$T/mymachine" "$T/mysnap" -f -c) || fail "sbumlsave"
case "$snap" in "$T"/mysnap-?*) ;; *) fail "sbumlsave printed '$snap', want $T/mysnap-<unique>" ;; esac
[ -f "$snap/manifest.json" ] || fail "no snapshot at $snap"
state_is "$T/mymachine" running || fail "-c: the machine should continue"
at=$(heartbeat "$T/mymachine")

cli sbumlrestore "$T/acopy" "$snap" -c >/dev/null || fail "sbumlrestore"
state_is "$T/acopy" running || fail "restored copy not running"
wait_until 30 heartbeat_at_least "$T/acopy" $((at + 2)) || fail "the copy does not count on from $at"
[ -e "$T/acopy/console.log" ] && [ -e "$T/acopy/disk0.cow" ] || fail "the copy's resources are not in its dir"

# The prefix alone names the snapshot when it is unambiguous.
cli sbumlrestore "$T/bcopy" "$T/mysnap" >/dev/null || fail "sbumlrestore by prefix"
state_is "$T/bcopy" paused || fail "restored without -c should be paused"
# Without -c, sbumlsave leaves the machine frozen.
cli sbumlsave "$T/mymachine" "$T/other" -f >/dev/null || fail "sbumlsave -f"
state_is "$T/mymachine" paused || fail "sbumlsave without -c should leave the machine paused"
# Now two snapshots start with $T/m...: a prefix matching several is refused.
cli sbumlsave "$T/acopy" "$T/mysnap" -f -c >/dev/null || fail "second save under the same prefix"
cli sbumlrestore "$T/ccopy" "$T/mysnap" >/dev/null 2>&1 && fail "an ambiguous prefix was accepted"
for m in "$T/mymachine" "$T/acopy" "$T/bcopy"; do ctl kill "$m" >/dev/null || fail "kill $m"; done
say "ok"
