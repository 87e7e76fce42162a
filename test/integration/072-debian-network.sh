#!/bin/sh
# SPDX-License-Identifier: MIT
# A Debian machine on the default network (issue 11), in a network namespace
# of the test's own: nothing leaves the machine.  Booted from the Debian
# image (`sbumlctl image build`), 256 MiB, it gets its address by DHCP with
# systemd-networkd (debian-setup.sh: DHCP=ipv4, ClientIdentifier=mac): the
# address sbumld allocated, in the daemon's lease file and on the guest's
# eth0 (networkctl: routable, configured; networkd's journal names the
# lease); it answers ping from the host and serves HTTP (a systemd service
# in the guest) on its address and on a published port.  Saved with
# continue and restored as a clone (a new identity): the clone has a MAC of
# its own, networkd asks again after the carrier bounce and gets the
# clone's own address, and the original and the clone both answer, each on
# its own address with its own MAC.
SBUML_TEST_NETNS=1
TEST_NAME=debian-network
export SBUML_MKDEBIAN="$TEST_SRCDIR/../../sbumld/guest/mkdebian.sh"
# The image is made before lib.sh moves the test into its network
# namespace: on a cache miss mmdebstrap needs the host's Debian mirror.
# The same inputs as `sbumlctl image build deb --size 2G` (050, 060), so
# the cache entry is theirs; the copy moves into the daemon's images dir.
if [ "${SBUML_IN_NETNS:-}" != 1 ]; then
	SBUML_DEB_PRE=$(mktemp -d /tmp/sbt-deb.XXXXXX)
	export SBUML_DEB_PRE
	"$SBUML_MKDEBIAN" --release bookworm --packages "" --size 2G -- "$SBUML_DEB_PRE/deb.img" \
		>"$SBUML_DEB_PRE/build.log" 2>&1 ||
		{ cat "$SBUML_DEB_PRE/build.log"; rm -rf "$SBUML_DEB_PRE"; exit 1; }
fi
. "$(dirname "$0")/lib.sh"
# Under $T at once, so that lib.sh's clean-up takes it whatever happens.
mv "$SBUML_DEB_PRE" "$T/deb-pre" || fail "cannot move $SBUML_DEB_PRE under $T"

ip link set lo up	# the published port on 127.0.0.1
start_daemon --default-network default
mv "$T/deb-pre/deb.img" "$T/deb-pre/deb.json" "$STATE/images/" || fail "image into the state dir"
ctl image list | grep -q '^deb ' || fail "image list: $(ctl image list)"
say "image deb: $(grep "^cache " "$T/deb-pre/build.log")"

# The HTTP server: Debian's busybox-static (the host's, as for the default
# guest) on a disk of its own; the image has no HTTP server.
mkdir -p "$T/pl/www"
cp /bin/busybox "$T/pl/busybox" || fail "no /bin/busybox (busybox-static)"
echo "hello from debian" >"$T/pl/www/index.html"
mke2fs -q -t ext2 -d "$T/pl" "$T/pl.img" 8M || fail "mke2fs of the payload"

sh_in() { # MACHINE CMD: CMD in the root shell on MACHINE's console
	_m=$1; shift
	python3 "$TEST_SRCDIR/guestsh.py" run "$*" "$SBUMLCTL" --socket "$SOCK" console "$_m" --attach
}
sh_ok() { sh_in "$@" >"$T/sh.out" 2>&1 || fail "$1: '$2' failed: $(cat "$T/sh.out")"; cat "$T/sh.out"; }
jnet() { # MACHINE EXPR: EXPR of the machine object's "net" member (n)
	ctl --json info "$1" | python3 -c 'import json,sys; n=json.load(sys.stdin)["net"]; print(eval(sys.argv[1]))' "$2"
}
leased() { [ "$(jnet "$1" 'n["ipv4_leased"]')" = "$2" ]; }

