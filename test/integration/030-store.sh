#!/bin/sh
# SPDX-License-Identifier: MIT
# Snapshots in the chunk store (format 2, snapshot.save "store": true):
# a saved snapshot verifies and restores; a second save of an idle machine
# adds little to the store; two snapshots share chunks and deleting one
# leaves the other verifiable and restorable; a flipped byte, a truncated
# pack and a missing pack are each named by snapshot.verify and make
# restore refuse without creating anything.  The chunks live in pack files
# (store/packs/<id>.pack with its index <id>.idx): the corruption cases act
# on one chunk's record in its pack, found through the index.  Uses rpc.py
# only (no CLI yet).
TEST_NAME=store
. "$(dirname "$0")/lib.sh"

# jget FILE EXPR: evaluate a Python expression on the JSON in FILE (as j).
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
store_bytes() { du -scb "$STATE/store/packs" $(ls -d "$STATE/store/chunks" 2>/dev/null) | tail -n 1 | cut -f1; }

start_daemon
ctl boot a --mem 128 >/dev/null || fail "boot"
wait_until 60 heartbeat_at_least a 3 || fail "no heartbeat"
sleep 2

# Full save, then a second one a few seconds later.
rpc snapshot.save '{"machine": "a", "snapshot": "s1", "store": true}' >"$T/s1.json" || fail "save s1: $(cat "$T/s1.json")"
full=$(store_bytes)
sleep 3
rpc snapshot.save '{"machine": "a", "snapshot": "s2", "store": true}' >"$T/s2.json" || fail "save s2: $(cat "$T/s2.json")"
both=$(store_bytes)
S1="$STATE/snapshots/s1"; S2="$STATE/snapshots/s2"
[ "$(jget "$S1/manifest.json" 'j["version"]')" = 2 ] || fail "s1 is not format 2"
[ ! -e "$S1/capture" ] || fail "the raw capture was left in s1"
[ -z "$(ls -A "$S1/.." | grep partial)" ] || fail "partial directory left"
k1=$(jget "$S1/manifest.json" 'j["kernel"]["size"]')
new1=$(jget "$S1/manifest.json" 'j["store"]["new_bytes"]')
new2=$(jget "$S2/manifest.json" 'j["store"]["new_bytes"]')
say "idle 128 MB guest: store after the first save $full bytes (kernel binary of $k1 bytes included; new chunks $new1 bytes)"
say "second save 3 s later added $((both - full)) bytes to the store (new chunks $new2 bytes); snapshot dirs: $(du -sb "$S1" | cut -f1) and $(du -sb "$S2" | cut -f1) bytes"
say "s1 chunks: $(jget "$S1/manifest.json" 'j["store"]')"
[ "$new2" -lt "$new1" ] || fail "the second save did not share chunks with the first"

# Both verify; info tells what deleting each frees.
rpc snapshot.verify '{"snapshot": "s1"}' >"$T/v.json" || fail "verify s1: $(cat "$T/v.json")"
rpc snapshot.verify '{"snapshot": "s2"}' >"$T/v.json" || fail "verify s2: $(cat "$T/v.json")"
rpc snapshot.info '{"snapshot": "s1"}' >"$T/i1.json" || fail "info s1"
stored=$(jget "$T/i1.json" 'j["stored_bytes"]'); freeable=$(jget "$T/i1.json" 'j["freeable_bytes"]')
say "s1: uses $stored bytes of chunks, deleting it frees $freeable"
[ "$freeable" -lt "$stored" ] || fail "s1 shares nothing with s2 (freeable $freeable of $stored)"

# Restore s1: the clone counts on; the materialised capture is gone afterwards.
at=$(heartbeat a)
rpc snapshot.restore '{"snapshot": "s1", "machine": "c1"}' >"$T/r.json" || fail "restore s1: $(cat "$T/r.json")"
wait_until 30 heartbeat_at_least c1 $((at - 5 + 3)) || fail "c1 does not count on"
[ -z "$(ls -A "$STATE/store/tmp")" ] || fail "restore left $(ls "$STATE/store/tmp")"
say "restored s1 as c1, it runs; no temporary capture left"

