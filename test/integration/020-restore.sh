#!/bin/sh
# SPDX-License-Identifier: MIT
# Restore: a saved machine comes back exactly where it was, as a new machine
# beside the original; init is not re-run, heartbeats count on from the save,
# every in-guest checker keeps passing in the clone and in the original.
TEST_NAME=restore
. "$(dirname "$0")/lib.sh"

# Boots and restores get /dev/userfaultfd at fd 4, a restore beside the
# guest memory at fd 3 (uml.h, doc/kernel.md §5).
start_daemon
ctl boot orig --mem 128 --disk "$SBUML_PAYLOAD" >/dev/null || fail "boot"
wait_until 90 console_has orig 'CHECK clockcheck ok' || fail "checkers did not start"
wait_until 30 heartbeat_at_least orig 5 || fail "no heartbeats"

# The save instant lies between these two readings of the original's count.
before_save=$(heartbeat orig)
snap=$(ctl save orig s1 2>/dev/null) || fail "save"
at_save=$(heartbeat orig)
# Console lines of the original once the save is done: its later lines are
# post-save; the clone's checkers must count on above what these show.
lines_at_save=$(console_lines orig)
ctl restore s1 clone >/dev/null || fail "restore"
# The guest memory came from the chunk store as a memfd that the kernel
# adopted, not as a file it copied (doc/restore.md, "How fast").
console_has clone 'sbuml: restored from .* physmem=fd' ||
	fail "the restored kernel did not adopt the guest memory: $(grep -a 'sbuml: restored' "$(console_of clone)")"
state_is clone running || fail "clone not running: $(info_field clone state)"
[ "$(info_field clone pid)" != "$(info_field orig pid)" ] || fail "clone has the original's pid"
if uffd_dev_ok; then want_uffd=True; else want_uffd=False; fi
[ "$(uffd_of clone)" = "$want_uffd" ] || fail "clone: uffd is $(uffd_of clone), want $want_uffd"
[ "$(uffd_of orig)" = "$want_uffd" ] || fail "orig: uffd is $(uffd_of orig), want $want_uffd"
if [ "$want_uffd" = True ]; then
	# the restored kernel put the new device in the saved one's slot and uses it
	[ "$(fd4_of "$(info_field clone pid)")" = /dev/userfaultfd ] ||
		fail "the clone holds '$(fd4_of "$(info_field clone pid)")' at fd 4, not /dev/userfaultfd"
	console_has clone 'sbuml: restored from .* uffd_src=dev' ||
		fail "the clone does not use the device: $(grep -a 'sbuml: restored' "$(console_of clone)")"
fi

# The clone carries on: its first heartbeat continues the original's count.
wait_until 30 heartbeat_at_least clone 1 || fail "clone prints no heartbeat: $(tail -5 "$(console_of clone)")"
first=$(grep -a -o 'sbuml-heartbeat [0-9]*' "$(console_of clone)" | head -n 1 | awk '{print $2}')
[ "$first" -ge "$before_save" ] && [ "$first" -le $((at_save + 1)) ] ||
	fail "clone's first heartbeat is $first, the original was between $before_save and $at_save when saved"
console_has clone 'sbuml-guest: up' && fail "init ran again in the clone"
wait_until 30 heartbeat_at_least clone $((first + 3)) || fail "clone heartbeats stopped"
wait_until 30 heartbeat_at_least orig $((at_save + 3)) || fail "original heartbeats stopped"
say "clone counts on from $first (original was at $at_save)"

# Every checker of the payload makes progress in both after the restore:
# the original prints fresh ok lines after the save, the clone ok lines
# (all post-restore, its console is new) with iterations above the last
# the original printed before the save.
[ "$(checker_names orig | wc -w)" -ge 10 ] || fail "payload runs only: $(checker_names orig)"
checks_progress clone 0 orig "$lines_at_save" || fail "clone: checkers make no progress after the restore"
checks_progress orig "$lines_at_save" || fail "original: checkers make no progress after the save"
# ... and twice over, well after the restore: they keep going.
lc=$(console_lines clone); lo=$(console_lines orig)
checks_progress clone "$lc" || fail "clone: checkers stopped"
checks_progress orig "$lo" || fail "original: checkers stopped"
for m in orig clone; do
	console_has $m 'FAIL' && fail "$m: $(grep -a FAIL "$(console_of $m)" | head -5)"
done
say "every checker counts on in original and clone: $(ok_floors clone "$(console_lines clone)")"

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
