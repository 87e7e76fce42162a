#!/bin/sh
# SPDX-License-Identifier: MIT
# snapshot.check / `sbumlctl check`: a fresh snapshot is restorable here
# (exit 0, every line ok) and its manifest records this host's facts; copies
# of it (cp -a of a path snapshot) edited to claim a CPU feature this host
# lacks, another kernel build without a stored kernel, a missing base image
# or no host section are judged accordingly; with the daemon's kernel gone,
# a format 2 snapshot is still restorable from its stored kernel and a
# format 1 one is not; unknown and corrupt snapshots are clear errors.
# Nothing is restored or materialised by a check.
TEST_NAME=check
. "$(dirname "$0")/lib.sh"

# jget FILE EXPR: evaluate a Python expression on the JSON in FILE (as j).
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# jedit FILE STATEMENTS: run Python statements on the JSON in FILE (as j), write it back.
jedit() { python3 -c 'import json,sys; p=sys.argv[1]; j=json.load(open(p)); exec(sys.argv[2]); json.dump(j, open(p, "w"), indent=1)' "$1" "$2"; }
# check SNAPSHOT WANT-STATUS: run sbumlctl check, output in $T/out, status checked.
check() {
	st=0
	ctl check "$1" >"$T/out" 2>"$T/err" || st=$?
	[ "$st" = "$2" ] || fail "check $1: status $st, want $2: $(cat "$T/out" "$T/err")"
}
# copy NAME: a cp -a copy of the saved path snapshot as $T/snaps/NAME.
copy() { cp -a "$T/snaps/p1" "$T/snaps/$1"; echo "$T/snaps/$1"; }

cp "$SBUML_KERNEL" "$T/kcopy"
start_daemon
ctl boot a --mem 64 --kernel "$T/kcopy" >/dev/null || fail "boot"
wait_until 60 heartbeat_at_least a 3 || fail "no heartbeat"
mkdir "$T/snaps"
ctl save a "$T/snaps/p1" >/dev/null || fail "save p1"
ctl save a "$T/snaps/raw" --raw >/dev/null || fail "save raw"
ctl halt a >/dev/null || fail "halt"

# The manifest records this host's facts.
M="$T/snaps/p1/manifest.json"
[ "$(jget "$M" 'j["host"]["arch"]')" = "$(uname -m)" ] || fail "host.arch: $(jget "$M" 'j.get("host")')"
[ "$(jget "$M" 'j["host"]["kernel_release"]')" = "$(uname -r)" ] || fail "host.kernel_release"
[ "$(jget "$M" 'j["host"]["page_size"]')" = "$(getconf PAGESIZE)" ] || fail "host.page_size"
ebx=$(jget "$M" 'int(j["host"]["cpuid7_ebx"], 16)')
if grep -qw avx2 /proc/cpuinfo; then
	[ $((ebx & 32)) -ne 0 ] || fail "cpuinfo has avx2, the manifest's cpuid7_ebx $ebx does not"
fi
say "host facts: $(jget "$M" 'j["host"]')"

# A fresh save: restorable, every check ok.
check "$T/snaps/p1" 0
say "check p1:"; sed 's/^/    /' "$T/out"
[ "$(grep -c '^ok   ' "$T/out")" = 7 ] || fail "not 7 ok lines"
for c in format kernel arch cpu xstate host_kernel base_images; do
	grep -q "^ok   $c: " "$T/out" || fail "no ok line for $c"
done
grep -q "p1: this host can restore it$" "$T/out" || fail "verdict: $(tail -n 1 "$T/out")"
ctl --json check "$T/snaps/p1" >"$T/j.json" || fail "check --json"
[ "$(jget "$T/j.json" 'j["restorable"]')" = True ] || fail "--json: $(cat "$T/j.json")"
check "$T/snaps/raw" 0

