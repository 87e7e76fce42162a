# Shared helpers of the sbuml kernel tests (sourced).
# Every machine is launched with the sbuml launch convention and every
# host process it creates is killed on exit.
set -u
: "${SBUML_KERNEL:?set SBUML_KERNEL to the linux-sbuml binary}"
TESTNAME=$(basename "$0" .sh)
KTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d /tmp/sbuml-ktest.XXXXXX)
chmod 700 "$WORK"
PIDS=""
FAILED=0
MC_TIMEOUT=${MC_TIMEOUT:-60}

log() { echo "[$TESTNAME] $*"; }
fail() { echo "[$TESTNAME] FAIL: $*"; FAILED=1; }
die() { echo "[$TESTNAME] FAIL: $*"; FAILED=1; exit 1; }
check() { if "$@"; then :; else fail "check failed: $*"; fi; }

# all descendants of a pid (stubs, io thread, writer)
descendants() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}

# ours PID: PID is still a process of this test (its command line names
# the work dir), not a process that got the number of one that ended
ours() {
	tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF "$WORK"
}

# kill a UML kernel pid and all its children. Freeze everything first:
# stubs whose tracer died would go on running guest code natively.
kill_tree() {
	local all more
	ours "$1" || return 0
	kill -STOP "$1" 2>/dev/null	# a frozen kernel creates no new stubs
	all="$1 $(descendants "$1")"
	kill -STOP $all 2>/dev/null
	more="$1 $(descendants "$1")"
	kill -STOP $more 2>/dev/null
	kill -9 $all $more 2>/dev/null
}

SMALL_MNT=
cleanup() {
	local p
	[ -n "$SMALL_MNT" ] && umount "$SMALL_MNT" 2>/dev/null
	for p in $PIDS; do kill_tree "$p"; done
	sleep 0.2
	for p in $PIDS; do
		if ours "$p" && [ "$(awk '{print $3}' /proc/$p/stat 2>/dev/null)" != Z ]; then
			echo "[$TESTNAME] FAIL: stray host process $p"; FAILED=1
		fi
	done
	if [ "$FAILED" = 0 ] && [ -z "${SBUML_KEEP:-}" ]; then
		rm -rf "$WORK"
	else
		echo "[$TESTNAME] work dir kept: $WORK"
	fi
	[ "$FAILED" = 0 ] || exit 1
}
trap cleanup EXIT

# build the guest root image once per test run: $WORK/base.img
make_image() {
	local root=$WORK/root a
	mkdir -p "$root"/bin "$root"/sbin "$root"/proc "$root"/sys "$root"/dev \
		"$root"/tmp "$root"/data "$root"/etc
	cp /bin/busybox "$root"/bin/busybox
	for a in sh mount umount sleep cat sync fsync date cut grep sed seq \
		head tail mkdir ps echo md5sum dd poweroff halt reboot kill \
		true false ls rm uname; do
		ln -s busybox "$root/bin/$a"
	done
	cp "$KTEST_DIR/guest-init" "$root"/init
	chmod 755 "$root"/init
	if [ -n "${GUEST_EXTRA:-}" ]; then cp "$GUEST_EXTRA" "$root"/test.sh; chmod 755 "$root"/test.sh; fi
	# static programs a test wants in the guest's /bin
	for a in ${GUEST_BINS:-}; do cp "$a" "$root"/bin/ || die "copy $a"; done
	mke2fs -q -t ext2 -d "$root" "$WORK/base.img" 64M || die "mke2fs"
}

