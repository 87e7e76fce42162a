#!/bin/bash
# Lazy restore (issue 13): the clone starts on an EMPTY memfd and a pager
# (lazy-pager.py, reading <capture>/physmem) fills guest memory on first
# touch through a userfaultfd the kernel sends it, and the rest in the
# background at a slow rate. The clone ticks before the fill is done,
# memcheck (128 MiB, verified every 100 ms) sees no mismatch, the disk
# is read during the fill, `sbuml info` says fill=lazy then fill=done,
# and the clone saves into a capture that restores eagerly: a copy-on-
# write save (`cow`, patch 0024) asked during the fill, which waits for
# the fill to be done (no reply before) and then is a cow capture, which
# restores lazily as well.
# A pager that dies mid-fill ends the clone with status 97 and the
# "pager lost" line, leaving no host process and no mconsole socket.
# Logged: exec to first tick, lazy against an eager memfd restore.
source "$(dirname "$0")/lib.sh"
MEMCHECK=${SBUML_MEMCHECK:-}
[ -x "$MEMCHECK" ] || die "set SBUML_MEMCHECK to the static memcheck (test/guest)"
[ -c /dev/userfaultfd ] || die "/dev/userfaultfd missing: the host kernel is older than 6.1"
PAGER=$KTEST_DIR/lazy-pager.py
RATE=${LAZY_RATE:-32}	# MiB/s in the background, once the test lets it go

# memcheck holds 128 MiB; a reader drops the page cache and reads files
# from the disk every second (the ubd io thread's pread into guest pages,
# 16 MiB of them: pages the guest freed, likely not filled yet)
cat >"$WORK/lazy.sh" <<'EOF'
#!/bin/sh
/bin/memcheck -r 2 128 7 &
sleep 1
while :; do
	echo 3 >/proc/sys/vm/drop_caches
	echo "DISKREAD $(md5sum /bin/busybox | cut -c1-32) $(md5sum /bin/big.bin | cut -c1-32)"
	sleep 1
done
EOF
head -c 16M /dev/urandom >"$WORK/big.bin"
GUEST_EXTRA=$WORK/lazy.sh GUEST_BINS="$MEMCHECK $WORK/big.bin" make_image
want_md5="$(md5sum /bin/busybox | cut -c1-32) $(md5sum "$WORK/big.bin" | cut -c1-32)"
boot_and_wait a mem=192M
wait_console a "^CHECK memcheck start .*mib=128 " 120 || die "memcheck did not start"
wait_console a "^CHECK memcheck ok .*mib=128" 120 || die "memcheck did not fill 128 MiB"
wait_console a "^DISKREAD $want_md5" 30 || die "no disk reader in the guest"

save_point a
r=$(save a "$WORK/cap") || die "save: $r"
log "save: $r"

# check_fill NAME WORD: `sbuml info` of NAME says fill=WORD
check_fill() {
	local info
	info=$(mc "$1" sbuml info 2>/dev/null)
	log "$1: $info"
	case " $info " in *" fill=$2 "*) ;; *) fail "$1: not fill=$2: $info" ;; esac
}

# first_ms NAME T0 RE: ms from T0 (date +%s.%N) until RE is on NAME's console
first_ms() {
	local i
	for i in $(seq 15000); do
		if grep -aqE "$3" "$WORK/$1/console.log" 2>/dev/null; then
			awk -v a="$2" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", (b - a) * 1000 }'
			return 0
		fi
		sleep 0.02
	done
	return 1
}
first_tick_ms() { first_ms "$1" "$2" "^tick "; }

# --- 1. lazy restore with a slow background fill ---
notify_listen c
t0=$(date +%s.%N)
# the background fill waits until the checks during the fill are done
touch "$WORK/c.hold"
RESTORE_WRAP="python3 $PAGER --capture $WORK/cap --log $WORK/c.pager --rate $RATE --hold $WORK/c.hold --" \
	restore c "$WORK/cap" sbuml_physmem_fd=3 sbuml_uffd_dev=4 sbuml_pager=5
