#!/bin/sh
# mkpayload.sh [--bin-dir DIR] OUTPUT [EXTRA_FILE...]
#
# Builds an ext2 payload disk (use it as ubd1) for the sbuml default
# guest: the static checker binaries, the `fidelity` runner and the
# `run` script that the guest's init starts.  EXTRA_FILEs are copied to
# the top of the image too (a later file replaces an earlier one with the
# same name, so an extra `run` overrides the default).
#
# The checkers come from --bin-dir DIR (as built by meson); without it
# they are compiled here with `gcc -static`.
#
# No root privileges, no network; reproducible (fixed UUID, hash seed,
# owners and timestamps).  Environment:
#   PAYLOAD_SIZE_MB    image size (default 32)
#   SOURCE_DATE_EPOCH  timestamp for everything (default 946684800)
#   CC                 compiler when building here (default gcc)
set -eu

die() { echo "mkpayload.sh: $*" >&2; exit 1; }

CHECKERS="memcheck fpucheck pipecheck sockcheck sigcheck threadcheck forktree filecheck clockcheck marker randcheck
    fdeventcheck ipccheck ptracecheck lockcheck seccompcheck uringcheck notifycheck nscheck cgroupcheck
    rseqcheck timenscheck"
HERE=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=
if [ "${1:-}" = --bin-dir ]; then
    [ $# -ge 2 ] || die "--bin-dir needs a directory"
    BIN_DIR=$2
    shift 2
fi
[ $# -ge 1 ] || die "usage: mkpayload.sh [--bin-dir DIR] OUTPUT [EXTRA_FILE...]"
OUTPUT=$1
shift
SIZE_MB=${PAYLOAD_SIZE_MB:-32}
EPOCH=${SOURCE_DATE_EPOCH:-946684800}
FS_UUID=5b0a1e00-57b0-4e1d-9a5e-000000000101
HASH_SEED=5b0a1e00-57b0-4e1d-9a5e-000000000102

command -v mke2fs >/dev/null || die "mke2fs not found (apt-get install e2fsprogs)"
command -v debugfs >/dev/null || die "debugfs not found (apt-get install e2fsprogs)"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/sbuml-mkpayload.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT INT TERM
ROOT=$STAGE/root
mkdir "$ROOT"
umask 022

# The guest has no C library, so every checker must be static.
build_checkers() {
    for c in $CHECKERS; do
        extra=
        case $c in threadcheck) extra=-pthread ;; fpucheck) extra=-lm ;; esac
        # shellcheck disable=SC2086 # $extra is empty or one flag
        "${CC:-gcc}" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -static \
            -o "$1/$c" "$HERE/$c.c" $extra || die "cannot build $c"
    done
}

if [ -z "$BIN_DIR" ]; then
    BIN_DIR=$STAGE/bin
    mkdir "$BIN_DIR"
    build_checkers "$BIN_DIR"
fi
for c in $CHECKERS; do
    [ -f "$BIN_DIR/$c" ] || die "checker $BIN_DIR/$c not found"
    cp "$BIN_DIR/$c" "$ROOT/$c"
    chmod 0755 "$ROOT/$c"
done
for f in "$HERE/fidelity" "$HERE/run" "$@"; do
    [ -f "$f" ] || die "file not found: $f"
    cp "$f" "$ROOT/$(basename "$f")"
done
chmod 0755 "$ROOT/fidelity" "$ROOT/run"

find "$ROOT" -exec touch -h -d "@$EPOCH" {} +
(cd "$ROOT" && find . -mindepth 1 | sed 's|^\.||' | LC_ALL=C sort) > "$STAGE/paths"

rm -f "$OUTPUT"
E2FSPROGS_FAKE_TIME=$EPOCH mke2fs -q -F -t ext2 -b 1024 -m 0 \
    -I 256 -L sbuml-payload -U "$FS_UUID" -E "hash_seed=$HASH_SEED,root_owner=0:0" \
    -d "$ROOT" "$OUTPUT" "${SIZE_MB}M" >/dev/null || die "mke2fs failed"

# Owners and ctimes in the image otherwise depend on the builder.
{
    for p in / /lost+found $(cat "$STAGE/paths"); do
        for f in uid gid; do echo "sif $p $f 0"; done
        for f in atime mtime ctime; do echo "sif $p $f @$EPOCH"; done
    done
} > "$STAGE/debugfs.cmd"
E2FSPROGS_FAKE_TIME=$EPOCH debugfs -w -f "$STAGE/debugfs.cmd" "$OUTPUT" \
    > "$STAGE/debugfs.log" 2>&1 || { cat "$STAGE/debugfs.log" >&2; die "debugfs failed"; }
if grep -v "^debugfs" "$STAGE/debugfs.log" | grep -q .; then
    cat "$STAGE/debugfs.log" >&2
    die "debugfs reported errors"
fi
