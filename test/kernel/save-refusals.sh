#!/bin/bash
# A hostile mconsole client cannot make the kernel write where it should
# not; unsupported host state is refused with a clear one-line message
# naming it (a stray host fd, a shared writable disk).  hostfs and UML
# network devices are not built into linux-sbuml (uml-patches/sbuml.config),
# so a machine cannot have them.
source "$(dirname "$0")/lib.sh"
make_image
boot_and_wait a

expect_err() { # expect_err PATTERN args...: reply is ERR and matches
	local pat=$1; shift
	local r
	r=$(mc a sbuml "$@" 2>/dev/null)
	case "$r" in
	ERR*) echo "$r" | grep -qE "$pat" || fail "'$*' -> '$r' does not match /$pat/" ;;
	*) fail "'$*' was accepted: $r" ;;
	esac
	log "'$*' -> $r"
}

d=$WORK/d; mkdir -m 700 "$d"
expect_err "absolute" save rel/dir
expect_err "absolute" save ""
expect_err "usage" save
expect_err "usage" save "$d" now
expect_err "No such file" save "$WORK/nonexistent"
touch "$WORK/file"
expect_err "Not a directory" save "$WORK/file"
mkdir -m 700 "$WORK/full"; touch "$WORK/full/x"
expect_err "not empty" save "$WORK/full"
mkdir -m 700 "$WORK/dot" "$WORK/subdir" "$WORK/subdir/s"; touch "$WORK/dot/.x"
expect_err "not empty" save "$WORK/dot"
expect_err "not empty" save "$WORK/subdir"
# The host may hand a directory over in several getdents64 batches: it ends
# one early when a signal is pending (fs/readdir.c), and UML's timer and
# I/O signals keep coming. A kernel that read one batch took "." alone for
# the whole directory and saved into a non-empty one, about one try in ten
# here. Keep a signal pending as often as the host lets us (SIGIO makes UML
# poll its fds, nothing more) and try many: each must be refused and leave
# the directory as it was.
python3 -c '
import os, signal, sys, time
pid = int(sys.argv[1])
while True:
    os.kill(pid, signal.SIGIO)
    time.sleep(0.0001)
' "$PID_a" &
sigio=$!
for i in $(seq 120); do
	mkdir -m 700 "$WORK/full$i"; touch "$WORK/full$i/x"
	r=$(mc a sbuml save "$WORK/full$i" 2>/dev/null)
	case "$r" in
	ERR*"not empty"*) ;;
	*) fail "try $i: save into a non-empty directory -> '$r'" ;;
	esac
	check [ "$(ls -A "$WORK/full$i")" = x ]
	rm -r "$WORK/full$i"
done
kill "$sigio"; wait "$sigio" 2>/dev/null
log "120 saves into non-empty directories refused"
ln -s "$d" "$WORK/link"
expect_err "symlink" save "$WORK/link"
mkdir -m 700 "$WORK/real"; mkdir -m 700 "$WORK/real/sub"; ln -s "$WORK/real" "$WORK/lnk2"
expect_err "symlink" save "$WORK/lnk2/sub"
expect_err "canonical" save "$d/../d"
expect_err "canonical" save "$d/./"
expect_err "canonical" save "$d//"
expect_err "canonical" save "$d/"
mkdir -m 777 "$WORK/ww"
expect_err "writable" save "$WORK/ww"
mkdir -m 700 "$WORK/other"; chown 65534:65534 "$WORK/other"
expect_err "not owned" save "$WORK/other"
expect_err "too long" save "/$(printf 'x%.0s' $(seq 300))"
expect_err "bad character" save "$(printf '/tmp/a\tb')"
expect_err "usage" frobnicate
# nothing was written anywhere
check [ -z "$(ls -A "$d")" ]
check [ -z "$(ls -A "$WORK/real/sub")" ]
check [ -z "$(ls -A "$WORK/ww")" ]
check [ -z "$(ls -A "$WORK/other")" ]
# the guest is fine and a good save still works
r=$(save a "$d") || fail "good save after refusals: $r"
# a full filesystem: the save fails cleanly, says "No space left on device",
# leaves no DONE, and the guest runs on (also with `stop`: a failed save
# never leaves the machine frozen)
P=$(kv "$r" physmem_bytes)
mkdir -p "$WORK/small"
mount -t tmpfs -o size=$(( (P + 1048576) / 1024 ))k sbuml-ktest "$WORK/small" || die "mount tmpfs"
SMALL_MNT=$WORK/small
for mode in "" stop; do
	rm -rf "$WORK/small/cap"
	r=$(save a "$WORK/small/cap" $mode) && fail "save into a full fs succeeded"
	log "full fs ($mode): $r"
	echo "$r" | grep -qE "^ERR error: (writer failed|copying)" || fail "unexpected reply: $r"
	# the reply says why, not only which step (the writer's errno)
	case "$r" in
	*"writer failed at "*": No space left on device; $WORK/small/cap is incomplete"*) ;;
	*"copying "*": No space left on device"*) ;;
	*) fail "full fs reply does not name ENOSPC: $r" ;;
	esac
	check [ ! -e "$WORK/small/cap/DONE" ]
	t=$(last_num a tick)
	wait_console a "^tick $((t + 3)) " 20 || fail "guest frozen after a failed save ($mode)"
done
umount "$WORK/small"; SMALL_MNT=
# refused_save NAME WHAT REPLY: a save of NAME is refused with exactly REPLY
# (the start of it), writes no DONE, and the guest runs on.
refused_save() {
	local name=$1 what=$2 want=$3 r t
	r=$(save "$name" "$WORK/c$name") && fail "save with $what was accepted"
	log "$what: $r"
	check [ "${r#"$want"}" != "$r" ]
	check [ ! -e "$WORK/c$name/DONE" ]
	t=$(last_num "$name" tick)
	wait_console "$name" "^tick $((t + 3)) " 20 || fail "guest $name stopped after a refused save"
}
# unsupported host state: an fd the kernel does not know about
STRAY_FD=1 boot_and_wait b
refused_save b "a stray fd" "ERR refused: host fd 7 (/etc/hostname) cannot be saved yet"
# a device that cannot be saved yet is named: a writable disk shared with
# other instances (ubdNc=, the "shared" flag: the save could not copy it consistently)
dd if=/dev/zero of="$WORK/shared.img" bs=1M count=4 status=none
boot_and_wait c ubd1c="$WORK/shared.img"
refused_save c "a shared writable disk" "ERR refused: device ubd1 (shared, writable) cannot be saved yet"
console_clean a
console_clean b
console_clean c
exit $FAILED