# What the guest says about eth0, in one trip over the console (each costs
# seconds on a loaded host): its IPv4 addresses, each "dynamic" (a DHCP
# lease) or "static"; its MAC; networkctl's operational and setup state;
# then networkd's journal.  Lines behind SBV-<name>: prefixes (services and
# the kernel write to the console too).
NET_REPORT=$(cat <<'CMD'
echo "SBV-addrs:$(ip -4 -o addr show dev eth0 | awk '{printf "%s %s;", $4, (/ dynamic / ? "dynamic" : "static")}')"; echo "SBV-mac:$(cat /sys/class/net/eth0/address)"; echo "SBV-link:$(networkctl list --no-legend --no-pager eth0 | awk '{print $4, $5}')"; journalctl -q --no-pager -o cat -u systemd-networkd | cat
CMD
)
net_report() { # MACHINE: the report into $T/MACHINE.net (the checks say if it is bad)
	sh_in "$1" "$NET_REPORT" >"$T/$1.raw" 2>&1 || true
	tr -d '\r' <"$T/$1.raw" >"$T/$1.net"
}
net_field() { sed -n "s/^.*SBV-$2://p" "$T/$1.net" | tail -n 1; }
# net_ok MACHINE IP MAC: networkd has IP as a lease on eth0 (and no other
# address), eth0 is MAC, routable and configured, and networkd logged the
# lease.  The report is in $T/MACHINE.net.
net_ok() {
	net_report "$1" &&
		[ "$(net_field "$1" addrs)" = "$2/24 dynamic;" ] &&
		[ "$(net_field "$1" mac)" = "$3" ] &&
		[ "$(net_field "$1" link)" = "routable configured" ] &&
		grep -qF "eth0: DHCPv4 address $2/24" "$T/$1.net"
}
net_fail() { # MACHINE WHAT
	fail "$1: $2: addresses '$(net_field "$1" addrs)', MAC $(net_field "$1" mac), link '$(net_field "$1" link)', networkd: $(grep -a 'eth0:' "$T/$1.net" | tail -n 6)"
}
# neigh_mac IP: the MAC the host's ARP cache has for IP.
neigh_mac() { ip neigh show "$1" dev sbuml0 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'; }
# serves MACHINE IP MAC: IP answers ping and HTTP, from MAC.
serves() {
	wait_until 30 hping "$2" || fail "$1 does not answer ping on $2"
	[ "$(http_get "http://$2/")" = "hello from debian" ] || fail "$1: no HTTP on $2"
	[ "$(neigh_mac "$2")" = "$3" ] || fail "$1: $2 answers from $(neigh_mac "$2"), not $3"
}

say "boot the Debian machine on the default network, publish 8080"
t0=$(date +%s)
ctl boot deb --image deb --mem 256 --disk "$T/pl.img" --publish 8080:80 >/dev/null || fail "boot deb"
IP=$(jnet deb 'n["ipv4"]')
MAC=$(jnet deb 'n["mac"]')
[ -n "$IP" ] && [ -n "$MAC" ] || fail "deb has no address or MAC: $(ctl --json info deb)"
wait_until 600 console_has deb "sbuml-guest: system " || fail "deb: start-up did not finish"
console_has deb "sbuml-guest: system running" || fail "deb: $(grep -a 'sbuml-guest:' "$(console_of deb)")"
wait_until 60 leased deb "$IP" || fail "deb has no lease for $IP: $(jnet deb 'n')"
say "deb: system running, leased $IP ($MAC), $(( $(date +%s) - t0 )) s after boot"

say "networkd has the lease in the guest"
t0=$(date +%s)
python3 "$TEST_SRCDIR/guestsh.py" login "$SBUMLCTL" --socket "$SOCK" console deb --attach ||
	fail "deb: no root login on the console"
wait_until 60 net_ok deb "$IP" "$MAC" || net_fail deb "no lease $IP from networkd"

say "ping, HTTP on the address and on the published port"
sh_ok deb "mount -o ro /dev/ubdb /mnt && systemd-run --quiet --unit=sbuml-httpd \
/mnt/busybox httpd -f -p 80 -h /mnt/www" >/dev/null
wait_until 30 http_get "http://$IP/" || fail "deb: httpd does not answer on $IP:80"
serves deb "$IP" "$MAC"
[ "$(http_get http://127.0.0.1:8080/)" = "hello from debian" ] || fail "deb: no HTTP on published 8080"

say "networkd, ping, HTTP: $(( $(date +%s) - t0 )) s; save with continue, restore a clone"
t0=$(date +%s)
ctl save deb snap >/dev/null || fail "save deb"
state_is deb running || fail "deb is not running after the save"
ctl restore snap clone >/dev/null || fail "restore clone"
CIP=$(jnet clone 'n["ipv4"]')
CMAC=$(jnet clone 'n["mac"]')
[ -n "$CIP" ] && [ "$CIP" != "$IP" ] || fail "clone's address '$CIP' (deb has $IP)"
[ -n "$CMAC" ] && [ "$CMAC" != "$MAC" ] || fail "clone's MAC '$CMAC' (deb has $MAC)"
[ "$(jnet clone 'n["publish"]')" = "[]" ] || fail "clone publishes: $(jnet clone 'n["publish"]')"

say "clone restored in $(( $(date +%s) - t0 )) s: new MAC, networkd asks again and gets its own lease"
t0=$(date +%s)
wait_until 60 leased clone "$CIP" || fail "clone has no lease for $CIP: $(jnet clone 'n')"
wait_until 60 net_ok clone "$CIP" "$CMAC" || net_fail clone "no lease $CIP from networkd"
# The clone's journal goes on from the original's: after its last carrier
# loss (the restore's bounce) networkd saw the carrier back, then the lease.
awk -v lease="eth0: DHCPv4 address $CIP/24" '
	/eth0: Lost carrier/ { lost = 1; gained = 0; leased = 0 }
	lost && /eth0: Gained carrier/ { gained = 1 }
	gained && index($0, lease) { leased = 1 }
	END { exit !leased }' "$T/clone.net" ||
	net_fail clone "no carrier loss, carrier and lease $CIP in that order"

say "both answer, each on its own address with its own MAC"
serves clone "$CIP" "$CMAC"
serves deb "$IP" "$MAC"
[ "$(http_get http://127.0.0.1:8080/)" = "hello from debian" ] || fail "deb: no HTTP on published 8080 after the restore"
net_ok deb "$IP" "$MAC" || net_fail deb "after the restore"
say "deb $IP $MAC, clone $CIP $CMAC: ok, $(( $(date +%s) - t0 )) s after the restore"
