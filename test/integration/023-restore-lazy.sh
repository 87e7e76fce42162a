#!/bin/sh
# SPDX-License-Identifier: MIT
# Lazy restore (doc/restore.md, "Lazy restore"): a machine running memcheck
# is saved to the chunk store, then restored 8 times at once with
# "memory": "lazy": each clone runs before its memory is in, sbumld's pager
# fills it from the store (faults first, the rest in the background), each
# clone ticks and memcheck finds every page right during and after the
# fill, and the fill reaches done.  Bad "memory" values are refused with a
# clear error; a daemon without the userfaultfd device restores eagerly
# and says why; a pager that dies (a test knob) leaves a failed machine
# whose disk copy is gone.  The fill is slowed (SBUMLD_TEST_PAGER_CHUNK_MS)
# so that the checks see the clones run while it goes on.
TEST_NAME=restore-lazy
. "$(dirname "$0")/lib.sh"

fill_of() { ctl --json info "$1" | python3 -c 'import json,sys; f=json.load(sys.stdin).get("fill") or {}; print(f.get(sys.argv[1], ""))' "$2"; }
fill_done() { [ "$(fill_of "$1" state)" = done ]; }

if ! uffd_dev_ok; then
	say "SKIP: /dev/userfaultfd cannot be opened here (a lazy restore needs it)"
	exit 77
fi
grep -q sbuml_pager= "$SBUML_KERNEL" || { say "SKIP: the kernel has no sbuml_pager="; exit 77; }

# One 64 KiB chunk per 60 ms and pager: what memcheck does not touch (it
# reads all of its memory each round) takes tens of seconds
# (faults fill the chunks they touch at once).
export SBUMLD_TEST_PAGER_CHUNK_MS=60
start_daemon
boot_memcheck g0
ctl save g0 base >/dev/null 2>&1 || fail "save"
ctl kill g0 >/dev/null || fail "kill g0"	# fewer guests on a shared host

# Bad "memory" values: refused before anything is created.
for bad in '"fast"' '1' 'true' '""' '["lazy"]'; do
	st=0; rpc snapshot.restore "{\"snapshot\": \"base\", \"machine\": \"bad\", \"memory\": $bad}" >"$T/bad.json" 2>&1 || st=$?
	[ "$st" -eq 1 ] || fail "memory $bad accepted (status $st): $(cat "$T/bad.json")"
	grep -q 'memory' "$T/bad.json" || fail "memory $bad: the error does not name memory: $(cat "$T/bad.json")"
	[ ! -e "$STATE/machines/bad" ] || fail "memory $bad created a machine"
done
say "bad memory values refused: $(jfield "$T/bad.json" 'j.get("message")')"

# 8 lazy clones at once.
N=8
rpids=""
for i in $(seq 1 $N); do
	rpc snapshot.restore "{\"snapshot\": \"base\", \"machine\": \"c$i\", \"memory\": \"lazy\"}" >"$T/r$i.json" 2>&1 &
	rpids="$rpids $!"
done
for p in $rpids; do wait "$p" || true; done
for i in $(seq 1 $N); do
	[ "$(jfield "$T/r$i.json" 'j.get("memory")')" = lazy ] ||
		fail "c$i: the result does not say memory lazy: $(cat "$T/r$i.json")"
	state_is c$i running || fail "c$i not running: $(cat "$T/r$i.json")"
done
say "$N clones restored lazily (fill of c1 now: $(fill_of c1 state), $(fill_of c1 chunks)/$(fill_of c1 total_chunks) chunks)"
# During the fill: ticking, memcheck ok.  The guest touches most of its
# memory in its first seconds (memcheck reads all of its own each round),
# so faults fill it fast; what a clone printed before the kernel's
# "fill=done" line it printed while its memory was still coming in.
# before_done M PATTERN: a line matching PATTERN precedes fill=done.
before_done() {
	awk -v pat="$2" '/lazy restore: fill=done/ { exit 1 } $0 ~ pat { found = 1; exit 0 } END { if (!found) exit 1 }' "$(console_of "$1")"
}
during=0
for i in $(seq 1 $N); do
	h=$(heartbeat c$i)
	wait_until 60 heartbeat_at_least c$i $((h + 2)) || fail "c$i does not tick"
	wait_until 60 memcheck_ok c$i 0 || fail "c$i: no memcheck ok line"
	[ -z "$(memcheck_bad c$i)" ] || fail "c$i: memcheck: $(memcheck_bad c$i)"
	if before_done c$i 'CHECK memcheck ok [0-9]* .*bad_pages=0' && before_done c$i 'sbuml-heartbeat'; then
		during=$((during + 1))
	fi
done
[ "$during" -gt 0 ] || fail "no clone printed a memcheck ok line and a heartbeat before its fill was done"
say "every clone ticks, memcheck ok ($during of $N ticked and passed memcheck before their fill was done)"
for i in $(seq 1 $N); do
	wait_until 180 fill_done c$i || fail "c$i: fill not done: $(ctl --json info c$i)"
	console_has c$i 'lazy restore: fill=done' || fail "c$i: the kernel does not say fill=done"
	[ "$(fill_of c$i chunks)" = "$(fill_of c$i total_chunks)" ] ||
		fail "c$i: fill done at $(fill_of c$i chunks) of $(fill_of c$i total_chunks) chunks"
