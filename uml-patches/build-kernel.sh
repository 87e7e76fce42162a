#!/bin/bash
# Build the sbuml UML kernel (cached).
#
#   build-kernel.sh [--print-path] OUTPUT
#
# Extracts /usr/src/linux-source-6.1.tar.xz into a cache directory
# (SBUML_KERNEL_CACHE, default /var/cache/sbuml/kernel), applies the
# patches listed in `series`, configures with `allnoconfig` +
# KCONFIG_ALLCONFIG=sbuml.config and builds. The result is cached under
# sha256(tarball identity, series, patches, config fragment, this script):
# an unchanged kernel is never rebuilt. One source tree and one O= build
# tree are kept and updated in place, so a patch iteration only rebuilds
# what the patches touch. Works offline; uses ccache when present.
#
# Env: SBUML_KERNEL_CACHE, SBUML_KERNEL_TARBALL, SBUML_KERNEL_JOBS.
set -euo pipefail
# The whole script is one compound command, so bash has parsed all of it
# before running any of it: editing this file while a build runs is safe.
{

print_path=0
if [ "${1:-}" = "--print-path" ]; then
	print_path=1
	shift
fi
if [ $# -ne 1 ]; then
	echo "usage: $0 [--print-path] OUTPUT" >&2
	exit 2
fi
OUTPUT=$1

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
TARBALL=${SBUML_KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
CACHE=${SBUML_KERNEL_CACHE:-/var/cache/sbuml/kernel}
JOBS=${SBUML_KERNEL_JOBS:-$(nproc)}
FRAGMENT=$HERE/sbuml.config
TOPDIR=linux-source-6.1

msg() { echo "build-kernel: $*" >&2; }
die() { msg "error: $*"; exit 1; }

[ -r "$TARBALL" ] || die "$TARBALL not found (apt-get install linux-source-6.1)"
[ -r "$HERE/series" ] || die "$HERE/series not found"

patches=()
while read -r line; do
	line=${line%%#*}
	line=$(echo "$line" | tr -d '[:space:]')
	[ -n "$line" ] || continue
	[ -r "$HERE/$line" ] || die "patch $line listed in series not found"
	patches+=("$HERE/$line")
done <"$HERE/series"

tar_id=$(stat -L -c '%s %Y' "$TARBALL")
key=$( {
	echo "tarball $tar_id"
	echo "series"; cat "$HERE/series"
	for p in "${patches[@]}"; do echo "patch $(basename "$p")"; cat "$p"; done
	echo "config"; cat "$FRAGMENT"
	echo "script"; cat "$0"
} | sha256sum | cut -c1-24)

install_output() {
	local out
	mkdir -p "$(dirname "$OUTPUT")"
	cp -f "$CACHE/out/$key/linux" "$OUTPUT.tmp.$$"
	mv -f "$OUTPUT.tmp.$$" "$OUTPUT"
	if [ $print_path = 1 ]; then
		out=$(cd "$(dirname "$OUTPUT")" && pwd)/$(basename "$OUTPUT")
		echo "$out"
	fi
}

if [ -x "$CACHE/out/$key/linux" ]; then
	install_output
	exit 0
fi

mkdir -p "$CACHE/out"
exec 9>"$CACHE/lock"
if ! flock -n 9; then
	msg "waiting for the build lock"
	flock 9
fi
if [ -x "$CACHE/out/$key/linux" ]; then
	install_output
	exit 0
fi

start=$(date +%s)
SRC=$CACHE/src
BUILD=$CACHE/build

# 1. a source tree of this tarball
if [ ! -f "$SRC/.sbuml-tarball-id" ] || [ "$(cat "$SRC/.sbuml-tarball-id")" != "$tar_id" ]; then
	msg "extracting $TARBALL"
	rm -rf "$SRC" "$BUILD" "$CACHE/src.tmp"
	mkdir -p "$CACHE/src.tmp"
	tar -xJf "$TARBALL" -C "$CACHE/src.tmp"
	mv "$CACHE/src.tmp/$TOPDIR" "$SRC"
	rmdir "$CACHE/src.tmp"
	rm -f "$SRC/.sbuml-applied"
	echo "$tar_id" >"$SRC/.sbuml-tarball-id"
fi

# 2. bring every file touched by the previous or the new series back to
#    pristine, then apply the series
touched=$CACHE/touched.$$
{
	[ -f "$SRC/.sbuml-applied" ] && cat "$SRC/.sbuml-applied"
	for p in "${patches[@]}"; do
		sed -n 's#^+++ [^/]*/\([^[:space:]]*\).*#\1#p' "$p"
	done
} | grep -v '^dev/null$' | sort -u >"$touched"
if [ -s "$touched" ]; then
	rm -rf "$CACHE/pristine"
	mkdir -p "$CACHE/pristine"
	sed "s#^#$TOPDIR/#" "$touched" >"$touched.tar"
	# files that do not exist in the tarball are new files: tar complains
	tar -xJf "$TARBALL" -C "$CACHE/pristine" --ignore-failed-read \
		-T "$touched.tar" 2>/dev/null || true
	while read -r f; do
		if [ -f "$CACHE/pristine/$TOPDIR/$f" ]; then
			if ! cmp -s "$CACHE/pristine/$TOPDIR/$f" "$SRC/$f"; then
				cp "$CACHE/pristine/$TOPDIR/$f" "$SRC/$f"
			fi
		else
			rm -f "$SRC/$f"
		fi
	done <"$touched"
	rm -rf "$CACHE/pristine" "$touched.tar"
fi
rm -f "$SRC/.sbuml-applied"
for p in "${patches[@]}"; do
	msg "applying $(basename "$p")"
	patch -d "$SRC" -p1 --forward --batch -s <"$p" || die "patch $(basename "$p") failed"
done
mv "$touched" "$SRC/.sbuml-applied.all"
for p in "${patches[@]}"; do
	sed -n 's#^+++ [^/]*/\([^[:space:]]*\).*#\1#p' "$p"
done | sort -u >"$SRC/.sbuml-applied"
rm -f "$SRC/.sbuml-applied.all"

# 3. configure
mkdir -p "$BUILD"
cc=gcc
if command -v ccache >/dev/null; then
	cc="ccache gcc"
fi
msg "configuring"
make -s -C "$SRC" O="$BUILD" ARCH=um CC="$cc" KCONFIG_ALLCONFIG="$FRAGMENT" \
	allnoconfig >"$BUILD/.sbuml-config.log" 2>&1 || {
	cat "$BUILD/.sbuml-config.log" >&2; die "configuration failed"; }
# Kconfig silently drops an option whose dependencies are off: every
# value the fragment asks for must be in .config as written, every option
# it turns off must be absent, and a fragment line of any other form is
# refused rather than left unchecked.
missing=""
while read -r opt; do
	if [[ $opt =~ ^CONFIG_[A-Z0-9_]+=(y|\".*\"|[0-9]+)$ ]]; then
		grep -qxF "$opt" "$BUILD/.config" || missing="$missing $opt"
	elif [[ $opt =~ ^CONFIG_([A-Z0-9_]+)=n$ ]] ||
	     [[ $opt =~ ^#\ CONFIG_([A-Z0-9_]+)\ is\ not\ set$ ]]; then
		o=CONFIG_${BASH_REMATCH[1]}
		if grep -q "^$o=" "$BUILD/.config"; then
			missing="$missing $o(must be off)"
		fi
	elif [[ $opt =~ ^CONFIG_ ]]; then
		die "config fragment line not understood: $opt"
	fi
done <"$FRAGMENT"
[ -z "$missing" ] || die "config fragment not honoured:$missing"

# 4. build
msg "building with -j$JOBS (log: $BUILD/.sbuml-build.log)"
if ! make -C "$BUILD" ARCH=um CC="$cc" -j"$JOBS" linux >"$BUILD/.sbuml-build.log" 2>&1; then
	grep -E 'error|Error' "$BUILD/.sbuml-build.log" | head -30 >&2
	die "kernel build failed"
fi
grep -q 'CONFIG_STATIC_LINK=y' "$BUILD/.config" || die "not a static build"

rm -rf "$CACHE/out/$key.tmp"
mkdir -p "$CACHE/out/$key.tmp"
cp "$BUILD/linux" "$CACHE/out/$key.tmp/linux"
cp "$BUILD/.config" "$CACHE/out/$key.tmp/config"
mv "$CACHE/out/$key.tmp" "$CACHE/out/$key"
msg "built in $(( $(date +%s) - start ))s: $CACHE/out/$key/linux"

# keep the 6 newest results
ls -1dt "$CACHE"/out/*/ 2>/dev/null | tail -n +7 | xargs -r rm -rf

install_output
exit 0
}
