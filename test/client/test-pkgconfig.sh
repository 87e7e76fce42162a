#!/bin/sh
# SPDX-License-Identifier: MIT
# libsbuml-client as a third party uses it: the header and the shared
# library laid out as `meson install` puts them (prefix/include,
# prefix/<libdir>), the very sbuml-client.pc meson installs, and a tiny
# program built with nothing but `pkg-config --cflags --libs sbuml-client`.
# The program connects to a real sbumld and calls daemon.ping and
# daemon.version; against a socket nobody listens on it must fail.
#
# usage: test-pkgconfig.sh PC_FILE SHARED_LIB HEADER SBUMLD
set -eu
PC=$1 LIB=$2 HDR=$3 SBUMLD=$4
# meson points LD_LIBRARY_PATH at the build dir: the program must find the
# library where the pkg-config file says it is installed.
unset LD_LIBRARY_PATH
D=$(mktemp -d /tmp/sbpc.XXXXXX)
DPID=""
cleanup() {
	rc=$?
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null
	[ "$rc" -eq 0 ] && rm -rf "$D"
	exit $rc
}
trap cleanup EXIT INT TERM
fail() { echo "test-pkgconfig: FAIL: $*" >&2; [ -f "$D/daemon.log" ] && cat "$D/daemon.log" >&2; exit 1; }

command -v pkg-config >/dev/null || fail "pkg-config not found"
# Stage an installed tree under $D/prefix, as the .pc file describes it.
mkdir -p "$D/pc"
cp "$PC" "$D/pc/sbuml-client.pc"
export PKG_CONFIG_PATH="$D/pc"
pcq() { pkg-config --define-variable=prefix="$D/prefix" "$@" sbuml-client; }
libdir=$(pcq --variable=libdir)
includedir=$(pcq --variable=includedir)
case $libdir in "$D/prefix"/*) ;; *) fail "libdir $libdir is not under the prefix";; esac
mkdir -p "$libdir" "$includedir"
cp "$HDR" "$includedir/"
real=$(readlink -f "$LIB")
cp "$real" "$libdir/"
base=$(basename "$real")			# libsbuml-client.so.0.0.0
ln -s "$base" "$libdir/libsbuml-client.so.0"
ln -s "libsbuml-client.so.0" "$libdir/libsbuml-client.so"

cat >"$D/tiny.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include <sbuml-client.h>

int main(int argc, char **argv)
{
	struct sbuml_client *c;
	struct json_object *v = NULL, *ver;
	int r;

	if ((r = sbuml_connect(argv[1], &c)) < 0) {
		fprintf(stderr, "connect: %s\n", strerror(-r));
		return 2;
	}
	if ((r = sbuml_daemon_ping(c)) < 0) {
		fprintf(stderr, "ping: %s\n", strerror(-r));
		return 3;
	}
	if ((r = sbuml_daemon_version(c, &v)) < 0 ||
	    !json_object_object_get_ex(v, "version", &ver)) {
		fprintf(stderr, "version: %d\n", r);
		return 4;
	}
	printf("pong, sbumld %s\n", json_object_get_string(ver));
	json_object_put(v);
	sbuml_close(c);
	return argc == 2 ? 0 : 5;
}
C
# Only what pkg-config says (plus an rpath so the staged library is used,
# and the sanitizers the library was built with, if any).
cflags=$(pcq --cflags) || fail "pkg-config --cflags"
san=""
case ${SBUML_SANITIZE:-none} in none|'') ;; *) san="-fsanitize=$SBUML_SANITIZE" ;; esac
libs=$(pcq --libs) || fail "pkg-config --libs"
echo "$cflags" | grep -q -- "-I$includedir" || fail "cflags do not name the include dir: $cflags"
# shellcheck disable=SC2086
${CC:-cc} -Wall -Werror $san -o "$D/tiny" "$D/tiny.c" $cflags $libs -Wl,-rpath,"$libdir" ||
	fail "tiny program does not build with: $cflags $libs"
ldd "$D/tiny" | grep -q "libsbuml-client.so.0 => $libdir/" ||
	fail "tiny does not use the staged library: $(ldd "$D/tiny")"

"$SBUMLD" -d --socket "$D/s.sock" --state-dir "$D/state" >"$D/daemon.log" 2>&1 &
DPID=$!
i=0
until [ -S "$D/s.sock" ] && "$D/tiny" "$D/s.sock" >"$D/out" 2>&1; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || fail "tiny never got an answer: $(cat "$D/out")"
	sleep 0.2
done
grep -q '^pong, sbumld [0-9]' "$D/out" || fail "unexpected output: $(cat "$D/out")"
"$D/tiny" "$D/nobody.sock" >/dev/null 2>&1 && fail "tiny succeeded without a daemon"
echo "test-pkgconfig: $(cat "$D/out"); ok"