done
say "every fill done ($(fill_of c1 total_chunks) chunks, c1: $(fill_of c1 faults) faults, $(fill_of c1 filled_pages) pages)"
# After the fill: still ticking, memcheck still ok.
for i in $(seq 1 $N); do
	lines=$(console_lines c$i); h=$(heartbeat c$i)
	wait_until 60 heartbeat_at_least c$i $((h + 2)) || fail "c$i stopped ticking after the fill"
	wait_until 60 memcheck_ok c$i "$lines" || fail "c$i: no memcheck ok line after the fill"
	[ -z "$(memcheck_bad c$i)" ] || fail "c$i: memcheck after the fill: $(memcheck_bad c$i)"
	state_is c$i running || fail "c$i: $(info_field c$i state)"
done
say "after the fill: every clone ticks, memcheck ok, bad_pages=0"
# A lazily restored clone saves and restores (eagerly) again.
ctl save c1 gen1 >/dev/null 2>&1 || fail "save c1 after its fill"
ctl restore gen1 d1 >/dev/null || fail "restore gen1"
[ "$(info_field d1 memory)" = eager ] || fail "d1: memory $(info_field d1 memory)"
h=$(heartbeat d1)
wait_until 60 heartbeat_at_least d1 $((h + 2)) || fail "d1 does not tick"
wait_until 60 memcheck_ok d1 0 || fail "d1: no memcheck ok line"
for i in $(seq 1 $N); do ctl kill c$i >/dev/null || fail "kill c$i"; done
ctl kill d1 >/dev/null || fail "kill d1"
say "a lazily restored clone saves; its snapshot restores"

# Without the device (--no-userfaultfd): eager, and the result says why.
stop_daemon
start_daemon --no-userfaultfd
out=$(ctl restore base e1 --lazy 2>&1) || fail "restore --lazy without the device: $out"
echo "$out" | grep -q "restored eagerly: .*no-userfaultfd" || fail "sbumlctl does not say why it is eager: $out"
[ "$(info_field e1 memory)" = eager ] || fail "e1: memory $(info_field e1 memory)"
info_field e1 memory_reason | grep -q 'no-userfaultfd' || fail "e1: reason: $(info_field e1 memory_reason)"
h=$(heartbeat e1)
wait_until 60 heartbeat_at_least e1 $((h + 2)) || fail "e1 does not tick"
wait_until 60 memcheck_ok e1 0 || fail "e1: no memcheck ok line"
say "without the device: eager, because $(info_field e1 memory_reason)"

# A kernel that refuses the lazy restore (status 2; a test knob gives it
# /dev/null for its pager socket): restored eagerly instead, and it says why.
stop_daemon
unset SBUMLD_TEST_PAGER_CHUNK_MS
export SBUMLD_TEST_PAGER_REFUSE=1
start_daemon
rpc snapshot.restore '{"snapshot": "base", "machine": "f1", "memory": "lazy"}' >"$T/f1.json" 2>&1 || fail "refused lazy restore: $(cat "$T/f1.json")"
[ "$(jfield "$T/f1.json" 'j.get("memory")')" = eager ] || fail "f1: $(cat "$T/f1.json")"
jfield "$T/f1.json" 'j.get("memory_reason")' | grep -q "refused the lazy restore: sbuml restore: refused: sbuml_pager=" ||
	fail "f1: the reason does not give the kernel's refusal: $(cat "$T/f1.json")"
state_is f1 running || fail "f1: $(info_field f1 state)"
h=$(heartbeat f1)
wait_until 60 heartbeat_at_least f1 $((h + 2)) || fail "f1 does not tick"
wait_until 60 memcheck_ok f1 0 || fail "f1: no memcheck ok line"
[ -z "$(memcheck_bad f1)" ] || fail "f1: memcheck: $(memcheck_bad f1)"
ctl kill f1 >/dev/null || fail "kill f1"
unset SBUMLD_TEST_PAGER_REFUSE
say "refused by the kernel: eager, because $(jfield "$T/f1.json" 'j.get("memory_reason")')"

# A pager that dies before the fill is done: the kernel ends with status
# 97; the machine is failed, says why, and its disk copy is gone.
stop_daemon
export SBUMLD_TEST_PAGER_CHUNK_MS=50 SBUMLD_TEST_PAGER_DIE_AFTER=20
start_daemon
st=0; rpc snapshot.restore '{"snapshot": "base", "machine": "p1", "memory": "lazy"}' >"$T/p1.json" 2>&1 || st=$?
if [ "$st" -eq 0 ]; then
	# Lost after it answered: the machine stays, failed.
	no_longer_running() { ! state_is p1 running; }
	wait_until 60 no_longer_running || fail "p1 runs on without its pager: $(ctl --json info p1)"
	state_is p1 crashed || fail "p1 is $(info_field p1 state), not crashed"
	info_field p1 failure | grep -q "pager was lost" || fail "p1: no failure reason: $(ctl --json info p1)"
	[ "$(info_field p1 exit | grep -o "'status': [0-9]*")" = "'status': 97" ] || fail "p1: exit $(info_field p1 exit)"
	[ ! -e "$STATE/machines/p1/disk0.cow" ] || fail "p1's disk copy was kept"
	console_has p1 'pager lost' || fail "p1: the kernel does not say pager lost"
	say "pager lost after the restore: p1 $(info_field p1 state): $(info_field p1 failure)"
else
	# Lost before it answered: the restore fails, nothing is left.
	grep -q "pager" "$T/p1.json" || fail "restore with a dying pager: $(cat "$T/p1.json")"
	[ ! -e "$STATE/machines/p1" ] || fail "the failed restore left p1 behind"
	say "pager lost during the restore: $(jfield "$T/p1.json" 'j.get("message")')"
fi
