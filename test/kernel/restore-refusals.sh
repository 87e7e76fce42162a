#!/bin/bash
# The restorer validates everything before it changes anything: a wrong
# kernel build, an incomplete capture, a locked or missing disk copy are
# refused with a clear message and a nonzero exit.
source "$(dirname "$0")/lib.sh"
make_image
boot_and_wait a
r=$(save a "$WORK/cap") || die "save: $r"

refused() { # refused NAME PATTERN: the restore of NAME exited nonzero with PATTERN
	local name=$1 pat=$2 pid i
	eval "pid=\$PID_$name"
	for i in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then fail "$name still running"; return; fi
	wait "$pid" 2>/dev/null
	if ! grep -aqE "sbuml restore: refused: .*$pat" "$WORK/$name/console.log"; then
		fail "$name: no refusal matching /$pat/"; cat "$WORK/$name/console.log"
	fi
	grep -a "sbuml restore:" "$WORK/$name/console.log" | sed "s/^/[$TESTNAME] $name: /"
	check [ ! -e "$WORK/$name/uml/mconsole" ]
	check [ -z "$(pgrep -P "$pid")" ]
}

# incomplete capture (no DONE)
cp -a "$WORK/cap" "$WORK/inc"; rm "$WORK/inc/DONE"
restore inc "$WORK/inc"; refused inc "incomplete"
# capture of another kernel build
cp -a "$WORK/cap" "$WORK/other"
# (the build-id is stored in meta as its 40 hex digits, wherever the format
# puts them; DONE says which they are)
python3 - "$WORK/other/meta" "$WORK/other/DONE" <<'PY'
import sys
p, done = sys.argv[1], sys.argv[2]
want = [l.split('=', 1)[1].strip() for l in open(done)
        if l.startswith('build_id=')][0].encode()
b = open(p, 'rb').read()
assert len(want) == 40 and b.count(want) == 1, 'build-id not found once in meta'
open(p, 'wb').write(b.replace(want, b'0123456789abcdef0123456789abcdef01234567'))
PY
restore other "$WORK/other"; refused other "build-id"
# truncated memory image
cp -a "$WORK/cap" "$WORK/trunc"; truncate -s 4096 "$WORK/trunc/physmem"
restore trunc "$WORK/trunc"; refused trunc "physmem"
# no disk mapping given
mkdir -p "$WORK/nodisk"
( cd "$WORK/nodisk" && exec setsid env -i GLIBC_TUNABLES=glibc.pthread.rseq=0 \
	setarch "$(uname -m)" -R "$SBUML_KERNEL" sbuml_restore="$WORK/cap" \
	uml_dir="$WORK/nodisk/" umid=uml </dev/null >>"$WORK/nodisk/console.log" 2>&1 ) &
PID_nodisk=$!; PIDS="$PIDS $PID_nodisk"
refused nodisk "no sbuml_disk=0"
# a disk in use by a running clone is locked
restore c1 "$WORK/cap"
wait_console c1 "^sbuml: restored from" 30 || die "c1 did not restore"
restore c2 "$WORK/cap" sbuml_disk=0:"$WORK/c1/disk0.cow"
refused c2 "locked by another instance"
# c1 is unharmed, and a good restore works next to it
t=$(first_tick c1)
wait_console c1 "^tick $((t + 3)) " 20 || fail "c1 does not tick"
halt_machine c1
console_clean c1
exit $FAILED
