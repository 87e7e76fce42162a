#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job, end to end, on a fresh Debian 12 machine (as root):
# install what is needed, build sbuml and its UML kernel, start a private
# sbumld, boot the default machine and let it count, pause and resume it,
# save it while it runs, restore the snapshot as a new machine, and show the
# restored machine counting on from where it was saved while the original
# also goes on.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"

"$top/scripts/build.sh" "$build"

work=$(mktemp -d /tmp/sbuml-demo.XXXXXX)
# The machines run as the user sbuml-uml, which must reach the state dir.
chmod 0711 "$work"
sock="$work/sbumld.sock"
ctl() { "$build/cli/sbumlctl" --socket "$sock" "$@"; }
daemon=""
finish() {
	rc=$?
	set +e
	[ -n "$daemon" ] && { ctl kill demo >/dev/null 2>&1; ctl kill copy >/dev/null 2>&1; kill "$daemon"; wait "$daemon"; } 2>/dev/null
	rm -rf "$work"
	exit $rc
}
trap finish EXIT INT TERM
step() { printf '\n==> %s\n' "$*"; }
heartbeats() { ctl console demo --lines 200 | grep -c 'sbuml-heartbeat' || true; }
last_beat() { ctl console "$1" --lines 50 | grep -o 'sbuml-heartbeat [0-9]*' | tail -n 1 | cut -d' ' -f2; }

step "starting sbumld (private socket $sock, state in $work/state)"
"$build/sbumld/sbumld" -d --socket "$sock" --state-dir "$work/state" \
	--kernel "$build/uml-patches/linux-sbuml" \
	--image "$build/sbumld/guest/default.img" 2>"$work/sbumld.log" &
daemon=$!
i=0; until ctl ping >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 100 ] || { cat "$work/sbumld.log"; exit 1; }; sleep 0.1; done
ctl version

step "booting the default machine 'demo'"
ctl boot demo --mem 64
sleep 4
ctl list
step "console of demo"
ctl console demo --lines 6

step "pausing demo: heartbeats stop"
ctl pause demo
a=$(heartbeats); sleep 3; b=$(heartbeats)
echo "heartbeats while paused: $a -> $b"
step "resuming demo: heartbeats go on"
ctl resume demo
sleep 3
ctl console demo --lines 3

step "saving demo while it runs (snapshot 'demo-snap')"
ctl save demo demo-snap
echo "demo was at heartbeat $(last_beat demo) when saved"
ctl snapshot list
# The whole running machine as one file, ready for another host (sbumlctl import).
ctl export demo-snap "$work/demo-snap.sbx"

step "restoring demo-snap as a new machine 'copy'"
ctl restore demo-snap copy
sleep 4
ctl list
step "copy carries on from where demo was saved (its console starts there: no boot, no 'sbuml-guest: up')"
ctl console copy --lines 5
step "and the original goes on too"
ctl console demo --lines 3

step "halting both"
ctl halt copy
ctl halt demo
ctl list
