#!/bin/sh
# SPDX-License-Identifier: MIT
# Authorisation per request (doc/rpc.md "Who may call what"): the socket is
# opened to a group; two unprivileged uids in it (A and B, no passwd entry,
# run with setpriv) act only on what they own, and the daemon refuses them
# with PermissionDenied anything else.  Root still does everything and sees
# everything, with the owners shown.
TEST_NAME=authz
. "$(dirname "$0")/lib.sh"

# Two uids and a gid nobody uses on this host.
free_id() {
	_i=$1
	while getent passwd "$_i" >/dev/null || getent group "$_i" >/dev/null ||
		getent passwd "$((_i + 1))" >/dev/null; do
		_i=$((_i + 7))
	done
	echo "$_i"
}
UA=$(free_id 61230); UB=$((UA + 1)); G=$UA

as_a() { setpriv --reuid="$UA" --regid="$G" --clear-groups "$@"; }
as_b() { setpriv --reuid="$UB" --regid="$G" --clear-groups "$@"; }
ctla() { as_a "$SBUMLCTL" --socket "$SOCK" "$@"; }
ctlb() { as_b "$SBUMLCTL" --socket "$SOCK" "$@"; }
rpca() { as_a $PY "$TEST_SRCDIR/rpc.py" "$SOCK" "$@"; }
# The system python: a user-level shim (pyenv) is slow and not A's to run.
PY=/usr/bin/python3
jget() { $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# field MACHINE KEY: a member of root's machine.info.
field() { ctl --json info "$1" >"$T/f.json" && jget "$T/f.json" "j.get('$2')"; }

# denied WHAT CMD...: CMD is refused with PermissionDenied.
denied() {
	_what=$1; shift
	if "$@" >"$T/out" 2>&1; then fail "$_what: accepted: $(cat "$T/out")"; fi
	grep -q PermissionDenied "$T/out" || fail "$_what: not PermissionDenied: $(cat "$T/out")"
}

start_daemon
# The socket is the group's (what a --socket-group deployment does); $T is
# searchable so the group can reach it.
chmod 0711 "$T"
chgrp "$G" "$SOCK" && chmod 0660 "$SOCK" || fail "cannot open the socket to gid $G"
ctla ping >/dev/null || fail "uid $UA in gid $G cannot reach the socket"

# A directory of A's own (searchable: the machines' user sbuml-uml must
# pass through it to a path machine there, doc/machine-layout.md), and
# one only root may write.
AD="$T/a-home"; RD="$T/root-only"
mkdir -m 0711 "$AD" && chown "$UA:$G" "$AD" && mkdir -m 0755 "$RD" || fail "setup"

# --- Machines: each boots its own, sees and controls only its own. ---
ctl boot rootvm --mem 64 >/dev/null || fail "root boots rootvm"
ctla boot avm --mem 64 >/dev/null || fail "A boots its own machine: $(ctla boot avm 2>&1)"
wait_until 60 heartbeat_at_least avm 1 || fail "A's machine does not run"
[ "$(field avm owner)" = "$UA" ] || fail "avm's owner is $(field avm owner), want $UA"
[ "$(field rootvm owner)" = 0 ] || fail "rootvm's owner is $(field rootvm owner), want 0"
grep -q "\"owner\": *$UA" "$STATE/machines/avm/machine.json" || fail "machine.json records no owner"

# list: A sees only its own; B nothing; root all, with owners.
ctla --json list >"$T/la.json" || fail "A lists"
[ "$(jget "$T/la.json" '[m["machine"] for m in (j["machines"] if isinstance(j, dict) else j)]')" = "['avm']" ] ||
	fail "A's list is not just avm: $(cat "$T/la.json")"
ctlb --json list >"$T/lb.json" || fail "B lists"
[ "$(jget "$T/lb.json" 'len(j["machines"] if isinstance(j, dict) else j)')" = 0 ] || fail "B sees machines: $(cat "$T/lb.json")"
ctl --json list >"$T/lr.json" || fail "root lists"
[ "$(jget "$T/lr.json" 'sorted((m["machine"], m["owner"]) for m in (j["machines"] if isinstance(j, dict) else j))')" = \
	"[('avm', $UA), ('rootvm', 0)]" ] || fail "root's list: $(cat "$T/lr.json")"

# Root's machine is out of A's reach; A's is out of B's.
denied "A info rootvm" ctla info rootvm
denied "A console rootvm" ctla console rootvm
denied "A attach to rootvm's console" ctla console rootvm --attach --read-only </dev/null
denied "A types on rootvm's console" rpca machine.console-attach '{"machine": "rootvm"}'
denied "A halt rootvm" ctla halt rootvm
denied "A kill rootvm" ctla kill rootvm
denied "A pause rootvm" ctla pause rootvm
denied "A save rootvm" ctla save rootvm stolen
[ ! -e "$STATE/snapshots/stolen" ] || fail "a refused save left a snapshot"
denied "B info avm" ctlb info avm
denied "B halt avm" ctlb halt avm
denied "B attach to avm's console" ctlb console avm --attach </dev/null
denied "B delete avm" ctlb delete avm
denied "A boot rootvm again" ctla boot rootvm
[ "$(field rootvm state)" = running ] || fail "rootvm is $(field rootvm state) after the refusals"
[ "$(field avm state)" = running ] || fail "avm is $(field avm state) after the refusals"
# Events: A is told of its own machines only.  A's listener subscribes,
# then collects the machines of the events it gets until one is avm's;
# root's pause of rootvm comes before A's pause of avm on the same stream.
as_a env PYTHONDONTWRITEBYTECODE=1 $PY - "$TEST_SRCDIR" "$SOCK" "$AD/ev" <<'PYEOF' &
import json, sys, time
sys.path.insert(0, sys.argv[1])
from rpc import Conn
c = Conn(sys.argv[2], time.monotonic() + 240)
assert "result" in c.call("events.subscribe")
open(sys.argv[3] + ".ready", "w").close()
seen = []
while "avm" not in seen:
    m = c.read()
    if "id" not in m and m.get("method") == "machine.state":
        seen.append(m["params"]["machine"])
json.dump(seen, open(sys.argv[3], "w"))
PYEOF
EVPID=$!
wait_until 60 test -e "$AD/ev.ready" || fail "A's event listener did not subscribe"
ctl pause rootvm >/dev/null && ctl resume rootvm >/dev/null || fail "root pauses and resumes rootvm"
ctla pause avm >/dev/null && ctla resume avm >/dev/null || fail "A pauses and resumes avm"
wait "$EVPID" || fail "A's event listener failed"
[ "$(cat "$AD/ev")" = '["avm"]' ] || fail "A was told of other machines: $(cat "$AD/ev")"

# Root-only methods.
denied "A store.gc" ctla snapshot gc
denied "A set-log-level" rpca daemon.set-log-level '{"level": "debug"}'

# --- Snapshots: saved with their owner; the others' are out of reach. ---
ctla save avm asnap >/dev/null || fail "A saves its machine: $(ctla save avm asnap 2>&1)"
ctl save rootvm rsnap >/dev/null || fail "root saves rootvm"
grep -q "\"uid\": $UA" "$STATE/snapshots/asnap/owner.json" || fail "asnap has no owner.json of $UA"
ctla --json snapshot list >"$T/sa.json" || fail "A lists snapshots"
[ "$(jget "$T/sa.json" '[s["snapshot"] for s in (j["snapshots"] if isinstance(j, dict) else j)]')" = "['asnap']" ] ||
	fail "A's snapshot list: $(cat "$T/sa.json")"
ctl --json snapshot list >"$T/sr.json" || fail "root lists snapshots"
[ "$(jget "$T/sr.json" 'sorted((s["snapshot"], s["owner"]) for s in (j["snapshots"] if isinstance(j, dict) else j))')" = \
	"[('asnap', $UA), ('rsnap', 0)]" ] || fail "root's snapshot list: $(cat "$T/sr.json")"
denied "A info rsnap" ctla snapshot info rsnap
denied "A verify rsnap" ctla snapshot verify rsnap
denied "A check rsnap" ctla check rsnap
denied "A restore rsnap" ctla restore rsnap stolenvm
[ ! -e "$STATE/machines/stolenvm" ] || fail "a refused restore left a machine"
denied "A export rsnap" ctla export rsnap "$AD/r.sbx"
denied "A delete rsnap" ctla snapshot delete rsnap
[ -e "$STATE/snapshots/rsnap/manifest.json" ] || fail "rsnap is gone after a refused delete"
denied "B restore asnap" ctlb restore asnap bvm

# A restores its own snapshot into a machine it then owns.
ctla restore asnap arest >/dev/null || fail "A restores asnap: $(ctla restore asnap arest 2>&1)"
[ "$(field arest owner)" = "$UA" ] || fail "arest's owner is $(field arest owner)"
ctla kill arest >/dev/null || fail "A kills arest"

# --- Files: only what A could open itself. ---
head -c 4096 /dev/zero >"$RD/secret.img" && chmod 0600 "$RD/secret.img"
denied "A boots with a root-only image" ctla boot a2 --image "$RD/secret.img"
# Publishing a host port below 1024 is root's (refused before any network is touched).
denied "A publishes port 80" ctla boot a3 --net default --publish 80:80
ctl list | grep -q "^a3 " && fail "a refused publish left machine a3"
denied "A boots with a root-only disk" ctla boot a2 --disk "$RD/secret.img"
[ ! -e "$STATE/machines/a2" ] || fail "a refused boot left a machine directory"
# Its refusal says nothing of files it cannot reach (no "not found" first).
mkdir -m 0700 "$RD/private" && head -c 4096 /dev/zero >"$RD/private/pub.img" && chmod 0644 "$RD/private/pub.img"
denied "A boots with an image in a dir it cannot search" ctla boot a2 --image "$RD/private/pub.img"
ctla boot a2 --image "$AD/nosuch.img" >"$T/out" 2>&1 && fail "A boots with a missing image"
grep -q InvalidParams "$T/out" || fail "a missing image is not InvalidParams: $(cat "$T/out")"
denied "A boots a path machine in root's dir" ctla boot "$RD/pm"
[ ! -e "$RD/pm" ] || fail "a refused path machine left its directory"
denied "A saves into a path" ctla save avm "$AD/psnap"
denied "A saves into root's dir" ctla save avm "$RD/psnap"
[ ! -e "$RD/psnap" ] && [ ! -e "$AD/psnap" ] || fail "a refused path save left a snapshot"
# A path snapshot root made (root's 0700 files) is out of A's reach.
ctl save rootvm "$RD/rpath" >/dev/null || fail "root saves into a path"
denied "A info of root's path snapshot" ctla snapshot info "$RD/rpath"
denied "A restore of root's path snapshot" ctla restore "$RD/rpath" stolen2
denied "A delete of root's path snapshot" ctla snapshot delete "$RD/rpath"
[ -e "$RD/rpath/manifest.json" ] || fail "a refused delete removed $RD/rpath"
# Export and import by file: opened as A (the CLI passes fds; "file" is the daemon's).
ctl export rsnap "$RD/r.sbx" >/dev/null && chmod 0600 "$RD/r.sbx" || fail "root exports rsnap"
denied "A exports into root's dir" rpca snapshot.export "{\"snapshot\": \"asnap\", \"file\": \"$RD/a.sbx\"}"
[ ! -e "$RD/a.sbx" ] || fail "a refused export left a file"
denied "A imports a root-only file" rpca snapshot.import "{\"file\": \"$RD/r.sbx\", \"snapshot\": \"rcopy\"}"
[ ! -e "$STATE/snapshots/rcopy" ] || fail "a refused import left a snapshot"
rpca snapshot.export "{\"snapshot\": \"asnap\", \"file\": \"$AD/a.sbx\"}" >"$T/out" || fail "A exports into its dir: $(cat "$T/out")"
[ "$(stat -c '%u %a' "$AD/a.sbx")" = "$UA 600" ] || fail "A's export is $(stat -c '%u %a' "$AD/a.sbx"), want $UA 600"
rpca snapshot.export "{\"snapshot\": \"asnap\", \"file\": \"$AD/a.sbx\"}" >"$T/out" && fail "an export replaced an existing file"
rpca snapshot.import "{\"file\": \"$AD/a.sbx\", \"snapshot\": \"acopy\"}" >"$T/out" || fail "A imports its file: $(cat "$T/out")"
grep -q "\"uid\": $UA" "$STATE/snapshots/acopy/owner.json" || fail "the import is not A's"
denied "A imports into a path" rpca snapshot.import "{\"file\": \"$AD/a.sbx\", \"snapshot\": \"$AD/pcopy\"}"
# --- Kernels: the daemon's own and those that came with a snapshot only. ---
denied "A boots another kernel" ctla boot a2 --kernel "$SBUML_STOCK_KERNEL"
[ ! -e "$STATE/machines/a2" ] || fail "a refused kernel left a machine directory"
# A manifest may name any binary of its kernel's build-id: a copy of our
# kernel elsewhere, or base images A cannot read.  A's own path snapshot
# (a copy of asnap's manifest in A's dir) that does so is refused.
mkdir -m 0700 "$RD/k" && cp "$SBUML_KERNEL" "$RD/k/linux" || fail "copy the kernel"
forge() {	# forge DIR KEY VALUE: asnap's manifest with machine[KEY] = VALUE, A's
	mkdir -p "$1" && $PY - "$STATE/snapshots/asnap/manifest.json" "$1/manifest.json" "$2" "$3" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["machine"][sys.argv[3]] = sys.argv[4]
json.dump(m, open(sys.argv[2], "w"))
PYEOF
	chown -R "$UA:$G" "$1"
}
forge "$AD/fk" kernel "$RD/k/linux"
denied "A restores a snapshot naming another kernel" ctla restore "$AD/fk" kvm
grep -q "may not run $RD/k/linux" "$T/out" || fail "the kernel refusal does not name it: $(cat "$T/out")"
forge "$AD/fi" image "$RD/private/pub.img"
denied "A restores a snapshot naming an image it cannot read" ctla restore "$AD/fi" ivm
[ ! -e "$STATE/machines/kvm" ] && [ ! -e "$STATE/machines/ivm" ] || fail "a refused restore left a machine"

# A path machine in A's own directory is fine.
ctla boot "$AD/pm" --mem 64 >/dev/null || fail "A boots a path machine in its dir: $(ctla boot "$AD/pm" 2>&1)"
[ "$(field "$AD/pm" owner)" = "$UA" ] || fail "$AD/pm is not A's"
ctla kill "$AD/pm" >/dev/null && ctla delete "$AD/pm" >/dev/null || fail "A kills and deletes its path machine"

# --- Named images (<state-dir>/images, root's): everyone's to boot. ---
# A copy of the default image stands for one `image build` made; A can
# neither read the directory nor the file's path through it, and yet boots
# it by name, and boots the stopped machine again.  A planted symlink there
# is no image.
cp "$SBUML_IMAGE" "$STATE/images/busy.img" && chmod 0644 "$STATE/images/busy.img" || fail "named image setup"
as_a cat "$STATE/images/busy.img" >/dev/null 2>&1 && fail "A can read the images directory itself"
ctla --json image list >"$T/il.json" || fail "A lists the images"
[ "$(jget "$T/il.json" "[i['name'] for i in j['images']]")" = "['busy']" ] || fail "image list: $(cat "$T/il.json")"
ctla boot nvm --image busy --mem 64 >/dev/null || fail "A boots a named image: $(ctla boot nvm --image busy 2>&1)"
[ "$(field nvm image)" = "$STATE/images/busy.img" ] || fail "nvm's image is $(field nvm image)"
wait_until 60 heartbeat_at_least nvm 1 || fail "nvm does not run"
ctla kill nvm >/dev/null && ctla boot nvm >/dev/null || fail "A boots its stopped nvm again: $(ctla boot nvm 2>&1)"
ctla kill nvm >/dev/null && ctla delete nvm >/dev/null || fail "A kills and deletes nvm"
ln -s /etc/shadow "$STATE/images/evil.img"
if ctla boot evm --image evil --mem 64 >"$T/out" 2>&1; then fail "a symlinked image booted"; fi
grep -q "InvalidParams" "$T/out" && grep -q "symlink" "$T/out" || fail "symlinked image: $(cat "$T/out")"
rm "$STATE/images/evil.img" "$STATE/images/busy.img"
say "named images: everyone's, reached without following links"

# --- Root still does everything, also to A's things. ---
ctl info avm >/dev/null || fail "root cannot see avm"
ctl snapshot info asnap >/dev/null || fail "root cannot see asnap"
ctl kill avm >/dev/null || fail "root cannot kill avm"
ctl delete arest >/dev/null || fail "root cannot delete arest"
ctla delete avm >/dev/null || fail "A cannot delete its own stopped machine"
ctla snapshot delete asnap >/dev/null || fail "A cannot delete its own snapshot"
ctl snapshot delete rsnap >/dev/null || fail "root deletes rsnap"
ctl snapshot delete "$RD/rpath" >/dev/null || fail "root deletes $RD/rpath"
ctl halt rootvm >/dev/null || fail "root halts rootvm"
say "ok"