# boot NAME [extra cmdline...]: machine dir $WORK/NAME, sets PID_<NAME>
# (BOOT_WRAP: a command prefix run before setsid, e.g. unshare --time ...;
# BOOT_FDS: redirections eval'ed after the fds above 2 are closed)
boot() {
	local name=$1; shift
	local m=$WORK/$name
	mkdir -p "$m"
	( cd "$m" || exit 1
	  for fd in $(ls /proc/$BASHPID/fd); do
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	  done
	  # a test may ask for one stray inherited fd
	  if [ -n "${STRAY_FD:-}" ]; then exec 7</etc/hostname; fi
	  # BOOT_FDS: redirections eval'ed here, e.g. 'exec 4<>/dev/userfaultfd'
	  if [ -n "${BOOT_FDS:-}" ]; then eval "$BOOT_FDS" || exit 1; fi
	  exec ${BOOT_WRAP:-} setsid env -i PATH=/usr/bin:/bin \
		GLIBC_TUNABLES=glibc.pthread.rseq=0 \
		setarch "$(uname -m)" -R "$SBUML_KERNEL" mem=64M \
		ubd0="$m/disk0.cow,$WORK/base.img" root=/dev/ubda rw \
		uml_dir="$m/" umid=uml con=null con0=null,fd:1 \
		mconsole=notify:"$m/notify.sock" init=/init "$@" \
		</dev/null >>"$m/console.log" 2>&1 ) &
	local pid=$!
	disown $pid 2>/dev/null
	PIDS="$PIDS $pid"
	eval "PID_$name=$pid"
}

# mc NAME cmd...: uml_mconsole on machine NAME, under timeout
mc() {
	local name=$1; shift
	timeout "$MC_TIMEOUT" uml_mconsole "$WORK/$name/uml/mconsole" "$@"
}

# wait_console NAME REGEX [timeout s]
# wait_console NAME RE [T]: until RE shows on NAME's console.  T counts
# seconds of the guest's own progress, not of the host's clock: the guest
# ticks every 0.5 s when it gets the CPU, so a loaded host that slows the
# guest slows the wait with it (T wall seconds and 2*T ticks must both
# pass).  A guest that stops ticking (frozen, crashed, rebooting) is given
# up on after 10*T wall seconds.
wait_console() {
	local name=$1 re=$2 t=${3:-60} i=0 t0 now pid st
	t0=$(last_num "$name" tick)
	eval "pid=\${PID_$name:-}"
	while :; do
		grep -qE "$re" "$WORK/$name/console.log" 2>/dev/null && return 0
		# a machine whose process ended prints nothing more
		if [ -n "$pid" ] && [ $((i % 10)) = 0 ] && ! kill -0 "$pid" 2>/dev/null; then
			grep -qE "$re" "$WORK/$name/console.log" 2>/dev/null && return 0
			wait "$pid" 2>/dev/null; st=$?
			echo "[$TESTNAME] $name (pid $pid) ended (wait status $st) before /$re/"
			break
		fi
		if [ $i -ge $((t * 10)) ]; then
			[ $i -ge $((t * 50)) ] && break
			now=$(last_num "$name" tick)
			# a reboot starts the ticks at 0 again
			[ "${now:-0}" -ge "${t0:-0}" ] || t0=0
			[ $((${now:-0} - ${t0:-0})) -ge $((t * 2)) ] && break
		fi
		sleep 0.1; i=$((i + 1))
	done
	echo "[$TESTNAME] timeout waiting for /$re/ on $name; console tail:"
	tail -20 "$WORK/$name/console.log"
	return 1
}

last_num() { # last_num NAME WORD -> last number printed after WORD
	grep -aoE "^$2 [0-9]+" "$WORK/$1/console.log" 2>/dev/null | tail -1 | cut -d' ' -f2
}

console_clean() { # no kernel errors on the console of NAME
	if grep -aE "PIPE MISMATCH|Kernel panic|I/O error|EXT[24]-fs error|BUG:|Oops|WARNING:|segfault|lost$|fatal_sigsegv|ptrace.*failed|Attempted to kill" \
		"$WORK/$1/console.log"; then
		fail "errors on console of $1"
		return 1
	fi
	return 0
}

boot_and_wait() {
	boot "$@" || die "boot"
	wait_console "$1" "^tick 2 " 60 || die "guest $1 did not come up"
}

