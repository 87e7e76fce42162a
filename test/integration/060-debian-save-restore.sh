#!/bin/sh
# SPDX-License-Identifier: MIT
# A Debian machine with systemd, saved while it runs and restored whole:
# booted to multi-user.target with 512 MiB, logged in on its console, given
# work that only a living system keeps doing (the fidelity checkers as a
# systemd service, a transient timer, a long-running service, journald
# entries, a login shell's variables), saved with continue, then restored
# as 3 clones at once and as 3 generations (restore, save the restored
# one, restore that ...).  In the original, in every clone and in the last
# generation: `systemctl is-system-running` answers running, journald takes
# new entries, the timer keeps firing, the service keeps its pid and its
# count goes on, the login shell is the same shell, and every checker keeps
# reporting ok and never fails.
TEST_NAME=debian-save-restore
. "$(dirname "$0")/lib.sh"

export SBUML_MKDEBIAN="$TEST_SRCDIR/../../sbumld/guest/mkdebian.sh"
start_daemon

# sh MACHINE CMD: run CMD in the shell on MACHINE's console (the real
# `sbumlctl console --attach`); its output on stdout, its status returned.
sh_in() {
	_m=$1; shift
	python3 "$TEST_SRCDIR/guestsh.py" run "$*" "$SBUMLCTL" --socket "$SOCK" console "$_m" --attach
}
sh_ok() { sh_in "$@" >"$T/sh.out" 2>&1 || fail "$1: '$2' failed: $(cat "$T/sh.out")"; cat "$T/sh.out"; }
# sh_val MACHINE CMD: CMD's output as one word: a line of its own behind a
# prefix, since other writers (services, the kernel) share the console.
sh_val() { sh_ok "$1" "echo \"SBV:\$($2)\"" | sed -n 's/^.*SBV://p' | tr -d ' \r' | tail -n 1; }

# ---- a Debian machine at multi-user.target, logged in on its console ----
ctl image build deb --size 2G >"$T/build.log" 2>&1 || { cat "$T/build.log"; fail "image build deb"; }
ctl boot d0 --image deb --mem 512 --disk "$SBUML_PAYLOAD" >/dev/null || fail "boot d0"
wait_until 900 console_has d0 "sbuml-guest: system " || fail "d0: start-up did not finish"
console_has d0 "sbuml-guest: system running" || fail "d0: $(grep -a 'sbuml-guest:' "$(console_of d0)")"
python3 "$TEST_SRCDIR/guestsh.py" login "$SBUMLCTL" --socket "$SOCK" console d0 --attach ||
	fail "d0: no root login on the console"
say "d0 at multi-user.target, root logged in on the console"

# ---- work that a living system keeps doing ----
# The checkers print to the journal and the console (lib.sh reads them
# there); Delegate=yes lets cgroupcheck make its own child cgroups.
sh_ok d0 "mkdir -p /mnt/fid && mount /dev/ubdb /mnt/fid && \
systemd-run --quiet --unit=sbuml-fidelity -p Delegate=yes \
-p StandardOutput=journal+console -p StandardError=journal+console \
--setenv=FIDELITY_REPORT=3 /mnt/fid/fidelity" >/dev/null
sh_ok d0 "systemd-run --quiet --unit=sbuml-tick --on-active=1s --on-unit-active=2s \
/bin/sh -c 'date +%s >>/var/tmp/ticks'" >/dev/null
sh_ok d0 "systemd-run --quiet --unit=sbuml-long /bin/sh -c \
'n=0; while :; do n=\$((n+1)); echo \$n >/run/long.count; sleep 1; done'" >/dev/null
sh_ok d0 "export SBUML_SHELL_MARK=mark-\$\$; cd /var/tmp" >/dev/null
shell_id=$(sh_val d0 'echo "$SBUML_SHELL_MARK:$$:$(pwd)"')
case $shell_id in mark-[0-9]*:[0-9]*:/var/tmp) ;; *) fail "d0: shell id '$shell_id'" ;; esac
long_pid=$(sh_val d0 "systemctl show -p MainPID --value sbuml-long")
[ "${long_pid:-0}" -gt 1 ] || fail "d0: sbuml-long has no main pid: '$long_pid'"
wait_until 600 console_has d0 "CHECK fidelity start" || fail "d0: the checkers did not start"
checks_progress d0 0 d0 0 900 || fail "d0: the checkers do not all report ok"
case " $(checker_names d0) " in *" nscheck "*" timenscheck "*) ;; *) fail "d0 runs only $(checker_names d0)" ;; esac
say "d0: checkers, timer, long service (pid $long_pid), shell $shell_id"

