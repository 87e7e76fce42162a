# SPDX-License-Identifier: MIT
# Shared harness of the benchmarks: a private sbumld in a short temp dir
# under /tmp, the real sbumlctl, real UML guests, a bench payload disk.
# Sourced by every bench/*.sh.
#
# Environment (set by bench/meson.build; for a manual run, SBUML_BUILD=DIR
# fills in every path from that meson build dir):
#   SBUMLD, SBUMLCTL, SBUML_KERNEL, SBUML_IMAGE   as for the integration tests
#   BENCH_MKPAYLOAD   test/guest/mkpayload.sh
#   BENCH_GUEST_BIN   build dir of the static guest checkers (test/guest)
#   BENCH_SRCDIR      this directory
#   BENCH_MEMTOUCH    bench/memtouch (save-pause.sh)
set -eu

if [ -n "${SBUML_BUILD:-}" ]; then
	: "${SBUMLD:=$SBUML_BUILD/sbumld/sbumld}"
	: "${SBUMLCTL:=$SBUML_BUILD/cli/sbumlctl}"
	: "${SBUML_KERNEL:=$SBUML_BUILD/uml-patches/linux-sbuml}"
	: "${SBUML_IMAGE:=$SBUML_BUILD/sbumld/guest/default.img}"
	: "${BENCH_GUEST_BIN:=$SBUML_BUILD/test/guest}"
	: "${BENCH_MEMTOUCH:=$SBUML_BUILD/bench/memtouch}"
fi
: "${BENCH_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}"
: "${BENCH_MKPAYLOAD:=$BENCH_SRCDIR/../test/guest/mkpayload.sh}"
for v in SBUMLD SBUMLCTL SBUML_KERNEL SBUML_IMAGE BENCH_GUEST_BIN; do
	eval "val=\${$v:-}"
	# shellcheck disable=SC2154 # set by the eval
	if [ -z "$val" ]; then
		echo "${BENCH_NAME:-bench}: $v is not set (run through 'meson test --benchmark', or set SBUML_BUILD=<build dir>)" >&2
		exit 2
	fi
done

T=$(mktemp -d /tmp/sbb.XXXXXX)
SHM=$(mktemp -d /dev/shm/sbb.XXXXXX)
# The machines run as the user sbuml-uml, which must reach the state dir.
chmod 0711 "$T" "$SHM"
SOCK="$T/s.sock"
STATE="$T/st"
DAEMON_PID=""
SAMPLER_PID=""
BG_PIDS=""
BT="python3 $BENCH_SRCDIR/benchtool.py"
export SBUML_SOCKET="$SOCK"

