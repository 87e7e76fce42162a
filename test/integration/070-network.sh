#!/bin/sh
# SPDX-License-Identifier: MIT
# Networking (issue 11), all inside a network namespace of the test's own
# with a veth "uplink" into a second one: nothing leaves the machine.
# A 64 MiB busybox guest on the default network gets its lease from the
# daemon's dnsmasq (the address sbumld allocated), answers ping from the
# host, reaches the uplink peer through NAT, and serves busybox httpd on
# published ports (all local addresses, and 127.0.0.1 only); network
# list/info show it; bad parameters are refused; a --net none guest has no
# eth0; a restarted daemon puts the machine back on its network; a
# stopped daemon leaves no bridge, table or dnsmasq behind.
SBUML_TEST_NETNS=1
TEST_NAME=network
. "$(dirname "$0")/lib.sh"

net_uplink
start_daemon --default-network default

# The payload: httpd on port 80, the uplink pinged until it answers, the
# interfaces the guest has.
mkdir -p "$T/pl/www"
echo "hello from the guest" >"$T/pl/www/index.html"
cat >"$T/pl/run" <<PAYLOAD
echo "sbuml-test: netdevs \$(ls /sys/class/net | tr '\n' ' ')"
[ -d /sys/class/net/eth0 ] || exit 0
httpd -p 80 -h /mnt/test/www
until ping -c 1 -W 1 $UPLINK_IP >/dev/null 2>&1; do sleep 1; done
echo "sbuml-test: uplink answers"
PAYLOAD
mke2fs -q -t ext2 -d "$T/pl" "$T/pl.img" 4M || fail "mke2fs of the payload"

jnet() { # MACHINE EXPR: EXPR of the machine object's "net" member (n)
	ctl --json info "$1" | python3 -c 'import json,sys; n=json.load(sys.stdin)["net"]; print(eval(sys.argv[1]))' "$2"
}

say "network list before any machine: default is down"
ctl network list | grep -Eq '^default +sbuml0 .* no +yes' || fail "network list: $(ctl network list)"

say "boot web with published ports"
ctl boot web --mem 64 --disk "$T/pl.img" --publish 8080:80 \
	--publish 127.0.0.1:8081:80/tcp >/dev/null || fail "boot web"
IP=$(jnet web 'n["ipv4"]')
MAC=$(jnet web 'n["mac"]')
TAP=$(jnet web 'n["tap"]')
say "web: $IP $MAC $TAP"
[ -n "$IP" ] && [ -n "$TAP" ] || fail "web has no address or tap: $(ctl --json info web)"
ip link show "$TAP" | grep -q "master sbuml0" || fail "tap $TAP is not on sbuml0"
wait_until 90 console_has web "sbuml-guest: eth0 bound $IP" || fail "web did not get its lease $IP"
[ "$(jnet web 'n["ipv4_leased"]')" = "$IP" ] || fail "lease file: $(jnet web 'n')"

say "ping from the host, NAT to the uplink"
hping "$IP" >/dev/null || fail "web does not answer ping on $IP"
wait_until 60 console_has web "sbuml-test: uplink answers" || fail "web does not reach the uplink"