lazy_ms=$(first_tick_ms c "$t0") || die "the lazy clone does not tick"
# the first tick came before the fill was done
check grep -q "^hello " "$WORK/c.pager"
if grep -q "^done " "$WORK/c.pager"; then
	fail "the fill was done before the first tick (rate $RATE MiB/s too fast?)"
fi
grep -a "^sbuml: restored" "$WORK/c/console.log"
check grep -aq "^sbuml: restored from $WORK/cap .* physmem=fd fill=lazy " "$WORK/c/console.log"
check grep -q "/memfd:sbuml-physmem" "/proc/$PID_c/maps"
carries_on c
# while the pager is still filling: ticks, disk reads, memcheck rounds
check_fill c lazy
n0=$(lines c)
wait_console c "^tick $((T_FIRST + 4)) " 30 || fail "the lazy clone stopped ticking"
check_after c "$n0" '^DISKREAD ' "^DISKREAD $want_md5"
check_after c "$n0" '^CHECK memcheck ok ' '^CHECK memcheck ok .*bad_pages=0'
prog=$(grep "^progress " "$WORK/c.pager" | tail -1)
log "pager: $prog"
if grep -q "^done " "$WORK/c.pager"; then
	fail "the fill ended before the checks during the fill were made"
fi

# a cow save asked now waits for the end of the fill: its writer copies
# physmem from the file, and the fill's userfaultfd must be gone before
# the capture's registers physmem (restored in section 2)
mkdir -p -m 700 "$WORK/cap2"
tc=$(last_num c tick)	# the capture is later than this tick
( mc c sbuml save "$WORK/cap2" cow >"$WORK/cap2.reply" 2>/dev/null ) &
savejob=$!
sleep 1
check [ ! -s "$WORK/cap2.reply" ]
check [ ! -e "$WORK/cap2/DONE" ]

# --- the end of the fill ---
rm -f "$WORK/c.hold"
for i in $(seq 6000); do grep -q "^done " "$WORK/c.pager" && break; sleep 0.1; done
check grep -q "^done " "$WORK/c.pager"
wait_console c "^sbuml: lazy restore: fill=done " 60 || fail "no fill=done on the console"
grep -a "^sbuml: lazy restore" "$WORK/c/console.log"
grep "^done \|^first_fault " "$WORK/c.pager" | sed "s/^/[$TESTNAME] pager: /"
# the disk reads of the fill went through the pager too (io thread faults)
check grep -q "^done .* helper_faults=[1-9]" "$WORK/c.pager"
check_fill c done
n1=$(lines c)
wait_console c "^tick $(( $(last_num c tick) + 4 )) " 30 || fail "the clone stopped after the fill"
check_after c "$n1" '^CHECK memcheck ok ' '^CHECK memcheck ok .*bad_pages=0'
wait $savejob
# the pager saw the socket close and exited
for i in $(seq 3000); do grep -q "^eof " "$WORK/c.pager" && break; sleep 0.1; done
check grep -q "^eof .* done=1 " "$WORK/c.pager"
# the kernel holds no userfaultfd any more
check [ "$(ls -l /proc/$PID_c/fd | grep -c 'anon_inode:\[userfaultfd\]')" = 0 ]

# --- 2. the clone saved (cow, after the fill), and that capture restores the usual way ---
r2=$(cat "$WORK/cap2.reply")
log "cow save of the lazy clone: $r2"
case "$r2" in "OK saved "*" capture=cow "*) ;; *) die "cow save of the lazy clone: $r2" ;; esac
check [ -f "$WORK/cap2/DONE" ]
restore d "$WORK/cap2"
wait_console d "^sbuml: restored from" 30 || die "the eager restore of cap2 failed"
check grep -aq "^sbuml: restored from $WORK/cap2 .* physmem=copied fill=eager " "$WORK/d/console.log"
td=$(first_tick d) || die "the second generation does not tick"
check [ "$td" -ge "$tc" ]
n2=$(lines d)
wait_console d "^tick $((td + 4)) " 30 || fail "the second generation stopped ticking"
check_after d "$n2" '^CHECK memcheck ok ' '^CHECK memcheck ok .*bad_pages=0'
halt_machine d
halt_machine c

