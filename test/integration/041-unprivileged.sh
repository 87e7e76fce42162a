#!/bin/sh
# SPDX-License-Identifier: MIT
# Machines run unprivileged (sbumld/machine/jail.h): every host process of a UML
# machine, booted or restored, runs as the system user sbuml-uml with no
# groups, no capabilities and NoNewPrivs; it cannot open a root-only host
# file; it cannot touch the daemon's own files in its machine directory.
# Save (continue) and restore as a clone keep working, also for a machine
# that a daemon without the jail booted as root: re-adopted, saved, its
# snapshot restored as an unprivileged clone, and booted again unprivileged.
TEST_NAME=unprivileged
. "$(dirname "$0")/lib.sh"

JAIL=sbuml-uml

# jailed_ok MACHINE-DIR: every process of the machine is the jail user,
# without capabilities or a way to regain them; prints how many there are.
jailed_ok() {
	ju=$(id -u "$JAIL") jg=$(id -g "$JAIL") n=0
	for p in $(uml_pids_under "$1"); do
		# read once: a stub whose guest process exits goes at any moment
		st=$(cat "/proc/$p/status" 2>/dev/null) && [ -n "$st" ] || continue
		f() { printf '%s\n' "$st" | awk -v k="$1" '$1 == k {$1 = ""; print substr($0, 2)}'; }
		[ "$(f Uid: | awk '{print $1, $2, $3, $4}')" = "$ju $ju $ju $ju" ] ||
			{ echo "pid $p: Uid: $(f Uid:)"; return 1; }
		[ "$(f Gid: | awk '{print $1, $2, $3, $4}')" = "$jg $jg $jg $jg" ] ||
			{ echo "pid $p: Gid: $(f Gid:)"; return 1; }
		[ -z "$(f Groups:)" ] || { echo "pid $p: Groups: $(f Groups:)"; return 1; }
		for c in CapInh CapPrm CapEff CapBnd CapAmb; do
			[ "$(f "$c:")" = 0000000000000000 ] ||
				{ echo "pid $p: $c: $(f "$c:")"; return 1; }
		done
		[ "$(f NoNewPrivs:)" = 1 ] || { echo "pid $p: NoNewPrivs: $(f NoNewPrivs:)"; return 1; }
		n=$((n + 1))
	done
	echo "$n"
}
# runs_as MACHINE-DIR UID: the machine's kernel process has that real uid.
runs_as() {
	pid=$(info_field "$2" pid)
	[ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" = "$1" ]
}
as_jail() { setpriv --reuid="$JAIL" --regid="$JAIL" --clear-groups "$@"; }

# --- A daemon as before the jail boots a machine as root. ---
SBUMLD_TEST_UML_AS_ROOT=1 start_daemon
ctl boot old --mem 64 >/dev/null || fail "boot old"
wait_until 60 heartbeat_at_least old 3 || fail "old: no heartbeats"
OLD="$STATE/machines/old"
runs_as 0 old || fail "the knob did not keep the old machine root: $(grep '^Uid:' "/proc/$(info_field old pid)/status")"
stop_daemon

# --- The jailed daemon. ---
start_daemon
id -u "$JAIL" >/dev/null 2>&1 || fail "the daemon did not create the user $JAIL"
state_is old running || fail "old not re-adopted: $(info_field old state)"
runs_as 0 old || fail "re-adoption restarted the old machine"

ctl boot m --mem 64 >/dev/null || fail "boot m"
wait_until 60 heartbeat_at_least m 3 || fail "m: no heartbeats"
M="$STATE/machines/m"
n=$(jailed_ok "$M") || fail "m: $n"
[ "$n" -ge 2 ] || fail "m: only $n host process(es) found"
say "m: all $n host processes are $JAIL without capabilities, NoNewPrivs"

# What the jail user gets in the machine dir: create files (its overlays,
# uml/), but neither write nor replace nor remove the daemon's files.
[ "$(stat -c '%a %U %G' "$M")" = "1770 root $JAIL" ] || fail "machine dir is $(stat -c '%a %U %G' "$M")"
[ "$(stat -c %U "$M/disk0.cow")" = "$JAIL" ] || fail "disk0.cow belongs to $(stat -c %U "$M/disk0.cow")"
for f in machine.json run.json console.log; do
	[ "$(stat -c '%U %a' "$M/$f")" = "root 600" ] || fail "$f is $(stat -c '%U %a' "$M/$f")"
	as_jail sh -c "echo x >>'$M/$f'" 2>/dev/null && fail "$JAIL can write $f"
	as_jail mv "$M/$f" "$M/$f.x" 2>/dev/null && fail "$JAIL can rename $f"
done
as_jail ls "$STATE/store" >/dev/null 2>&1 && fail "$JAIL can list the store"
as_jail ls "$STATE" >/dev/null 2>&1 && fail "$JAIL can list the state dir"
say "the daemon's files stay out of $JAIL's reach"

# A root-only host file: the daemon (root) could read it, the machine cannot.
printf 'secret\n' >"$T/secret"
chmod 0600 "$T/secret"
out=$(ctl boot nosecret --disk "$T/secret" 2>&1) && fail "a machine opened a root-only disk"
case "$out" in
*"open as user $JAIL ($T/secret): Permission denied"*) ;;
*) fail "boot with a root-only disk: $out" ;;
esac
ctl delete nosecret >/dev/null 2>&1 || true
say "a root-only file is refused: $out"

