# SPDX-License-Identifier: MIT
# Shared harness for the integration tests: a private sbumld in a temp dir,
# the real sbumlctl, real UML guests.  Every test sources this file.
#
# Environment (set by test/integration/meson.build):
#   SBUMLD, SBUMLCTL, SBUML_KERNEL, SBUML_IMAGE, SBUML_STOCK_KERNEL, TEST_SRCDIR
set -eu

# A test that sets SBUML_TEST_NETNS=1 before sourcing this file runs in a
# network namespace of its own (unshare -n): the daemon's bridges, nftables
# table and dnsmasq live there and go with it, and nothing the guests send
# leaves it (net_uplink adds the only way out, into another namespace).
# The daemons started here default to --default-network none: the other
# tests touch no host networking at all.
if [ "${SBUML_TEST_NETNS:-}" = 1 ] && [ "${SBUML_IN_NETNS:-}" != 1 ]; then
	SBUML_IN_NETNS=1 exec unshare -n -m --propagation private "$0" "$@"
fi

T=$(mktemp -d /tmp/sbt.XXXXXX)
# Machines run as the unprivileged user sbuml-uml (sbumld/machine/jail.h), which
# must reach the state dir and the path machines under $T: search only.
chmod 0711 "$T"
SOCK="$T/s.sock"
STATE="$T/state"
DAEMON_PID=""
OTHER_PIDS=""	# more daemons (start_other_daemon), killed on exit
UMOUNTS=""	# file systems a test mounted under $T, unmounted on exit
# In the test's namespaces: a /dev/net/tun the jailed UML may open (Debian
# makes it 0666; a container may have it 0600), on a tmpfs of our own,
# mounted over the host's in our private mount namespace only.
if [ "${SBUML_IN_NETNS:-}" = 1 ] && [ -c /dev/net/tun ]; then
	mkdir "$T/netdev"
	mount -t tmpfs -o mode=0755,size=64k sbuml-netdev "$T/netdev" &&
		mknod -m 0666 "$T/netdev/tun" c 10 200 &&
		mount --bind "$T/netdev/tun" /dev/net/tun ||
		{ echo "cannot give the test its own /dev/net/tun" >&2; exit 1; }
	UMOUNTS="/dev/net/tun $T/netdev"
fi
export SBUML_SOCKET="$SOCK"

say() { printf '%s: %s\n' "${TEST_NAME:-test}" "$*"; }
fail() {
	printf '%s: FAIL: %s\n' "${TEST_NAME:-test}" "$*" >&2
	dump_debug >&2
	exit 1
}

