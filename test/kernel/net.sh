#!/bin/bash
# A machine with a NIC (eth0=tuntap on a persistent host tap) is saved
# while it runs and restored as a clone on a tap of its own with a new MAC
# (sbuml_net=eth0,<tap>,<mac>): the clone sees its new MAC and a carrier
# bounce, takes its own address and answers ping there, the original still
# answers on its address, a TCP connection over the guest's loopback goes
# on in the clone, and a reboot of the clone comes back on the new tap with
# the new MAC. A restore without sbuml_net= (or with a bad one) is refused
# before anything runs.
#
# Everything runs in a network namespace of its own (unshare -n): a bridge
# with 10.77.0.1/24 and two persistent taps owned by the uid that runs UML;
# no packet leaves it.
if [ -z "${SBUML_NET_NS:-}" ]; then
	exec env SBUML_NET_NS=1 unshare -n "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

MAC_A=02:00:00:00:00:02
MAC_C=02:00:00:00:00:03

ip link set lo up || die "lo"
ip link add br0 type bridge || die "bridge"
ip addr add 10.77.0.1/24 dev br0 || die "bridge address"
ip link set br0 up || die "bridge up"
for t in sbt1 sbt2; do
	ip tuntap add dev "$t" mode tap user "$(id -u)" || die "tap $t"
	ip link set "$t" master br0 up || die "tap $t up"
done

