#!/bin/sh
# test-image.sh [BASE_IMAGE [PAYLOAD_IMAGE]]
#
# Self-check of the default guest image: boots BASE_IMAGE (a COW overlay
# on it) with the kernel $SBUML_KERNEL (default /usr/bin/linux.uml) and a
# copy of PAYLOAD_IMAGE as ubd1, waits for the heartbeat and for every
# fidelity checker to report "ok", sends "mconsole cad" and checks that
# the UML process exits 0 within 20 s after a clean shutdown with no
# FAIL lines.  Empty or missing image arguments are built here with
# sbumld/guest/mkimage.sh and test/guest/mkpayload.sh.
#
# Environment:
#   SBUML_KERNEL          UML kernel binary
#   SBUML_TEST_TIMEOUT    seconds to wait for all checkers (default 150)
#   SBUML_TEST_KEEP=1     keep the machine directory for inspection
set -u

KERNEL=${SBUML_KERNEL:-/usr/bin/linux.uml}
READY_TIMEOUT=${SBUML_TEST_TIMEOUT:-150}
SHUTDOWN_TIMEOUT=20
# The checkers the runner started, from its "CHECK fidelity start" line.
CHECKERS=
HERE=$(cd "$(dirname "$0")" && pwd)
GUEST_DIR=$HERE/../../sbumld/guest

BASE=${1:-}
PAYLOAD_SRC=${2:-}
# Unix socket paths (mconsole, notify) must stay under 108 bytes, so the
# machine lives directly under /tmp whatever TMPDIR says.
M=$(mktemp -d /tmp/sbuml-gt.XXXXXX) || { echo "test-image: FAIL: mktemp" >&2; exit 1; }
CONSOLE=$M/console.log
UML_PID=

log() { echo "test-image: $*"; }

# Every process the UML kernel started: its host children (the guest's
# processes and helpers) and their children.
descendants() {
    for child in $(pgrep -P "$1" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}

kill_machine() {
    [ -n "$UML_PID" ] || return 0
    pids="$UML_PID $(descendants "$UML_PID")"
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL $pids 2>/dev/null
    # The machine runs in its own session (setsid); catch any stragglers.
    pkill -KILL -s "$UML_PID" 2>/dev/null
    wait "$UML_PID" 2>/dev/null
    UML_PID=
}

cleanup() {
    kill_machine
    if [ "${SBUML_TEST_KEEP:-0}" = 1 ]; then
        log "machine directory kept: $M"
    else
        rm -rf "$M"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    log "FAIL: $*"
    if [ -f "$CONSOLE" ]; then
        log "last console lines:"
        tail -n 40 "$CONSOLE" | sed 's/^/    /'
    fi
    exit 1
}

# True while the UML process runs (an exited child stays a zombie until
# it is waited for, so kill -0 alone is not enough).
uml_alive() {
    [ -r "/proc/$UML_PID/stat" ] || return 1
    state=$(sed 's/.*) //' "/proc/$UML_PID/stat" | cut -d' ' -f1)
    [ "$state" != Z ] && [ "$state" != X ]
}

# wait_for DESCRIPTION TIMEOUT_S COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
    what=$1 limit=$2
    shift 2
    deadline=$(( $(date +%s) + limit ))
    while ! "$@"; do
        uml_alive || fail "UML exited while waiting for $what"
        if grep -q "CHECK .* FAIL" "$CONSOLE"; then
            fail "FAIL line while waiting for $what: $(grep -m1 'CHECK .* FAIL' "$CONSOLE")"
        fi
        [ "$(date +%s)" -lt "$deadline" ] || fail "timed out after ${limit}s waiting for $what"
        sleep 0.2
    done
}

console_has() { grep -q -- "$1" "$CONSOLE"; }

all_checkers_ok() {
    for c in $CHECKERS; do
        grep -q "^CHECK $c ok " "$CONSOLE" || return 1
    done
}

heartbeats_seen() { grep -q "^sbuml-heartbeat $1 " "$CONSOLE"; }