# --- 3. measure: exec to first tick, eager memfd restore of the same capture ---
t0=$(date +%s.%N)
RESTORE_WRAP="python3 $KTEST_DIR/memfd-exec.py $WORK/cap/physmem" \
	restore e "$WORK/cap" sbuml_physmem_fd=3
eager_up=$(first_ms e "$t0" "^sbuml: restored from") || die "the eager clone did not restore"
eager_ms=$(first_tick_ms e "$t0") || die "the eager clone does not tick"
halt_machine e
t0=$(date +%s.%N)
RESTORE_WRAP="python3 $PAGER --capture $WORK/cap --log $WORK/f.pager --rate 256 --" \
	restore f "$WORK/cap" sbuml_physmem_fd=3 sbuml_uffd_dev=4 sbuml_pager=5
lazy2_up=$(first_ms f "$t0" "^sbuml: restored from") || die "the second lazy clone did not restore"
lazy2_ms=$(first_tick_ms f "$t0") || die "the second lazy clone does not tick"
for i in $(seq 6000); do grep -q "^done " "$WORK/f.pager" && break; sleep 0.1; done
wait_console f "^sbuml: lazy restore: fill=done " 60 || fail "f: no fill=done"
log "measure (launch to restored line / to first tick; the guest ticks every 0.5 s): lazy at $RATE MiB/s -/${lazy_ms} ms, lazy at 256 MiB/s ${lazy2_up}/${lazy2_ms} ms, eager memfd (launcher copies the capture first) ${eager_up}/${eager_ms} ms; $(grep -a "^sbuml: restored" "$WORK/f/console.log" | grep -o "phase_a_us.*fixups_us=[0-9]*"); $(grep "^done " "$WORK/f.pager")"
halt_machine f
# a cow capture (cap2) restores lazily too: its mms do not make their
# dirty pages read-only at their first return (no capture runs in the
# clone), which would map every page of their VMAs and wait for the fill
RESTORE_WRAP="python3 $PAGER --capture $WORK/cap2 --log $WORK/k.pager --rate 256 --" \
	restore k "$WORK/cap2" sbuml_physmem_fd=3 sbuml_uffd_dev=4 sbuml_pager=5
wait_console k "^sbuml: restored from $WORK/cap2 .* fill=lazy " 30 || fail "cap2 does not restore lazily"
tk=$(first_tick k) || fail "the lazy clone of the cow capture does not tick"
wait_console k "^sbuml: lazy restore: fill=done " 60 || fail "k: no fill=done"
n3=$(lines k)
wait_console k "^tick $(( $(last_num k tick) + 2 )) " 30 || fail "k stopped ticking"
check_after k "$n3" '^CHECK memcheck ok ' '^CHECK memcheck ok .*bad_pages=0'
console_clean k
halt_machine k

