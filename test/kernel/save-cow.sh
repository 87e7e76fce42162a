#!/bin/bash
# The copy-on-write capture (`sbuml save <dir> cow`, patch 0024): physmem
# is write-protected in the pause and saved by the writer while the guest
# runs, each page before its first write. A guest (mem=256M) keeps
# rewriting memory while it is saved: memcheck holds 128 MiB and checks
# all of it every round (a page of the image from another instant than
# the page holding its generation is a mismatch), and gencheck rewrites a
# 32 MiB tmpfs file with write(2) (the guest kernel writes the page cache)
# in rounds of generations that a checker in a restored clone verifies
# (header generation, blocks of it or the one before, the newer ones a
# prefix).
#   1. pause_us of a staged and a cow save of the same guest, printed
#   2. 3 cow saves during the writing: capture=cow, cow_faults>0 at least
#      once; each restored: the clone runs, memcheck finds no mismatch,
#      the file checker passes, clean console
#   3. the writer killed in the middle of the copy-on-write window: the
#      save fails, no DONE, the guest goes on ticking, memcheck clean
#   4. `cow stop` (stopped=1, frozen until go), cow asked while stopped
#      (staged, cow_fallback=stopped), bad arguments refused
#   5. unprivileged without the device (uffd=none): capture=staged
#      cow_fallback=nouffd, restores fine
# SBUML_COW_FULL=1 (20-60 s more) also: 3 staged and 3 cow saves
# measured, a 4th cow save restored, a clone saved with cow in turn
# (its userfaultfd from userfaultfd(2)), restored and checked the same
# way, and root without the device (userfaultfd(2)): cow, restores.
# SBUML_COW_BIG=1 also measures a 512 MiB guest (mem=640M).
FULL=${SBUML_COW_FULL:-}
[ -n "${SBUML_COW_BIG:-}" ] && FULL=1
source "$(dirname "$0")/lib.sh"
MEMCHECK=${SBUML_MEMCHECK:-}
GENCHECK=${SBUML_GENCHECK:-$(dirname "${MEMCHECK:-.}")/gencheck}
[ -x "$MEMCHECK" ] || die "set SBUML_MEMCHECK to the static memcheck (test/guest)"
[ -x "$GENCHECK" ] || die "set SBUML_GENCHECK to the static gencheck (test/guest)"
[ -c /dev/userfaultfd ] || die "/dev/userfaultfd missing: the host kernel is older than 6.1"
DEV='exec 4<>/dev/userfaultfd'

# The guest: memcheck MIB (default 128) with a report every second,
# gencheck writing /tmp/gen, and a loop that checks the file whenever the
# machine gets a ctrl-alt-del (mconsole cad): cad_pid is a gencheck
# waiting for SIGINT; the writer is stopped for the check.
cat >"$WORK/cow.sh" <<'G'
#!/bin/sh
mib=$(sed -n 's/.*sbmib=\([0-9]*\).*/\1/p' /proc/cmdline)
/bin/memcheck -r 1 ${mib:-128} 1 &
/bin/gencheck -r 5 write /tmp/gen 32 &
GW=$!
echo 0 >/proc/sys/kernel/ctrl-alt-del
while :; do
	/bin/gencheck wait-int &
	w=$!
	echo $w >/proc/sys/kernel/cad_pid
	wait $w
	kill -STOP $GW
	while ! grep -q '^State:.*T' /proc/$GW/status; do sleep 0.1; done
	/bin/gencheck check /tmp/gen
	echo "GENCHECK rc=$?"
	kill -CONT $GW
done
G
GUEST_EXTRA=$WORK/cow.sh GUEST_BINS="$MEMCHECK $GENCHECK" make_image

