#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job, end to end, on a fresh Debian 12 machine (as root):
# install what is needed, build sbuml and its UML kernel, start a private
# sbumld, boot the default machine, show it running, pause and resume it,
# and halt it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"

"$top/scripts/build.sh" "$build"

work=$(mktemp -d /tmp/sbuml-demo.XXXXXX)
sock="$work/sbumld.sock"
ctl() { "$build/cli/sbumlctl" --socket "$sock" "$@"; }
daemon=""
finish() {
	rc=$?
	set +e
	[ -n "$daemon" ] && { ctl kill demo >/dev/null 2>&1; kill "$daemon"; wait "$daemon"; } 2>/dev/null
	rm -rf "$work"
	exit $rc
}
trap finish EXIT INT TERM
step() { printf '\n==> %s\n' "$*"; }
heartbeats() { ctl console demo --lines 200 | grep -c 'sbuml-heartbeat' || true; }

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

step "halting demo"
ctl halt demo
ctl info demo
