#!/bin/sh
# SPDX-License-Identifier: MIT
# One snapshot restored three times at once gives three independent machines
# with their own randomness; a restored machine saves and restores again for
# three generations; a stop-mode save restores paused; bad input is refused
# before anything is created.
TEST_NAME=restore-clones
. "$(dirname "$0")/lib.sh"

# Every restore gets /dev/userfaultfd at fd 4 beside the guest memory at fd 3
# (uml.h), refused ones included: they must still fail cleanly.
start_daemon
ctl boot g0 --mem 96 --disk "$SBUML_PAYLOAD" >/dev/null || fail "boot"
wait_until 60 heartbeat_at_least g0 3 || fail "no heartbeat"
wait_until 90 console_has g0 'CHECK clockcheck ok' || fail "checkers did not start"
# --raw: the refusal checks below truncate and remove capture files.
ctl save g0 base --raw >/dev/null 2>&1 || fail "save"
base_lines=$(console_lines g0)	# g0's later console lines are post-save

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
# Every checker makes progress in each clone (iterations above what g0
# printed before the save) and, after the save, in the original.
for m in c1 c2 c3; do
	checks_progress $m 0 g0 "$base_lines" || fail "$m: checkers make no progress after the restore"
done
checks_progress g0 "$base_lines" || fail "g0: checkers make no progress after the save"
say "every checker counts on in g0, c1, c2, c3"

# Killing a clone touches no other machine: not the original, not the
# other clones (each has its own processes, mconsole and disk).
g0pid=$(info_field g0 pid); c1pid=$(info_field c1 pid); c2pid=$(info_field c2 pid)
c3pid=$(info_field c3 pid)
[ -n "$g0pid" ] && [ -n "$c1pid" ] && [ -n "$c2pid" ] && [ -n "$c3pid" ] || fail "pids: g0=$g0pid c1=$c1pid c2=$c2pid c3=$c3pid"
[ -n "$(uml_pids_under "$STATE/machines/c3")" ] || fail "c3 has no host processes to kill"
hg=$(heartbeat g0); h1=$(heartbeat c1); h2=$(heartbeat c2)
ctl kill c3 >/dev/null || fail "kill c3"
state_is c3 stopped || fail "c3 after kill: $(info_field c3 state)"
wait_until 10 sh -c "! kill -0 $c3pid" || fail "c3's pid $c3pid alive after kill"
no_procs_under() { [ -z "$(uml_pids_under "$1")" ]; }
wait_until 10 no_procs_under "$STATE/machines/c3" ||
	fail "c3 processes left: $(uml_pids_under "$STATE/machines/c3")"
for m in g0 c1 c2; do state_is $m running || fail "$m not running after c3's kill: $(info_field $m state)"; done
[ "$(info_field g0 pid)" = "$g0pid" ] && kill -0 "$g0pid" || fail "g0's pid $g0pid changed or died"
[ "$(info_field c1 pid)" = "$c1pid" ] && kill -0 "$c1pid" || fail "c1's pid $c1pid changed or died"
[ "$(info_field c2 pid)" = "$c2pid" ] && kill -0 "$c2pid" || fail "c2's pid $c2pid changed or died"
wait_until 30 heartbeat_at_least g0 $((hg + 3)) || fail "g0's heartbeats stopped after c3's kill"
wait_until 30 heartbeat_at_least c1 $((h1 + 3)) || fail "c1's heartbeats stopped after c3's kill"
wait_until 30 heartbeat_at_least c2 $((h2 + 3)) || fail "c2's heartbeats stopped after c3's kill"
# g0's mconsole answers: pause stops its guest, resume lets it go on.
[ -S "$STATE/machines/g0/uml/mconsole" ] || fail "c3's kill removed g0's mconsole socket"
ctl pause g0 >/dev/null || fail "g0 no longer pauses"
state_is g0 paused || fail "g0 not paused: $(info_field g0 state)"
sleep 1; hp=$(heartbeat g0); sleep 3
[ "$(heartbeat g0)" -le $((hp + 1)) ] || fail "paused g0 went on counting: $hp -> $(heartbeat g0)"
ctl resume g0 >/dev/null || fail "g0 no longer resumes"
state_is g0 running || fail "g0 not running after resume: $(info_field g0 state)"
wait_until 30 heartbeat_at_least g0 $((hp + 3)) || fail "g0 does not count on after resume"
[ "$(info_field g0 pid)" = "$g0pid" ] || fail "g0's pid changed"
lk=$(console_lines g0)
checks_progress g0 "$lk" || fail "g0: checkers make no progress after c3's kill"
say "killing c3 left g0 (pid $g0pid), c1 and c2 running and controllable"
ctl kill c2 >/dev/null || fail "kill c2"	# fewer guests on a shared host

