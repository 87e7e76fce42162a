#!/bin/bash
# SPDX-License-Identifier: MIT
# The kernel series passes the kernel's own style check: every patch of
# uml-patches/series through scripts/checkpatch.pl --no-tree. Fails on any
# error or warning that uml-patches/checkpatch.accepted does not list (by
# patch file and checkpatch type, with the reason it cannot go).
#
# checkpatch.pl comes from the kernel tarball (SBUML_KERNEL_TARBALL,
# default /usr/src/linux-source-6.1.tar.xz), or from the source tree of the
# kernel cache when it has one; no network.
set -euo pipefail
PATCHES=$(cd "$(dirname "$0")/../../uml-patches" && pwd)
TARBALL=${SBUML_KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
CACHE=${SBUML_KERNEL_CACHE:-/var/cache/sbuml/kernel}
ACCEPTED=$PATCHES/checkpatch.accepted

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

scripts=$CACHE/src/scripts
if [ ! -f "$scripts/checkpatch.pl" ] || [ ! -f "$scripts/spelling.txt" ]; then
	[ -r "$TARBALL" ] || fail "$TARBALL not found (apt-get install linux-source-6.1)"
	top=linux-source-6.1
	tar -xJf "$TARBALL" -C "$work" "$top/scripts/checkpatch.pl" \
		"$top/scripts/spelling.txt" "$top/scripts/const_structs.checkpatch" ||
		fail "cannot extract checkpatch.pl from $TARBALL"
	scripts=$work/$top/scripts
fi
echo "checkpatch: $scripts/checkpatch.pl"

# accepted findings: "<patch file> <TYPE>  # reason", one a line
accepted() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$ACCEPTED" |
		awk -v p="$1" -v t="$2" '$1 == p && $2 == t { f = 1 } END { exit !f }'
}

checked=0
bad=0
while read -r line; do
	line=${line%%#*}
	line=$(echo "$line" | tr -d '[:space:]')
	[ -n "$line" ] || continue
	[ -r "$PATCHES/$line" ] || fail "$line listed in series not found"
	out=$(perl "$scripts/checkpatch.pl" --no-tree --terse --show-types \
		"$PATCHES/$line" 2>&1) || true
	echo "$out" | grep -q '^total: [0-9]* errors, [0-9]* warnings' ||
		[ -z "$out" ] || fail "$line: checkpatch did not run: $out"
	while read -r f; do
		[ -n "$f" ] || continue
		type=$(echo "$f" | sed -n 's/^[^:]*:[0-9]*: \(ERROR\|WARNING\):\([A-Z_0-9]*\):.*/\2/p')
		[ -n "$type" ] || continue
		if accepted "$line" "$type"; then
			echo "accepted: $f"
		else
			echo "NOT ACCEPTED: $f"
			bad=$((bad + 1))
		fi
	done <<<"$(echo "$out" | grep -E '^[^:]*:[0-9]+: (ERROR|WARNING):' || true)"
	checked=$((checked + 1))
done <"$PATCHES/series"

[ $checked -gt 0 ] || fail "no patch in $PATCHES/series"
echo "checked $checked patches, $bad findings not accepted"
[ $bad -eq 0 ] || fail "$bad checkpatch findings not accepted"
echo PASS
