#!/bin/sh
# SPDX-License-Identifier: MIT
# Moving snapshots between hosts: export a snapshot to a file and as a delta
# against its parent through a pipe, import both into a second daemon with
# its own state dir (standing for another host), verify and restore there.
# A delta before its parent, a truncated stream, a flipped byte and a
# stream that is not one are refused, and leave no snapshot behind.  The
# classic pair sbumldelta / sbumlexpand does the same in one file.
TEST_NAME=export-import
. "$(dirname "$0")/lib.sh"

CLI=$(dirname "$SBUMLCTL")
H="$T/host2"
ctlb() { "$SBUMLCTL" --socket "$H/s.sock" "$@"; }
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
no_snapshot_b() { [ ! -e "$H/state/snapshots/$1" ] || fail "$2 left snapshot $1 behind"; }

start_daemon
ctl boot a --mem 128 >/dev/null || fail "boot"
wait_until 60 heartbeat_at_least a 3 || fail "no heartbeat"
ctl save a s1 >/dev/null 2>&1 || fail "save s1"
sleep 2
ctl save a s2 >/dev/null 2>&1 || fail "save s2"
at=$(heartbeat a)

# Export: s1 whole into a file, s2 as a delta against s1 through a pipe.
ctl --json export s1 "$T/s1.sbx" >"$T/e1.json" || fail "export s1"
[ "$(head -c 8 "$T/s1.sbx")" = SBUMLXS1 ] || fail "the export file has no magic"
[ "$(jget "$T/e1.json" 'j["bytes"]')" = "$(stat -c %s "$T/s1.sbx")" ] || fail "export s1 reports a wrong size"
ctl export s2 - --base s1 2>"$T/e2.txt" | cat >"$T/s2.delta" || fail "export s2 --base s1: $(cat "$T/e2.txt")"
ctl export s2 "$T/s2.full" >/dev/null || fail "export s2"
full=$(stat -c %s "$T/s2.full"); delta=$(stat -c %s "$T/s2.delta")
say "s1: $(stat -c %s "$T/s1.sbx") bytes; s2: $full bytes whole, $delta bytes as a delta against s1"
[ "$delta" -lt $((full / 4)) ] || fail "the delta ($delta bytes) is not much smaller than the whole ($full)"
ls -a "$T" | grep -q partial && fail "an export left a partial file"

# Bad requests: clear errors, nothing written.
rpc snapshot.export '{"snapshot": "s1"}' >"$T/r.json" && fail "export without a target"
grep -q InvalidParams "$T/r.json" || fail "export without a target: $(cat "$T/r.json")"
rpc snapshot.export '{"snapshot": "s1", "fd": true}' >"$T/r.json" && fail "export with fd but no descriptor"
grep -q "no file descriptor came" "$T/r.json" || fail "fd without descriptor: $(cat "$T/r.json")"
rpc snapshot.export '{"snapshot": "s1", "file": "rel/x"}' >"$T/r.json" && fail "export to a relative file"
grep -q "absolute" "$T/r.json" || fail "relative file: $(cat "$T/r.json")"
rpc snapshot.export '{"snapshot": "nosuch", "file": "'"$T"'/n.sbx"}' >"$T/r.json" && fail "export of an unknown snapshot"
grep -q NoSuchSnapshot "$T/r.json" && [ ! -e "$T/n.sbx" ] || fail "unknown snapshot: $(cat "$T/r.json")"
rpc snapshot.import '{"file": "'"$T"'/nosuch.sbx"}' >"$T/r.json" && fail "import of a missing file"
grep -q "cannot open" "$T/r.json" || fail "missing file: $(cat "$T/r.json")"
# The daemon writes a file itself when given a path (for socat and scripts).
rpc snapshot.export '{"snapshot": "s1", "file": "'"$T"'/s1.byfile"}' >"$T/r.json" || fail "export by file: $(cat "$T/r.json")"
[ "$(stat -c %s "$T/s1.byfile")" -gt 1000000 ] || fail "export by file is too small"

start_other_daemon "$H"

# A delta before its parent: refused, names the parent, nothing registered.
! ctlb import "$T/s2.delta" 2>"$T/err" || fail "a delta imported without its parent"
grep -q "Incompatible" "$T/err" && grep -q "import s1 here first" "$T/err" || fail "delta without parent: $(cat "$T/err")"
no_snapshot_b s2 "a refused delta"

