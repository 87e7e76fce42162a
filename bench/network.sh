#!/bin/sh
# SPDX-License-Identifier: MIT
# network: sbuml's network (issue 11) against baselines measured in the
# same run, entirely inside a network namespace of its own (unshare -n -m:
# its bridge, taps, nftables table and dnsmasq live and die there; no
# packet leaves this machine).  One 64 MiB busybox guest at a time, its
# payload (bench/payload/net) serving HTTP (busybox httpd) and iperf3
# (Debian's, run from the payload disk by the glibc loader copied beside it
# with its libraries, as `ldd` lists them).
#
# 1. Throughput host -> guest: BENCH_RUNS runs of `iperf3 -c GUEST -t
#    BENCH_NET_SECONDS` (default 5 s, one TCP stream)
#      plain  the same kernel, booted by hand on a tap made with
#             `ip tuntap` holding the host's address (198.18.0.1/24,
#             RFC 2544's benchmark range; no bridge, no nftables, no DHCP:
#             the guest sets 198.18.0.2 itself) as eth1=tuntap
#      sbuml  a machine booted by sbumld on its default network (tap per
#             machine on the bridge sbuml0, nftables, dnsmasq's lease)
#    Ratio: median sbuml MiB/s / median plain MiB/s (target >= 0.5).
# 2. Time to the first HTTP answer (body checked) on the guest's address:
#      boot     BENCH_RUNS cold boots, from issuing `sbumlctl boot`
#      restore  the last booted machine is saved (continue) once it answers,
#               and paused; BENCH_RUNS restores of that snapshot, each a
#               clone with a new identity (new MAC, its own lease), from
#               issuing `sbumlctl restore` to the answer on its new address
#    Ratio: median restore / median boot (as low as possible).  The host
#    starts a GET every 20 ms (benchtool.py waithttp); the address comes
#    from `sbumlctl --json info` once the command returned.  Measured
#    machines are paused, not killed (see hold below): one guest runs.
# What explains each figure is printed with it: bytes, seconds, MiB/s, TCP
# retransmits, iperf3's CPU use on both sides; the command's own return
# time, the guest's console lines (up / new MAC, lease bound) in ms from
# the start; the load average.
#
# Needs root (unshare, taps); installs Debian's iperf3 if it is missing
# (before entering the namespace, which has no way out).  Exit 0 with
# MISSes unless BENCH_STRICT=1.
if [ "${SBUML_IN_NETNS:-}" != 1 ]; then
	if ! command -v iperf3 >/dev/null; then
		echo "network: installing iperf3 (Debian package)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iperf3 ||
			{ echo "network: FAIL: cannot install iperf3" >&2; exit 1; }
	fi
	SBUML_IN_NETNS=1 exec unshare -n -m --propagation private "$0" "$@"
fi
BENCH_NAME=network
BENCH_DEFAULT_NETWORK=default
BENCH_AT_EXIT=net_teardown
. "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_NET_SECONDS:-5}
MEM=64
PLAIN_TAP=sbbtap0
PLAIN_HOST=198.18.0.1
PLAIN_GUEST=198.18.0.2
PAGE="sbuml-bench-net page"
RES="$T/results"
: >"$RES"

# The daemon stopped cleanly takes its dnsmasq, bridge and table along
# (lib.sh's cleanup then kills the machines); then our /dev/net/tun goes.
net_teardown() {
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		(sleep 20; kill -9 "$DAEMON_PID" 2>/dev/null) &
		wd=$!
		wait "$DAEMON_PID" 2>/dev/null
		kill "$wd" 2>/dev/null
		DAEMON_PID=""
	fi
	# lazily: the machines that hold the tun open are killed after this
	mountpoint -q /dev/net/tun && umount -l /dev/net/tun
	mountpoint -q "$T/netdev" && umount -l "$T/netdev"
	return 0
}

