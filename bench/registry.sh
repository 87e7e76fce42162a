#!/bin/sh
# SPDX-License-Identifier: MIT
# registry: snapshot.push / snapshot.pull throughput against skopeo copy of
# the same artifact between the same two places, in this run, and what a
# second push of an idle machine uploads.
#
# Two docker-registry instances on 127.0.0.1 (storage under $T), plain http.
# 1. A busy guest (bench payload, memcheck holding BENCH_REGISTRY_MIB MiB,
#    default 128, pseudo-random data) is saved (s1).
# 2. push: `sbumlctl push s1` into the empty registry A, against `skopeo
#    copy dir:D docker://B/...` of the very same artifact (D: skopeo's own
#    copy of it, fetched from A first) into the empty registry B: local disk
#    to a registry both.  Target: push MB/s >= skopeo MB/s.
# 3. pull: `sbumlctl pull` on a second daemon with an empty store, against
#    `skopeo copy docker://A/... dir:D2`: a registry to local disk both.
#    Target: pull MB/s >= skopeo MB/s.  MB = 10^6 bytes of blobs moved.
# 4. An idle guest saved twice BENCH_REGISTRY_GAP seconds apart (default 3):
#    the bytes the second push uploads.  Target: <= 1 MiB.
# Exit 0 with MISSes unless BENCH_STRICT=1.
BENCH_NAME=registry
. "$(dirname "$0")/lib.sh"

MIB=${BENCH_REGISTRY_MIB:-128}
GAP=${BENCH_REGISTRY_GAP:-3}
misses=0
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ns() { date +%s%N; }
jf() { $BT json "$1" "$2"; }

# start_registry DIR PORT
start_registry() {
	mkdir -p "$1/data"
	printf 'version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
		"$1/data" "$2" >"$1/config.yml"
	docker-registry serve "$1/config.yml" >>"$1/log" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	wait_until 30 curl -sf -o /dev/null "http://127.0.0.1:$2/v2/" || fail "registry $1 did not come up"
}

PA=$(free_port); start_registry "$T/ra" "$PA"
PB=$(free_port); start_registry "$T/rb" "$PB"
build_payload
start_daemon
boot_busy busy "$MIB"
ctl save busy s1 >/dev/null 2>&1 || fail "save s1"
kill_machine busy

# push vs skopeo dir: -> registry
t0=$(now_ns)
ctl --json push s1 "127.0.0.1:$PA/bench/busy:v1" --insecure >"$T/push.json" || fail "push"
t1=$(now_ns)
push_s=$(calc "($t1 - $t0) / 1e9")
bytes=$(jf "$T/push.json" bytes)
skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$PA/bench/busy:v1" "dir:$T/d1" >/dev/null ||
	fail "skopeo copy to dir"
t0=$(now_ns)
skopeo copy --quiet --dest-tls-verify=false "dir:$T/d1" "docker://127.0.0.1:$PB/bench/busy:v1" >/dev/null ||
	fail "skopeo copy dir to registry"
t1=$(now_ns)
sk_push_s=$(calc "($t1 - $t0) / 1e9")

# pull vs skopeo registry -> dir:
H="$T/h2"; mkdir -p "$H/st"
"$SBUMLD" -d --socket "$H/s.sock" --state-dir "$H/st" --kernel "$SBUML_KERNEL" \
	--image "$SBUML_IMAGE" >>"$H/daemon.log" 2>&1 &
BG_PIDS="$BG_PIDS $!"
wait_until 20 "$SBUMLCTL" --socket "$H/s.sock" ping || fail "second daemon"
t0=$(now_ns)
"$SBUMLCTL" --socket "$H/s.sock" --json pull "127.0.0.1:$PA/bench/busy:v1" --insecure >"$T/pull.json" || fail "pull"
t1=$(now_ns)
pull_s=$(calc "($t1 - $t0) / 1e9")
pbytes=$(jf "$T/pull.json" bytes)
t0=$(now_ns)
skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$PA/bench/busy:v1" "dir:$T/d2" >/dev/null ||
	fail "skopeo copy registry to dir"
t1=$(now_ns)
sk_pull_s=$(calc "($t1 - $t0) / 1e9")

# Second push of an idle machine.
ctl boot idle --mem 128 >/dev/null || fail "boot idle"
wait_until 60 console_has idle "sbuml-heartbeat 3" || fail "idle: no heartbeat"
ctl save idle i1 >/dev/null 2>&1 || fail "save i1"
ctl push i1 "127.0.0.1:$PA/bench/idle:v1" --insecure >/dev/null || fail "push i1"
sleep "$GAP"
ctl save idle i2 >/dev/null 2>&1 || fail "save i2"
ctl --json push i2 "127.0.0.1:$PA/bench/idle:v2" --insecure >"$T/push2.json" || fail "push i2"
kill_machine idle
second=$(jf "$T/push2.json" bytes)

blobs=$(jf "$T/push.json" blobs)
echo "busy guest holding $MIB MiB: $blobs blobs, $(calc "$bytes / 1e6") MB (MB = 10^6 B)"
printf '%-6s %9s %9s %10s %10s %7s %7s\n' what sbuml_s skopeo_s sbuml_MB/s skopeo_MB/s ratio verdict
row() {
	mbs=$(calc "$4 / 1e6 / $2"); smbs=$(calc "$4 / 1e6 / $3"); ratio=$(calc "$mbs / $smbs")
	v=$(verdict "$ratio >= 1"); [ "$v" = PASS ] || misses=$((misses + 1))
	printf '%-6s %9.2f %9.2f %10.1f %10.1f %7.2f %7s\n' "$1" "$2" "$3" "$mbs" "$smbs" "$ratio" "$v"
}
row push "$push_s" "$sk_push_s" "$bytes"
row pull "$pull_s" "$sk_pull_s" "$pbytes"
v=$(verdict "$second <= 1048576"); [ "$v" = PASS ] || misses=$((misses + 1))
echo "second push of an idle 128 MiB guest after $GAP s: $second bytes uploaded ($(jf "$T/push2.json" uploaded_blobs) of $(jf "$T/push2.json" blobs) blobs) $v (target <= 1 MiB)"
echo "targets missed: $misses"
if [ "$misses" -gt 0 ] && [ "${BENCH_STRICT:-0}" = 1 ]; then exit 1; fi
exit 0