# kv REPLY KEY -> value of key=value in an mconsole reply
kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# save NAME DIR [stop] -> prints the reply, returns 0 when it starts with OK
save() {
	local name=$1 dir=$2; shift 2
	mkdir -p -m 700 "$dir"
	local r
	r=$(mc "$name" sbuml save "$dir" "$@" 2>/dev/null)
	# for carries_on (save runs in a subshell): when the save returned, and
	# the last tick the machine had printed by then
	date +%s.%N >"$WORK/.save-end"
	last_num "$name" tick >"$WORK/.save-end-tick"
	echo "$r"
	case "$r" in OK\ saved*) return 0 ;; *) return 1 ;; esac
}

# number of console lines of NAME
lines() { grep -ac "" "$WORK/$1/console.log"; }

# check_after NAME N RE WANT: wait (up to 300 s, ending as soon as it is
# there) for a line matching RE after line N of NAME's console, then check
# that a line after N matches WANT
check_after() {
	local name=$1 n=$2 re=$3 want=$4 i
	for i in $(seq 3000); do
		tail -n +$((n + 1)) "$WORK/$name/console.log" | grep -aq "$re" && break
		sleep 0.1
	done
	tail -n +$((n + 1)) "$WORK/$name/console.log" | grep -aq "$want" ||
		fail "$name: no line /$want/ after line $n"
}

# restore NAME CAPDIR [extra args]: a new machine dir $WORK/NAME with its
# own copy of the captured disk, launched with the launch convention
# (RESTORE_FDS: redirections eval'ed after the fds above 2 are closed,
# e.g. 'exec 3<>file'; RESTORE_WRAP: a command prefix run before setsid)
restore() {
	local name=$1 cap=$2; shift 2
	local m=$WORK/$name
	local notify=(mconsole=notify:"$m/notify.sock")
	[ -n "${NO_NOTIFY:-}" ] && notify=()
	mkdir -p "$m"
	date +%s.%N >"$WORK/.restore-start"	# for carries_on
	cp --reflink=auto --sparse=always "$cap/disk0" "$m/disk0.cow" || return 1
	( cd "$m" || exit 1
	  for fd in $(ls /proc/$BASHPID/fd); do
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	  done
	  if [ -n "${RESTORE_FDS:-}" ]; then eval "$RESTORE_FDS" || exit 1; fi
	  exec ${RESTORE_WRAP:-} setsid env -i PATH=/usr/bin:/bin \
		GLIBC_TUNABLES=glibc.pthread.rseq=0 \
		setarch "$(uname -m)" -R "$SBUML_KERNEL" sbuml_restore="$cap" \
		uml_dir="$m/" umid=uml sbuml_disk=0:"$m/disk0.cow" \
		"${notify[@]}" "$@" \
		</dev/null >>"$m/console.log" 2>&1 ) &
	local pid=$!
	# RESTORE_KEEP_JOB: stay a job, so that "wait" gives the exit status
	[ -n "${RESTORE_KEEP_JOB:-}" ] || disown $pid 2>/dev/null
	PIDS="$PIDS $pid"
	eval "PID_$name=$pid"
}

# notify_listen NAME: collect mconsole notifications of machine NAME in
# $WORK/NAME/notify.log (bound before the machine starts)
notify_listen() {
	local m=$WORK/$1
	mkdir -p "$m"
	python3 - "$m/notify.sock" "$m/notify.log" <<'PY' &
import socket, struct, sys, os
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try: os.unlink(path)
except OSError: pass
s.bind(path)
s.settimeout(300)
with open(out, 'a', buffering=1) as f:
    while True:
        try: d = s.recv(1024)
        except socket.timeout: break
        magic, ver, typ, ln = struct.unpack('<IIiI', d[:16])
        f.write('%d %s\n' % (typ, d[16:16 + ln].rstrip(b'\0').decode(errors='replace')))
PY
	local pid=$!
	disown $pid 2>/dev/null
	PIDS="$PIDS $pid"
	local i
	for i in $(seq 600); do [ -S "$m/notify.sock" ] && return 0; sleep 0.1; done
	fail "notify listener did not start"
}