fails() { grep -a "CHECK [a-z]* FAIL" "$WORK/$1/console.log"; }
# memcheck_rounds NAME N: N more "memcheck ok" reports (full checks)
memcheck_rounds() {
	local n0 i
	n0=$(grep -ac "^CHECK memcheck ok" "$WORK/$1/console.log")
	wait_console "$1" "^CHECK memcheck ok" 60 || return 1
	for i in $(seq 600); do
		[ "$(grep -ac "^CHECK memcheck ok" "$WORK/$1/console.log")" -ge $((n0 + $2)) ] && return 0
		sleep 0.2
	done
	return 1
}
# gencheck_now NAME: the guest checks its file; 0 when it passes
gencheck_now() {
	local n0 i
	n0=$(grep -ac "^GENCHECK rc=" "$WORK/$1/console.log")
	mc "$1" cad >/dev/null 2>&1
	for i in $(seq 300); do
		[ "$(grep -ac "^GENCHECK rc=" "$WORK/$1/console.log")" -gt "$n0" ] && break
		sleep 0.2
	done
	grep -a "^GENCHECK rc=\|gencheck info checked" "$WORK/$1/console.log" | tail -2 |
		tr -d '\r' | sed "s/^/[$TESTNAME] $1: /"
	grep -a "^GENCHECK rc=" "$WORK/$1/console.log" | tail -1 | tr -d '\r' | grep -q "rc=0$" &&
		[ "$(grep -ac "^GENCHECK rc=" "$WORK/$1/console.log")" -gt "$n0" ]
}
# median of numbers
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# field KEY of every line of a file of replies
fields() { grep -o " $2=[0-9]*" "$1" | cut -d= -f2 | tr '\n' ' '; }

# measure NAME TAG: a staged and a cow save (3 of each with FULL), their
# pauses printed
measure() {
	local name=$1 tag=$2 i r
	: >"$WORK/$tag.staged"
	: >"$WORK/$tag.cow"
	for i in $(if [ -n "$FULL" ]; then echo 1 2 3; else echo 1; fi); do
		r=$(save "$name" "$WORK/m-$tag-s$i") || fail "$tag staged save $i: $r"
		echo "$r" >>"$WORK/$tag.staged"
		rm -rf "$WORK/m-$tag-s$i"
		r=$(save "$name" "$WORK/m-$tag-c$i" cow) || fail "$tag cow save $i: $r"
		echo "$r" >>"$WORK/$tag.cow"
		case "$r" in *" capture=cow "*) ;; *) fail "$tag: not a cow capture: $r" ;; esac
		rm -rf "$WORK/m-$tag-c$i"
		[ -z "$FULL" ] || sleep 1
	done
	log "$tag staged: pause_us $(fields "$WORK/$tag.staged" pause_us)(median $(median $(fields "$WORK/$tag.staged" pause_us))), copy_us $(fields "$WORK/$tag.staged" copy_us), stage_us $(fields "$WORK/$tag.staged" stage_us), physmem_bytes $(fields "$WORK/$tag.staged" physmem_bytes)"
	log "$tag cow:    pause_us $(fields "$WORK/$tag.cow" pause_us)(median $(median $(fields "$WORK/$tag.cow" pause_us))), wp_us $(fields "$WORK/$tag.cow" wp_us), protect_us $(fields "$WORK/$tag.cow" protect_us), cow_us $(fields "$WORK/$tag.cow" cow_us), cow_faults $(fields "$WORK/$tag.cow" cow_faults), dirty_ptes $(fields "$WORK/$tag.cow" dirty_ptes), sync_us $(fields "$WORK/$tag.cow" sync_us), write_us $(fields "$WORK/$tag.cow" write_us)"
}

BOOT_FDS=$DEV boot_and_wait a mem=256M sbuml_uffd_dev=4 sbmib=128
r=$(mc a sbuml info 2>/dev/null)
case "$r" in *" uffd=wp"*" uffd_src=dev"*) ;; *) die "no write-protecting userfaultfd from the device: $r" ;; esac
wait_console a "^CHECK memcheck start .*mib=128 " 120 || die "memcheck did not fill 128 MiB"
wait_console a "^CHECK gencheck start" 60 || die "gencheck does not write"
memcheck_rounds a 2 || die "memcheck does not report"

# 1. the pause, staged against cow (the first cow save also makes every
#    dirty page of the guest read-only in the stubs: dirty_ptes, sync_us)
measure a mem128

