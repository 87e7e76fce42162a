#!/bin/sh
# SPDX-License-Identifier: MIT
# Hostile export streams and manifests (issue 9, rows 2-5), fed to the real
# daemon: a header whose format, id, base id or name is null, a file path
# that is null, zero-run counts that wrap ([INT64_MAX, INT64_MAX, 3]), a
# file of 2^62 bytes in one zero run, a manifest whose kernel is 1 or whose
# format is null.  Each import is refused with BadSnapshot naming the field,
# leaves nothing behind, and the daemon answers ping and snapshot.list
# afterwards (also after a restart); store.gc is not blocked.  The same
# manifests as path snapshots: info, verify, check and delete answer with an
# error instead of crashing or blocking the event loop.
TEST_NAME=hostile-streams
. "$(dirname "$0")/lib.sh"

MK="$TEST_SRCDIR/mkstream.py"
HEX0=0000000000000000000000000000000000000000000000000000000000000000

# manifest FILE PYTHON: a small valid format 2 manifest (one empty file),
# changed by the Python statements in PYTHON (on the dict m).
manifest() {
	python3 - "$1" "$2" "$SBUML_IMAGE" "$SBUML_KERNEL" <<'PY'
import json, sys
m = {"format": "sbuml-snapshot", "version": 2, "created": "2026-12-06T00:00:00Z",
     "machine": {"machine": "h", "image": sys.argv[3], "kernel": sys.argv[4],
                 "mem_mb": 64, "cmdline": "", "disks": []},
     "state": "running", "kernel": {"build_id": "00"},
     "files": [{"path": "capture/physmem", "size": 0, "chunks": []}]}
exec(sys.argv[2])
open(sys.argv[1], "w").write(json.dumps(m))
PY
}

# rpc with a bound on the call: a daemon that hangs fails the test instead of stalling it.
rpct() { python3 "$TEST_SRCDIR/rpc.py" --timeout 60 "$SOCK" "$@"; }

# errmsg FILE: "NAME: message" of the JSON-RPC error object rpc.py printed.
errmsg() {
	python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(e["data"]["name"] + ": " + e["message"])' "$1" 2>/dev/null
}

alive() {
	ctl ping >/dev/null || fail "the daemon died after $1"
	rpc snapshot.list >"$T/list.json" || fail "snapshot.list fails after $1: $(cat "$T/list.json")"
}

no_leftovers() {
	[ ! -e "$STATE/snapshots/$1" ] || fail "$1 was registered"
	! ls -a "$STATE/snapshots" | grep -q partial || fail "$1 left a work directory"
	! ls -A "$STATE/store/refs" | grep -q . || fail "$1 left a reference in the store"
}

start_daemon

# Control: the hand-made stream is well formed, so the refusals below are the fields'.
manifest "$T/good.json" ''
python3 "$MK" "$T/good.sbx" "$T/good.json"
rpc snapshot.import '{"file": "'"$T"'/good.sbx", "snapshot": "good"}' >"$T/r.json" || fail "the control stream: $(cat "$T/r.json")"
alive "the control import"
grep -q '"snapshot": "good"' "$T/list.json" || fail "good is not listed: $(cat "$T/list.json")"
rpc snapshot.delete '{"snapshot": "good"}' >"$T/r.json" || fail "delete good: $(cat "$T/r.json")"

# import CASE WHY HEAD [PARAMS]: the stream $T/CASE.json made with HEAD is refused naming WHY.
import_refused() {
	python3 "$MK" "$T/$1.sbx" "$T/$1.json" "$3"
	params=${4:-'"snapshot": "'"$1"'", '}
	! rpct snapshot.import "{$params\"file\": \"$T/$1.sbx\"}" >"$T/r.json" 2>&1 ||
		fail "$1: imported: $(cat "$T/r.json")"
	errmsg "$T/r.json" >"$T/msg" || fail "$1: no error answer: $(cat "$T/r.json")"
	grep -q "^BadSnapshot: " "$T/msg" && grep -qF -- "$2" "$T/msg" ||
		fail "$1: not refused with BadSnapshot naming $2: $(cat "$T/r.json")"
	say "$1 refused: $(cat "$T/msg")"
	no_leftovers "$1"
	alive "the $1 stream"
}

# Row 2: nulls in the header and a null file path.
manifest "$T/h-format.json" ''
import_refused h-format 'bad header: "format" must be' '{"format": null}'
cp "$T/h-format.json" "$T/h-id.json"
import_refused h-id 'bad header: "id" must be a SHA-256' '{"id": null}'
cp "$T/h-format.json" "$T/h-base.json"
import_refused h-base 'bad header: base."id" must be' '{"base": {"snapshot": "b", "id": null}}'
cp "$T/h-format.json" "$T/h-name.json"
import_refused h-name 'bad header: "snapshot" must be' '{"snapshot": null}' ' '
manifest "$T/h-path.json" 'm["files"][0]["path"] = None'
import_refused h-path 'files[0]."path" must be a string' '{}'
# Row 3: zero runs whose sum wraps.
manifest "$T/h-wrap.json" 'm["files"][0] = {"path": "capture/physmem", "size": 100, "sha256": "'$HEX0'", "chunks": [2**63 - 1, 2**63 - 1, 3]}'
import_refused h-wrap 'zero run' '{}'
# Row 4: 2^62 bytes in one zero run.
manifest "$T/h-huge.json" 'm["files"][0] = {"path": "capture/physmem", "size": 2**62, "sha256": "'$HEX0'", "chunks": [2**46]}'
import_refused h-huge 'out of range' '{}'
rpc store.gc >"$T/r.json" || fail "store.gc after the hostile imports: $(cat "$T/r.json")"
# Row 5: a kernel that is a number; a manifest whose format is null.
manifest "$T/h-kernel.json" 'm["kernel"] = 1'
import_refused h-kernel '"kernel" must be an object' '{}'
manifest "$T/h-mformat.json" 'm["format"] = None'
import_refused h-mformat 'manifest: "format" must be' '{}'

# The same manifests as path snapshots: every method answers, none crashes or blocks.
for c in h-path h-wrap h-huge h-kernel h-mformat; do
	mkdir "$T/p-$c"
	cp "$T/$c.json" "$T/p-$c/manifest.json"
	for m in info verify check; do
		! rpct "snapshot.$m" '{"snapshot": "'"$T/p-$c"'"}' >"$T/r.json" 2>&1 ||
			fail "snapshot.$m accepted p-$c: $(cat "$T/r.json")"
		errmsg "$T/r.json" | grep -q "^BadSnapshot: " || fail "snapshot.$m of p-$c: $(cat "$T/r.json")"
		alive "snapshot.$m of p-$c"
	done
	say "p-$c: info, verify, check refused: $(errmsg "$T/r.json")"
done
for c in h-kernel h-mformat; do
	rc=0
	rpct snapshot.delete '{"snapshot": "'"$T/p-$c"'"}' >"$T/r.json" 2>&1 || rc=$?
	[ "$rc" -le 1 ] || fail "snapshot.delete of p-$c got no answer: $(cat "$T/r.json")"
	alive "snapshot.delete of p-$c"
done

# A restarted daemon lists as before.
stop_daemon
start_daemon
alive "a restart"
grep -q '"snapshots": \[\]' "$T/list.json" || fail "snapshots after the restart: $(cat "$T/list.json")"
say "ok"
