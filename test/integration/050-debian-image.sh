#!/bin/sh
# SPDX-License-Identifier: MIT
# Debian images: `sbumlctl image build` makes a Debian root image with
# mmdebstrap (downloads from the host's Debian mirror only, on a cache miss)
# into the daemon's state dir; a second build with the same inputs is a
# cache hit; `image list` shows both; a non-root caller is refused; a
# machine booted from the image NAME on our kernel reaches multi-user.target
# with systemd, `systemctl is-system-running` says running (the image's
# sbuml-boot-status unit prints it on the console), then halts cleanly.
TEST_NAME=debian-image
. "$(dirname "$0")/lib.sh"

export SBUML_MKDEBIAN="$TEST_SRCDIR/../../sbumld/guest/mkdebian.sh"
start_daemon

# ---- build (cold or cached), then the same inputs again: a cache hit ----
t0=$(date +%s)
ctl image build deb --size 2G >"$T/build1.log" 2>&1 || { cat "$T/build1.log"; fail "image build deb"; }
t1=$(date +%s)
hash1=$(sed -n 's/^cache \(hit\|miss\) \([0-9a-f]*\)$/\2/p' "$T/build1.log")
[ -n "$hash1" ] || fail "image build printed no cache line: $(tail -n 5 "$T/build1.log")"
say "first build ($(grep -o '^cache [a-z]*' "$T/build1.log")): $((t1 - t0)) s"
ctl image build deb2 --size 2G >"$T/build2.log" 2>&1 || { cat "$T/build2.log"; fail "image build deb2"; }
t2=$(date +%s)
grep -qx "cache hit $hash1" "$T/build2.log" || fail "second build is no cache hit: $(cat "$T/build2.log")"
say "second build (cache hit): $((t2 - t1)) s"
for n in deb deb2; do
	[ -f "$STATE/images/$n.img" ] || fail "no $STATE/images/$n.img"
	grep -q "\"hash\":\"$hash1\"" "$STATE/images/$n.json" || fail "$n.json lacks the hash"
	[ "$(stat -c %s "$STATE/images/$n.img")" -eq $((2048 * 1048576)) ] || fail "$n.img is not 2 GiB"
done
# Sparse: far fewer blocks than its size.
[ "$(stat -c %b "$STATE/images/deb2.img")" -lt $((1024 * 2048)) ] || fail "deb2.img is not sparse"
# --json: only the result on stdout (the builder's lines go to stderr).
ctl --json image build deb3 --size 2G 2>"$T/build3.err" >"$T/build3.json" || fail "image build --json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["name"] == "deb3" and r["path"].endswith("/images/deb3.img"), r' \
	"$T/build3.json" || fail "image build --json: $(cat "$T/build3.json")"
grep -qx "cache hit $hash1" "$T/build3.err" || fail "third build: $(cat "$T/build3.err")"
rc=0
ctl image build deb3 --size 2G >"$T/again.log" 2>&1 || rc=$?
[ "$rc" -eq 4 ] && grep -q "exists" "$T/again.log" || fail "rebuilding deb3: exit $rc: $(cat "$T/again.log")"
rm "$STATE/images/deb3.img" "$STATE/images/deb3.json"
say "cache hit with the same hash; images in the state dir"

# ---- refusals: not root; a bad name; an unknown image ----
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$SBUMLCTL" --socket "$SOCK" \
	image build x >"$T/nonroot.log" 2>&1 || rc=$?
[ "$rc" -eq 4 ] || fail "non-root image build: exit $rc, want 4"
grep -q "must run as root" "$T/nonroot.log" || fail "non-root: $(cat "$T/nonroot.log")"
rc=0
ctl image build ../x >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "image build ../x: exit $rc, want 2"
rc=0
ctl boot nope --image no-such-image >"$T/noimg.log" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "no image named no-such-image" "$T/noimg.log" || \
	fail "boot from an unknown image: exit $rc: $(cat "$T/noimg.log")"
say "refusals"

# ---- image list ----
ctl --json image list >"$T/list.json" || fail "image list --json"
python3 - "$T/list.json" "$hash1" "$STATE" <<'PY' || fail "image list: $(cat "$T/list.json")"
import json, sys
images = json.load(open(sys.argv[1]))["images"]
assert [i["name"] for i in images] == ["deb", "deb2"], images
for i in images:
    assert i["release"] == "bookworm" and i["hash"] == sys.argv[2], i
    assert i["size_mb"] == 2048 and 0 < i["disk_mb"] < 2048, i
    assert i["path"] == "%s/images/%s.img" % (sys.argv[3], i["name"]), i
    assert "systemd-sysv" in i["packages"].split(","), i
PY
ctl image list | grep -q '^deb2 *bookworm *2048M' || fail "image list table: $(ctl image list)"
say "image list"

# ---- boot to multi-user.target on our kernel ----
t0=$(date +%s)
ctl boot deb --image deb --mem 512 >/dev/null || fail "boot deb"
[ "$(info_field deb image)" = "$STATE/images/deb.img" ] || fail "image path: $(info_field deb image)"
wait_until 600 console_has deb "sbuml-guest: system " || fail "start-up did not finish"
t1=$(date +%s)
c=$(console_of deb)
# The image's sbuml-boot-status prints systemctl is-system-running once
# start-up is over, and the default target's state.  (systemd's own
# "Reached target" lines stop once agetty owns the console: not a sign.)
if ! grep -aq "sbuml-guest: system running (multi-user.target active)" "$c"; then
	fail "system not running: $(grep -a 'sbuml-guest: ' "$c")"
fi
grep -aq "FAILED" "$c" && fail "a unit failed: $(grep -a FAILED "$c")"
wait_until 60 console_has deb "deb login:" || fail "no login prompt on the console"
say "multi-user.target, system running, login prompt: $((t1 - t0)) s after boot"

# ---- a clean shutdown: sbumld's ctrl-alt-del makes systemd power off ----
# (not reboot, and not mconsole halt once the grace period is over).
t0=$(date +%s)
ctl halt deb --timeout 300 >/dev/null || fail "halt deb"
t1=$(date +%s)
state_is deb stopped || fail "deb not stopped after halt: $(info_field deb state)"
[ "$(info_field deb exit)" = "{'status': 0, 'signal': 0}" ] || fail "exit: $(info_field deb exit)"
grep -aq "systemd-shutdown\[1\]: Powering off" "$c" || fail "no power-off by systemd: $(tail -n 5 "$c")"
grep -aq "reboot: Restarting system" "$c" && fail "the halt rebooted the guest"
say "powered off by systemd in $((t1 - t0)) s"
