#!/bin/bash
# Saves and mconsole stop: a save issued while the machine is stopped
# (runs inline in the stop loop) and `sbuml save <dir> stop`, which leaves
# the machine frozen until `go`.
source "$(dirname "$0")/lib.sh"
make_image
boot_and_wait a

frozen() { # the console does not move for 1.5 s
	local a b
	a=$(lines a); sleep 1.5; b=$(lines a)
	[ "$a" = "$b" ]
}

# 1. stop, save, go
r=$(mc a stop 2>/dev/null); check [ "$r" = "OK stopped" ]
check frozen
r=$(save a "$WORK/cap1") || fail "save while stopped: $r"
log "save while stopped: $r"
check [ "$(kv "$r" stopped)" = 1 ]
check [ -f "$WORK/cap1/DONE" ]
check grep -qx "stopped=1" "$WORK/cap1/DONE"
check frozen
r=$(mc a go 2>/dev/null); check [ "${r% }" = "OK" ]
t=$(last_num a tick)
wait_console a "^tick $((t + 3)) " 20 || fail "guest did not resume after go"

# 2. save ... stop, then go
r=$(save a "$WORK/cap2" stop) || fail "save stop: $r"
log "save stop: $r"
check [ "$(kv "$r" stopped)" = 1 ]
check [ -f "$WORK/cap2/DONE" ]
check frozen
r=$(mc a stop 2>/dev/null); check [ "$r" = "ERR Already stopped" ]
r=$(mc a go 2>/dev/null); check [ "${r% }" = "OK" ]
t=$(last_num a tick)
wait_console a "^tick $((t + 3)) " 20 || fail "guest did not resume after save stop + go"

# 3. a plain save afterwards still works and the guest runs on
r=$(save a "$WORK/cap3") || fail "save after go: $r"
check [ "$(kv "$r" stopped)" = 0 ]
t=$(last_num a tick)
wait_console a "^tick $((t + 3)) " 20 || fail "guest stopped after save 3"
r=$(mc a go 2>/dev/null); check [ "$r" = "ERR Not stopped" ]
console_clean a
exit $FAILED
