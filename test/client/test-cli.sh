#!/bin/sh
# SPDX-License-Identifier: MIT
# sbumlctl, sbumlboot, sbumlsave and sbumlrestore against fake-sbumld.py:
# output, exit codes (0 ok, 1 daemon error, 2 usage, 3 cannot connect,
# 4 other), path resolution, snapshot prefix resolution.
#   test-cli.sh BUILD/cli/sbumlctl BUILD/cli/sbumlboot fake-sbumld.py \
#	BUILD/cli/sbumlsave BUILD/cli/sbumlrestore
set -u
ctl=$1 boot=$2 fake=$3 save=$4 restore=$5
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

# ---- snapshots: sbumlctl save / restore / snapshot
"$ctl" boot web >/dev/null
expect save-named 0 '^/tmp/st/snapshots/snap1$' -- "$ctl" save web snap1
experr save-stats '^paused for 9\.0 ms, 22\.6 MiB captured$'
expect save-default 0 '^/tmp/st/snapshots/web-20261127T184500Z-[0-9a-f]+$' -- "$ctl" save web --progress
experr save-progress-0 '^saving: 0\.0 MiB written$'
experr save-progress-2 '^saving: 2\.0 MiB written$'
expect save-no-progress 0 '' -- "$ctl" save web snap0
if grep -q saving "$tmp/err"; then fail=$((fail + 1)); echo "not ok - save-quiet"; else pass=$((pass + 1)); echo "ok - save-quiet"; fi
expect save-cow 0 '^/tmp/st/snapshots/snapc$' -- "$ctl" save web snapc --cow
experr save-cow-stats '^paused for 9\.0 ms \(copy-on-write\), 22\.6 MiB captured$'
expect save-stop-json 0 '^\{.*"state":"paused"' -- "$ctl" --json save web snap2 --stop
expect save-stopped 0 '^state +paused' -- "$ctl" info web
expect save-cow-paused 0 '^/tmp/st/snapshots/snapd$' -- "$ctl" save web snapd --cow
experr save-cow-fallback '^paused for 9\.0 ms \(staged: stopped\), 22\.6 MiB captured$'
expect save-exists 1 '' -- "$ctl" save web snap1
experr save-exists-msg '^sbumlctl: save web: SnapshotExists: '
expect save-both 2 '' -- "$ctl" save web x --prefix y
expect save-usage 2 '' -- "$ctl" save
mkdir "$tmp/snaps"
expect save-path 0 "^$tmp/snaps/one\$" -- sh -c "cd '$tmp' && '$ctl' save web ./snaps/one"
expect save-prefix 0 "^$tmp/snaps/pre-20261127T184500Z-" -- sh -c "cd '$tmp/snaps' && '$ctl' save web --prefix ./pre"
expect snap-list 0 '^snap1 +running +9\.0 +22\.9 +2026-11-27T18:45:00Z$' -- "$ctl" snapshot list
expect snap-list-head 0 '^NAME +STATE +PAUSE_MS +SIZE_MB +CREATED$' -- "$ctl" snapshot list
expect snap-list-json 0 '^\{"snapshots":\[\{"snapshot":"snap0"' -- "$ctl" snapshot list --json
expect snap-info 0 '^timings +pause 9\.0 ms, copy 6\.0 ms, total 25\.0 ms$' -- "$ctl" snapshot info snap1
expect snap-info-path 0 "^path +$tmp/snaps/one\$" -- sh -c "cd '$tmp/snaps' && '$ctl' snapshot info ./one"
expect snap-delete 0 '^snap2: deleted$' -- "$ctl" snapshot delete snap2
expect snap-gone 1 '' -- "$ctl" snapshot info snap2
experr snap-gone-msg '^sbumlctl: snapshot info snap2: NoSuchSnapshot: '
expect snap-usage 2 '' -- "$ctl" snapshot
experr snap-usage-msg 'missing list, info, delete, verify or gc'
expect snap-usage-sub 2 '' -- "$ctl" snapshot frob
expect snap-usage-arg 2 '' -- "$ctl" snapshot info
experr snap-usage-arg-msg '^usage: sbumlctl .* snapshot info SNAPSHOT$'
expect restore 0 '^vm-r: running \(pid 4343\)$' -- "$ctl" restore snap1 vm-r
expect restore-paused 0 "^$tmp/vms/r2: paused" -- sh -c "cd '$tmp/vms' && '$ctl' restore ../snaps/one r2/ --paused"
expect restore-exists 1 '' -- "$ctl" restore snap1 vm-r
experr restore-exists-msg '^sbumlctl: restore snap1: MachineExists: '
expect restore-usage 2 '' -- "$ctl" restore snap1

