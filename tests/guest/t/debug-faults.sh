#!/bin/sh
# Fault injection (the debug kernel of make check-debug only):
# - failslab and fail_page_alloc for the process activating and
#   deactivating: every activation either works or is refused with an
#   error, never hangs, leaks or breaks the cowfile;
# - the same for the device's thread while it writes: writes may fail,
#   those acknowledged (dd ... conv=fsync exit 0) read back;
# - fail_make_request on the disk under the cowfile's file system during
#   writes and flushes: errors surface, acknowledged data survives
#   deactivation, repair and reactivation.
# kmemleak and KASAN reports fail the test (tests/guest/init).
# timeout: 900
# klog-allow: FAULT_INJECTION|fault_inject|CPU: |Hardware name|Call Trace|dump_stack|should_fail|^<[0-9]>\[ *[0-9.]+\]  [ ?]|</TASK>|<TASK>|Buffer I/O error|EXT4-fs (warning|error)|I/O error|page allocation failure|Mem-Info|active_anon|Node 0|DMA|lowmem_reserve|free:|pagecache|swap|Free swap|Total swap|pages RAM|pages reserved|hugepages|cowloop: cow[0-9]+: (rdofile|cowfile)|cannot activate|could not restore
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

D=/sys/kernel/debug
need_faults failslab fail_page_alloc fail_make_request
cow_load

# inject WHAT PROBABILITY: fail allocations of tasks marked make-it-fail
inject() {
	echo "$2" >$D/$1/probability
	echo 1 >$D/$1/interval
	echo -1 >$D/$1/times
	echo 1 >$D/$1/verbose	# one log line (and a stack) per fault
	# the allocators' faults follow the task; fail_make_request follows
	# the disk (its make-it-fail), for whatever task submits
	if [ -e $D/$1/task-filter ]; then
		if [ "$1" = fail_make_request ]; then
			echo N >$D/$1/task-filter
		else
			echo Y >$D/$1/task-filter
		fi
	fi
	[ -e $D/$1/ignore-gfp-wait ] && echo N >$D/$1/ignore-gfp-wait
	[ -e $D/$1/min-order ] && echo 0 >$D/$1/min-order
	return 0
}
stop_inject() { echo 0 >$D/$1/probability; }
# faults: how many were injected so far (the kernel logs each)
faults() { dmesg | grep -c "FAULT_INJECTION: forcing a failure" || true; }

dmesg -c >/dev/null
dd if=/dev/urandom of="$SCRATCH/rdo" bs=1M count=32 2>/dev/null
dev=$(activate "$SCRATCH/rdo" "$SCRATCH/a.cow")
dd if=/dev/urandom of=/tmp/base bs=64k count=16 2>/dev/null
dd if=/tmp/base of="$dev" bs=64k oflag=direct conv=fsync 2>/dev/null
deactivate "$dev"

note "activation and deactivation under failslab / fail_page_alloc"
ok=0 refusedn=0
for what in failslab fail_page_alloc; do
	inject $what 20
	i=0
	while [ $i -lt 25 ]; do
		if out=$(timeout 120 sh -c 'echo 1 >/proc/self/make-it-fail; exec cowdev -a "$1" "$2"' \
				- "$SCRATCH/rdo" "$SCRATCH/a.cow" 2>&1); then
			ok=$((ok + 1))
			d=$(echo "$out" | tail -n 1)
			wait_for "$d"
			# deactivation under injection too: retried without
			n=0
			until timeout 120 sh -c 'echo 1 >/proc/self/make-it-fail; exec cowdev -d "$1"' - "$d" 2>/dev/null; do
				n=$((n + 1))
				[ $n -lt 20 ] || { stop_inject $what; cowdev -d "$d" || fail "cannot deactivate $d"; break; }
			done
		else
			rc=$?
			[ $rc != 124 ] || fail "cowdev -a hung under $what"
			refusedn=$((refusedn + 1))
		fi
		i=$((i + 1))
	done
	stop_inject $what