# Corrupt streams: refused with their reason, nothing registered, the daemon runs on.
head -c 2000000 "$T/s1.sbx" >"$T/trunc.sbx"
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//2]^=0x10; open(sys.argv[2],"wb").write(b)' "$T/s1.sbx" "$T/flip.sbx"
echo "not a stream" >"$T/junk.sbx"
for c in "trunc:truncated" "flip:corrupt" "junk:not an sbuml export stream"; do
	f=${c%%:*}; why=${c#*:}
	! ctlb import "$T/$f.sbx" "x$f" 2>"$T/err" || fail "$f stream imported"
	grep -q "BadSnapshot" "$T/err" && grep -q "$why" "$T/err" || fail "$f stream: $(cat "$T/err")"
	no_snapshot_b "x$f" "the $f stream"
	say "$f stream refused: $(cut -d: -f4- "$T/err")"
done
ctlb ping >/dev/null || fail "the daemon died on a bad stream"

# The parent (read by the daemon from a path), then the delta through a
# pipe (as over ssh), then verify both.
"$SBUMLCTL" --socket "$H/s.sock" --json snapshot info s1 >/dev/null 2>&1 && fail "s1 on host 2 before its import"
python3 "$TEST_SRCDIR/rpc.py" "$H/s.sock" snapshot.import '{"file": "'"$T"'/s1.byfile"}' >"$T/i1.json" || fail "import s1 by file: $(cat "$T/i1.json")"
[ "$(jget "$T/i1.json" 'j["snapshot"]')" = s1 ] || fail "import s1 said $(cat "$T/i1.json")"
ctl export s2 - --base s1 2>/dev/null | ctlb --json import - >"$T/i2.json" || fail "export | import of s2"
[ "$(jget "$T/i2.json" 'j["snapshot"]')" = s2 ] || fail "s2 imported as $(jget "$T/i2.json" 'j["snapshot"]')"
[ "$(jget "$T/i2.json" 'j["base"]["snapshot"]')" = s1 ] || fail "s2 not recorded as a delta"
cmp "$STATE/snapshots/s2/manifest.json" "$H/state/snapshots/s2/manifest.json" || fail "s2's manifest changed on the way"
ctlb snapshot verify s1 >/dev/null || fail "s1 does not verify on host 2"
ctlb snapshot verify s2 >/dev/null || fail "s2 does not verify on host 2"
! ctlb import "$T/s1.sbx" 2>"$T/err" || fail "s1 imported twice"
grep -q SnapshotExists "$T/err" || fail "second import of s1: $(cat "$T/err")"

# Restore on host 2: the machine counts on from the save.
ctlb restore s2 b2 >/dev/null || fail "restore s2 on host 2"
wait_until 30 heartbeat_at_least "$H/state/machines/b2" $((at + 2)) || fail "b2 does not count on"
say "s2 restored on host 2 as b2, counting on from $at"

# Deleting the parent leaves the imported delta's snapshot whole.
ctlb snapshot delete s1 >/dev/null || fail "delete s1 on host 2"
ctlb snapshot verify s2 >/dev/null || fail "s2 broken by deleting s1 on host 2"

# The classic delta pair: sbumldelta on host 1, sbumlexpand on host 2.
"$CLI/sbumldelta" --socket "$SOCK" s2 s1 "$T/d.delta" >/dev/null || fail "sbumldelta"
! "$CLI/sbumlexpand" --socket "$H/s.sock" "$T/d.delta" s2 wrong 2>"$T/err" || fail "expanded against the wrong parent"
grep -q "delta against snapshot s1" "$T/err" || fail "wrong parent: $(cat "$T/err")"
no_snapshot_b wrong "expanding against the wrong parent"
ctlb import "$T/s1.sbx" >/dev/null || fail "re-import s1"
"$CLI/sbumlexpand" --socket "$H/s.sock" "$T/d.delta" s1 s2c >/dev/null || fail "sbumlexpand"
ctlb snapshot verify s2c >/dev/null || fail "expanded s2c does not verify"

# Any language: the stdlib Python example passes the file descriptor too.
EX="$TEST_SRCDIR/../../doc/examples/sbuml_client.py"
python3 "$EX" --socket "$SOCK" export s2 "$T/py.sbx" >"$T/py.txt" || fail "python export: $(cat "$T/py.txt")"
python3 "$EX" --socket "$H/s.sock" import "$T/py.sbx" s2py >"$T/py.txt" || fail "python import: $(cat "$T/py.txt")"
grep -q "imported s2py" "$T/py.txt" || fail "python import said $(cat "$T/py.txt")"
ctlb snapshot verify s2py >/dev/null || fail "s2py (through the python example) does not verify"
say "sbumldelta: $(stat -c %s "$T/d.delta") bytes; sbumlexpand made s2c on host 2"

ctlb halt b2 >/dev/null || fail "halt b2"
ctl halt a >/dev/null || fail "halt a"
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes"
say "ok"
