#!/bin/sh
# SPDX-License-Identifier: MIT
# A lazily restored machine survives a restart of sbumld during its fill
# (doc/restore.md, "Lazy restore"): its pager, sbuml-pager, is a process
# of its own, without capabilities, that goes on while no daemon runs and
# keeps fill.json up to date.  c1 is restored lazily with a slow fill and
# the daemon is stopped mid-fill: the guest ticks on without a daemon, the
# new daemon re-adopts it with memory lazy and its fill going on, sees the
# fill reach done, and memcheck finds every page right throughout.  c2's
# fill ends while no daemon runs: the next daemon says done.  A pager does
# not outlive its kernel.
TEST_NAME=restore-lazy-restart
. "$(dirname "$0")/lib.sh"

fill_of() { ctl --json info "$1" | python3 -c 'import json,sys; f=json.load(sys.stdin).get("fill") or {}; print(f.get(sys.argv[1], ""))' "$2"; }
fill_done() { [ "$(fill_of "$1" state)" = done ]; }
# What the pager of machine $1 last wrote: field $2 of its fill.json.
file_fill() { jfield "$STATE/machines/$1/fill.json" "j.get('$2')"; }
file_done() { [ "$(file_fill "$1" state)" = done ]; }
pager_of() { file_fill "$1" pager_pid; }
alive() { kill -0 "$1" 2>/dev/null; }
# Gone, or a zombie its new parent (not the daemon any more) has not reaped.
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null)" = Z ]; }

if ! uffd_dev_ok; then
	say "SKIP: /dev/userfaultfd cannot be opened here (a lazy restore needs it)"
	exit 77
fi
grep -q sbuml_pager= "$SBUML_KERNEL" || { say "SKIP: the kernel has no sbuml_pager="; exit 77; }

# One 64 KiB chunk per 100 ms: the background fill of what memcheck does
# not touch takes long enough for a daemon restart in the middle.
export SBUMLD_TEST_PAGER_CHUNK_MS=100
start_daemon
boot_memcheck g0
ctl save g0 base >/dev/null 2>&1 || fail "save"
ctl kill g0 >/dev/null || fail "kill g0"

rpc snapshot.restore '{"snapshot": "base", "machine": "c1", "memory": "lazy"}' >"$T/c1.json" 2>&1 ||
	fail "lazy restore: $(cat "$T/c1.json")"
[ "$(jfield "$T/c1.json" 'j.get("memory")')" = lazy ] || fail "c1 not lazy: $(cat "$T/c1.json")"
state_is c1 running || fail "c1: $(info_field c1 state)"
fill_filling() { [ "$(fill_of "$1" state)" = filling ]; }
wait_until 20 fill_filling c1 || fail "c1: fill $(fill_of c1 state), want filling (too fast for this test?)"

# The pager: a process of its own, the daemon's child, no capabilities.
wait_until 20 sh -c "[ -n \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(\"pager_pid\") or \"\")' $STATE/machines/c1/fill.json 2>/dev/null)\" ]" ||
	fail "c1: no fill.json with the pager's pid"
pager=$(pager_of c1)
kpid=$(info_field c1 pid)
[ "$(cat /proc/"$pager"/comm)" = sbuml-pager ] || fail "pid $pager is $(cat /proc/"$pager"/comm), not sbuml-pager"
[ "$(awk '/^PPid:/ {print $2}' /proc/"$pager"/status)" = "$DAEMON_PID" ] || fail "the pager is not the daemon's child"
for c in CapEff CapPrm CapBnd; do
	[ "$(awk "/^$c:/ {print \$2}" /proc/"$pager"/status)" = 0000000000000000 ] ||
		fail "the pager keeps capabilities: $(grep ^Cap /proc/"$pager"/status)"
done
grep -q '^NoNewPrivs:[[:space:]]*1' /proc/"$pager"/status || fail "the pager may gain privileges"
say "c1 filling ($(fill_of c1 chunks)/$(fill_of c1 total_chunks) chunks), pager $pager without capabilities"

# Stop the daemon mid-fill: kernel and pager go on, and so does the fill.
before=$(fill_of c1 chunks)
stop_daemon
alive "$pager" || fail "the pager died with the daemon"
alive "$kpid" || fail "c1's kernel died with the daemon"
h=$(heartbeat c1)
wait_until 60 heartbeat_at_least c1 $((h + 2)) || fail "c1 does not tick while no daemon runs"
wait_until 60 sh -c "[ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"chunks\"])' $STATE/machines/c1/fill.json)\" -gt $before ]" ||
	fail "the fill does not go on while no daemon runs: $(cat "$STATE/machines/c1/fill.json")"