# ---- check: a line per check, a verdict, exit 0 restorable / 1 not
expect check-ok 0 '^ok   kernel: build ab12: /usr/libexec/sbuml/linux-sbuml$' -- "$ctl" check snap1
expect check-verdict 0 '^snap1: this host can restore it$' -- "$ctl" check snap1
"$ctl" save web "$tmp/snaps/nocpu" >/dev/null 2>&1
expect check-fail 1 '^FAIL cpu: .*cpuid 7 ebx 0x00010000 \(avx512f\)$' -- sh -c "cd '$tmp/snaps' && '$ctl' check ./nocpu"
expect check-fail-verdict 1 '^\./nocpu: this host cannot restore it \(1 check failed\)$' -- sh -c "cd '$tmp/snaps' && '$ctl' check ./nocpu"
expect check-json 1 "^\\{\"snapshot\":\"$tmp/snaps/nocpu\",\"restorable\":false" -- "$ctl" --json check "$tmp/snaps/nocpu"
expect check-json-ok 0 '^\{"snapshot":"snap1","restorable":true' -- "$ctl" check snap1 --json
expect check-gone 1 '' -- "$ctl" check nosuch
experr check-gone-msg '^sbumlctl: check nosuch: NoSuchSnapshot: '
expect export-usage 2 '' -- "$ctl" export snap1
experr export-usage-msg '^usage: sbumlctl .* export SNAPSHOT FILE\|- \[--base PARENT\]$'
expect import-usage 2 '' -- "$ctl" import
experr import-usage-msg 'missing FILE'
expect import-nofile 4 '' -- "$ctl" import "$tmp/no/such.sbx"
experr import-nofile-msg 'No such file or directory'
expect delta-usage 2 '' -- "$(dirname "$ctl")/sbumldelta" snap2 snap1
experr delta-usage-msg '^usage: sbumldelta .*SNAPSHOT PARENT DELTAFILE$'
expect expand-usage 2 '' -- "$(dirname "$ctl")/sbumlexpand" only.delta
experr expand-usage-msg '^usage: sbumlexpand .*DELTAFILE PARENT \[NEWSNAPSHOT\]$'
expect check-usage 2 '' -- "$ctl" check
experr check-usage-msg '^usage: sbumlctl .* check SNAPSHOT$'

# ---- classic sbumlsave: PREFIX-<unique>, frozen unless -c
expect sbumlsave 0 "^$tmp/snaps/web-20261127T184500Z-[0-9a-f]+\$" -- sh -c "cd '$tmp' && '$save' --socket '$tmp/s.sock' web snaps/web -f"
expect sbumlsave-frozen 0 '^state +paused' -- "$ctl" info web
"$ctl" resume web >/dev/null
expect sbumlsave-c 0 "^$tmp/snaps/cont-" -- "$save" web "$tmp/snaps/cont" -c
expect sbumlsave-running 0 '^state +running' -- "$ctl" info web
expect sbumlsave-json 0 '^\{.*"path":"/tmp/st/snapshots/named-' -- "$save" --json web named -c
expect sbumlsave-usage 2 '' -- "$save" web
experr sbumlsave-usage-msg '^usage: sbumlsave .*MACHINE PREFIX \[-f\] \[-c\]$'
expect sbumlsave-badopt 2 '' -- "$save" web p -x
expect sbumlsave-nomachine 1 '' -- "$save" ghost p
experr sbumlsave-nomachine-msg '^sbumlsave: ghost: NoSuchMachine: '
expect sbumlsave-connect 3 '' -- "$save" --socket "$tmp/nothing.sock" web p

# ---- classic sbumlrestore: exact, then PREFIX with 1, 2 and 0 matches
expect sbumlrestore-1 0 "^$tmp/vms/n1: paused" -- sh -c "cd '$tmp' && '$restore' --socket '$tmp/s.sock' vms/n1 snaps/web"
expect sbumlrestore-1-src 0 "\"restored_from\":\"$tmp/snaps/web-20261127T184500Z-" -- "$ctl" --json info "$tmp/vms/n1"
expect sbumlrestore-exact 0 "^$tmp/vms/n2: running" -- "$restore" "$tmp/vms/n2" "$tmp/snaps/one" -c
"$save" web "$tmp/snaps/web" -c >/dev/null
expect sbumlrestore-2 2 '' -- "$restore" "$tmp/vms/n3" "$tmp/snaps/web"
experr sbumlrestore-2-msg "^sbumlrestore: $tmp/snaps/web matches 2 snapshots"
experr sbumlrestore-2-list "^  $tmp/snaps/web-20261127T184500Z-[0-9a-f]+\$"
expect sbumlrestore-0 1 '' -- "$restore" "$tmp/vms/n3" "$tmp/snaps/none"
experr sbumlrestore-0-msg "NoSuchSnapshot: no snapshot $tmp/snaps/none"
mkdir "$tmp/snaps/lone-x"       # no manifest.json: not a snapshot
expect sbumlrestore-nomanifest 1 '' -- "$restore" "$tmp/vms/n3" "$tmp/snaps/lone"
mkdir "$tmp/snaps/we[b]-1" && : >"$tmp/snaps/we[b]-1/manifest.json"
expect sbumlrestore-glob-escape 0 "^$tmp/vms/n4: paused" -- "$restore" "$tmp/vms/n4" "$tmp/snaps/we[b]"
expect sbumlrestore-name-0 1 '' -- "$restore" n5 nothing
"$save" web solo -c >/dev/null; "$save" web dup -c >/dev/null; "$save" web dup -c >/dev/null
expect sbumlrestore-name-1 0 '^n5: running' -- "$restore" n5 solo -c
expect sbumlrestore-name-2 2 '' -- "$restore" n6 dup
experr sbumlrestore-name-2-list '^  dup-20261127T184500Z-'
expect sbumlrestore-usage 2 '' -- "$restore" onlyone
expect sbumlrestore-exists 1 '' -- "$restore" n5 solo
experr sbumlrestore-exists-msg 'MachineExists'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
