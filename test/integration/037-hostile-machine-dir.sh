#!/bin/sh
# SPDX-License-Identifier: MIT
# A machine directory a non-root user can write is hostile (issue 9, rows 1,
# 6, 12).  The user `nobody` plants symlinks, FIFOs, foreign overlays and
# a forged machine.json in a path machine's directory, or swaps the
# directory itself; the daemon refuses each with a clear error, never reads
# /etc/shadow, never writes outside, never runs the forged kernel, and keeps
# answering.  Row 7 (a live UML is never lost) is 038-lost-uml.sh.
# Needs root (other uids): CI runs as root.
TEST_NAME=hostile-machine-dir
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
	[ -n "${CI:-}" ] && fail "needs root to act as nobody"
	say "skipped: needs root"; exit 77
fi

asnobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
alive() { ctl ping >/dev/null || fail "the daemon stopped answering"; }
# A process is gone once it is dead or a zombie (a re-adopted UML is not
# sbumld's child, so nobody may have reaped it yet).
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]; }
# The machine's error for CMD must contain WORDS, within 20 s (never block).
refused() {
	want=$1; shift
	if timeout 120 "$SBUMLCTL" --socket "$SOCK" "$@" >"$T/out" 2>"$T/err"; then
		fail "$* was accepted: $(cat "$T/out")"
	fi
	grep -q -- "$want" "$T/err" || fail "$*: no \"$want\" in: $(cat "$T/err")"
	if grep -q '^root:' "$T/out" "$T/err"; then fail "$* showed /etc/shadow"; fi
	say "$*: $(tail -n 1 "$T/err")"
}

chmod 0711 "$T"	# nobody may reach its own directories below $T
shadow_sum=$(sha256sum /etc/shadow)
mkdir -m 0700 "$T/rootonly"
cat >"$T/x.sh" <<EOF
#!/bin/sh
touch "$T/forged-kernel-ran"
EOF
chmod 0755 "$T/x.sh"
forged_config() {	# forged_config DIR NAME: the machine.json nobody writes
	printf '{"machine":"%s","image":"%s","mem_mb":64,"cmdline":"","disks":[],"kernel":"%s/x.sh","created":""}\n' \
		"$2" "$SBUML_IMAGE" "$T" | asnobody sh -c "rm -f '$1/machine.json'; cat >'$1/machine.json'"
}

start_daemon

# --- Row 1: nobody owns the (empty) directory of a path machine. ---
M="$T/u"
mkdir "$M" && chown nobody:nogroup "$M"
ctl boot "$M" --mem 64 >/dev/null || fail "boot $M"
wait_until 60 heartbeat_at_least "$M" 1 || fail "no heartbeat in $M"
pid=$(info_field "$M" pid)

# console.log replaced by a symlink to /etc/shadow.
asnobody sh -c "mv '$M/console.log' '$M/console.old' && ln -s /etc/shadow '$M/console.log'"
refused "symlink" console "$M"
ctl list >/dev/null || fail "list with a symlinked console.log"
alive

# console.log replaced by a FIFO (row 6): refused at once, nothing blocks.
asnobody sh -c "rm '$M/console.log' && mkfifo '$M/console.log'"
refused "not a regular file" console "$M"
timeout 120 "$SBUMLCTL" --socket "$SOCK" list >/dev/null || fail "list blocked on a FIFO console.log"
alive

