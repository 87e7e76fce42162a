#!/bin/sh
# SPDX-License-Identifier: MIT
# Restore: a saved machine comes back exactly where it was, as a new machine
# beside the original; init is not re-run, heartbeats count on from the save,
# every in-guest checker keeps passing in the clone and in the original.
TEST_NAME=restore
. "$(dirname "$0")/lib.sh"

start_daemon
ctl boot orig --mem 128 --disk "$SBUML_PAYLOAD" >/dev/null || fail "boot"
wait_until 90 console_has orig 'CHECK clockcheck ok' || fail "checkers did not start"
wait_until 30 heartbeat_at_least orig 5 || fail "no heartbeats"

# The save instant lies between these two readings of the original's count.
before_save=$(heartbeat orig)
snap=$(ctl save orig s1 2>/dev/null) || fail "save"
at_save=$(heartbeat orig)
ctl restore s1 clone >/dev/null || fail "restore"
state_is clone running || fail "clone not running: $(info_field clone state)"
[ "$(info_field clone pid)" != "$(info_field orig pid)" ] || fail "clone has the original's pid"

# The clone carries on: its first heartbeat continues the original's count.
wait_until 30 heartbeat_at_least clone 1 || fail "clone prints no heartbeat: $(tail -5 "$(console_of clone)")"
first=$(grep -a -o 'sbuml-heartbeat [0-9]*' "$(console_of clone)" | head -n 1 | awk '{print $2}')
[ "$first" -ge "$before_save" ] && [ "$first" -le $((at_save + 1)) ] ||
	fail "clone's first heartbeat is $first, the original was between $before_save and $at_save when saved"
console_has clone 'sbuml-guest: up' && fail "init ran again in the clone"
wait_until 30 heartbeat_at_least clone $((first + 3)) || fail "clone heartbeats stopped"
wait_until 30 heartbeat_at_least orig $((at_save + 3)) || fail "original heartbeats stopped"
say "clone counts on from $first (original was at $at_save)"

# Every checker passes in both, well after the restore.
sleep 12
for m in orig clone; do
	console_has $m 'FAIL' && fail "$m: $(grep -a FAIL "$(console_of $m)" | head -5)"
	for c in memcheck fpucheck pipecheck sockcheck sigcheck threadcheck forktree filecheck clockcheck; do
		grep -a "CHECK $c ok" "$(console_of $m)" | tail -n 1 | grep -q . || fail "$m: no ok from $c"
	done
done
[ "$(grep -ac 'CHECK .* ok ' "$(console_of clone)")" -ge 9 ] || fail "clone checkers not reporting"
say "checkers pass in original and clone"

# Each is its own machine: halting the clone leaves the original untouched.
cpid=$(info_field clone pid)
ctl halt clone >/dev/null || fail "halt clone"
kill -0 "$cpid" 2>/dev/null && fail "clone pid alive after halt"
[ -z "$(uml_pids_under "$STATE/machines/clone")" ] || fail "stray clone processes"
a=$(heartbeat orig); wait_until 10 heartbeat_at_least orig $((a + 2)) || fail "original hurt by the clone's halt"
[ -S "$STATE/machines/orig/uml/mconsole" ] || fail "the clone's halt removed the original's mconsole socket"
ctl pause orig >/dev/null && ctl resume orig >/dev/null || fail "original no longer controllable"
ctl halt orig >/dev/null || fail "halt original"
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes: $(uml_pids_under "$T")"
say "ok"
