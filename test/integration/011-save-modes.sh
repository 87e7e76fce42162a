#!/bin/sh
# SPDX-License-Identifier: MIT
# Save of a paused machine; save with --stop then resume; a second save
# during the first (SaveInProgress); kill -9 of the UML process during a save
# (error, nothing left behind, daemon fine); a stock-kernel machine refused.
TEST_NAME=save-modes
. "$(dirname "$0")/lib.sh"

# The test knob holds each save for 3 s before the kernel is asked, so the
# races below are deterministic.
SBUMLD_TEST_SAVE_DELAY_MS=3000 start_daemon
ctl boot m --mem 64 >/dev/null || fail "boot"
wait_until 60 heartbeat_at_least m 2 || fail "no heartbeat"

# Paused machine: stays paused, snapshot records state paused.
ctl pause m >/dev/null || fail "pause"
p=$(ctl save m paused-snap 2>/dev/null) || fail "save of a paused machine"
state_is m paused || fail "machine not paused after saving it paused"
grep -q '"state": *"paused"' "$p/manifest.json" || fail "manifest state is not paused"
a=$(heartbeat m); sleep 2
[ "$(heartbeat m)" = "$a" ] || fail "the paused machine ran during/after its save"
ctl resume m >/dev/null || fail "resume"
wait_until 20 heartbeat_at_least m $((a + 2)) || fail "no heartbeat after resume"
say "save of a paused machine"

# --stop: frozen afterwards, resumable.
ctl save m stopped-snap --stop >/dev/null 2>&1 || fail "save --stop"
state_is m paused || fail "not paused after save --stop: $(info_field m state)"
a=$(heartbeat m); sleep 2
[ "$(heartbeat m)" = "$a" ] || fail "machine ran after save --stop"
ctl resume m >/dev/null || fail "resume after --stop"
wait_until 20 heartbeat_at_least m $((a + 2)) || fail "no heartbeat after resume"
say "save --stop then resume"

# A second save while the first runs.
ctl save m first >"$T/first.out" 2>&1 &
first=$!
sleep 1
out=$(ctl save m second 2>&1) && fail "second concurrent save accepted"
echo "$out" | grep -q SaveInProgress || fail "second save: expected SaveInProgress, got: $out"
wait "$first" || fail "first save failed: $(cat "$T/first.out")"
[ ! -e "$STATE/snapshots/second" ] || fail "refused save left a snapshot"
say "SaveInProgress"

# kill -9 of the UML process while its save runs.
ctl save m doomed >"$T/doomed.out" 2>&1 &
doomed=$!
sleep 1
kill -9 "$(info_field m pid)"
wait "$doomed" && fail "save of a killed machine succeeded"
grep -q 'died' "$T/doomed.out" || fail "unclear error: $(cat "$T/doomed.out")"
[ ! -e "$STATE/snapshots/doomed" ] || fail "half snapshot left behind"
ls -a "$STATE/snapshots" | grep -q partial && fail "temporary directory left behind"
ctl ping >/dev/null || fail "daemon unhealthy"
wait_until 20 state_is m crashed || fail "machine not crashed"
say "kill -9 during save"

# A machine on the stock Debian kernel cannot be saved: a clear refusal.
ctl boot stock --mem 64 --kernel "$SBUML_STOCK_KERNEL" >/dev/null || fail "boot stock"
out=$(ctl save stock s 2>&1) && fail "save of a stock-kernel machine accepted"
echo "$out" | grep -q NotSupported || fail "stock kernel: expected NotSupported, got: $out"
[ ! -e "$STATE/snapshots/s" ] || fail "refused save left a snapshot"
ctl kill stock >/dev/null
say "ok"
