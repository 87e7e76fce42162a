#!/bin/sh
# SPDX-License-Identifier: MIT
# Files the daemon writes and removes (issue 9, rows 8, 9 and 11):
#  - an export to a file is mode 0600 (it holds guest memory), never replaces
#    an existing file unless the client asks ("overwrite": true, sbumlctl
#    export --overwrite), and the replacement is 0600 too;
#  - snapshot.delete of a directory that is not an sbuml snapshot (another
#    program's manifest.json) is refused with the directory intact, as is a
#    real path snapshot holding a file sbuml did not create; without it, the
#    snapshot goes;
#  - kill -9 during an export to a file leaves its journaled ".partial" file,
#    which start-up recovery removes, while a user's file that merely has
#    such a name stays.
TEST_NAME=daemon-files
. "$(dirname "$0")/lib.sh"

mode() { stat -c %a "$1"; }
kill_daemon() {
	kill -9 "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=""
}

start_daemon
ctl boot a --mem 128 >/dev/null || fail "boot"
wait_until 60 heartbeat_at_least a 2 || fail "no heartbeat"
ctl save a s1 >/dev/null 2>&1 || fail "save s1"
ctl save a "$T/psnap" >/dev/null 2>&1 || fail "save a path snapshot"

# --- Row 8: exports are 0600 and never clobber. ---
umask 022
rpc snapshot.export '{"snapshot": "s1", "file": "'"$T"'/e.sbx"}' >"$T/r.json" || fail "export: $(cat "$T/r.json")"
[ "$(mode "$T/e.sbx")" = 600 ] || fail "the export file is mode $(mode "$T/e.sbx"), not 600"
printf 'secret of root\n' >"$T/keep"; chmod 600 "$T/keep"
rpc snapshot.export '{"snapshot": "s1", "file": "'"$T"'/keep"}' >"$T/r.json" && fail "an export replaced an existing file"
grep -q "exists" "$T/r.json" && grep -q IoError "$T/r.json" || fail "export over a file: $(cat "$T/r.json")"
[ "$(cat "$T/keep")" = "secret of root" ] || fail "the existing file changed"
ls -a "$T" | grep -q '\.partial-' && fail "a refused export left a partial file"
rpc snapshot.export '{"snapshot": "s1", "file": "'"$T"'/keep", "overwrite": true}' >"$T/r.json" || fail "export with overwrite: $(cat "$T/r.json")"
[ "$(head -c 8 "$T/keep")" = SBUMLXS1 ] && [ "$(stat -c %s "$T/keep")" = "$(stat -c %s "$T/e.sbx")" ] || fail "overwrite did not replace the file with the stream"
[ "$(mode "$T/keep")" = 600 ] || fail "the replaced file is mode $(mode "$T/keep")"
rpc snapshot.import '{"file": "'"$T"'/e.sbx", "snapshot": "x", "overwrite": true}' >"$T/r.json" && fail "import took overwrite"
grep -q '"param": *"overwrite"' "$T/r.json" || fail "import with overwrite: $(cat "$T/r.json")"
# The CLI writes the file itself (as the user): also 0600, no clobber without --overwrite.
ctl export s1 "$T/c.sbx" >/dev/null || fail "sbumlctl export"
[ "$(mode "$T/c.sbx")" = 600 ] || fail "sbumlctl export made mode $(mode "$T/c.sbx")"
printf 'mine\n' >"$T/mine"
! ctl export s1 "$T/mine" 2>"$T/err" || fail "sbumlctl export replaced a file"
grep -q -- "--overwrite" "$T/err" && [ "$(cat "$T/mine")" = mine ] || fail "sbumlctl export over a file: $(cat "$T/err")"
ctl export s1 "$T/mine" --overwrite >/dev/null || fail "sbumlctl export --overwrite"
[ "$(head -c 8 "$T/mine")" = SBUMLXS1 ] && [ "$(mode "$T/mine")" = 600 ] || fail "--overwrite wrote no 0600 stream"
say "exports are 0600 and replace a file only when asked"

# --- Row 9: delete removes only a provable sbuml snapshot, only its files. ---
mkdir -p "$T/webapp/static"
printf '{"name": "webapp", "version": 2, "files": []}\n' >"$T/webapp/manifest.json"
printf '<html>\n' >"$T/webapp/index.html"
printf 'x\n' >"$T/webapp/static/app.js"
rpc snapshot.info '{"snapshot": "'"$T"'/webapp"}' >"$T/r.json" && fail "info took webapp for a snapshot"
rpc snapshot.delete '{"snapshot": "'"$T"'/webapp"}' >"$T/r.json" && fail "webapp deleted"
grep -q BadSnapshot "$T/r.json" && grep -q "not an sbuml snapshot" "$T/r.json" || fail "delete webapp: $(cat "$T/r.json")"
[ -f "$T/webapp/manifest.json" ] && [ -f "$T/webapp/index.html" ] && [ -f "$T/webapp/static/app.js" ] || fail "delete touched webapp"
# An sbuml manifest is not enough: a file sbuml did not create keeps the directory.
printf 'my notes\n' >"$T/psnap/notes.txt"
rpc snapshot.delete '{"snapshot": "'"$T"'/psnap"}' >"$T/r.json" && fail "a snapshot holding a user's file was deleted"
grep -q "notes.txt" "$T/r.json" || fail "delete psnap with notes: $(cat "$T/r.json")"
[ -f "$T/psnap/notes.txt" ] && [ -f "$T/psnap/manifest.json" ] || fail "the refused delete removed files"
rpc snapshot.info '{"snapshot": "'"$T"'/psnap"}' >/dev/null || fail "psnap broken by a refused delete"
rm "$T/psnap/notes.txt"
rpc snapshot.delete '{"snapshot": "'"$T"'/psnap"}' >"$T/r.json" || fail "delete psnap: $(cat "$T/r.json")"
[ ! -e "$T/psnap" ] || fail "psnap still there after its delete"
rpc snapshot.delete '{"snapshot": "'"$T"'/nosuch"}' >"$T/r.json" && fail "deleted a missing dir"
grep -q NoSuchSnapshot "$T/r.json" || fail "delete of a missing dir: $(cat "$T/r.json")"
say "delete refuses webapp and a snapshot holding a user's file; deletes the clean snapshot"

# --- Row 11: recovery removes an interrupted export's file, only that. ---
ctl kill a >/dev/null 2>&1 || true
stop_daemon
printf 'user data\n' >"$T/.decoy.partial-ABCDEF"
SBUMLD_TEST_EXPORT_DELAY_MS=60000 start_daemon
rpc snapshot.export '{"snapshot": "s1", "file": "'"$T"'/big.sbx"}' >/dev/null 2>&1 &
partial_made() { ls -a "$T" | grep -q '^\.big\.sbx\.partial-'; }
wait_until 30 partial_made || fail "the export made no partial file"
[ "$(mode "$T"/.big.sbx.partial-*)" = 600 ] || fail "the partial file is not 0600"
kill_daemon
partial_made || fail "the partial file went with the daemon"
start_daemon
partial_made && fail "recovery left the interrupted export's partial file"
[ "$(cat "$T/.decoy.partial-ABCDEF")" = "user data" ] || fail "recovery removed a user's .partial file"
grep -q "big.sbx.partial-.*interrupted save or export" "$T/daemon.log" || fail "recovery did not log the removal"
[ ! -e "$T/big.sbx" ] || fail "an interrupted export left its file"
say "recovery removed the interrupted export's partial file and kept the user's"