# The guest side: eth0's address follows its MAC (10.77.0.<last byte>),
# it reports carrier changes and pings the host once it has an address;
# a client sends a counter to a server over 127.0.0.1:5000, which prints
# every line it gets (LORX <n>); its stdin never ends (an nc whose stdin
# ends shuts its side down, and the client then quits).
cat >"$WORK/net-guest.sh" <<'EOF'
#!/bin/sh
B=/bin/busybox
$B ip link set lo up
$B ip link set eth0 up
(sleep 1000000 | $B nc -l -p 5000 | while read l; do echo "LORX $l"; done) &
until $B netstat -ltn | grep -q ':5000 '; do sleep 0.2; done
(i=0; while :; do echo $i; i=$((i + 1)); sleep 0.5; done | $B nc 127.0.0.1 5000) &
cur= car= chg=
while :; do
	m=$(cat /sys/class/net/eth0/address)
	c=$(cat /sys/class/net/eth0/carrier 2>/dev/null)
	if [ "$c" != "$car" ]; then echo "CARRIER $c"; car=$c; fi
	# the count of carrier changes sees a bounce that a 0.2 s poll of a
	# starved guest can miss
	g=$(cat /sys/class/net/eth0/carrier_changes 2>/dev/null)
	if [ "$g" != "$chg" ]; then echo "CARRIERCHG $g"; chg=$g; fi
	if [ "$m" != "$cur" ]; then
		ip=10.77.0.$((0x${m##*:}))
		$B ip addr flush dev eth0
		$B ip addr add "$ip/24" dev eth0
		echo "NET mac=$m ip=$ip"
		cur=$m
		(for i in $(seq 60); do
			if $B ping -c1 -W1 10.77.0.1 >/dev/null 2>&1; then
				echo "PINGHOST ok $ip"; break
			fi
		done) &
	fi
	sleep 0.2
done
EOF
GUEST_EXTRA=$WORK/net-guest.sh make_image

# ping_ok IP: the host reaches IP within 60 s
ping_ok() {
	local i
	for i in $(seq 60); do
		busybox ping -c1 -W1 "$1" >/dev/null 2>&1 && return 0
	done
	fail "no answer from $1"
	return 1
}

# fdb_on TAP MAC: the bridge learnt MAC behind TAP
fdb_on() {
	bridge fdb show dev "$1" | grep -q "^$2 "
}

# count NAME REGEX: lines of NAME's console matching REGEX
count() { grep -acE "$2" "$WORK/$1/console.log"; }

# wait_count NAME REGEX N: until at least N lines match, 60 s at most
wait_count() {
	local i
	for i in $(seq 600); do
		[ "$(count "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.1
	done
	fail "$1: fewer than $3 lines /$2/"
	return 1
}

boot_and_wait a eth0=tuntap,sbt1,$MAC_A
wait_console a "^NET mac=$MAC_A ip=10.77.0.2([^0-9]|\$)" 60 || die "a has no address"
wait_console a "^PINGHOST ok 10.77.0.2" 60 || fail "a does not reach the host"
ping_ok 10.77.0.2 || die "host does not reach a"
check fdb_on sbt1 $MAC_A
wait_console a "^LORX 3([^0-9]|\$)" 60 || die "no loopback TCP traffic in a"

chg_saved=$(last_num a CARRIERCHG)
r=$(save a "$WORK/cap") || die "save: $r"
log "save: $r"
lo_saved=$(last_num a LORX)
[ "$(last_num a CARRIERCHG)" = "$chg_saved" ] || die "a's carrier changed around the save"

# refused: the saved eth0 without its new tap, a bad MAC, a device the
# capture does not have, a tap that does not exist
refused() { # refused NAME EXPECTED-TEXT [restore args]
	local name=$1 want=$2 st; shift 2
	RESTORE_KEEP_JOB=1 restore "$name" "$WORK/cap" "$@"
	wait "$(eval echo "\$PID_$name")"; st=$?
	check [ "$st" != 0 ]
	if ! grep -aqF "$want" "$WORK/$name/console.log"; then
		fail "$name: no '$want' on the console:"; cat "$WORK/$name/console.log"
	fi
	if grep -aq "^sbuml: restored" "$WORK/$name/console.log"; then fail "$name restored"; fi
}
refused x1 "sbuml restore: refused: eth0 needs sbuml_net=eth0,<tap>[,<mac>]"
refused x2 "refused: bad MAC" sbuml_net=eth0,sbt2,03:00:00:00:00:03
refused x3 "refused: sbuml_net=eth1: the capture has no eth1" \
	sbuml_net=eth0,sbt2 sbuml_net=eth1,sbt1
refused x4 "refused: tap nosuchtap" sbuml_net=eth0,nosuchtap
# the original's tap is in use: the host refuses a second attachment
refused x5 "refused: cannot attach to tap sbt1" sbuml_net=eth0,sbt1

restore c "$WORK/cap" sbuml_net=eth0,sbt2,$MAC_C
wait_console c "^sbuml: restored from" 60 || die "c did not restore"
wait_console c "^NET mac=$MAC_C ip=10.77.0.3([^0-9]|\$)" 60 || die "c did not get its new MAC"
# the carrier went away and came back: two more carrier changes than at
# the save (it is off for 2 s); it is up again when the host answers
wait_console c "^CARRIERCHG $((chg_saved + 2))([^0-9]|\$)" 30 || fail "c saw no carrier bounce"
wait_console c "^PINGHOST ok 10.77.0.3" 60 || fail "c does not reach the host"
ping_ok 10.77.0.3
check fdb_on sbt2 $MAC_C
# the original is undisturbed
ping_ok 10.77.0.2
check fdb_on sbt1 $MAC_A
# the loopback connection carries on in the clone, from where it was
log "loopback counter at the save: $lo_saved, clone's first: $(first_num c LORX)"
wait_console c "^LORX $((lo_saved + 4))([^0-9]|\$)" 60 || fail "loopback TCP stopped in c"
check [ "$(first_num c LORX)" -le $((lo_saved + 2)) ]
grep -aqE "^LORX 0([^0-9]|\$)" "$WORK/c/console.log" && fail "c's loopback counter restarted"

# a reboot of the clone comes back on its tap with its MAC
mc c reboot >/dev/null 2>&1
wait_console c "^BOOT 2([^0-9]|\$)" 120 || die "c did not reboot"
check grep -aq "eth0=tuntap,sbt2,$MAC_C" "/proc/$PID_c/cmdline"
wait_count c "^NET mac=$MAC_C ip=10.77.0.3([^0-9]|\$)" 2
wait_count c "^PINGHOST ok 10.77.0.3" 2
ping_ok 10.77.0.3
check fdb_on sbt2 $MAC_C
ping_ok 10.77.0.2

console_clean a
console_clean c
halt_machine c
halt_machine a
exit $FAILED
