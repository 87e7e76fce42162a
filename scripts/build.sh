#!/bin/sh
# SPDX-License-Identifier: MIT
# Configure and build sbuml (our UML kernel included; it is cached by a hash of
# its sources, patches and config, so an unchanged kernel is not rebuilt).
#   scripts/build.sh [BUILDDIR] [meson options...]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${1:-"$top/build"}
[ $# -gt 0 ] && shift

"$top/scripts/deps.sh"
if [ ! -f "$builddir/build.ninja" ]; then
	meson setup "$builddir" "$top" "$@"
fi
ninja -C "$builddir"