# --- 4. the pager dies mid-fill: status 97, nothing left ---
pager_lost() { # NAME: the restore of NAME ended with 97 and left nothing
	local name=$1 pid i rc
	eval "pid=\$PID_$name"
	for i in $(seq 6000); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		fail "$name still running after its pager died"
		tail -5 "$WORK/$name/console.log"
		return
	fi
	wait "$pid" 2>/dev/null; rc=$?
	grep -a "lazy restore" "$WORK/$name/console.log" | sed "s/^/[$TESTNAME] $name: /"
	check [ "$rc" = 97 ]
	check grep -aqE "^sbuml: lazy restore: pager lost, [0-9]+ pages unfilled" "$WORK/$name/console.log"
	sleep 0.5
	# no stub, io thread or fill monitor: they all carry the clone's argv
	if pgrep -f "uml_dir=$WORK/$name/" >/dev/null; then
		fail "$name left host processes: $(pgrep -f "uml_dir=$WORK/$name/" | tr '\n' ' ')"
	fi
	check [ ! -e "$WORK/$name/uml/mconsole" ]
}
export RESTORE_KEEP_JOB=1
# (a) it dies after 200 faults: the kernel waits in a fault at that moment
RESTORE_WRAP="python3 $PAGER --capture $WORK/cap --log $WORK/g.pager --rate 1 --die-after 200 --" \
	restore g "$WORK/cap" sbuml_physmem_fd=3 sbuml_uffd_dev=4 sbuml_pager=5
pager_lost g
grep "^dying " "$WORK/g.pager" | sed "s/^/[$TESTNAME] g pager: /"
# (b) killed while the guest runs (ticks) during the fill
RESTORE_WRAP="python3 $PAGER --capture $WORK/cap --log $WORK/h.pager --rate 1 --" \
	restore h "$WORK/cap" sbuml_physmem_fd=3 sbuml_uffd_dev=4 sbuml_pager=5
th=$(first_tick h) || fail "h does not tick"
wait_console h "^tick $((${th:-0} + 2)) " 60 || fail "h stopped ticking"
grep -q "^done " "$WORK/h.pager" && fail "h: the fill ended before the pager was killed"
ppid=$(sed -n 's/^hello .*pager_pid=\([0-9]*\).*/\1/p' "$WORK/h.pager")
check [ -n "$ppid" ]
[ -n "$ppid" ] && kill -9 "$ppid"
pager_lost h
# (c) it dies at the first fault of the ubd io thread, which then waits in
#     a host pread into guest memory (kernel mode: no signal but a fatal
#     one ends that wait)
RESTORE_WRAP="python3 $PAGER --capture $WORK/cap --log $WORK/i.pager --rate 1 --die-on-helper-fault --" \
	restore i "$WORK/cap" sbuml_physmem_fd=3 sbuml_uffd_dev=4 sbuml_pager=5
pager_lost i
grep "^dying " "$WORK/i.pager" | sed "s/^/[$TESTNAME] i pager: /"
check grep -q "^dying .*cause=helper-fault" "$WORK/i.pager"
# (d) refused in phase A (status 2, nothing built)
restore_refused() { # NAME PATTERN
	local pid rc i
	eval "pid=\$PID_$1"
	for i in $(seq 6000); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	wait "$pid" 2>/dev/null; rc=$?
	check [ "$rc" = 2 ]
	grep -aqE "sbuml restore: refused: $2" "$WORK/$1/console.log" ||
		fail "$1: no refusal /$2/: $(tail -2 "$WORK/$1/console.log")"
	check [ ! -e "$WORK/$1/uml/mconsole" ]
}
RESTORE_FDS='exec 5<>/dev/null' restore r1 "$WORK/cap" sbuml_pager=5
restore_refused r1 "sbuml_pager=5 is not a unix socket"
restore r2 "$WORK/cap" sbuml_pager=x
restore_refused r2 "sbuml_pager= needs a decimal fd number above 2: x"
cat >"$WORK/sock5.py" <<'PY'
import os, socket, sys
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
os.dup2(b.fileno(), 5)
os.execvp(sys.argv[1], sys.argv[1:])
PY
RESTORE_WRAP="python3 $WORK/sock5.py" restore r3 "$WORK/cap" sbuml_pager=5
restore_refused r3 "sbuml_pager= needs sbuml_physmem_fd="

console_clean a
console_clean c
console_clean d
console_clean f
ta=$(last_num a tick)
wait_console a "^tick $((ta + 2)) " 20 || fail "original stopped"
halt_machine a
exit $FAILED