# first_num NAME WORD -> first number printed after WORD
first_num() {
	grep -aoE "^$2 [0-9]+" "$WORK/$1/console.log" | head -1 | cut -d' ' -f2
}

# uptime_of NAME TICK -> the up= value printed with that tick
uptime_of() {
	grep -aoE "^tick $2 up=[0-9.]+" "$WORK/$1/console.log" | head -1 | sed 's/.*up=//'
}

# halt_machine NAME: mconsole halt; the host process and all its children
# must be gone within 120 s (a loaded host slows a halt; a hung one never ends)
halt_machine() {
	local name=$1 pid kids i
	eval "pid=\$PID_$name"
	kids="$(descendants "$pid")"
	mc "$name" halt >/dev/null 2>&1
	for i in $(seq 1200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then fail "$name (pid $pid) did not exit on halt"; return 1; fi
	sleep 0.3
	for i in $kids; do
		if kill -0 "$i" 2>/dev/null && [ "$(awk '{print $3}' /proc/$i/stat 2>/dev/null)" != Z ]; then
			fail "$name left host process $i behind"; return 1
		fi
	done
	return 0
}

# first_tick NAME: wait for the first tick line of NAME, print its number
first_tick() {
	wait_console "$1" "^tick [0-9]+ " 30 >/dev/null || return 1
	first_num "$1" tick
}

# save_point NAME: the last tick of NAME and its uptime (T_BEFORE,
# UP_BEFORE), read just before a save, and the host time then (W_BEFORE).
save_point() {
	W_BEFORE=$(date +%s.%N)
	T_BEFORE=$(last_num "$1" tick)
	UP_BEFORE=$(uptime_of "$1" "$T_BEFORE")
}

# carries_on NAME: the machine NAME restored from the save after
# save_point ticks on from the saved tick and uptime (not
# back, no offline time), and its init did not run again.  The first tick
# is at most 2 after the last one the original printed before the save
# returned (the capture point lies between; the save's preparation before
# its pause can take seconds on a loaded host, and the guest ticks on
# meanwhile; one more for a tick counted but not yet printed).  Sets T_FIRST
# (its first tick) and UP_FIRST.  The uptime may have moved by what the
# guest ran: the original from save_point until the save returned, the
# clone from the start of its restore until now, plus 2 s for a tick
# printed before save_point read it; never less than 3.5 s.  A loaded host
# stretches that time and the bound with it, and the time between the save
# and the restore stays out of it.
carries_on() {
	local name=$1 ran
	wait_console "$name" "^tick " 20 || die "$name does not tick"
	T_FIRST=$(first_num "$name" tick)
	UP_FIRST=$(uptime_of "$name" "$T_FIRST")
	ran=$(awk -v w="$W_BEFORE" -v s="$(cat "$WORK/.save-end")" -v n="$(date +%s.%N)" \
		-v r="$(cat "$WORK/.restore-start")" \
		'BEGIN { t = (s - w) + (n - r) + 2; if (t < 3.5) t = 3.5; printf "%.2f", t }')
	log "saved at tick $T_BEFORE up=$UP_BEFORE (tick $(cat "$WORK/.save-end-tick") when the save returned); $name first: tick $T_FIRST up=$UP_FIRST (may have run $ran s)"
	check [ "$T_FIRST" -ge "$T_BEFORE" ]
	local t_end
	t_end=$(cat "$WORK/.save-end-tick")
	check [ "$T_FIRST" -le $((${t_end:-$T_BEFORE} + 2)) ]
	check awk -v a="$UP_FIRST" -v b="$UP_BEFORE" -v r="$ran" 'BEGIN { exit !(a >= b && a < b + r) }'
	if grep -aq "^BOOT" "$WORK/$name/console.log"; then fail "init re-ran in $name"; fi
}