# 2. cow saves while the guest writes, each restored and checked
NCAP=3
[ -z "$FULL" ] || NCAP=4
faults=0
for i in $(seq $NCAP); do
	r=$(save a "$WORK/cap$i" cow) || fail "cow save $i: $r"
	log "cow save $i: $r"
	case "$r" in *" capture=cow "*) ;; *) fail "save $i: not a cow capture" ;; esac
	check [ -f "$WORK/cap$i/DONE" ]
	check [ "$(stat -c %s "$WORK/cap$i/physmem")" = "$(kv "$r" physmem_size)" ]
	check grep -qx "physmem_bytes=$(kv "$r" physmem_bytes)" "$WORK/cap$i/DONE"
	[ "$(kv "$r" cow_faults)" -gt 0 ] && faults=$((faults + 1))
	# the writer was reaped
	w=$(kv "$r" writer)
	if [ -e /proc/$w ] && [ "$(awk '{print $4}' /proc/$w/stat 2>/dev/null)" = "$PID_a" ]; then
		fail "writer $w still exists"
	fi
	sleep 0.5
done
[ $faults -ge 1 ] || fail "no cow save served a write fault"
for i in $(seq $NCAP); do
	restore c$i "$WORK/cap$i"
	wait_console c$i "^sbuml: restored from" 30 || { fail "cap$i did not restore"; continue; }
	t=$(first_tick c$i) || fail "clone c$i does not tick"
	wait_console c$i "^tick $((t + 2)) " 30 || fail "clone c$i stopped ticking"
	memcheck_rounds c$i 2 || fail "memcheck does not run in clone c$i"
	gencheck_now c$i || fail "clone c$i: the page cache of the capture is not of one instant"
	if fails c$i; then fail "clone c$i: a checker failed"; fi
	console_clean c$i
	{ [ -n "$FULL" ] && [ $i = 4 ]; } || halt_machine c$i
done
if [ -n "$FULL" ]; then
# a restored machine has none of the original's capture, and can make one
# of its own (its userfaultfd from userfaultfd(2): restored as root without
# the device); that capture restores and checks as well
r=$(save c4 "$WORK/cap-c4" cow) || fail "cow save of a clone: $r"
log "cow save of clone c4: ${r##* capture=}"
case "$r" in *" capture=cow "*) ;; *) fail "cow save of a clone: not a cow capture: $r" ;; esac
restore cc "$WORK/cap-c4"
wait_console cc "^sbuml: restored from" 30 || fail "cap-c4 did not restore"
memcheck_rounds cc 2 || fail "memcheck does not run in clone cc"
gencheck_now cc || fail "clone cc: the file checker failed"
if fails cc; then fail "clone cc: a checker failed"; fi
console_clean cc
halt_machine cc
halt_machine c4
fi
if fails a; then fail "a checker failed in the original"; fi

# 3. the writer killed in the window: frozen once it copies physmem (the
#    guest then waits on the first page it writes that is not saved
#    yet), then killed: the protection goes with it
kids() { local k; read -r k <"/proc/$PID_a/task/$PID_a/children" 2>/dev/null; echo "$k"; }
mkdir -p -m 700 "$WORK/capk"
( mc a sbuml save "$WORK/capk" cow >"$WORK/capk.reply" 2>&1 ) &
sp=$!
wr=
for i in $(seq 20000); do
	for c in $(kids); do
		{ read -r comm <"/proc/$c/comm"; } 2>/dev/null || continue
		[ "$comm" = sbuml-writer ] && { wr=$c; break 2; }
	done
done
if [ -n "$wr" ]; then
	# in the window: it has protected physmem and is copying it
	for i in $(seq 2000); do
		[ "$(stat -c %b "$WORK/capk/physmem" 2>/dev/null || echo 0)" -gt 0 ] && break
	done
	kill -STOP "$wr"
	sleep 0.5
	log "writer $wr stopped with $(du -k "$WORK/capk/physmem" | cut -f1) KiB of physmem written"
	kill -KILL "$wr"
else
	fail "did not see the writer"
