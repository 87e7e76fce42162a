#!/bin/sh
# SPDX-License-Identifier: MIT
# The classic workflow: `sbumlboot DIR` boots a machine whose resources all
# live in DIR; `du -s DIR` shows them; the machine is addressed by its path.
TEST_NAME=path-machine
. "$(dirname "$0")/lib.sh"

start_daemon
M="$T/mymachine"
"$SBUMLBOOT" --socket "$SOCK" "$M" --mem 64 >/dev/null || fail "sbumlboot $M"
state_is "$M" running || fail "path machine not running"
wait_until 60 heartbeat_at_least "$M" 1 || fail "no heartbeat in $M/console.log"
for f in machine.json console.log disk0.cow uml/mconsole; do
	[ -e "$M/$f" ] || fail "$M/$f missing"
done
# Group sbuml-uml may create its overlays there; sticky keeps the rest ours.
[ "$(stat -c %a "$M")" = 1770 ] || fail "machine dir mode is $(stat -c %a "$M"), want 1770"
kb=$(du -sk "$M" | cut -f1)
[ "$kb" -gt 0 ] || fail "du -s shows nothing"
ctl list | grep -q "$M" || fail "list does not show $M"

# A relative path from the CLI means the same machine.
(cd "$T" && "$SBUMLCTL" --socket "$SOCK" --json info mymachine/) | grep -q "\"$M\"" ||
	fail "relative path with a trailing slash not resolved to $M"
(cd "$T" && "$SBUMLCTL" --socket "$SOCK" --json info ./mymachine) | grep -q "\"$M\"" || fail "relative path not resolved"
ctl boot "$M" 2>/dev/null && fail "second boot of a running machine accepted"

ctl halt "$M" >/dev/null || fail "halt $M"
ctl delete "$M" >/dev/null || fail "delete $M"
[ ! -e "$M" ] || fail "$M still exists after delete"
say "ok"