prepare_images() {
    [ -x "$KERNEL" ] || fail "kernel $KERNEL not found or not executable"
    command -v uml_mconsole >/dev/null || fail "uml_mconsole not installed (uml-utilities)"
    if [ -z "$BASE" ]; then
        log "building base image"
        sh "$GUEST_DIR/mkimage.sh" "$M/base.img" || fail "mkimage.sh failed"
        BASE=$M/base.img
    fi
    if [ -z "$PAYLOAD_SRC" ]; then
        log "building payload image"
        sh "$HERE/mkpayload.sh" "$M/payload-src.img" || fail "mkpayload.sh failed"
        PAYLOAD_SRC=$M/payload-src.img
    fi
    [ -f "$BASE" ] || fail "base image $BASE not found"
    [ -f "$PAYLOAD_SRC" ] || fail "payload image $PAYLOAD_SRC not found"
    # The guest writes to the payload disk; keep the build's copy pristine.
    cp --sparse=always "$PAYLOAD_SRC" "$M/payload.img" || fail "cannot copy payload"
}

# The project's fixed launch convention.  setsid does not fork here (a
# background job of a non-interactive shell is no group leader), so $!
# is the UML process itself.
boot() {
    log "booting $KERNEL in $M"
    (
        cd "$M" || exit 1
        exec setarch "$(uname -m)" -R env GLIBC_TUNABLES=glibc.pthread.rseq=0 \
            setsid "$KERNEL" mem=128M "ubd0=$M/disk0.cow,$BASE" "ubd1=$M/payload.img" \
            root=/dev/ubda rw "uml_dir=$M/" umid=uml con=null con0=null,fd:1 \
            "mconsole=notify:$M/notify.sock"
    ) < /dev/null > "$CONSOLE" 2>&1 &
    UML_PID=$!
}

shutdown_with_cad() {
    log "sending mconsole cad"
    reply=$(timeout 5 uml_mconsole "$M/uml/mconsole" cad 2>&1) \
        || fail "uml_mconsole cad failed: $reply"
    i=0
    while uml_alive; do
        i=$((i + 1))
        [ "$i" -le $((SHUTDOWN_TIMEOUT * 10)) ] || fail "UML still running ${SHUTDOWN_TIMEOUT}s after cad"
        sleep 0.1
    done
    wait "$UML_PID"
    rc=$?
    UML_PID_DONE=$UML_PID
    UML_PID=
    log "UML exited with status $rc after about $((i / 10))s"
    [ "$rc" -eq 0 ] || fail "UML exit status $rc, want 0"
    # Nothing of the machine may survive it.
    left=$(pgrep -s "$UML_PID_DONE" 2>/dev/null | tr '\n' ' ')
    [ -z "$left" ] || fail "processes left behind: $left"
}

check_console_after_shutdown() {
    console_has "sbuml-guest: shutting down" || fail "no 'sbuml-guest: shutting down' line"
    if grep -q "FAIL" "$CONSOLE"; then
        fail "FAIL lines in console: $(grep 'FAIL' "$CONSOLE" | head -n 5 | tr '\n' '|')"
    fi
    for c in $CHECKERS; do
        grep -q "^CHECK $c summary .*failures=0" "$CONSOLE" || fail "no clean summary from $c"
    done
    console_has "^CHECK fidelity summary" || fail "fidelity runner did not finish"
    console_has "reboot: System halted" || log "note: no 'System halted' line"
}

prepare_images
boot
wait_for "sbuml-guest: up" 60 console_has "^sbuml-guest: up"
wait_for "3 heartbeats" 60 heartbeats_seen 3
wait_for "payload start" 30 console_has "^sbuml-guest: payload run started"
wait_for "fidelity start" 30 console_has "^CHECK fidelity start"
CHECKERS=$(sed -n 's/^CHECK fidelity start checkers=[0-9]* names=//p' "$CONSOLE" | tail -n 1 | tr -d '\r' | tr ',' ' ')
[ "$(echo "$CHECKERS" | wc -w)" -ge 10 ] || fail "the runner starts only: $CHECKERS"
wait_for "every checker to report ok" "$READY_TIMEOUT" all_checkers_ok
log "all checkers report ok: $CHECKERS"
# Let them run a little longer so rate and liveness checks get a turn.
beats=$(grep -c '^sbuml-heartbeat' "$CONSOLE")
wait_for "3 more heartbeats" 30 heartbeats_seen $((beats + 3))
shutdown_with_cad
check_console_after_shutdown
log "PASS ($(grep -c '^sbuml-heartbeat' "$CONSOLE") heartbeats, $(grep -c '^CHECK .* ok ' "$CONSOLE") ok lines)"
exit 0
