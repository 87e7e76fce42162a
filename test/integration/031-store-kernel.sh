#!/bin/sh
# SPDX-License-Identifier: MIT
# A format 2 snapshot carries its kernel binary as chunks: it restores on a
# daemon where neither the saved kernel path nor the daemon's kernel is that
# build (standing for another host without the kernel installed).
TEST_NAME=store-kernel
. "$(dirname "$0")/lib.sh"

cp "$SBUML_KERNEL" "$T/kcopy"
start_daemon
ctl boot k --mem 64 --kernel "$T/kcopy" >/dev/null || fail "boot"
wait_until 60 heartbeat_at_least k 3 || fail "no heartbeat"
rpc snapshot.save '{"machine": "k", "snapshot": "ks", "store": true}' >"$T/s.json" || fail "save: $(cat "$T/s.json")"
at=$(heartbeat k)
ctl halt k >/dev/null || fail "halt"
stop_daemon

# No kernel of that build here any more: the daemon's is the stock one.
rm "$T/kcopy"
start_daemon --kernel "$SBUML_STOCK_KERNEL"
rpc snapshot.restore '{"snapshot": "ks", "machine": "k2"}' >"$T/r.json" || fail "restore: $(cat "$T/r.json")"
wait_until 30 heartbeat_at_least k2 $((at + 2)) || fail "k2 does not count on"
kern=$(ctl --json info k2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["kernel"])')
case "$kern" in "$STATE/store/kernels/"*) ;; *) fail "k2 runs kernel $kern" ;; esac
cmp "$kern" "$SBUML_KERNEL" || fail "the materialised kernel differs"
say "restored with the kernel from the chunk store: $kern"
ctl halt k2 >/dev/null || fail "halt k2"
say "ok"
