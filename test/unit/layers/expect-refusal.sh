#!/bin/sh
# SPDX-License-Identifier: MIT
# check-layers must refuse the self-test's up-arrow and name it:
#   expect-refusal.sh CHECK_LAYERS NM LAYER-ARGS...
set -u
check=$1
shift
out=$("$check" "$@" 2>&1)
rc=$?
echo "$out"
if [ "$rc" -ne 1 ]; then
	echo "expect-refusal: check-layers exited $rc, not 1" >&2
	exit 1
fi
case $out in
*"low/low.c.o: uses layers_high_fn of layer high"*) exit 0 ;;
esac
echo "expect-refusal: the refusal does not name low.c.o's use of layers_high_fn" >&2
exit 1
