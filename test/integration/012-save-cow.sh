#!/bin/sh
# SPDX-License-Identifier: MIT
# snapshot.save "capture" (doc/rpc.md): `sbumlctl save --cow` asks the
# kernel for the copy-on-write capture (patch 0024) and the result, the
# manifest and snapshot.info say which capture ran.  A guest running
# memcheck is saved with cow (capture.method "cow", wp_us) and the clone
# ticks on with memcheck clean; a save without --cow is staged with no
# fallback; a cow save of a paused machine is staged ("stopped") and the
# machine stays paused; "capture": "bogus" and 5 are InvalidParams and the
# daemon lives on; under --no-userfaultfd a cow save is staged ("nouffd").
TEST_NAME=save-cow
. "$(dirname "$0")/lib.sh"


grep -q '\[stop\] \[cow\]' "$SBUML_KERNEL" || { say "SKIP: the kernel has no copy-on-write capture (0024)"; exit 77; }

start_daemon
# memcheck writes all the time, so the capture runs while the guest writes.
boot_memcheck g

# --cow: the copy-on-write capture, said on stderr, in the result and info.
cap=$(uffd_of g)
ctl --json save g cow1 --cow >"$T/cow1.json" 2>"$T/cow1.err" || fail "save --cow: $(cat "$T/cow1.err")"
[ "$(jfield "$T/cow1.json" 'j["capture"]["method"]')" = cow ] ||
	fail "save --cow (machine uffd $cap): capture is not cow: $(jfield "$T/cow1.json" 'j.get("capture")')"
[ "$(jfield "$T/cow1.json" 'j["capture"]["asked"]')" = cow ] || fail "asked is not cow: $(jfield "$T/cow1.json" 'j.get("capture")')"
[ -n "$(jfield "$T/cow1.json" 'j["capture"].get("wp_us")')" ] || fail "no wp_us: $(jfield "$T/cow1.json" 'j.get("capture")')"
[ -z "$(jfield "$T/cow1.json" 'j["capture"].get("fallback")')" ] || fail "cow with a fallback: $(jfield "$T/cow1.json" 'j.get("capture")')"
# the write protection is part of the pause the save reports
pause=$(jfield "$T/cow1.json" 'j["timings"]["pause_us"]')
wp=$(jfield "$T/cow1.json" 'j["capture"]["wp_us"]')
protect=$(jfield "$T/cow1.json" 'j["capture"]["protect_us"]')
say "cow save: pause_us=$pause wp_us=$wp protect_us=$protect"
[ "$wp" -le "$protect" ] && [ "$protect" -le "$pause" ] ||
	fail "the write protection is not inside the pause: pause_us=$pause wp_us=$wp protect_us=$protect"
[ "$(jfield "$STATE/snapshots/cow1/manifest.json" 'j["capture"]["method"]')" = cow ] ||
	fail "the manifest does not say capture cow: $(grep -A12 '"capture"' "$STATE/snapshots/cow1/manifest.json")"
ctl --json snapshot info cow1 >"$T/info1.json" || fail "snapshot info cow1"
[ "$(jfield "$T/info1.json" 'j["capture"]["method"]')" = cow ] || fail "snapshot.info: capture is not cow: $(cat "$T/info1.json")"
# The human line names the capture.
ctl save g cow2 --cow >/dev/null 2>"$T/cow2.err" || fail "save --cow (human): $(cat "$T/cow2.err")"
grep -q '^paused for [0-9.]* ms (copy-on-write), [0-9.]* MiB captured$' "$T/cow2.err" ||
	fail "save --cow: stderr does not say copy-on-write: $(cat "$T/cow2.err")"
say "save --cow: $(cat "$T/cow2.err"); capture $(jfield "$T/cow1.json" 'j["capture"]')"

# The cow capture restores: the clone ticks on from the save, memcheck clean.
a=$(heartbeat g)
ctl restore cow1 clone >/dev/null || fail "restore of the cow snapshot"
wait_until 60 heartbeat_at_least clone 1 || fail "the clone does not tick"
b=$(heartbeat clone)
wait_until 30 heartbeat_at_least clone $((b + 2)) || fail "the clone's heartbeat does not carry on"
wait_until 90 memcheck_ok clone 0 || fail "clone: no memcheck ok line"
[ -z "$(memcheck_bad clone)" ] || fail "clone: memcheck: $(memcheck_bad clone)"
[ -z "$(memcheck_bad g)" ] || fail "original: memcheck: $(memcheck_bad g)"
ctl kill clone >/dev/null || fail "kill clone"
say "the cow capture restores: the clone ticks on from $b (the original was at $a), memcheck bad_pages=0"

