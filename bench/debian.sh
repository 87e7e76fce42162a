#!/bin/sh
# SPDX-License-Identifier: MIT
# A Debian machine (systemd, 512 MiB, idle at multi-user.target): the goals
# of issue 14, each as a ratio against a baseline of the same run.
#   restore to running / cold boot to multi-user      goal <= 1 %
#   first snapshot's new bytes in the store           goal <= 32 MB
#   a second save one minute later, new bytes         goal <= 2 MB
#   save pause per resident MiB (sizes.physmem)       goal <= 0.2 ms
# Beside each time it prints what explains it: the resident MiB the pause
# copied, the restore's physmem path (adopted fd or copied), the restored
# kernel's page faults.
#
#   BENCH_RUNS       cold boots and restores (default 3)
#   BENCH_DEB_MEM    machine memory in MiB (default 512)
#   BENCH_DEB_WAIT   seconds between the two saves (default 60)
BENCH_NAME=debian
. "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-3}
MEM=${BENCH_DEB_MEM:-512}
GAP=${BENCH_DEB_WAIT:-60}
: "${SBUML_MKDEBIAN:=$BENCH_SRCDIR/../sbumld/guest/mkdebian.sh}"
export SBUML_MKDEBIAN
GUESTSH="python3 $BENCH_SRCDIR/../test/integration/guestsh.py"
UP='sbuml-guest: system running'

now_us() { echo $(( $(date +%s%N) / 1000 )); }
ms() { calc "$1 / 1000"; }
mib() { calc "$1 / 1048576"; }
sh_in() { _m=$1; shift; $GUESTSH run "$*" "$SBUMLCTL" --socket "$SOCK" console "$_m" --attach; }
# faults PID: "minflt majflt" of a host process
faults() { awk '{ print $10, $12 }' "/proc/$1/stat"; }

start_daemon
ctl image build benchdeb --size 2G >"$T/build.log" 2>&1 || fail "image build: $(tail -n 5 "$T/build.log")"
say "image: $(grep -o '^cache [a-z]*' "$T/build.log")"

# ---- baseline: cold boots to multi-user.target ----
cold=""
i=1
while [ "$i" -le "$RUNS" ]; do
	m=cold$i
	t0=$(now_us)
	ctl boot "$m" --image benchdeb --mem "$MEM" >/dev/null || fail "boot $m"
	wait_until 900 console_has "$m" "sbuml-guest: system " || fail "$m: start-up did not finish"
	t1=$(now_us)
	console_has "$m" "$UP" || fail "$m: $(grep -a 'sbuml-guest:' "$(console_of "$m")")"
	say "cold boot $m to multi-user: $(ms $((t1 - t0))) ms"
	cold="$cold $((t1 - t0))"
	[ "$i" -lt "$RUNS" ] && kill_machine "$m"
	i=$((i + 1))
done
src=cold$RUNS
cold_med=$(median $cold)

# A console line every 0.2 s, so a restored machine shows it runs.
$GUESTSH login "$SBUMLCTL" --socket "$SOCK" console "$src" --attach || fail "$src: no login"
sh_in "$src" "systemd-run --quiet --unit=bench-tick -p StandardOutput=tty -p TTYPath=/dev/console \
/bin/sh -c 'n=0; while :; do n=\$((n+1)); echo bench-tick \$n; sleep 0.2; done'" >/dev/null ||
	fail "$src: bench-tick"
# Let the boot's own work settle: idle at multi-user.target.
sleep 10

# ---- two saves a minute apart ----
store_bytes() { du -sb "$STATE/store" 2>/dev/null | awk '{ print $1 }'; }
b0=$(store_bytes || echo 0)
ctl --json save "$src" s1 >"$T/s1.json" || fail "save s1"
b1=$(store_bytes)
sleep "$GAP"
ctl --json save "$src" s2 >"$T/s2.json" || fail "save s2"
b2=$(store_bytes)
read -r pause1 phys1 new1 <<EOF
$($BT json "$T/s1.json" timings.pause_us sizes.physmem store.new_bytes | tr '\n' ' ')
EOF
read -r pause2 phys2 new2 <<EOF
$($BT json "$T/s2.json" timings.pause_us sizes.physmem store.new_bytes | tr '\n' ' ')
EOF
say "save 1: pause $(ms "$pause1") ms for $(mib "$phys1") MiB resident ($(calc "$pause1 / 1000 / ($phys1 / 1048576)") ms/MiB); new in the store $(mib "$new1") MiB (store grew $(mib $((b1 - b0))) MiB)"
say "save 2 (${GAP} s later): pause $(ms "$pause2") ms for $(mib "$phys2") MiB resident; new in the store $(mib "$new2") MiB (store grew $(mib $((b2 - b1))) MiB)"
kill_machine "$src"

# ---- restores of the first snapshot ----
rest=""
i=1
while [ "$i" -le "$RUNS" ]; do
	m=r$i
	t0=$(now_us)
	ctl restore s1 "$m" >/dev/null 2>"$T/restore.err" || fail "restore $m: $(cat "$T/restore.err")"
	t1=$(now_us)
	wait_until 300 console_has "$m" "bench-tick" || fail "$m: no tick after the restore"
	t2=$(now_us)
	pid=$(ctl --json info "$m" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
	path=$(grep -ao 'physmem=[a-z]*' "$(console_of "$m")" | tail -n 1)
	say "restore $m: running after $(ms $((t1 - t0))) ms, first console tick after $(ms $((t2 - t0))) ms ($path; page faults min/maj: $(faults "$pid"))"
	rest="$rest $((t1 - t0))"
	console_has "$m" "$UP" && fail "$m: booted again instead of carrying on"
	kill_machine "$m"
	i=$((i + 1))
done
rest_med=$(median $rest)

r=$(calc "100 * $rest_med / $cold_med")
per=$(calc "$pause1 / 1000 / ($phys1 / 1048576)")
say "RESULT restore/cold-boot $(calc "$r") % (goal <= 1 %): $(verdict "$r <= 1") (restore $(ms "$rest_med") ms, cold boot $(ms "$cold_med") ms, medians of $RUNS)"
say "RESULT first snapshot $(mib "$new1") MiB new in the store (goal <= 32 MB): $(verdict "$new1 <= 32000000")"
say "RESULT second save $(mib "$new2") MiB new in the store (goal <= 2 MB): $(verdict "$new2 <= 2000000")"
say "RESULT save pause $per ms per resident MiB (goal <= 0.2): $(verdict "$per <= 0.2")"