# A forged machine.json does not choose the kernel, not even after a restart.
forged_config "$M" "$M"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=""
start_daemon
state_is "$M" running || fail "$M not re-adopted: $(info_field "$M" state)"
[ "$(info_field "$M" pid)" = "$pid" ] || fail "$M re-adopted with another pid"
[ "$(info_field "$M" kernel)" = "$SBUML_KERNEL" ] || fail "the forged kernel was believed: $(info_field "$M" kernel)"
ctl kill "$M" >/dev/null || fail "kill $M"
# The FIFO console makes the boot fail at once, with the reason.
refused "console.log: is not a regular file" boot "$M"
asnobody rm "$M/console.log"
# A symlinked overlay would make UML write into a root-only directory.
asnobody sh -c "rm -f '$M/disk0.cow' && ln -s '$T/rootonly/victim' '$M/disk0.cow'"
refused "disk0.cow is a symlink" boot "$M"
asnobody sh -c "rm '$M/disk0.cow' && echo junk >'$M/disk0.cow'"
refused "disk0.cow was not made by sbumld" boot "$M"
asnobody rm "$M/disk0.cow"
# A planted uml/ symlink is removed, not followed.
touch "$T/rootonly/pid"
asnobody ln -s "$T/rootonly" "$M/uml"
ctl boot "$M" >/dev/null || fail "boot $M with its own files gone"
wait_until 60 heartbeat_at_least "$M" 1 || fail "no heartbeat in $M after the reboot"
[ -e "$T/rootonly/pid" ] || fail "the uml symlink was followed: rootonly/pid removed"
[ "$(ls "$T/rootonly")" = pid ] || fail "something was written into rootonly: $(ls "$T/rootonly")"
[ ! -e "$T/forged-kernel-ran" ] || fail "the forged kernel ran as root"
[ "$(info_field "$M" kernel)" = "$SBUML_KERNEL" ] || fail "booted with kernel $(info_field "$M" kernel)"
say "row 1/6: symlinked or FIFO console.log, symlinked or foreign disk0.cow, symlinked uml/, forged machine.json: refused or ignored"

# --- Row 1, parent owned by nobody: the directory is swapped. ---
P="$T/p"
mkdir "$P" && chown nobody:nogroup "$P"
V="$P/vm"
ctl boot "$V" --mem 64 >/dev/null || fail "boot $V"
wait_until 60 heartbeat_at_least "$V" 1 || fail "no heartbeat in $V"
vpid=$(info_field "$V" pid)
asnobody sh -c "mv '$V' '$P/old' && mkdir '$V' && ln -s /etc/shadow '$V/console.log'"
forged_config "$V" "$V"
refused "another directory" console "$V"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=""
start_daemon
alive
if ! gone "$vpid"; then
	# Re-adopted by the directory it really runs in, and killable.
	[ "$(info_field "$V" pid)" = "$vpid" ] || fail "$V (pid $vpid) not re-adopted: $(ctl --json info "$V")"
	ctl kill "$V" >/dev/null || fail "kill the re-adopted $V"
	wait_until 20 gone "$vpid" || fail "pid $vpid survived the kill"
fi
refused "another directory" boot "$V"
[ ! -e "$T/forged-kernel-ran" ] || fail "the forged kernel ran as root"
[ -z "$(uml_pids_under "$P")" ] || fail "UML processes left under $P"
ctl delete "$V" >/dev/null || fail "delete (forget) $V"
[ -L "$V/console.log" ] && [ -f "$V/machine.json" ] || fail "delete touched the swapped-in directory"
say "row 1, swapped directory: not used, the real UML re-adopted and killed, forgotten without touching the new one"

# --- Row 12: a path through a symlink into the state dir. ---
ln -s "$STATE" "$T/into"
refused "inside the state directory" boot "$T/into/evil"
# The CLI resolves symlinks itself: the daemon must too, for any client.
! rpc machine.boot "{\"machine\": \"$T/into/evil\"}" >"$T/out" 2>&1 ||
	fail "boot $T/into/evil over raw RPC accepted"
grep -q "inside the state directory" "$T/out" || fail "raw boot $T/into/evil: $(cat "$T/out")"
say "raw machine.boot $T/into/evil: $(cat "$T/out")"
[ ! -e "$STATE/evil" ] || fail "a machine was created inside the state dir"
say "row 12: a symlinked path into the state dir is refused"

[ "$(sha256sum /etc/shadow)" = "$shadow_sum" ] || fail "/etc/shadow changed"
ctl kill "$M" >/dev/null || fail "kill $M"
alive
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes"
say "ok"