dump_debug() {
	[ -f "$T/daemon.log" ] && { echo "--- daemon log (tail)"; tail -n 40 "$T/daemon.log"; }
	for c in "$STATE"/machines/*/console.log "$T"/*/console.log; do
		[ -f "$c" ] && { echo "--- $c (tail)"; tail -n 15 "$c"; }
	done
	# Where a daemon that stopped answering waits: its threads and the
	# children it may be waiting for (ip, nft, a UML not yet exec'ed).
	if [ -n "${DAEMON_PID:-}" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		echo "--- sbumld $DAEMON_PID: threads, children"
		ps -L -o pid,tid,stat,wchan:32,comm -p "$DAEMON_PID" 2>/dev/null
		ps -o pid,stat,wchan:32,args --ppid "$DAEMON_PID" 2>/dev/null
		grep -h . "/proc/$DAEMON_PID"/task/*/syscall 2>/dev/null | cut -d' ' -f1 | sort | uniq -c
	fi
	return 0
}

. "$(dirname "$0")/procs.sh"
. "$(dirname "$0")/wait.sh"

cleanup() {
	rc=$?
	set +e
	[ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2>/dev/null
	for p in $OTHER_PIDS; do kill -9 "$p" 2>/dev/null; done
	for p in $(uml_pids_under "$T"); do kill -9 "$p" 2>/dev/null; done
	sleep 0.2
	for p in $(uml_pids_under "$T"); do kill -9 "$p" 2>/dev/null; done
	# A test's own network namespace: whatever still runs in it (the
	# daemon's dnsmasq, in a session of its own, outlives a daemon killed
	# with -9 and would keep the namespace alive) goes too.
	if [ "${SBUML_IN_NETNS:-}" = 1 ]; then
		_ns=$(readlink /proc/$$/ns/net)
		for _p in /proc/[0-9]*; do
			[ "${_p#/proc/}" = $$ ] && continue
			[ "$(readlink "$_p/ns/net" 2>/dev/null)" = "$_ns" ] && kill -9 "${_p#/proc/}" 2>/dev/null
		done
	fi
	for m in $UMOUNTS; do umount -l "$m" 2>/dev/null; done
	if [ "$rc" -eq 0 ] || [ -z "${KEEP_TMP:-}" ]; then rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT INT TERM

ctl() { "$SBUMLCTL" --socket "$SOCK" "$@"; }
rpc() { python3 "$TEST_SRCDIR/rpc.py" "$SOCK" "$@"; }

# Start a private daemon; extra arguments are passed to sbumld.
start_daemon() {
	mkdir -p "$STATE"
	"$SBUMLD" -d --default-network none --socket "$SOCK" --state-dir "$STATE" \
		--kernel "${SBUML_KERNEL}" --image "${SBUML_IMAGE}" "$@" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_until 20 ctl ping || fail "daemon did not come up"
}

# start_other_daemon DIR: a second daemon with its own state dir and socket
# (DIR/state, DIR/s.sock), standing for another host.  Drive it with
# "$SBUMLCTL" --socket DIR/s.sock.
start_other_daemon() {
	mkdir -p "$1/state"
	"$SBUMLD" -d --default-network none --socket "$1/s.sock" --state-dir "$1/state" \
		--kernel "${SBUML_KERNEL}" --image "${SBUML_IMAGE}" >>"$1/daemon.log" 2>&1 &
	OTHER_PIDS="$OTHER_PIDS $!"
	wait_until 20 "$SBUMLCTL" --socket "$1/s.sock" ping || fail "daemon in $1 did not come up"
}

# net_uplink: in a SBUML_TEST_NETNS test, a veth pair into a second network
# namespace standing for the host's uplink: ours is sbup0 198.51.100.1/24
# with the default route through the peer, 198.51.100.2 (TEST-NET-2).
# Run commands there with `uplink CMD...`.
UPLINK_IP=198.51.100.2
net_uplink() {
	[ "${SBUML_IN_NETNS:-}" = 1 ] || fail "net_uplink outside a test network namespace"
	ip link set lo up
	unshare -n sleep infinity &
	UPLINK_PID=$!
	OTHER_PIDS="$OTHER_PIDS $UPLINK_PID"
	# unshare has made the namespace once the holder's differs from ours.
	wait_until 10 sh -c '[ "$(readlink /proc/'"$UPLINK_PID"'/ns/net)" != "$(readlink /proc/self/ns/net)" ]' ||
		fail "the uplink namespace did not appear"
	ip link add sbup0 type veth peer name sbup1 netns "$UPLINK_PID" ||
		fail "cannot make the uplink veth pair"
	ip address add 198.51.100.1/24 dev sbup0
	ip link set sbup0 up
	ip route add default via "$UPLINK_IP"
	uplink ip link set lo up
	uplink ip address add "$UPLINK_IP/24" dev sbup1
	uplink ip link set sbup1 up
}
uplink() { nsenter -t "$UPLINK_PID" -n "$@"; }

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=""
}

# Console log path of a machine given by name or path.
console_of() {
	case "$1" in */*) echo "$1/console.log" ;; *) echo "$STATE/machines/$1/console.log" ;; esac
}
# Highest heartbeat number printed so far (0 if none).
heartbeat() {
	grep -a -o 'sbuml-heartbeat [0-9]*' "$(console_of "$1")" 2>/dev/null | tail -n 1 | awk '{print $2+0}' | grep . || echo 0
}
heartbeat_at_least() { [ "$(heartbeat "$1")" -ge "$2" ]; }
console_has() { grep -aq -- "$2" "$(console_of "$1")"; }
# jfield FILE EXPR: EXPR over the JSON in FILE as j ("" for None).
jfield() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); exec("v="+sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }
# memcheck_ok M SINCE: a "CHECK memcheck ok" line with bad_pages=0 after line SINCE.
memcheck_ok() { tail -n +"$(($2 + 1))" "$(console_of "$1")" | grep -aq 'CHECK memcheck ok [0-9]* .*bad_pages=0'; }
# memcheck_bad M: memcheck's failures on M's console (empty: none).
memcheck_bad() { grep -aE 'CHECK memcheck FAIL|bad_pages=[1-9]' "$(console_of "$1")" | head -n 3; }
# boot_memcheck M: boot M from the payload disk with memcheck alone over
# 16 MiB (it rewrites and re-reads its memory all the time; the other
# checkers are the fidelity suite's business), up to its first "ok".  A
# kernel parameter with "=" that the kernel does not know is init's
# environment.
boot_memcheck() {
	_seed=$(( $(od -An -N3 -tu4 /dev/urandom | tr -d ' ') % 900000 + 100000 ))
	ctl boot "$1" --mem 96 --disk "$SBUML_PAYLOAD" \
		--cmdline "sbuml.seed=$_seed FIDELITY_CHECKERS=memcheck FIDELITY_MEM_MIB=16 FIDELITY_REPORT=1" >/dev/null || fail "boot $1"
	wait_until 60 heartbeat_at_least "$1" 3 || fail "$1: no heartbeat"
	wait_until 90 console_has "$1" 'CHECK memcheck ok' || fail "$1: memcheck did not start"
}

