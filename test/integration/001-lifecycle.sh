#!/bin/sh
# SPDX-License-Identifier: MIT
# Boot the default machine through the CLI, see it run, pause and resume it,
# halt it gracefully, boot it again, delete it; halt a guest that ignores
# ctrl-alt-del (escalation after timeout_s).  Every kernel gets
# /dev/userfaultfd at fd 4 (doc/security.md 4c), none with --no-userfaultfd.
TEST_NAME=lifecycle
. "$(dirname "$0")/lib.sh"

if uffd_dev_ok; then want_uffd=True; else want_uffd=False; fi
start_daemon
ctl boot demo --mem 64 >/dev/null || fail "boot demo"
state_is demo running || fail "demo not running after boot: $(info_field demo state)"
pid=$(info_field demo pid)
[ -n "$pid" ] && kill -0 "$pid" || fail "no live pid for demo"
[ "$(uffd_of demo)" = "$want_uffd" ] || fail "demo: uffd is $(uffd_of demo), want $want_uffd"
if [ "$want_uffd" = True ]; then
	[ "$(fd4_of "$pid")" = /dev/userfaultfd ] ||
		fail "the kernel holds '$(fd4_of "$pid")' at fd 4, not /dev/userfaultfd"
	grep -aq 'sbuml_uffd_dev=4' "$(console_of demo)" || fail "no sbuml_uffd_dev=4 on the kernel command line"
	# The daemon closed its own copy; it passed the device to the kernel only.
	ls -l "/proc/$DAEMON_PID/fd" | grep -q userfaultfd && fail "sbumld still holds /dev/userfaultfd"
	say "the kernel holds /dev/userfaultfd at fd 4"
else
	[ "$(fd4_of "$pid")" != /dev/userfaultfd ] || fail "uffd false but fd 4 is the device"
	say "no usable /dev/userfaultfd on this host: machines run without it"
fi

wait_until 60 heartbeat_at_least demo 3 || fail "no heartbeats on the console"
console_has demo 'sbuml-guest: up' || fail "boot line missing"
ctl list | grep -q '^demo  *running' || fail "list does not show demo running: $(ctl list)"
ctl console demo --lines 5 | grep -q 'sbuml-heartbeat' || fail "console command shows no heartbeat"
say "booted, heartbeats flowing"

ctl pause demo >/dev/null || fail "pause"
state_is demo paused || fail "not paused"
sleep 1
a=$(heartbeat demo)
sleep 3
b=$(heartbeat demo)
[ "$a" = "$b" ] || fail "heartbeats went on while paused ($a -> $b)"
ctl resume demo >/dev/null || fail "resume"
state_is demo running || fail "not running after resume"
wait_until 20 heartbeat_at_least demo $((b + 2)) || fail "heartbeats did not restart after resume"
say "pause stops heartbeats, resume restarts them"

ctl halt demo --timeout 30 >/dev/null || fail "halt"
state_is demo stopped || fail "not stopped after halt"
kill -0 "$pid" 2>/dev/null && fail "UML pid $pid still alive after halt"
[ -z "$(uml_pids_under "$STATE/machines/demo")" ] || fail "stray host processes after halt"
console_has demo 'sbuml-guest: shutting down' || fail "halt was not graceful"
say "halted gracefully"

# A stopped machine boots again from its own overlay.
ctl boot demo >/dev/null || fail "second boot"
wait_until 60 console_has demo 'sbuml-heartbeat' || fail "no heartbeat after second boot"
ctl delete demo 2>/dev/null && fail "delete of a live machine was accepted"
ctl kill demo >/dev/null || fail "kill"
state_is demo stopped || fail "not stopped after kill"
[ -z "$(uml_pids_under "$STATE/machines/demo")" ] || fail "stray host processes after kill"
ctl delete demo >/dev/null || fail "delete"
[ ! -e "$STATE/machines/demo" ] || fail "machine dir still there after delete"
ctl info demo 2>/dev/null && fail "info of a deleted machine succeeded"
say "kill and delete"

# A guest that ignores the graceful shutdown: its payload makes itself the
# ctrl-alt-del target (/proc/sys/kernel/cad_pid) and ignores SIGINT, so
# mconsole cad never reaches init.  halt must still end the machine, by
# mconsole halt after timeout_s (or SIGKILL 5 s later), in bounded time.
mkdir -p "$T/deaf"
cat >"$T/deaf/run" <<'SH'
trap '' INT TERM
echo $$ >/proc/sys/kernel/cad_pid || echo "sbuml-test: cannot set cad_pid"
echo "sbuml-test: deaf to cad, cad_pid=$(cat /proc/sys/kernel/cad_pid) me=$$"
while :; do sleep 1; done
SH
mke2fs -q -t ext2 -d "$T/deaf" "$T/deaf.img" 4M >/dev/null 2>&1 || fail "mke2fs of the payload disk"
ctl boot deaf --mem 64 --disk "$T/deaf.img" >/dev/null || fail "boot deaf"
wait_until 60 console_has deaf 'sbuml-test: deaf to cad' || fail "the deaf payload did not start"
console_has deaf 'cannot set cad_pid' && fail "the payload could not take over ctrl-alt-del"
pid=$(info_field deaf pid)
t0=$(date +%s)
ctl halt deaf --timeout 3 >/dev/null || fail "halt of a guest ignoring ctrl-alt-del"
t1=$(date +%s)
state_is deaf stopped || fail "not stopped after halt: $(info_field deaf state)"
kill -0 "$pid" 2>/dev/null && fail "UML pid $pid still alive after halt"
[ -z "$(uml_pids_under "$STATE/machines/deaf")" ] || fail "stray host processes after halt"
# The guest really ignored the cad: it never began its shutdown, so the
# halt lasted at least timeout_s.  Bounded: timeout_s + 5 s to SIGKILL, plus
# generous slack for a loaded host.
console_has deaf 'sbuml-guest: shutting down' && fail "the guest shut down gracefully after all"
[ $((t1 - t0)) -ge 2 ] || fail "halt returned after $((t1 - t0)) s, before timeout_s"
[ $((t1 - t0)) -le 40 ] || fail "halt of a deaf guest took $((t1 - t0)) s"
grep -q 'deaf: guest did not power off' "$T/daemon.log" || fail "daemon did not log the escalation"
say "halt of a guest ignoring ctrl-alt-del: stopped after $((t1 - t0)) s"

# --no-userfaultfd: no kernel gets the device, the test knob above included.
stop_daemon
start_daemon --no-userfaultfd
ctl boot nouf --mem 64 >/dev/null || fail "boot nouf under --no-userfaultfd"
pid=$(info_field nouf pid)
[ "$(uffd_of nouf)" = False ] || fail "nouf: uffd is $(uffd_of nouf) under --no-userfaultfd"
[ "$(fd4_of "$pid")" != /dev/userfaultfd ] || fail "nouf's kernel holds /dev/userfaultfd under --no-userfaultfd"
grep -aq 'sbuml_uffd_dev' "$(console_of nouf)" && fail "sbuml_uffd_dev on the command line under --no-userfaultfd"
ctl kill nouf >/dev/null || fail "kill nouf"
[ "$(uffd_of nouf)" = False ] || fail "a stopped machine reports uffd"
say "--no-userfaultfd: no device, uffd false"
say "ok"