done
note "activations: $ok worked, $refusedn refused"
[ -z "$(cowdev -l -n 2>/dev/null)" ] || { cowdev -l; fail "devices left active"; }
# The cowfile is usable and holds what it held (repair if a refused
# activation or deactivation left it dirty).
dev=$(cowdev -a "$SCRATCH/rdo" "$SCRATCH/a.cow" 2>/dev/null) || {
	cowrepair "$SCRATCH/a.cow" || [ $? = 1 ] ||	# fsck's 1: repaired
		fail "cowrepair after the injected activations failed"
	dev=$(activate "$SCRATCH/rdo" "$SCRATCH/a.cow")
}
wait_for "$dev"
check_eq "data after injected activations" "$(md5 /tmp/base)" \
	"$(dd if="$dev" bs=64k count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"

note "the device's thread under failslab / fail_page_alloc"
pid=$(grep -lx "cow${dev##*/}" /proc/[0-9]*/comm | head -n 1 | cut -d/ -f3)
[ -n "$pid" ] || fail "no thread for $dev"
: >/tmp/acked
base=64
for what in failslab fail_page_alloc; do
	inject $what 10
	echo 1 >/proc/$pid/make-it-fail
	i=0
	while [ $i -lt 30 ]; do
		off=$((base + (i % 15) * 4))
		dd if=/dev/urandom of=/tmp/blk bs=64k count=1 2>/dev/null
		if timeout 120 dd if=/tmp/blk of="$dev" bs=64k seek=$off oflag=direct conv=fsync 2>/dev/null; then
			cp /tmp/blk /tmp/ack.$off
			echo $off >>/tmp/acked
		fi
		i=$((i + 1))
	done
	echo 0 >/proc/$pid/make-it-fail
	stop_inject $what
	base=$((base + 2))
done
deactivate "$dev"
echo 3 >/proc/sys/vm/drop_caches
dev=$(activate "$SCRATCH/rdo" "$SCRATCH/a.cow")
for off in $(sort -un /tmp/acked); do
	check_eq "acknowledged write at block $off" "$(md5 /tmp/ack.$off)" \
		"$(dd if="$dev" bs=64k skip=$off count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
done
note "$(sort -un /tmp/acked | wc -l) acknowledged writes intact"
deactivate "$dev"

note "fail_make_request on the cowfile's disk"
truncate -s 128M "$SCRATCH/disk.img"
lo=$(losetup -f --show "$SCRATCH/disk.img")
mkfs.ext4 -q -F -O ^has_journal "$lo"
mkdir -p /mnt/fm
mount -o errors=continue "$lo" /mnt/fm
dev=$(activate "$SCRATCH/rdo" /mnt/fm/c.cow)
inject fail_make_request 5
echo 1 >/sys/block/${lo#/dev/}/make-it-fail
: >/tmp/acked
i=0 failed=0
while [ $i -lt 40 ]; do
	off=$((i * 3))
	dd if=/dev/urandom of=/tmp/blk bs=64k count=1 2>/dev/null
	if timeout 120 dd if=/tmp/blk of="$dev" bs=64k seek=$off oflag=direct conv=fsync 2>/dev/null; then
		cp /tmp/blk /tmp/ack.$off
		echo $off >>/tmp/acked
	else
		failed=$((failed + 1))
	fi
	i=$((i + 1))
done
echo 0 >/sys/block/${lo#/dev/}/make-it-fail
stop_inject fail_make_request
note "$failed of 40 writes+fsync failed under fail_make_request"
[ "$failed" -gt 0 ] || fail "fail_make_request on ${lo#/dev/} injected nothing"
cowdev -d "$dev" || fail "cannot deactivate $dev"
umount /mnt/fm
mount -o errors=continue "$lo" /mnt/fm
dev=$(cowdev -a "$SCRATCH/rdo" /mnt/fm/c.cow 2>/dev/null) || {
	cowrepair /mnt/fm/c.cow >/dev/null || [ $? = 1 ] ||	# 1: repaired
		fail "cowrepair after fail_make_request failed"
	dev=$(activate "$SCRATCH/rdo" /mnt/fm/c.cow)
}
wait_for "$dev"
for off in $(cat /tmp/acked); do
	check_eq "acknowledged write at block $off" "$(md5 /tmp/ack.$off)" \
		"$(dd if="$dev" bs=64k skip=$off count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
done
note "$(wc -l </tmp/acked) acknowledged writes intact after fail_make_request"
deactivate "$dev"
umount /mnt/fm
losetup -d "$lo"
note "faults injected and survived: $(faults)"
