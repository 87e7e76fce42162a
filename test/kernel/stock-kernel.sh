#!/bin/bash
# `sbuml info` identifies our kernel: linux-sbuml answers with its build
# id, the stock Debian UML answers "Unknown command".
source "$(dirname "$0")/lib.sh"
make_image

boot_and_wait a
r=$(mc a sbuml info 2>/dev/null)
log "ours: $r"
want=$(readelf -n "$SBUML_KERNEL" | sed -n 's/.*Build ID: //p')
check [ -n "$want" ]
check [ "${r%% uffd=*}" = "OK sbuml 1 build-id=$want" ]
# what its userfaultfds offer and where they come from (test/kernel/uffd.sh)
check [ "${r#* uffd=}" != "$r" ]
check [ "${r#* uffd_src=}" != "$r" ]
r=$(mc a sbuml bogus 2>/dev/null)
log "bogus: $r"
check [ "${r#ERR error: usage}" != "$r" ]

if [ ! -x /usr/bin/linux.uml ]; then die "/usr/bin/linux.uml missing"; fi
SBUML_KERNEL=/usr/bin/linux.uml boot stock
wait_console stock "^tick 2 " 60 || die "stock guest did not come up"
r=$(mc stock sbuml info 2>/dev/null)
log "stock: $r"
check [ "$r" = "ERR Unknown command" ]
r=$(mc stock version 2>/dev/null)
check [ "${r#OK Linux}" != "$r" ]
console_clean a
exit $FAILED