# An overlay hard-linked to a root-only file is not handed to the jail user.
ctl boot "$T/pm" --mem 64 >/dev/null || fail "boot $T/pm"
ctl halt "$T/pm" --timeout 30 >/dev/null || fail "halt $T/pm"
rm -f "$T/pm/disk0.cow"
ln "$T/secret" "$T/pm/disk0.cow"
out=$(ctl boot "$T/pm" 2>&1) && fail "booted with a hard-linked overlay"
case "$out" in *"Too many links"*|*"has other hard links"*) ;; *) fail "boot with a hard-linked overlay: $out" ;; esac
[ "$(stat -c '%U %a' "$T/secret")" = "root 600" ] || fail "the linked file was handed over: $(stat -c '%U %a' "$T/secret")"
rm -f "$T/pm/disk0.cow"
say "a hard-linked overlay is refused: $out"

# Save, continue; restore as a clone: both count on, the clone jailed too.
ctl save m s1 >/dev/null || fail "save m"
state_is m running || fail "m not running after the save"
at=$(heartbeat m)
ctl restore s1 clone >/dev/null || fail "restore s1"
wait_until 30 heartbeat_at_least clone $((at + 2)) || fail "clone does not count on from $at"
n=$(jailed_ok "$STATE/machines/clone") || fail "clone: $n"
# The restore sets /proc/self/cmdline with PR_SET_MM_MAP, unprivileged.
console_has clone 'sbuml: restored from' || fail "clone: no restore line"
console_has clone 'cannot set the command line' && fail "clone: PR_SET_MM_MAP failed unprivileged"
wait_until 30 heartbeat_at_least m $((at + 3)) || fail "m stopped counting"
[ -z "$(ls -A "$STATE/store/tmp" | grep '^restore-')" ] || fail "a restore capture was left behind"
say "save + restore: clone counts on from $at as $JAIL ($n processes)"

# The root-run machine from before: saved by the new daemon, its snapshot
# restored as an unprivileged clone, and it boots again unprivileged.
ctl save old s-old >/dev/null || fail "save the root-run machine"
at=$(heartbeat old)
ctl restore s-old old-clone >/dev/null || fail "restore the root-run machine's snapshot"
wait_until 30 heartbeat_at_least old-clone $((at + 2)) || fail "old-clone does not count on from $at"
n=$(jailed_ok "$STATE/machines/old-clone") || fail "old-clone: $n"
wait_until 30 heartbeat_at_least old $((at + 3)) || fail "old stopped counting after its save"
ctl halt old >/dev/null || fail "halt old"
ctl boot old >/dev/null || fail "boot old again"
b=$(wc -l <"$(console_of old)")
wait_until 60 sh -c "tail -n +$b '$(console_of old)' | grep -aq 'sbuml-heartbeat'" || fail "old: no heartbeat after the reboot"
n=$(jailed_ok "$OLD") || fail "old after reboot: $n"
say "the root-run machine: saved, cloned and rebooted as $JAIL"

for m in m clone old old-clone; do ctl halt $m >/dev/null || fail "halt $m"; done
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes: $(uml_pids_under "$T")"
say "ok"