# Generations: save a restored machine, restore that, three times over.
prev=c1
for gen in 1 2 3; do
	ctl save $prev gen$gen >/dev/null 2>&1 || fail "save generation $gen"
	lines=$(console_lines $prev)
	ctl restore gen$gen m$gen >/dev/null || fail "restore generation $gen"
	h=$(heartbeat $prev)
	wait_until 30 heartbeat_at_least m$gen $((h + 2)) || fail "generation $gen not counting on"
	console_has m$gen 'sbuml-guest: up' && fail "init re-ran in generation $gen"
	# Fresh ok lines from every checker before m$gen is saved in turn.
	checks_progress m$gen 0 $prev "$lines" || fail "generation $gen: checkers make no progress"
	prev=m$gen
done
say "3 generations"

# A stop-mode save restores paused; resume lets it go on.
ctl save g0 frozen --stop >/dev/null 2>&1 || fail "save --stop"
state_is g0 paused || fail "g0 not paused after save --stop: $(info_field g0 state)"
frozen_lines=$(console_lines g0)
ctl restore frozen fz --paused >/dev/null || fail "restore paused"
state_is fz paused || fail "fz not paused"
sleep 2
[ "$(heartbeat fz)" -eq 0 ] || fail "paused restore ran"
ctl resume fz >/dev/null || fail "resume fz"
wait_until 30 heartbeat_at_least fz 1 || fail "fz does not run after resume"
checks_progress fz 0 g0 "$frozen_lines" || fail "fz: checkers make no progress after resume"
ctl kill fz >/dev/null || fail "kill fz"
ctl resume g0 >/dev/null || fail "resume g0"
checks_progress g0 "$frozen_lines" || fail "g0: checkers make no progress after its resume"
say "stop-mode save: restored paused, resumed, every checker counts on"

# The same stop-mode snapshot restored with continue (the default): the
# daemon resumes it itself.
ctl restore frozen fz2 >/dev/null || fail "restore frozen (continue)"
state_is fz2 running || fail "fz2 restored with continue is $(info_field fz2 state), not running"
hf=$(heartbeat g0)
wait_until 30 heartbeat_at_least fz2 1 || fail "fz2 prints no heartbeat"
h=$(heartbeat fz2)
wait_until 30 heartbeat_at_least fz2 $((h + 2)) || fail "fz2 heartbeats do not go on"
checks_progress fz2 0 g0 "$frozen_lines" || fail "fz2: checkers make no progress"
state_is fz2 running || fail "fz2 no longer running: $(info_field fz2 state)"
say "stop-mode snapshot restored with continue runs by itself"

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

