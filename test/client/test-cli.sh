#!/bin/sh
# SPDX-License-Identifier: MIT
# sbumlctl and sbumlboot against fake-sbumld.py: output, exit codes (0 ok,
# 1 daemon error, 2 usage, 3 cannot connect, 4 other), path resolution.
#   test-cli.sh BUILD/cli/sbumlctl BUILD/cli/sbumlboot fake-sbumld.py
set -u
ctl=$1 boot=$2 fake=$3
command -v python3 >/dev/null || { echo "no python3: skipped"; exit 77; }
tmp=$(mktemp -d /tmp/sbuml-cli-test.XXXXXX)
fakepid=
cleanup() {
	[ -n "$fakepid" ] && kill "$fakepid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
python3 "$fake" "$tmp/s.sock" & fakepid=$!
i=0
while [ ! -S "$tmp/s.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
export SBUML_SOCKET="$tmp/s.sock"

pass=0 fail=0
# expect NAME WANT-STATUS WANT-STDOUT-REGEX -- COMMAND...
expect() {
	name=$1 want=$2 re=$3
	shift 4
	out=$("$@" 2>"$tmp/err")
	got=$?
	if [ "$got" -eq "$want" ] && printf '%s\n' "$out" | grep -Eq -- "$re"; then
		pass=$((pass + 1)); echo "ok - $name"
	else
		fail=$((fail + 1))
		echo "not ok - $name: status $got (want $want), stdout: $out, stderr: $(cat "$tmp/err")"
	fi
}
# experr NAME REGEX: stderr of the last expect matches
experr() {
	if grep -Eq -- "$2" "$tmp/err"; then
		pass=$((pass + 1)); echo "ok - $1"
	else
		fail=$((fail + 1)); echo "not ok - $1: stderr: $(cat "$tmp/err")"
	fi
}

expect ping 0 '^pong from' -- "$ctl" ping
expect ping-json 0 '^\{"pong":true\}$' -- "$ctl" --json ping
expect version 0 '^sbumld +0\.1\.0 \(api 1\)' -- "$ctl" version
expect boot 0 '^demo: running \(pid 4242\)$' -- "$ctl" boot demo --mem 64
expect boot-exists 1 '' -- "$ctl" boot demo
experr boot-exists-msg '^sbumlctl: boot demo: MachineExists: '
mkdir "$tmp/vms"
expect sbumlboot-rel 0 "^$tmp/vms/vm1: running" -- sh -c "cd '$tmp/vms' && '$boot' ./vm1 --mem 32 --disk d.img"
expect info-path 0 "\"disks\":\\[\"$tmp/vms/d.img\"\\]" -- sh -c "cd '$tmp' && '$ctl' --json info vms/vm1/"
expect list 0 '^demo +running +4242 +64M +/' -- "$ctl" list
expect pause 0 '^demo: paused' -- "$ctl" pause demo
expect pause-again 1 '' -- "$ctl" pause demo
experr pause-badstate 'BadState'
expect events 0 '^demo: paused -> running$' -- sh -c "'$ctl' events --count 1 & sleep 0.5; '$ctl' resume demo >/dev/null; wait"
expect halt 0 '^demo: stopped$' -- "$ctl" halt demo --timeout 5
expect console 0 '^line 2$' -- "$ctl" console demo --lines 1
expect delete 0 '^demo: deleted$' -- "$ctl" delete demo
expect no-such 1 '' -- "$ctl" info demo
experr no-such-msg '^sbumlctl: info demo: NoSuchMachine: '
expect usage-cmd 2 '' -- "$ctl" frobnicate
expect usage-arg 2 '' -- "$ctl" info
expect usage-mem 2 '' -- "$ctl" boot x --mem 1
expect usage-parent 2 '' -- "$ctl" boot "$tmp/no/such/vm"
expect connect 3 '' -- "$ctl" --socket "$tmp/nothing.sock" ping
experr connect-msg "cannot connect to sbumld at $tmp/nothing.sock"
"$ctl" boot slow >/dev/null; "$ctl" boot garbage >/dev/null
expect timeout 4 '' -- "$ctl" --timeout 0.3 info slow
experr timeout-msg 'no answer'
expect malformed 4 '' -- "$ctl" info garbage
experr malformed-msg 'protocol error'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