say() { printf '%s: %s\n' "${BENCH_NAME:-bench}" "$*"; }
fail() {
	printf '%s: FAIL: %s\n' "${BENCH_NAME:-bench}" "$*" >&2
	dump_debug >&2
	exit 1
}
dump_debug() {
	[ -f "$T/daemon.log" ] && { echo "--- daemon log (tail)"; tail -n 30 "$T/daemon.log"; }
	for c in "$STATE"/machines/*/console.log; do
		[ -f "$c" ] && { echo "--- $c (tail)"; tail -n 10 "$c"; }
	done
	return 0
}

. "$BENCH_SRCDIR/../test/integration/procs.sh"
# wait_until SECONDS CMD..., the tests' own; polled every 0.1 s here, since
# some benchmarks time what it waits for (debian.sh: the first console tick)
WAIT_POLL=0.1
. "$BENCH_SRCDIR/../test/integration/wait.sh"

cleanup() {
	rc=$?
	set +e
	# a bench's own teardown first (network.sh: stop the daemon cleanly,
	# which takes its dnsmasq along)
	[ -n "${BENCH_AT_EXIT:-}" ] && $BENCH_AT_EXIT
	[ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
	for p in $BG_PIDS; do kill "$p" 2>/dev/null; done
	[ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2>/dev/null
	for p in $(uml_pids_under "$T"); do kill -9 "$p" 2>/dev/null; done
	sleep 0.2
	for p in $(uml_pids_under "$T"); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$SHM"
	if [ "$rc" -eq 0 ] || [ -z "${KEEP_TMP:-}" ]; then rm -rf "$T"; else echo "kept $T" >&2; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ctl() { "$SBUMLCTL" --socket "$SOCK" "$@"; }

# start_daemon [SBUMLD-OPTION...]: e.g. -v (debug log: restore.sh reads the
# materialising time from it); machines get no network unless
# BENCH_DEFAULT_NETWORK names one (network.sh, in a namespace of its own)
start_daemon() {
	mkdir -p "$STATE"
	"$SBUMLD" -d "$@" --default-network "${BENCH_DEFAULT_NETWORK:-none}" --socket "$SOCK" --state-dir "$STATE" \
		--kernel "$SBUML_KERNEL" --image "$SBUML_IMAGE" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_until 20 ctl ping || fail "daemon did not come up"
}

console_of() { echo "$STATE/machines/$1/console.log"; }
console_has() { grep -aq -- "$2" "$(console_of "$1")"; }

# The bench payload disk: the static checkers plus bench/payload/run.
build_payload() {
	PAYLOAD="$T/payload.img"
	sh "$BENCH_MKPAYLOAD" --bin-dir "$BENCH_GUEST_BIN" "$PAYLOAD" \
		"$BENCH_SRCDIR/payload/run" >"$T/mkpayload.log" 2>&1 ||
		fail "mkpayload: $(cat "$T/mkpayload.log")"
}

# Machine memory for a guest holding MIB MiB in use: room for the kernel,
# busybox and page tables on top.
mem_for() { echo $(( $1 + $1 / 4 + 48 )); }

# boot_busy NAME MIB [EXTRA_CMDLINE]: boot a guest with memcheck holding MIB
# MiB, wait until the memory is filled (memcheck prints its start line after
# filling every page) and a first verify round passed.
boot_busy() {
	ctl boot "$1" --mem "$(mem_for "$2")" --disk "$PAYLOAD" \
		--cmdline "sbuml.mib=$2${3:+ $3}" >/dev/null || fail "boot $1"
	wait_until 600 console_has "$1" "CHECK memcheck start .*mib=$2 " ||
		fail "$1: memcheck did not fill $2 MiB"
	wait_until 60 console_has "$1" "sbuml-heartbeat" || fail "$1: no heartbeat"
	console_has "$1" "CHECK memcheck FAIL" && fail "$1: memcheck failed"
	sleep 1
}

# The host loads a benchmark measures under, one run each (issue 13: idle and
# CPU-bound, so both figures come from the same run): BENCH_LOADS, default
# "idle cpu". cpu: stress-ng --cpu N on every online CPU (matrixprod, which
# keeps them busy in user space), started and stopped by the benchmark.
LOADS=${BENCH_LOADS:-idle cpu}
for l in $LOADS; do
	case $l in idle|cpu) ;; *) echo "${BENCH_NAME:-bench}: BENCH_LOADS: unknown load '$l' (idle, cpu)" >&2; exit 2 ;; esac
done
LOAD_PID=""
# host_load_start LOAD: for cpu, start the load and wait until its workers run
host_load_start() {
	[ "$1" = cpu ] || return 0
	command -v stress-ng >/dev/null || fail "stress-ng is not installed (scripts/deps.sh installs it)"
	stress-ng --cpu "$(nproc)" --cpu-method matrixprod --timeout 0 >"$T/stress.log" 2>&1 &
	LOAD_PID=$!
	BG_PIDS="$BG_PIDS $LOAD_PID"
	wait_until 60 sh -c "[ \$(pgrep -c -P $LOAD_PID) -ge $(nproc) ]" ||
		fail "stress-ng did not start its $(nproc) workers: $(cat "$T/stress.log")"
	sleep 2 # the scheduler sees the workers as CPU-bound, not as new tasks
	say "host load: stress-ng --cpu $(nproc) running ($(pgrep -c -P "$LOAD_PID") workers), load average $(cut -d' ' -f1 /proc/loadavg)"
}
# host_load_stop: end the load (stress-ng stops its workers on SIGTERM)
host_load_stop() {
	[ -n "$LOAD_PID" ] || return 0
	workers=$(pgrep -P "$LOAD_PID" | tr '\n' ' ')
	kill "$LOAD_PID" 2>/dev/null || true
	wait "$LOAD_PID" 2>/dev/null || true
	wait_until 30 sh -c "for p in $workers; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0" ||
		fail "stress-ng workers still run: $workers"
	BG_PIDS=$(echo "$BG_PIDS" | tr ' ' '\n' | grep -vx "$LOAD_PID" | tr '\n' ' ')
	LOAD_PID=""
}
# load_tag LOAD: what a tag carries for that load (idle: nothing)
load_tag() { case $1 in cpu) echo L ;; *) echo ;; esac; }

kill_machine() { ctl kill "$1" >/dev/null 2>&1 || true; ctl delete "$1" >/dev/null 2>&1 || true; }

# Arithmetic on decimals: calc EXPR (awk).
calc() { awk "BEGIN { printf \"%s\", $1 }"; }
verdict() { if [ "$(calc "($1) ? 1 : 0")" = 1 ]; then echo PASS; else echo MISS; fi; }
# Median of the arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