# JSON field of `sbumlctl --json info MACHINE` (top-level member).
info_field() {
	ctl --json info "$1" | python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$2"
}
state_is() { [ "$(info_field "$1" state)" = "$2" ]; }

# --- /dev/userfaultfd (doc/security.md 4c) ---
# Whether root can open the device here (hosts >= 6.1, no policy against it):
# then a daemon without --no-userfaultfd passes it to kernels that take it.
uffd_dev_ok() { python3 -c 'import os; os.close(os.open("/dev/userfaultfd", os.O_RDWR))' 2>/dev/null; }
# The machine object's uffd as the shell sees it: True or False.
uffd_of() { info_field "$1" uffd; }
# What fd 4 of the process pid is ("" if it has none).
fd4_of() { readlink "/proc/$1/fd/4" 2>/dev/null || true; }

# --- Network tests (070-072): reaching a guest from the host. ---
# hping IP: one ping (no iputils on the host: busybox-static's).
hping() { busybox ping -c 1 -W 3 "$1"; }
# http_get URL: the body, or fail.
http_get() {
	python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())' "$1"
}

# --- Positive fidelity: every checker of the payload makes progress. ---

# Checkers test/guest/fidelity runs by default: the last resort of
# checker_names, for a machine with neither a "CHECK fidelity start" line
# nor a record of the machine it was restored from.
FIDELITY_ALL=${FIDELITY_ALL:-"memcheck fpucheck pipecheck sockcheck sigcheck threadcheck forktree filecheck clockcheck randcheck
	fdeventcheck ipccheck ptracecheck lockcheck seccompcheck uringcheck notifycheck nscheck cgroupcheck
	rseqcheck timenscheck"}

# console_lines MACHINE: complete lines in MACHINE's console log now (0 if none).
console_lines() {
	_cl=$(console_of "$1")
	if [ -f "$_cl" ]; then wc -l <"$_cl" | tr -d ' '; else echo 0; fi
}

# checker_names MACHINE: the checkers MACHINE's payload started (its
# "CHECK fidelity start ... names=a,b" line); for a restored machine, whose
# console has no such line, those of the machine checks_progress last
# checked it against (its original, or a generation back to it); else all.
checker_names() {
	_cn=$(grep -a -o 'CHECK fidelity start checkers=[0-9]* names=[a-z0-9_,]*' \
		"$(console_of "$1")" 2>/dev/null | tail -n 1 | sed 's/.*names=//' | tr ',' ' ')
	[ -n "$_cn" ] || _cn=$(cat "$(checkers_record "$1")" 2>/dev/null || true)
	echo "${_cn:-$FIDELITY_ALL}"
}
# checkers_record MACHINE: where checks_progress notes the checkers of a
# machine restored from another one.
checkers_record() { echo "$T/checkers.$(echo "$1" | tr '/' '_')"; }

# ok_floors MACHINE LINES: "name:iteration" of the last "CHECK name ok N"
# each checker printed in the first LINES lines of MACHINE's console.
ok_floors() {
	awk -v n="$2" 'NR > n { exit }
		match($0, /CHECK [a-z0-9_]+ ok [0-9]+/) {
			split(substr($0, RSTART, RLENGTH), f, " ")
			if (f[4] + 0 > last[f[2]] + 0) last[f[2]] = f[4] + 0
		}
		END { for (c in last) printf "%s:%d ", c, last[c] }' "$(console_of "$1")" 2>/dev/null
}

# checks_missing MACHINE SINCE FLOORS NAMES: the checkers (of NAMES) with
# no "CHECK name ok N" line after line SINCE of MACHINE's console whose N
# is above the checker's floor in FLOORS ("name:N ...").  With SINCE > 0
# the line right after it is skipped too (it may have been half written
# when SINCE was counted).
checks_missing() {
	awk -v since="$2" -v floors="$3" -v names="$4" '
		BEGIN {
			nf = split(floors, fl, " ")
			for (i = 1; i <= nf; i++) { split(fl[i], kv, ":"); floor[kv[1]] = kv[2] + 0 }
			first = since > 0 ? since + 2 : 1
		}
		NR >= first && match($0, /CHECK [a-z0-9_]+ ok [0-9]+/) {
			split(substr($0, RSTART, RLENGTH), f, " ")
			if (f[4] + 0 > floor[f[2]] + 0) seen[f[2]] = 1
		}
		END {
			nn = split(names, nm, " ")
			for (i = 1; i <= nn; i++) if (!(nm[i] in seen)) printf "%s ", nm[i]
		}' "$(console_of "$1")" 2>/dev/null || echo "$4"
}

# checks_progress MACHINE SINCE [REF REF_LINES [SECONDS]]: wait (default
# 150 s) until every checker of the payload has printed, after line SINCE
# of MACHINE's console, an "ok" line whose iteration is above the last one
# it printed in the first REF_LINES lines of REF's console (default:
# MACHINE's own first SINCE lines).
#   The original after a save:      checks_progress orig "$lines_at_save"
#   A machine restored from it:     checks_progress clone 0 orig "$lines_at_save"
# (a restored machine's console log is new: every line in it was printed
# after the restore, and the iteration counters carry on from the save).
# Returns 1, saying which checkers did not report, on timeout.
checks_progress() {
	_cp_m=$1; _cp_since=$2; _cp_ref=${3:-$1}; _cp_reflines=${4:-$2}; _cp_limit=${5:-150}
	_cp_names=$(checker_names "$_cp_ref")
	[ "$_cp_m" = "$_cp_ref" ] || echo "$_cp_names" >"$(checkers_record "$_cp_m")"
	_cp_floors=$(ok_floors "$_cp_ref" "$_cp_reflines")
	_cp_end=$(( $(date +%s) + _cp_limit ))
	while :; do
		_cp_missing=$(checks_missing "$_cp_m" "$_cp_since" "$_cp_floors" "$_cp_names")
		[ -z "$_cp_missing" ] && return 0
		[ "$(date +%s)" -lt "$_cp_end" ] || break
		sleep 1
	done
	say "$_cp_m: no fresh ok line (after line $_cp_since, above $_cp_ref's iterations $_cp_floors) from: $_cp_missing"
	return 1
}

# uml_pids_sorted DIR: the host processes under DIR, sorted, one line.
uml_pids_sorted() { uml_pids_under "$1" | sort -n | tr '\n' ' '; }

# missing_cpuid7_bit EBX: "BIT NAME" of a CPUID 7 ebx feature bit that EBX
# (this host's, as a number) lacks, a named one if there is one (avx512f,
# sha_ni, ...); nothing if it has every bit.  For faking another host.
missing_cpuid7_bit() {
	python3 -c '
import sys
ebx = int(sys.argv[1])
named = {16: "avx512f", 29: "sha_ni", 5: "avx2", 30: "avx512bw", 17: "avx512dq", 21: "avx512ifma", 28: "avx512cd"}
for b in list(named) + list(range(32)):
    if not ebx >> b & 1:
        print(b, named.get(b, "bit %d" % b)); break
' "$1"
}