# Delete s1: s2 still verifies and restores; the freed bytes leave the store.
rpc snapshot.delete '{"snapshot": "s1"}' >"$T/d.json" || fail "delete s1: $(cat "$T/d.json")"
say "delete s1: $(jget "$T/d.json" 'j["freed"]'); store now $(store_bytes) bytes"
rpc snapshot.verify '{"snapshot": "s2"}' >"$T/v.json" || fail "s2 broken by deleting s1: $(cat "$T/v.json")"
rpc snapshot.restore '{"snapshot": "s2", "machine": "c2"}' >"$T/r.json" || fail "restore s2 after delete: $(cat "$T/r.json")"
wait_until 30 heartbeat_at_least c2 $((at + 3)) || fail "c2 does not count on"
say "s2 verifies and restores after s1 was deleted"
rpc store.gc >"$T/gc.json" || fail "store.gc: $(cat "$T/gc.json")"
rpc snapshot.verify '{"snapshot": "s2"}' >"$T/v.json" || fail "s2 broken by store.gc"
# The CLI shows the result (it once printed "null": arguments evaluated
# before the call had filled them in).
ctl snapshot gc >"$T/gc.out" 2>&1 || fail "sbumlctl snapshot gc: $(cat "$T/gc.out")"
grep -qE '"chunks": *[0-9]+' "$T/gc.out" || fail "sbumlctl snapshot gc shows no result: $(cat "$T/gc.out")"
for m in a c1 c2; do ctl halt $m >/dev/null || fail "halt $m"; done

# Corruption, each on one chunk's record in its pack: a flipped byte inside
# the frame, the pack truncated inside the record, the pack and its index
# gone, the pack alone gone.
chunk_no() { jget "$S2/manifest.json" "[c for f in j['files'] if f['path']=='capture/physmem' for c in f['chunks'] if isinstance(c, str)][$1]"; }
# locate HASH: "<pack id> <frame offset> <frame length>" from the pack indexes
# (16-byte header, then 48-byte entries: hash, u64 offset, u32 length, u32 0).
locate() {
	python3 - "$STATE/store/packs" "$1" <<'PY'
import glob, os, struct, sys
want = bytes.fromhex(sys.argv[2])
for idx in glob.glob(os.path.join(sys.argv[1], "*.idx")):
    b = open(idx, "rb").read()
    for o in range(16, len(b) - 47, 48):
        if b[o:o + 32] == want:
            off, ln = struct.unpack_from("<QI", b, o + 32)
            print(os.path.basename(idx)[:-4], off, ln)
            sys.exit(0)
sys.exit("chunk %s is in no pack index" % sys.argv[2])
PY
}
expect_bad() {	# expect_bad WHAT PATTERN...
	what=$1; shift
	! rpc snapshot.verify '{"snapshot": "s2"}' >"$T/v.json" || fail "$what: verify passed"
	grep -q BadSnapshot "$T/v.json" || fail "$what: verify says $(cat "$T/v.json")"
	for pat in "$@"; do grep -q -- "$pat" "$T/v.json" || fail "$what: verify does not say '$pat': $(cat "$T/v.json")"; done
	! rpc snapshot.restore '{"snapshot": "s2", "machine": "bad"}' >"$T/r.json" || fail "$what: restore went ahead"
	grep -q BadSnapshot "$T/r.json" || fail "$what: restore says $(cat "$T/r.json")"
	[ ! -e "$STATE/machines/bad" ] || fail "$what: the refused restore left a machine"
	say "$what: $(jget "$T/v.json" 'j["message"]')"
}
h=$(chunk_no 3)
loc=$(locate "$h") || fail "chunk $h: $loc"
set -- $loc
pid=$1; off=$2; flen=$3
pack="$STATE/store/packs/$pid.pack"; idx="$STATE/store/packs/$pid.idx"
cp "$pack" "$T/keep.pack"; cp "$idx" "$T/keep.idx"
python3 -c 'import sys; p=sys.argv[1]; o=int(sys.argv[2]); f=open(p,"r+b"); f.seek(o); c=f.read(1); f.seek(o); f.write(bytes([c[0]^0x20]))' "$pack" $((off + flen / 2))
expect_bad "flipped byte" "$h" "$pid.pack" "offset $off" "corrupt"
cp "$T/keep.pack" "$pack"
rpc snapshot.verify '{"snapshot": "s2"}' >/dev/null || fail "repaired pack does not verify"
truncate -s $((off + 10)) "$pack"; expect_bad "truncated pack" "truncated or corrupt"
rm "$pack" "$idx"; expect_bad "pack and index missing" "missing from the chunk store"
cp "$T/keep.idx" "$idx"; expect_bad "pack missing" "missing from the chunk store" "$pid.pack"
cp "$T/keep.pack" "$pack"
rpc snapshot.verify '{"snapshot": "s2"}' >/dev/null || fail "s2 does not verify after repair"
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes"
say "ok"