say "published ports"
wait_until 30 http_get "http://$IP/" || fail "httpd in web does not answer on $IP:80"
[ "$(http_get http://198.51.100.1:8080/)" = "hello from the guest" ] || fail "8080 on the host's address"
[ "$(http_get http://127.0.0.1:8081/)" = "hello from the guest" ] || fail "127.0.0.1:8081"
[ "$(uplink python3 -c 'import urllib.request; print(urllib.request.urlopen("http://198.51.100.1:8080/", timeout=5).read().decode().strip())')" = "hello from the guest" ] ||
	fail "8080 from the uplink"
if uplink python3 -c 'import urllib.request; urllib.request.urlopen("http://198.51.100.1:8081/", timeout=3)' 2>/dev/null; then
	fail "127.0.0.1:8081 is reachable from outside"
fi

say "network list and info"
ctl network list | grep -Eq '^default +sbuml0 +10\.[0-9.]+/24 +yes +yes +1$' || fail "network list: $(ctl network list)"
ctl network info default >"$T/ni" || fail "network info"
grep -q "web  *$MAC $TAP $IP" "$T/ni" || fail "network info: $(cat "$T/ni")"
grep -q "8080:80/tcp 127.0.0.1:8081:80/tcp" "$T/ni" || fail "network info publish: $(cat "$T/ni")"
ctl --json network list | python3 -c 'import json,sys; n=json.load(sys.stdin)["networks"][0]; assert n["dhcp"] and n["gateway"].endswith(".1"), n' ||
	fail "network list --json"

say "bad parameters are refused"
refused() { # WHAT WORD CMD...: CMD fails saying WORD
	_w=$1 _word=$2; shift 2
	if "$@" >"$T/out" 2>&1; then fail "$_w accepted"; fi
	grep -q -- "$_word" "$T/out" || fail "$_w: $(cat "$T/out")"
}
refused "port 0" "ports must be 1-65535" ctl boot b1 --publish 0:80
refused "port 65536" "ports must be 1-65535" ctl boot b1 --publish 65536:80
refused "sctp" "tcp or udp" ctl boot b1 --publish 8082:80/sctp
refused "bad address" "not an IPv4 address" ctl boot b1 --publish 1.2.3:8082:80
refused "no network" "no network nosuch" ctl boot b1 --net nosuch
refused "port of web" "published by machine web" ctl boot b1 --publish 8080:81
refused "twice" "given twice" ctl boot b1 --publish 8083:80 --publish 8083:81
refused "none publishes" "publishes no ports" ctl boot b1 --net none --publish 8084:80
refused "no network info" "no network nosuch" ctl network info nosuch
refused "eth on cmdline" "set by sbumld" ctl boot b1 --cmdline "eth0=tuntap,$TAP"
ctl list | grep -q b1 && fail "a refused boot left machine b1"

say "--net none: no eth0"
ctl boot quiet --mem 64 --net none --disk "$T/pl.img" >/dev/null || fail "boot quiet"
wait_until 60 console_has quiet "sbuml-test: netdevs" || fail "quiet did not list its interfaces"
console_has quiet "sbuml-test: netdevs.*eth0" && fail "quiet has eth0: $(grep -a netdevs "$(console_of quiet)")"
[ "$(ctl --json info quiet | python3 -c 'import json,sys; print(json.load(sys.stdin)["net"])')" = None ] ||
	fail "quiet has a net member"

say "a restarted daemon puts web back on its network"
stop_daemon
ip link show sbuml0 >/dev/null 2>&1 && fail "bridge sbuml0 left after the daemon stopped"
nft list table ip sbuml >/dev/null 2>&1 && fail "nftables table left after the daemon stopped"
pgrep -f "conf-file=$STATE/net/" >/dev/null && fail "dnsmasq left after the daemon stopped"
ip link show "$TAP" >/dev/null || fail "web's tap went with the daemon"
start_daemon --default-network default
ip link show "$TAP" | grep -q "master sbuml0" || fail "tap $TAP is not back on sbuml0"
wait_until 30 hping "$IP" || fail "web does not answer ping after the restart"
[ "$(http_get http://127.0.0.1:8081/)" = "hello from the guest" ] || fail "127.0.0.1:8081 after the restart"

say "the tap goes with the machine"
ctl kill web >/dev/null || fail "kill web"
ip link show "$TAP" >/dev/null 2>&1 && fail "tap $TAP left after web ended"
nft list table ip sbuml | grep -q 8080 && fail "web's ports left in the table"

say "the next machine gets web's address and its lease"
# dnsmasq held web's lease for an hour and refused the address to a new
# MAC ("leased to ..."): the new machine got no lease at all
ctl boot web2 --mem 64 --disk "$T/pl.img" >/dev/null || fail "boot web2"
[ "$(jnet web2 'n["ipv4"]')" = "$IP" ] || fail "web2 got $(jnet web2 'n["ipv4"]'), not web's $IP"
wait_until 90 console_has web2 "sbuml-guest: eth0 bound $IP" || fail "web2 did not get its lease $IP"
[ "$(jnet web2 'n["ipv4_leased"]')" = "$IP" ] || fail "lease file: $(jnet web2 'n')"
wait_until 30 hping "$IP" || fail "web2 does not answer ping on $IP"
ctl kill web2 >/dev/null || fail "kill web2"

say "a host whose /dev/net/tun the UML user cannot open: plain boots go on without a network"
mknod -m 0600 "$T/netdev/tun600" c 10 200 || fail "mknod"
mount --bind "$T/netdev/tun600" /dev/net/tun || fail "bind the 0600 tun"
ctl boot plain --mem 64 --disk "$T/pl.img" >/dev/null || fail "a plain boot failed without a usable tun"
[ "$(jnet plain 'n')" = "None" ] || fail "plain has a network: $(jnet plain 'n')"
wait_until 60 heartbeat_at_least plain 1 || fail "plain does not run"
grep -q "plain: no network (/dev/net/tun (mode 0600) is not open" "$T/daemon.log" ||
	fail "no log line on the missing network"
refused "an asked-for network" "is not open to user" ctl boot n1 --mem 64 --net default
refused "a published port" "is not open to user" ctl boot n2 --mem 64 --publish 8090:80
ctl kill plain >/dev/null || fail "kill plain"
umount /dev/net/tun || fail "umount the 0600 tun"
say "ok"
