#!/bin/sh
# SPDX-License-Identifier: MIT
# One snapshot restored three times at once gives three independent machines
# with their own randomness; a restored machine saves and restores again for
# three generations; a stop-mode save restores paused; bad input is refused
# before anything is created.
TEST_NAME=restore-clones
. "$(dirname "$0")/lib.sh"

start_daemon
ctl boot g0 --mem 96 --disk "$SBUML_PAYLOAD" >/dev/null || fail "boot"
wait_until 60 heartbeat_at_least g0 3 || fail "no heartbeat"
wait_until 90 console_has g0 'CHECK clockcheck ok' || fail "checkers did not start"
# --raw: the refusal checks below truncate and remove capture files.
ctl save g0 base --raw >/dev/null 2>&1 || fail "save"

# Three clones at once.
rpids=""
for i in 1 2 3; do ctl restore base c$i >"$T/r$i.out" 2>&1 & rpids="$rpids $!"; done
for p in $rpids; do wait "$p" || true; done
for i in 1 2 3; do
	state_is c$i running || fail "c$i not running: $(cat "$T/r$i.out")"
	wait_until 30 heartbeat_at_least c$i 5 || fail "c$i not counting"
done
pids="$(info_field c1 pid) $(info_field c2 pid) $(info_field c3 pid)"
[ "$(echo $pids | tr ' ' '\n' | sort -u | wc -l)" -eq 3 ] || fail "clones share pids: $pids"
# Each clone's CRNG was reseeded: their random values after the restore differ.
second_rand() { grep -a -o 'randcheck info rand=[0-9a-f]*' "$(console_of "$1")" | sed -n 2p | cut -d= -f2; }
has_two_rands() { [ -n "$(second_rand "$1")" ]; }
for i in 1 2 3; do wait_until 30 has_two_rands c$i || fail "c$i prints no random values"; done
rands="$(second_rand c1) $(second_rand c2) $(second_rand c3)"
[ "$(echo $rands | tr ' ' '\n' | sort -u | wc -l)" -eq 3 ] || fail "clones share their random state: $rands"
say "3 concurrent clones run, each with its own randomness"

# Generations: save a restored machine, restore that, three times over.
prev=c1
for gen in 1 2 3; do
	ctl save $prev gen$gen >/dev/null 2>&1 || fail "save generation $gen"
	ctl restore gen$gen m$gen >/dev/null || fail "restore generation $gen"
	h=$(heartbeat $prev)
	wait_until 30 heartbeat_at_least m$gen $((h + 2)) || fail "generation $gen not counting on"
	console_has m$gen 'sbuml-guest: up' && fail "init re-ran in generation $gen"
	prev=m$gen
done
say "3 generations"

# A stop-mode save restores paused; resume lets it go on.
ctl save g0 frozen --stop >/dev/null 2>&1 || fail "save --stop"
ctl restore frozen fz --paused >/dev/null || fail "restore paused"
state_is fz paused || fail "fz not paused"
sleep 2
[ "$(heartbeat fz)" -eq 0 ] || fail "paused restore ran"
ctl resume fz >/dev/null || fail "resume fz"
wait_until 30 heartbeat_at_least fz 1 || fail "fz does not run after resume"
ctl resume g0 >/dev/null || fail "resume g0"

# Refusals, each before anything is created.
expect_refusal() { # NAME ERROR -- args
	name=$1; want=$2; shift 2
	out=$(ctl restore "$@" 2>&1) && fail "$name: restore accepted"
	echo "$out" | grep -q "$want" || fail "$name: expected $want, got: $out"
}
expect_refusal unknown NoSuchSnapshot nosuch x1
expect_refusal exists MachineExists base c1
cp -a "$STATE/snapshots/base" "$STATE/snapshots/trunc"
truncate -s 4096 "$STATE/snapshots/trunc/capture/physmem"
expect_refusal truncated BadSnapshot trunc x2
cp -a "$STATE/snapshots/base" "$STATE/snapshots/nometa"
rm "$STATE/snapshots/nometa/capture/meta"
expect_refusal incomplete BadSnapshot nometa x3
cp -a "$STATE/snapshots/base" "$STATE/snapshots/otherkernel"
# Written by another kernel build: neither the machine's kernel nor ours has it.
sed -i 's|"build_id": *"[0-9a-f]*"|"build_id": "00112233445566778899aabbccddeeff00112233"|' "$STATE/snapshots/otherkernel/manifest.json"
expect_refusal otherkernel Incompatible otherkernel x4
for x in x1 x2 x3 x4; do [ ! -e "$STATE/machines/$x" ] || fail "refused restore left $x behind"; done
say "refusals"

# Every checker stayed clean in every machine.
for c in "$STATE"/machines/*/console.log; do
	grep -aq 'CHECK .* FAIL' "$c" && fail "$c: $(grep -a 'CHECK .* FAIL' "$c" | head -3)"
done

for m in $(ctl --json list | python3 -c 'import json,sys; print(" ".join(m["machine"] for m in json.load(sys.stdin)["machines"] if m["state"] not in ("stopped","crashed")))'); do
	ctl halt "$m" --timeout 10 >/dev/null || fail "halt $m"
done
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes after halting every machine"
say "ok"