now_us() { echo $(( $(date +%s%N) / 1000 )); }
to_us() { awk -v t="$1" 'BEGIN { printf "%.0f", t * 1000000 }'; }
ms_since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 1000 }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# A /dev/net/tun the jailed UML may open (Debian makes it 0666; a container
# may have it 0600), on a tmpfs of our own in our mount namespace only.
mkdir "$T/netdev"
mount -t tmpfs -o mode=0755,size=64k sbuml-netdev "$T/netdev" &&
	mknod -m 0666 "$T/netdev/tun" c 10 200 &&
	mount --bind "$T/netdev/tun" /dev/net/tun || fail "cannot give the bench its own /dev/net/tun"
ip link set lo up

# The payload disk: the checkers (mkpayload.sh wants them), the net payload,
# iperf3 and every library ldd names, flat at the top (/mnt/test).
IPERF=$(command -v iperf3) || fail "no iperf3"
LIBS=$(ldd "$IPERF" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
PAYLOAD="$T/payload.img"
# shellcheck disable=SC2086 # a list of files
sh "$BENCH_MKPAYLOAD" --bin-dir "$BENCH_GUEST_BIN" "$PAYLOAD" "$BENCH_SRCDIR/payload/net" \
	"$IPERF" $LIBS >"$T/mkpayload.log" 2>&1 || fail "mkpayload: $(cat "$T/mkpayload.log")"
start_daemon

say "$(nproc) CPUs, load average $(load); iperf3 $(iperf3 --version | head -n 1 | cut -d' ' -f2), ${RUNS} runs of ${SECS} s"

# iperf_runs KIND IP: BENCH_RUNS iperf3 clients to IP, a result line each
iperf_runs() {
	i=1
	while [ "$i" -le "$RUNS" ]; do
		la=$(load)
		timeout $((SECS + 60)) iperf3 -c "$2" -p 5201 -t "$SECS" -J >"$T/ip.json" 2>"$T/ip.err" ||
			fail "$1: iperf3 to $2: $(cat "$T/ip.err") $(head -c 600 "$T/ip.json")"
		# shellcheck disable=SC2046 # one value a line
		set -- "$1" "$2" $($BT json "$T/ip.json" end.sum_received.bytes end.sum_received.seconds \
			end.sum_sent.retransmits end.cpu_utilization_percent.host_total \
			end.cpu_utilization_percent.remote_total)
		[ $# = 7 ] || fail "$1: iperf3's JSON lacks a field: $(head -c 600 "$T/ip.json")"
		mibs=$(awk -v b="$3" -v s="$4" 'BEGIN { printf "%.1f", b / 1048576 / s }')
		echo "tput $1 $i $3 $4 $mibs $5 $6 $7 $la" >>"$RES"
		say "$1 run $i: $3 bytes received in $(printf %.2f "$4") s = $mibs MiB/s, $5 retransmits, iperf3 CPU host $(printf %.0f "$6") % guest $(printf %.0f "$7") %, load $la"
		i=$((i + 1))
	done
}

# --- 1a: plain UML on a tap of our own --------------------------------------
ip tuntap add dev "$PLAIN_TAP" mode tap || fail "ip tuntap add $PLAIN_TAP"
ip address add "$PLAIN_HOST/24" dev "$PLAIN_TAP"
ip link set "$PLAIN_TAP" up
P="$T/plain"
mkdir "$P"
# As sbumld launches it (sbumld/machine/uml.c), by hand as root; eth1, not
# eth0, so that the guest's init runs no DHCP client on it.
(cd "$P" && exec setsid env -i PATH=/usr/bin:/bin GLIBC_TUNABLES=glibc.pthread.rseq=0 \
	setarch "$(uname -m)" -R "$SBUML_KERNEL" mem=${MEM}M \
	ubd0="$P/disk0.cow,$SBUML_IMAGE" ubd1="$P/disk1.cow,$PAYLOAD" root=/dev/ubda rw \
	uml_dir="$P/" umid=uml con=null con0=null,fd:1 \
	eth1=tuntap,$PLAIN_TAP,02:00:c6:12:00:02 \
	sbuml.run=net sbuml.ip=$PLAIN_GUEST/24 sbuml.dev=eth1 \
	</dev/null >"$P/console.log" 2>&1) &
pconsole_has() { grep -aq -- "$1" "$P/console.log"; }
wait_until 120 pconsole_has "sbuml-bench-net iperf3 listening" ||
	fail "plain guest: no iperf3 server: $(tail -n 20 "$P/console.log")"
say "plain: UML by hand, eth1=tuntap on $PLAIN_TAP ($PLAIN_HOST), guest $PLAIN_GUEST"
iperf_runs plain "$PLAIN_GUEST"
# (a helper may be gone by the time its turn comes: || true under set -e)
for p in $(uml_pids_under "$P"); do kill -9 "$p" 2>/dev/null || true; done
sleep 0.5
ip link delete "$PLAIN_TAP" 2>/dev/null || true

# --- 2a: cold boots to the first HTTP answer ---------------------------------
info_net() { # MACHINE: "ipv4 mac tap" of its NIC
	ctl --json info "$1" >"$T/info.json" || fail "info $1"
	$BT json "$T/info.json" net.ipv4 net.mac net.tap | tr '\n' ' '
}
waiter() { # OUT REGEX FILE: time the line shows (benchtool waitline)
	$BT waitline 180 "$2" "$3" >"$1" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	LAST_WAITER=$!
}
reap() { # PID: wait for a waiter (its line may never come: then "-")
	wait "$1" || true
	BG_PIDS=$(echo "$BG_PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}
# line_ms T0_US FILE: ms from T0 to the time in FILE, "-" if none
line_ms() {
	v=$(cat "$2" 2>/dev/null)
	case $v in [0-9]*) ms_since "$1" "$(to_us "$v")" ;; *) echo - ;; esac
}
# http_first KIND RUN MACHINE T0_US T1_US LINE1 WAITER1 FILE1 WAITER2 FILE2
http_first() {
	# shellcheck disable=SC2046 # three words
	set -- "$@" $(info_net "$3")
	ip=${11} mac=${12} tap=${13}
	[ -n "$ip" ] || fail "$3 has no address: $(cat "$T/info.json")"
	la=$(load)
	$BT waithttp 180 "http://$ip/" "$PAGE" >"$T/http" || fail "$3: no HTTP answer on $ip: $(cat "$T/http")"
	read -r th n <"$T/http"
	reap "$7"; reap "$9"
	http=$(ms_since "$4" "$(to_us "$th")")
	ret=$(ms_since "$4" "$5")
	l1=$(line_ms "$4" "$8"); l2=$(line_ms "$4" "${10}")
	echo "http $1 $2 $http $ret $l1 $l2 $ip $mac $n $la" >>"$RES"
	say "$1 $3: HTTP answered on $ip after $http ms (command returned after $ret ms, $6 after $l1 ms, lease bound after $l2 ms; $n GETs started; MAC $mac tap $tap; load $la)"
}

# hold MACHINE: pause it for the rest of the run.  Not killed: sbumld then
# hands its address to the next machine while dnsmasq still holds the
# lease of the old MAC (1 h), and the next guest gets no lease at all
# ("no address available"; reported, a daemon bug).  Paused, it takes no
# CPU: one guest runs at a time.
hold() { ctl pause "$1" >/dev/null || fail "pause $1"; }

i=1
while [ "$i" -le "$RUNS" ]; do
	m=b$i
	waiter "$T/w.up" "sbuml-guest: up" "$(console_of "$m")"; wu=$LAST_WAITER
	waiter "$T/w.bound" "sbuml-guest: eth0 bound" "$(console_of "$m")"; wb=$LAST_WAITER
	sleep 0.3 # the waiters are polling before the clock starts
	t0=$(now_us)
	ctl boot "$m" --mem "$MEM" --disk "$PAYLOAD" --cmdline "sbuml.run=net" >/dev/null 2>"$T/boot.err" ||
		fail "boot $m: $(cat "$T/boot.err")"
	t1=$(now_us)
	http_first boot "$i" "$m" "$t0" "$t1" "guest up" "$wu" "$T/w.up" "$wb" "$T/w.bound"
	[ "$i" -lt "$RUNS" ] && hold "$m"
	i=$((i + 1))
done
src=b$RUNS

# --- 1b: the same throughput through sbuml's network ------------------------
wait_until 120 console_has "$src" "sbuml-bench-net iperf3 listening" ||
	fail "$src: no iperf3 server: $(grep -a sbuml-bench-net "$(console_of "$src")")"
# shellcheck disable=SC2046 # three words
set -- $(info_net "$src")
say "sbuml: $src on the default network: $1 MAC $2 tap $3 on bridge $(ip -o link show "$3" | sed -n 's/.* master \([^ ]*\) .*/\1/p')"
iperf_runs sbuml "$1"

# --- 2b: restores (clones, new identity) to the first HTTP answer -----------
mkdir "$T/sn"
ctl save "$src" "$T/sn/web" >/dev/null 2>"$T/save.err" || fail "save $src: $(cat "$T/save.err")"
say "saved $src (continue), then paused it: each restore is a clone of a machine that still exists (new identity)"
hold "$src"
i=1
while [ "$i" -le "$RUNS" ]; do
	m=r$i
	waiter "$T/w.mac" "sbuml-guest: eth0 has a new MAC" "$(console_of "$m")"; wm=$LAST_WAITER
	waiter "$T/w.bound" "sbuml-guest: eth0 bound" "$(console_of "$m")"; wb=$LAST_WAITER
	sleep 0.3
	t0=$(now_us)
	ctl restore "$T/sn/web" "$m" >/dev/null 2>"$T/restore.err" || fail "restore $m: $(cat "$T/restore.err")"
	t1=$(now_us)
	http_first restore "$i" "$m" "$t0" "$t1" "new MAC seen" "$wm" "$T/w.mac" "$wb" "$T/w.bound"
	console_has "$m" 'sbuml-guest: up' && fail "$m: the guest booted again instead of carrying on"
	hold "$m"
	i=$((i + 1))
done

# --- report -----------------------------------------------------------------
col() { awk -v k="$1" -v s="$2" -v c="$3" '$1 == k && $2 == s { print $c }' "$RES"; }
echo
echo "=== network results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r), load average now $(load)) ==="
echo "throughput host -> guest, iperf3 one TCP stream, ${SECS} s a run:"
printf '%-6s %4s %12s %8s %8s %7s %8s %9s  %s\n' path run bytes seconds MiB/s retrans host_cpu guest_cpu load
awk '$1 == "tput" { printf "%-6s %4s %12s %8.2f %8.1f %7s %7.0f%% %8.0f%%  %s %s %s\n", $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }' "$RES"
echo
echo "first HTTP answer (ms from issuing the command): boot = cold boot, restore = clone of a saved running machine:"
printf '%-8s %4s %8s %11s %10s %10s %-15s %-17s %6s  %s\n' kind run http_ms returned_ms up/mac_ms bound_ms address mac GETs load
awk '$1 == "http" { printf "%-8s %4s %8s %11s %10s %10s %-15s %-17s %6s  %s %s %s\n", $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }' "$RES"
echo
pm=$(median $(col tput plain 6)); sm=$(median $(col tput sbuml 6))
bh=$(median $(col http boot 4)); rh=$(median $(col http restore 4))
tr_=$(calc "$sm / $pm"); hr=$(calc "$rh / $bh")
v=$(verdict "$tr_ >= 0.5")
misses=0
[ "$v" = PASS ] || misses=1
echo "medians of $RUNS:"
printf '  throughput  sbuml %.1f MiB/s / plain tap %.1f MiB/s = %.2f   target >= 0.5: %s\n' "$sm" "$pm" "$tr_" "$v"
printf '  first HTTP  restore %s ms / cold boot %s ms = %.2f   (as low as possible)\n' "$rh" "$bh" "$hr"
printf '              restore returned after %s ms, new MAC seen after %s ms; boot returned after %s ms, guest up after %s ms\n' \
	"$(median $(col http restore 5))" "$(median $(col http restore 6))" "$(median $(col http boot 5))" "$(median $(col http boot 6))"
echo "targets missed: $misses"
if [ "$misses" -gt 0 ] && [ "${BENCH_STRICT:-0}" = 1 ]; then exit 1; fi
exit 0