fi
wait $sp
r=$(cat "$WORK/capk.reply")
log "save with the writer killed: $r"
case "$r" in *"error: writer failed: killed by signal 9; $WORK/capk is incomplete"*) ;; *) fail "not the killed writer's error: $r" ;; esac
check [ ! -e "$WORK/capk/DONE" ]
t=$(last_num a tick)
wait_console a "^tick $((t + 4)) " 30 || fail "a stopped ticking after its writer was killed"
memcheck_rounds a 2 || fail "memcheck stopped after the writer was killed"
gencheck_now a || fail "the original's file checker failed after the writer was killed"
if fails a; then fail "a checker failed in the original"; fi
# and the next save works
r=$(save a "$WORK/capn" cow) || fail "cow save after the killed one: $r"

# 4. cow stop / cow while stopped / bad words
r=$(save a "$WORK/caps" cow stop) || fail "cow stop: $r"
case "$r" in *" stopped=1 "*" capture=cow "*) ;; *) fail "cow stop: $r" ;; esac
t=$(last_num a tick); sleep 2
[ "$(last_num a tick)" -le $((t + 1)) ] || fail "a ticks after cow stop"
r=$(save a "$WORK/caps2" cow) || fail "cow while stopped: $r"
case "$r" in *" capture=staged cow_fallback=stopped"*) ;; *) fail "cow while stopped: $r" ;; esac
mc a go >/dev/null 2>&1
t=$(last_num a tick)
wait_console a "^tick $((t + 2)) " 30 || fail "a does not tick after go"
for args in "cow cow" "stop stop" "cow moo" "COW"; do
	mkdir -p -m 700 "$WORK/bad"
	r=$(mc a sbuml save "$WORK/bad" $args 2>&1)
	case "$r" in *"error: usage: sbuml save <absolute dir> [stop] [cow]"*) ;; *) fail "save $args: $r" ;; esac
	check [ -z "$(ls -A "$WORK/bad")" ]
done
console_clean a

# 5. where the userfaultfd comes from: root without the device, and
#    unprivileged without it (vm.unprivileged_userfaultfd=0: none)
if [ -n "$FULL" ]; then
	boot_and_wait s
	r=$(save s "$WORK/cap-s" cow) || fail "root without the device: $r"
	case "$r" in *" capture=cow "*) ;; *) fail "root without the device (userfaultfd(2)): $r" ;; esac
	restore cs "$WORK/cap-s"
	wait_console cs "^tick " 30 || fail "capture of s does not restore"
	console_clean cs
	for n in s cs; do halt_machine $n; console_clean $n; done
fi
chmod 711 "$WORK"
chmod 644 "$WORK/base.img"
mkdir -p "$WORK/u"
chown 65534:65534 "$WORK/u"
BOOT_WRAP="setpriv --reuid=65534 --regid=65534 --clear-groups" boot_and_wait u
mkdir -p -m 700 "$WORK/cap-u"
chown 65534:65534 "$WORK/cap-u"
r=$(save u "$WORK/cap-u" cow) || fail "unprivileged: $r"
if [ "$(sysctl -n vm.unprivileged_userfaultfd)" = 1 ]; then
	case "$r" in *" capture=cow "*) ;; *) fail "unprivileged (userfaultfd(2) allowed): $r" ;; esac
else
	case "$r" in *" capture=staged cow_fallback=nouffd"*) ;; *) fail "unprivileged without the device: $r" ;; esac
fi
log "unprivileged without the device: ${r##* capture=}"
restore cu "$WORK/cap-u"
wait_console cu "^tick " 30 || fail "capture of u does not restore"
console_clean cu
for n in u cu; do halt_machine $n; console_clean $n; done

if [ -n "${SBUML_COW_BIG:-}" ]; then
	BOOT_FDS=$DEV boot_and_wait b mem=640M sbuml_uffd_dev=4 sbmib=512
	wait_console b "^CHECK memcheck start .*mib=512 " 300 || die "memcheck did not fill 512 MiB"
	memcheck_rounds b 2 || die "memcheck does not report in b"
	measure b mem512
	if fails b; then fail "a checker failed in b"; fi
	halt_machine b
fi
halt_machine a
exit $FAILED
