#!/bin/bash
# wp-measure.sh: pause_us / wp_us of cow saves at mem=64M, 512M, 2G
# (a guest running memcheck over 32 MiB); SBUML_KERNEL, SBUML_MEMCHECK,
# SBUML_GENCHECK as for test/kernel; N saves per size (default 3)
source /work/wt/k25/test/kernel/lib.sh
N=${N:-3}
MEMCHECK=$SBUML_MEMCHECK
GENCHECK=${SBUML_GENCHECK:-$(dirname "$MEMCHECK")/gencheck}
cat >"$WORK/g.sh" <<'G'
#!/bin/sh
/bin/memcheck -r 1 16 1 &
/bin/gencheck -r 5 write /tmp/gen 4 &
while :; do sleep 100; done
G
GUEST_EXTRA=$WORK/g.sh GUEST_BINS="$MEMCHECK $GENCHECK" make_image
fields() { grep -o " $2=[0-9]*" "$1" | cut -d= -f2 | tr '\n' ' '; }
for mem in ${SIZES:-64M 512M 2G}; do
	n=m$mem
	BOOT_FDS='exec 4<>/dev/userfaultfd' boot_and_wait $n mem=$mem sbuml_uffd_dev=4
	wait_console $n "^CHECK memcheck start" 120 || die "memcheck $n"
	sleep 2
	: >"$WORK/$n.r"
	for i in $(seq $N); do
		r=$(save $n "$WORK/c-$n-$i" cow) || fail "save $n $i: $r"
		echo "$r" >>"$WORK/$n.r"
		rm -rf "$WORK/c-$n-$i"
		sleep 1
	done
	log "mem=$mem pause_us $(fields "$WORK/$n.r" pause_us)| wp_us $(fields "$WORK/$n.r" wp_us)| protect_us $(fields "$WORK/$n.r" protect_us)| wp_pre_us $(fields "$WORK/$n.r" wp_pre_us)| rewp_pages $(fields "$WORK/$n.r" rewp_pages)| cow_faults $(fields "$WORK/$n.r" cow_faults)"
	grep -o " wp=[a-z]*\( wp_why=[^ ]*\)\?" "$WORK/$n.r" | sort | uniq -c
	halt_machine $n
done
exit $FAILED
