#!/bin/sh
# SPDX-License-Identifier: MIT
# Run systemd-analyze verify on the units, side by side in a temp dir so
# that sbumld.socket finds its Service=.
#   verify-units.sh SYSTEMD-ANALYZE SERVICE SOCKET [FAKE-BIN-DIR]
# FAKE-BIN-DIR, when given, gets a stand-in sbumld (building without it).
set -eu
analyze=$1 service=$2 socket=$3 fakebin=${4:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "$fakebin" ]; then
	mkdir -p "$fakebin"
	printf '#!/bin/sh\nexit 0\n' > "$fakebin/sbumld"
	chmod +x "$fakebin/sbumld"
fi
cp "$service" "$tmp/sbumld.service"
cp "$socket" "$tmp/sbumld.socket"
# --man=no: sbumld(8) may not be installed where verify looks.
# Any warning counts: verify prints them but may still exit 0.
out=$("$analyze" verify --man=no "$tmp/sbumld.service" "$tmp/sbumld.socket" 2>&1) || {
	printf '%s\n' "$out"
	exit 1
}
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	exit 1
fi
echo "units verified"