file_done c1 && fail "c1's fill was done before the daemon came back: this test needs a slower fill"

start_daemon
state_is c1 running || fail "c1 not re-adopted: $(info_field c1 state)"
[ "$(info_field c1 pid)" = "$kpid" ] || fail "c1 re-adopted with another pid"
[ "$(info_field c1 memory)" = lazy ] || fail "re-adopted c1: memory $(info_field c1 memory)"
st=$(fill_of c1 state)
[ "$st" = filling ] || [ "$st" = done ] || fail "re-adopted c1: fill $st: $(ctl --json info c1)"
[ "$(fill_of c1 chunks)" -gt "$before" ] || fail "re-adopted c1: fill at $(fill_of c1 chunks), was $before before the restart"
say "re-adopted c1 mid-fill: fill $st, $(fill_of c1 chunks)/$(fill_of c1 total_chunks) chunks"
lines=$(console_lines c1); h=$(heartbeat c1)
wait_until 60 heartbeat_at_least c1 $((h + 2)) || fail "c1 does not tick after the restart"
wait_until 60 memcheck_ok c1 "$lines" || fail "c1: no memcheck ok line after the restart"
[ -z "$(memcheck_bad c1)" ] || fail "c1: memcheck: $(memcheck_bad c1)"

# The new daemon sees the fill reach done.
wait_until 300 fill_done c1 || fail "c1: fill not done: $(ctl --json info c1)"
[ "$(fill_of c1 chunks)" = "$(fill_of c1 total_chunks)" ] ||
	fail "c1: done at $(fill_of c1 chunks) of $(fill_of c1 total_chunks) chunks"
console_has c1 'lazy restore: fill=done' || fail "c1: the kernel does not say fill=done"
lines=$(console_lines c1); h=$(heartbeat c1)
wait_until 60 heartbeat_at_least c1 $((h + 2)) || fail "c1 stopped ticking after the fill"
wait_until 60 memcheck_ok c1 "$lines" || fail "c1: no memcheck ok line after the fill"
[ -z "$(memcheck_bad c1)" ] || fail "c1: memcheck after the fill: $(memcheck_bad c1)"
say "c1's fill done as seen by the new daemon ($(fill_of c1 total_chunks) chunks, $(fill_of c1 faults) faults); ticks, memcheck ok"

# The pager of a re-adopted machine ends with its kernel.
ctl kill c1 >/dev/null || fail "kill c1"
wait_until 30 gone "$pager" || fail "c1's pager $pager outlives its kernel"
say "c1's pager ended with its kernel"

# c2: its fill is done while no daemon runs; the next daemon says done.
rpc snapshot.restore '{"snapshot": "base", "machine": "c2", "memory": "lazy"}' >"$T/c2.json" 2>&1 ||
	fail "lazy restore c2: $(cat "$T/c2.json")"
state_is c2 running || fail "c2: $(info_field c2 state)"
stop_daemon
wait_until 300 file_done c2 || fail "c2's fill not done while no daemon runs: $(cat "$STATE/machines/c2/fill.json")"
start_daemon
[ "$(info_field c2 memory)" = lazy ] || fail "re-adopted c2: memory $(info_field c2 memory)"
[ "$(fill_of c2 state)" = done ] || fail "re-adopted c2: fill $(fill_of c2 state), its pager said done"
[ "$(fill_of c2 chunks)" = "$(fill_of c2 total_chunks)" ] || fail "c2: done at $(fill_of c2 chunks) of $(fill_of c2 total_chunks)"
lines=$(console_lines c2); h=$(heartbeat c2)
wait_until 60 heartbeat_at_least c2 $((h + 2)) || fail "c2 does not tick"
wait_until 60 memcheck_ok c2 "$lines" || fail "c2: no memcheck ok line"
[ -z "$(memcheck_bad c2)" ] || fail "c2: memcheck: $(memcheck_bad c2)"
# The pager of a kernel that is killed outright (no daemon involved) ends too.
p2=$(pager_of c2); k2=$(info_field c2 pid)
kill -9 "$k2"
wait_until 30 gone "$p2" || fail "c2's pager $p2 outlives its killed kernel"
say "c2's fill done while no daemon ran, reported done by the next; its pager ended with its kernel"