# A host lacking what the snapshot's host had (a CPU feature, another XSAVE
# size) is refused from the manifest's host facts, before any machine
# directory or UML process exists.  "base" is a raw snapshot, "gen1" a
# chunk-store one; their copies sit beside them in the same state dir.
jedit() { python3 -c 'import json,sys; p=sys.argv[1]; j=json.load(open(p)); exec(sys.argv[2]); json.dump(j, open(p, "w"), indent=1)' "$1" "$2"; }
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
listed() { ctl --json list | python3 -c 'import json,sys; sys.exit(0 if sys.argv[1] in [m["machine"] for m in json.load(sys.stdin)["machines"]] else 1)' "$1"; }
daemon_children() { ps -o pid= --ppid "$DAEMON_PID" | sort -n | tr -d ' ' | tr '\n' ' '; }
# expect_host_refusal SNAPSHOT MACHINE WORD: refused as Incompatible,
# naming WORD, by sbumlctl and by the RPC (code -32011), nothing created.
expect_host_refusal() {
	kids_before=$(daemon_children)
	st=0; ctl restore "$1" "$2" >"$T/hr.out" 2>&1 || st=$?
	[ "$st" -ne 0 ] || fail "$1: restore on a host without $3 accepted"
	grep -q "Incompatible: " "$T/hr.out" || fail "$1: not Incompatible: $(cat "$T/hr.out")"
	grep -q "$3" "$T/hr.out" || fail "$1: the refusal does not name $3: $(cat "$T/hr.out")"
	st=0; rpc snapshot.restore "{\"snapshot\": \"$1\", \"machine\": \"$2\"}" >"$T/hr.json" 2>&1 || st=$?
	[ "$st" -eq 1 ] || fail "$1: rpc restore status $st: $(cat "$T/hr.json")"
	[ "$(jget "$T/hr.json" 'j["code"]')" = -32011 ] && [ "$(jget "$T/hr.json" 'j["data"]["name"]')" = Incompatible ] ||
		fail "$1: rpc error is not -32011 Incompatible: $(cat "$T/hr.json")"
	jget "$T/hr.json" 'j["data"].get("reason", j["message"])' | grep -q "$3" ||
		fail "$1: rpc error does not name $3: $(cat "$T/hr.json")"
	[ ! -e "$STATE/machines/$2" ] || fail "$1: refused restore created $STATE/machines/$2"
	listed "$2" && fail "$1: machine.list shows the refused $2"
	# Every UML kernel is a child of sbumld: no new one came and went.
	[ "$(daemon_children)" = "$kids_before" ] ||
		fail "$1: sbumld started a process: $kids_before -> $(daemon_children)"
	[ -z "$(uml_pids_under "$STATE/machines/$2")" ] || fail "$1: processes in $2"
	ctl info "$2" >/dev/null 2>&1 && fail "$1: $2 exists after the refusal"
	say "$1 refused (sbumld children: $kids_before): $(grep -o 'Incompatible: .*' "$T/hr.out")"
}
M="$STATE/snapshots/base/manifest.json"
ebx=$(jget "$M" 'int(j["host"]["cpuid7_ebx"], 16)') || fail "no host.cpuid7_ebx in $M"
set -- $(missing_cpuid7_bit "$ebx")
[ $# -ge 2 ] || fail "this host has every CPUID 7 ebx bit"
b=$1; shift; fname="$*"
cp -a "$STATE/snapshots/base" "$STATE/snapshots/othercpu"
jedit "$STATE/snapshots/othercpu/manifest.json" "h=j['host']; h['cpuid7_ebx']=hex(int(h['cpuid7_ebx'],16) | 1 << $b)"
expect_host_refusal othercpu x5 "cpuid 7 ebx 0x$(printf '%08x' $((1 << b))) ($fname)"
grep -q "cpu" "$T/hr.out" || fail "othercpu: no mention of the cpu: $(cat "$T/hr.out")"
cp -a "$STATE/snapshots/gen1" "$STATE/snapshots/othercpu2"
jedit "$STATE/snapshots/othercpu2/manifest.json" "h=j['host']; h['cpuid7_ebx']=hex(int(h['cpuid7_ebx'],16) | 1 << $b)"
expect_host_refusal othercpu2 x6 "($fname)"
if [ "$(jget "$M" 'int(j["host"]["xcr0"], 16)')" -ne 0 ]; then
	for s in base gen1; do
		cp -a "$STATE/snapshots/$s" "$STATE/snapshots/otherxs-$s"
		jedit "$STATE/snapshots/otherxs-$s/manifest.json" "j['host']['xstate_size'] += 64"
		expect_host_refusal otherxs-$s x7 "xstate"
		grep -q "XSAVE area" "$T/hr.out" || fail "otherxs-$s: $(cat "$T/hr.out")"
	done
else
	say "SKIP xstate refusal: this host has no XSAVE"
fi
# The unedited copy of the same snapshot is restorable: the refusals above
# come from the edited host facts alone.
cp -a "$STATE/snapshots/gen1" "$STATE/snapshots/samehost"
ctl restore samehost x8 >/dev/null || fail "the unedited copy is not restorable"
state_is x8 running || fail "x8 not running"
ctl kill x8 >/dev/null || fail "kill x8"
say "refusals"

# Every checker stayed clean in every machine.
for c in "$STATE"/machines/*/console.log; do
	grep -aq 'CHECK .* FAIL' "$c" && fail "$c: $(grep -a 'CHECK .* FAIL' "$c" | head -3)"
done

for m in $(ctl --json list | python3 -c 'import json,sys; print(" ".join(m["machine"] for m in json.load(sys.stdin)["machines"] if m["state"] not in ("stopped","crashed")))'); do
	ctl halt "$m" --timeout 60 >/dev/null || fail "halt $m"
done
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes after halting every machine"
say "ok"
