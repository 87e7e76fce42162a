#!/bin/bash
# sbuml_physmem_fd=N: the launcher hands the restore the saved guest memory
# already materialised in an open file (here a memfd, as sbumld does), and
# the capture has no physmem file at all. The clone runs on that memfd (no
# copy), can be saved again, and that capture restores the usual way. A
# read-only fd, a file of the wrong size, an fd that is not open, a device
# and a non-number are refused before anything is built.
source "$(dirname "$0")/lib.sh"
make_image
boot_and_wait a
wait_console a "^synced 2[^0-9]" 30 || die "no fsync writer"
wait_console a "^marker " 30 || die "no marker"

save_point a
r=$(save a "$WORK/cap") || die "save: $r"
log "save: $r"
size=$(kv "$r" physmem_size)
check [ "$(stat -c %s "$WORK/cap/physmem")" = "$size" ]

# the capture as the daemon would pass it: everything but physmem
mkdir -m 700 "$WORK/nopm"
for f in "$WORK"/cap/*; do
	[ "$(basename "$f")" = physmem ] || cp -a --sparse=always "$f" "$WORK/nopm/"
done
check [ ! -e "$WORK/nopm/physmem" ]


notify_listen c
RESTORE_WRAP="python3 $KTEST_DIR/memfd-exec.py $WORK/cap/physmem" \
	restore c "$WORK/nopm" sbuml_physmem_fd=3
wait_console c "^sbuml: restored from" 30 || die "clone did not restore from the memfd"
grep -a "^sbuml: restored" "$WORK/c/console.log"
check grep -aq "^sbuml: restored from $WORK/nopm .* physmem=fd" "$WORK/c/console.log"
# the guest's memory is the launcher's memfd itself
check grep -q "/memfd:sbuml-physmem" "/proc/$PID_c/maps"
carries_on c
t_first=$T_FIRST
wait_console c "^tick $((t_first + 6)) " 30 || fail "clone stopped ticking"
s=$(last_num c synced)
wait_console c "^synced $((s + 2))[^0-9]" 30 || fail "clone fsync writer stuck"
wait_console c "^PIPE OK " 60 || fail "clone pipe checker stuck"
check grep -q "^3 sbuml restored pid=$PID_c umid=uml mconsole=$WORK/c/uml/mconsole stopped=0" "$WORK/c/notify.log"
check grep -aq "SBUMLFILE:$((s + 2))" "$WORK/c/disk0.cow"

# a machine running on an adopted memfd saves like any other...
markers_before=$(grep -aoE "^marker [0-9]+" "$WORK/c/console.log" | tail -2 | cut -d' ' -f2)
tc=$(last_num c tick)
r2=$(save c "$WORK/cap2") || die "save of the memfd clone: $r2"
log "save of the memfd clone: $r2"
check [ "$(kv "$r2" physmem_size)" = "$size" ]
check [ -f "$WORK/cap2/DONE" ]
markers=$(grep -aoE "^marker [0-9]+" "$WORK/c/console.log" | tail -3 | cut -d' ' -f2)
found=0
for mk in $markers_before $markers; do
	grep -aq "SBUMLMARK:$mk" "$WORK/cap2/physmem" && found=1
done
check [ "$found" = 1 ]
tl=$(last_num c tick)
wait_console c "^tick $((tl + 3)) " 20 || fail "memfd clone stopped after its save"

# ... and that capture restores the usual way (copied physmem)
notify_listen d
restore d "$WORK/cap2"
wait_console d "^sbuml: restored from" 30 || die "second generation did not restore"
check grep -aq "^sbuml: restored from $WORK/cap2 .* physmem=copied" "$WORK/d/console.log"
td=$(first_tick d) || die "second generation does not tick"
log "memfd clone saved at tick $tc; second generation first tick $td"
check [ "$td" -ge "$tc" ]
wait_console d "^tick $((td + 4)) " 30 || fail "second generation stopped ticking"
sd=$(last_num d synced)
wait_console d "^synced $((sd + 2))[^0-9]" 30 || fail "second generation fsync writer stuck"
if grep -aq "^BOOT" "$WORK/d/console.log"; then fail "init re-ran in the second generation"; fi
check grep -q "^3 sbuml restored pid=$PID_d " "$WORK/d/notify.log"
halt_machine d
halt_machine c
check [ -S "$WORK/a/uml/mconsole" ]
ta=$(last_num a tick)
wait_console a "^tick $((ta + 3)) " 20 || fail "original stopped"

# --- refusals: checked before anything is built ---
refused() { # refused NAME PATTERN: the restore of NAME exited 2 with PATTERN
	local name=$1 pat=$2 pid i rc
	eval "pid=\$PID_$name"
	for i in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then fail "$name still running"; return; fi
	wait "$pid" 2>/dev/null; rc=$?
	if ! grep -aqE "sbuml restore: refused: $pat" "$WORK/$name/console.log"; then
		fail "$name: no refusal matching /$pat/"; cat "$WORK/$name/console.log"
	fi
	grep -a "sbuml restore:" "$WORK/$name/console.log" | sed "s/^/[$TESTNAME] $name: /"
	check [ "$rc" = 2 ]
	check [ ! -e "$WORK/$name/uml/mconsole" ]
	check [ ! -e "$WORK/$name/uml/pid" ]
	check [ -z "$(pgrep -P "$pid")" ]
}
export RESTORE_KEEP_JOB=1
shm=/dev/shm/sbuml-ktest-pm.$$
cp --sparse=always "$WORK/cap/physmem" "$shm.ok" || die "copy to /dev/shm"
cp --sparse=always "$WORK/cap/physmem" "$shm.big" && truncate -s $((size + 4096)) "$shm.big"
trap 'rm -f "$shm".*; cleanup' EXIT

RESTORE_FDS="exec 3<$shm.ok" restore ro "$WORK/nopm" sbuml_physmem_fd=3
refused ro "sbuml_physmem_fd=3 is not open read-write"
RESTORE_FDS="exec 3<>$shm.big" restore big "$WORK/nopm" sbuml_physmem_fd=3
refused big "sbuml_physmem_fd=3 is not a copy of the saved physmem \(size $((size + 4096)), saved $size\)"
restore closed "$WORK/nopm" sbuml_physmem_fd=3
refused closed "sbuml_physmem_fd=3 is not an open fd"
RESTORE_FDS="exec 3<>/dev/null" restore dev "$WORK/nopm" sbuml_physmem_fd=3
refused dev "sbuml_physmem_fd=3 is not a regular file"
restore nan "$WORK/nopm" sbuml_physmem_fd=x3
refused nan "sbuml_physmem_fd= needs a decimal fd number above 2: x3"
# the right file on that fd works from /dev/shm too (nothing left open)
RESTORE_FDS="exec 3<>$shm.ok" restore shm "$WORK/nopm" sbuml_physmem_fd=3
wait_console shm "^sbuml: restored from .* physmem=fd" 30 || fail "restore from a /dev/shm file failed"
t=$(first_tick shm) || fail "the /dev/shm clone does not tick"
wait_console shm "^tick $((t + 3)) " 20 || fail "the /dev/shm clone stopped"
check grep -q "$shm.ok" "/proc/$PID_shm/maps"
halt_machine shm

console_clean a
console_clean c
console_clean d
console_clean shm
exit $FAILED
