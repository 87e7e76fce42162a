#!/bin/sh
# SPDX-License-Identifier: MIT
# Networking across save and restore (issue 11, doc/restore.md), in a
# network namespace of the test's own: a 64 MiB busybox guest on the
# default network with a published port is saved with continue; clones
# restored from it get new MACs and leases of their own (3 at once, each
# a distinct address) while the original keeps answering; a clone
# publishes a port only when asked; a --same-identity restore is refused
# while the original runs, and after it is killed takes over the
# original's MAC, address and published port; a TCP connection over loopback
# inside the guest goes on in every restored machine.
SBUML_TEST_NETNS=1
TEST_NAME=network-restore
. "$(dirname "$0")/lib.sh"

ip link set lo up
start_daemon --default-network default

# The payload: httpd on port 80, and a TCP connection over loopback that
# prints a line per tick received.
mkdir -p "$T/pl/www"
echo "hello from the guest" >"$T/pl/www/index.html"
cat >"$T/pl/run" <<'PAYLOAD'
httpd -p 80 -h /mnt/test/www
# The listener's stdin must not end: busybox nc closes the connection then.
sleep 2147483647 | nc -l -p 7777 | while read -r l; do echo "sbuml-test: got $l"; done &
sleep 1
i=0
while :; do i=$((i + 1)); echo "tick $i"; sleep 1; done | nc 127.0.0.1 7777
echo "sbuml-test: loopback connection ended"
PAYLOAD
mke2fs -q -t ext2 -d "$T/pl" "$T/pl.img" 4M || fail "mke2fs of the payload"

jnet() { # MACHINE EXPR: EXPR of the machine object's "net" member (n)
	ctl --json info "$1" | python3 -c 'import json,sys; n=json.load(sys.stdin)["net"]; print(eval(sys.argv[1]))' "$2"
}
ticks() { # MACHINE: the highest tick the machine's loopback reader printed
	grep -a -o 'sbuml-test: got tick [0-9]*' "$(console_of "$1")" 2>/dev/null | tail -n 1 | awk '{print $4+0}' | grep . || echo 0
}
ticks_past() { [ "$(ticks "$1")" -gt "$2" ]; }
# up MACHINE: it got its own lease (the allocation) and answers ping and HTTP.
up() {
	_ip=$(jnet "$1" 'n["ipv4"]')
	wait_until 90 console_has "$1" "sbuml-guest: eth0 bound $_ip" || fail "$1 did not get its lease $_ip"
	wait_until 30 hping "$_ip" || fail "$1 does not answer ping on $_ip"
	[ "$(http_get "http://$_ip/")" = "hello from the guest" ] || fail "$1: no HTTP on $_ip"
}

say "boot orig, publish 8080"
ctl boot orig --mem 64 --disk "$T/pl.img" --publish 8080:80 >/dev/null || fail "boot orig"
up orig
OIP=$(jnet orig 'n["ipv4"]')
OMAC=$(jnet orig 'n["mac"]')
gwmac() { ip -br link show sbuml0 | awk '{print $3}'; }
GWMAC=$(gwmac)
wait_until 60 ticks_past orig 2 || fail "orig's loopback connection does not run"
[ "$(http_get http://127.0.0.1:8080/)" = "hello from the guest" ] || fail "orig's published port"

say "save with continue"
ctl save orig snap >/dev/null 2>&1 || fail "save orig"
state_is orig running || fail "orig is not running after the save"

say "3 clones at once: new MACs, leases of their own"
rpids=""
for c in c1 c2 c3; do
	if [ $c = c1 ]; then set -- --publish 8090:80; else set --; fi
	ctl restore snap $c "$@" >"$T/$c.out" 2>&1 & rpids="$rpids $!"
done
for p in $rpids; do wait "$p" || fail "a restore failed: $(cat "$T"/c?.out)"; done
ips="$OIP" macs="$OMAC"
for c in c1 c2 c3; do
	up $c
	ips="$ips $(jnet $c 'n["ipv4"]')"
	macs="$macs $(jnet $c 'n["mac"]')"
	[ "$(jnet $c 'n["ipv4_leased"]')" = "$(jnet $c 'n["ipv4"]')" ] || fail "$c: the lease is not its allocation"
done
[ "$(echo $ips | tr ' ' '\n' | sort -u | wc -l)" = 4 ] || fail "addresses not distinct: $ips"
[ "$(echo $macs | tr ' ' '\n' | sort -u | wc -l)" = 4 ] || fail "MACs not distinct: $macs"
hping "$OIP" >/dev/null || fail "orig stopped answering after the clones"
say "addresses: $ips"

say "published ports: the clone that asked, only"
[ "$(http_get http://127.0.0.1:8090/)" = "hello from the guest" ] || fail "c1's published port 8090"
[ "$(jnet c2 'n["publish"]')" = "[]" ] || fail "c2 publishes: $(jnet c2 'n["publish"]')"
nft list table ip sbuml | grep -c "dport 8080 " | grep -qx 2 || fail "8080 is not orig's alone: $(nft list table ip sbuml)"

say "the loopback connection goes on in a clone"
t=$(ticks c1)
wait_until 30 ticks_past c1 "$t" || fail "c1's loopback connection stopped at tick $t"
console_has c1 "loopback connection ended" && fail "c1's loopback connection ended"

say "same identity: refused while orig runs"
if ctl restore snap mig --same-identity >"$T/out" 2>&1; then fail "same-identity restore while orig runs"; fi
grep -q "machine orig still runs with MAC $OMAC" "$T/out" || fail "same-identity refusal: $(cat "$T/out")"
ctl list | grep -q "^mig " && fail "the refused restore left machine mig"
if ctl restore snap bad --same-identity --publish 9000:80 >"$T/out" 2>&1; then fail "same-identity with publish accepted"; fi

say "same identity after orig is killed: orig's address and port"
for c in c2 c3; do ctl kill $c >/dev/null || fail "kill $c"; done
ctl kill orig >/dev/null || fail "kill orig"
ctl restore snap mig --same-identity >/dev/null || fail "same-identity restore"
[ "$(jnet mig 'n["mac"]')" = "$OMAC" ] || fail "mig has another MAC: $(jnet mig 'n')"
[ "$(jnet mig 'n["ipv4"]')" = "$OIP" ] || fail "mig has another address: $(jnet mig 'n')"
[ "$(jnet mig '",".join(n["publish"])')" = "8080:80/tcp" ] ||
	fail "orig's published port did not move to mig: $(jnet mig 'n')"
# mig's ARP cache is the saved one: the gateway must still have the MAC
# it had then, whatever taps came and went on the bridge since (a bridge
# without a MAC of its own takes its lowest port's: mig then answered into
# the void until its cache entry expired, when c1's tap was the lowest).
[ "$(gwmac)" = "$GWMAC" ] || fail "the gateway's MAC moved from $GWMAC to $(gwmac)"
wait_until 30 hping "$OIP" || fail "mig does not answer ping on $OIP"
[ "$(http_get "http://$OIP/")" = "hello from the guest" ] || fail "mig: no HTTP on $OIP"
[ "$(http_get http://127.0.0.1:8080/)" = "hello from the guest" ] ||
	fail "mig: no HTTP on orig's published port 8080"
t=$(ticks mig)
wait_until 30 ticks_past mig "$t" || fail "mig's loopback connection stopped at tick $t"
say "ok"