# verify M REF LINES TAG: M (the original REF itself, or a machine restored
# from REF's state at console line LINES) carries on.
verify() {
	_m=$1; _ref=$2; _lines=$3; _tag=$4
	if [ "$_m" = "$_ref" ]; then _since=$_lines; else _since=0; fi
	_st=$(sh_val "$_m" "systemctl is-system-running")
	[ "$_st" = running ] || fail "$_m: is-system-running says '$_st'"
	[ "$(sh_val "$_m" 'echo "$SBUML_SHELL_MARK:$$:$(pwd)"')" = "$shell_id" ] ||
		fail "$_m: not the same login shell"
	[ "$(sh_val "$_m" "systemctl show -p MainPID --value sbuml-long")" = "$long_pid" ] ||
		fail "$_m: sbuml-long changed its pid"
	_c1=$(sh_val "$_m" "cat /run/long.count")
	_t1=$(sh_val "$_m" "wc -l </var/tmp/ticks")
	sh_ok "$_m" "logger -t sbumltest $_tag-$_m" >/dev/null
	wait_until 600 sh_in "$_m" "journalctl -q --no-pager -t sbumltest | grep -q $_tag-$_m" ||
		fail "$_m: journald did not log $_tag-$_m"
	wait_until 600 sh_in "$_m" "[ \$(cat /run/long.count) -gt $_c1 ]" ||
		fail "$_m: sbuml-long stopped counting at $_c1"
	wait_until 600 sh_in "$_m" "[ \$(wc -l </var/tmp/ticks) -gt $_t1 ]" ||
		fail "$_m: the timer stopped firing after $_t1 ticks"
	[ "$(sh_val "$_m" "systemctl is-active sbuml-fidelity")" = active ] ||
		fail "$_m: the checkers' service is not active"
	checks_progress "$_m" "$_since" "$_ref" "$_lines" 900 || fail "$_m: a checker stopped"
	if grep -aE "CHECK [a-z0-9_]+ FAIL" "$(console_of "$_m")"; then
		fail "$_m: a checker failed"
	fi
	say "$_m: running, same shell, service pid $long_pid counting, timer firing, journald logging, checkers ok"
}

# ---- save with continue; 3 clones at once ----
lines=$(console_lines d0)
ctl save d0 s1 >/dev/null || fail "save d0"
for c in c1 c2 c3; do
	ctl restore s1 "$c" >"$T/restore-$c.log" 2>&1 &
	eval "pid_$c=$!"
done
for c in c1 c2 c3; do
	eval "wait \$pid_$c" || fail "restore $c: $(cat "$T/restore-$c.log")"
done
verify d0 d0 "$lines" s1
for c in c1 c2 c3; do
	verify "$c" d0 "$lines" s1
	ctl halt "$c" --timeout 300 >/dev/null || fail "halt $c"
done

# ---- 3 generations: each restored machine is saved and restored again ----
prev=d0; snap=s1; ref=d0; reflines=$lines
for g in g1 g2 g3; do
	ctl restore "$snap" "$g" >/dev/null || fail "restore $g from $snap"
	verify "$g" "$ref" "$reflines" "$snap"
	[ "$prev" = d0 ] || ctl halt "$prev" --timeout 300 >/dev/null || fail "halt $prev"
	[ "$g" = g3 ] && break
	snap=s-$g
	reflines=$(console_lines "$g")
	ctl save "$g" "$snap" >/dev/null || fail "save $g"
	prev=$g; ref=$g
done
say "3 clones and 3 generations of a Debian machine carry on"

# ---- reboots of a restored machine come back (systemctl reboot) ----
# UML re-executes itself in the same host process with the clone's own
# disks and identity; systemd starts again to multi-user.target.
REBOOTS=${SBUML_DEBIAN_REBOOTS:-2}
c=$(console_of g3)
uml_pid=$(info_field g3 pid)
i=0
while [ "$i" -lt "$REBOOTS" ]; do
	i=$((i + 1))
	n0=$(grep -ac "sbuml-guest: system " "$c" || true)
	sh_ok g3 "systemd-run --quiet --on-active=1s systemctl reboot" >/dev/null
	wait_until 900 sh -c "[ \$(grep -ac 'sbuml-guest: system ' '$c') -gt $n0 ]" ||
		fail "g3: reboot $i did not finish start-up: $(tail -n 5 "$c")"
	[ "$(grep -a 'sbuml-guest: system ' "$c" | tail -n 1 | tr -d '\r')" = \
		"sbuml-guest: system running (multi-user.target active)" ] ||
		fail "g3: after reboot $i: $(grep -a 'sbuml-guest:' "$c" | tail -n 3)"
	[ "$(info_field g3 pid)" = "$uml_pid" ] || fail "g3: reboot $i changed the host pid"
	state_is g3 running || fail "g3: not running after reboot $i"
	python3 "$TEST_SRCDIR/guestsh.py" login "$SBUMLCTL" --socket "$SOCK" console g3 --attach ||
		fail "g3: no login after reboot $i"
	[ "$(sh_val g3 "systemctl is-system-running")" = running ] || fail "g3: not running after reboot $i"
	say "g3: reboot $i came back to multi-user.target"
done