# Without --cow: staged, asked staged, no fallback; the line says staged.
ctl --json save g st1 >"$T/st1.json" 2>/dev/null || fail "save without --cow"
[ "$(jfield "$T/st1.json" 'j["capture"]["method"]')" = staged ] || fail "plain save is not staged: $(jfield "$T/st1.json" 'j.get("capture")')"
[ "$(jfield "$T/st1.json" 'j["capture"]["asked"]')" = staged ] || fail "plain save: asked is not staged"
[ -z "$(jfield "$T/st1.json" 'j["capture"].get("fallback")')" ] || fail "plain save has a fallback: $(jfield "$T/st1.json" 'j.get("capture")')"
ctl save g st2 >/dev/null 2>"$T/st2.err" || fail "save (human)"
grep -q '(staged)' "$T/st2.err" || fail "plain save: stderr does not say staged: $(cat "$T/st2.err")"
say "save without --cow: staged"

# A paused machine: staged ("stopped"), and it stays paused.
ctl pause g >/dev/null || fail "pause"
ctl --json save g p1 --cow >"$T/p1.json" 2>"$T/p1.err" || fail "save --cow of a paused machine: $(cat "$T/p1.err")"
[ "$(jfield "$T/p1.json" 'j["capture"]["method"]')" = staged ] || fail "paused: not staged: $(jfield "$T/p1.json" 'j.get("capture")')"
[ "$(jfield "$T/p1.json" 'j["capture"]["asked"]')" = cow ] || fail "paused: asked is not cow"
[ "$(jfield "$T/p1.json" 'j["capture"].get("fallback")')" = stopped ] ||
	fail "paused: fallback is not stopped: $(jfield "$T/p1.json" 'j.get("capture")')"
state_is g paused || fail "not paused after a cow save of a paused machine: $(info_field g state)"
a=$(heartbeat g); sleep 2
[ "$(heartbeat g)" = "$a" ] || fail "the paused machine ran during/after its cow save"
ctl save g p2 --cow >/dev/null 2>"$T/p2.err" || fail "save --cow of a paused machine (human)"
grep -q '(staged: stopped)' "$T/p2.err" || fail "paused: stderr does not say staged: stopped: $(cat "$T/p2.err")"
ctl resume g >/dev/null || fail "resume"
wait_until 20 heartbeat_at_least g $((a + 2)) || fail "no heartbeat after resume"
say "cow save of a paused machine: staged (stopped), stays paused"

# Bad "capture": InvalidParams naming the parameter, nothing saved.
for bad in '"bogus"' '5' '""' '"COW"' 'null' '["cow"]'; do
	st=0; rpc snapshot.save "{\"machine\": \"g\", \"snapshot\": \"bad\", \"capture\": $bad}" >"$T/bad.json" 2>&1 || st=$?
	[ "$st" -eq 1 ] || fail "capture $bad accepted (status $st): $(cat "$T/bad.json")"
	[ "$(jfield "$T/bad.json" 'j.get("code")')" = -32602 ] || fail "capture $bad: not InvalidParams: $(cat "$T/bad.json")"
	grep -q 'capture' "$T/bad.json" || fail "capture $bad: the error does not name capture: $(cat "$T/bad.json")"
	[ ! -e "$STATE/snapshots/bad" ] || fail "capture $bad saved a snapshot"
done
ctl ping >/dev/null || fail "daemon gone after bad capture values"
state_is g running || fail "g not running after bad capture values: $(info_field g state)"
say "bad capture values refused: $(jfield "$T/bad.json" 'j.get("message")')"
ctl kill g >/dev/null || fail "kill g"

# --no-userfaultfd: the kernel has no userfaultfd device; as the jailed
# user it cannot make one either: staged, the kernel says nouffd.
stop_daemon
start_daemon --no-userfaultfd
ctl boot n --mem 64 >/dev/null || fail "boot under --no-userfaultfd"
wait_until 60 heartbeat_at_least n 2 || fail "n: no heartbeat"
ctl --json save n n1 --cow >"$T/n1.json" 2>"$T/n1.err" || fail "save --cow under --no-userfaultfd: $(cat "$T/n1.err")"
[ "$(jfield "$T/n1.json" 'j["capture"]["method"]')" = staged ] ||
	fail "--no-userfaultfd: not staged: $(jfield "$T/n1.json" 'j.get("capture")')"
[ "$(jfield "$T/n1.json" 'j["capture"].get("fallback")')" = nouffd ] ||
	fail "--no-userfaultfd: fallback is not nouffd: $(jfield "$T/n1.json" 'j.get("capture")')"
a=$(heartbeat n)
wait_until 20 heartbeat_at_least n $((a + 2)) || fail "n stopped ticking after its save"
ctl kill n >/dev/null || fail "kill n"
say "--no-userfaultfd: staged, fallback nouffd"
say "ok"