# A CPU feature this host lacks: a bit that is 0 in its CPUID 7 ebx, a
# named one if there is one (avx512f, sha_ni, avx2, ...).
bit=$(missing_cpuid7_bit "$ebx")
set -- $bit; b=$1; shift; fname="$*"
[ -n "$b" ] || fail "this host has every CPUID 7 ebx bit"
S=$(copy cpu)
jedit "$S/manifest.json" "h=j['host']; h['cpuid7_ebx']=hex(int(h['cpuid7_ebx'],16) | 1 << $b)"
check "$S" 1
grep -q "^FAIL cpu: .*cpuid 7 ebx 0x$(printf '%08x' $((1 << b))) ($fname)" "$T/out" ||
	fail "the cpu check does not name $fname: $(cat "$T/out")"
grep -q "^ok   kernel: " "$T/out" || fail "kernel check failed with it"
grep -q "cpu: this host cannot restore it (1 check failed)$" "$T/out" || fail "verdict: $(tail -n 1 "$T/out")"
say "claimed $fname: $(grep '^FAIL' "$T/out")"

# Another xstate size.
S=$(copy xs)
xcr0=$(jget "$M" 'int(j["host"]["xcr0"], 16)')
if [ "$xcr0" -ne 0 ]; then
	jedit "$S/manifest.json" "j['host']['xstate_size'] += 64"
	check "$S" 1
	grep -q "^FAIL xstate: .*the XSAVE area is" "$T/out" || fail "xstate: $(cat "$T/out")"
	say "$(grep '^FAIL' "$T/out")"
fi

# Another kernel build, and no kernel stored with the snapshot.
S=$(copy kern)
jedit "$S/manifest.json" "k=j['kernel']; k['build_id']='00'*20; [k.pop(x, None) for x in ('size','sha256','chunks')]"
check "$S" 1
grep -q "^FAIL kernel: .*kernel build 0000000000000000000000000000000000000000, and neither" "$T/out" ||
	fail "kernel: $(cat "$T/out")"
say "$(grep '^FAIL' "$T/out")"

# A base image that is not here.
S=$(copy img)
jedit "$S/manifest.json" "j['machine']['image']='/nonexistent/base.img'"
check "$S" 1
grep -q "^FAIL base_images: base image /nonexistent/base.img of the snapshot is not readable here" "$T/out" ||
	fail "base_images: $(cat "$T/out")"

# A snapshot saved before host facts were recorded: unknown, not a failure.
S=$(copy old)
jedit "$S/manifest.json" "del j['host']"
check "$S" 0
grep -q "^ok   cpu: unknown: " "$T/out" || fail "no host section: $(cat "$T/out")"

# Unknown and corrupt snapshots are errors, not verdicts.
check nosuch 1
grep -q "^sbumlctl: check nosuch: NoSuchSnapshot: " "$T/err" || fail "unknown: $(cat "$T/err")"
S=$(copy bad)
echo garbage >"$S/manifest.json"
check "$S" 1
grep -q "BadSnapshot: .*not valid JSON" "$T/err" || fail "corrupt: $(cat "$T/err")"
check "$T/snaps/nowhere" 1
grep -q "NoSuchSnapshot" "$T/err" || fail "missing path: $(cat "$T/err")"

# Nothing was restored by any of this.
[ "$(ctl list | grep -vc '^NAME')" = 1 ] || fail "a check created a machine: $(ctl list)"

# Neither the saved kernel path nor the daemon's kernel is that build any
# more: format 2 carries its kernel (checked, not materialised), format 1
# does not.
stop_daemon
rm "$T/kcopy"
start_daemon --kernel "$SBUML_STOCK_KERNEL"
check "$T/snaps/p1" 0
grep -q "^ok   kernel: build .*: not installed here; the restore rebuilds it from the snapshot's chunks (checked)" "$T/out" ||
	fail "stored kernel: $(cat "$T/out")"
[ -z "$(ls -A "$STATE/store/kernels" 2>/dev/null)" ] || fail "the check materialised $(ls "$STATE/store/kernels")"
say "$(grep '^ok   kernel' "$T/out")"
check "$T/snaps/raw" 1
grep -q "^FAIL kernel: .*install the kernel it was saved with" "$T/out" || fail "raw kernel: $(cat "$T/out")"
say "$(grep '^FAIL' "$T/out")"
[ -z "$(uml_pids_under "$T")" ] || fail "stray host processes"
say "ok"
