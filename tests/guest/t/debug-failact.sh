#!/bin/sh
# cow-failact under fault injection (the debug kernel of make check-debug
# only): each fault point of an activation fails in turn (fail-nth:
# every slab and page allocation on its way, failslab and fail_page_alloc,
# and the module's error injection points, fail_function), for a new
# cowfile and for one with data; then each of a sync's and of a
# deactivation's.  Every failure must be clean: activation refused with
# an errno and a kernel line saying why, no device left, the cowfile as
# it was; a failed sync or deactivation leaves the device usable or the
# cowfile dirty and repairable; every acknowledged write reads back, the
# cowfile is clean for cowrepair -n at the end, and kmemleak finds
# nothing (tests/guest/init).
# timeout: 900
# klog-allow: FAULT_INJECTION|name fail|CPU: |Hardware name|Call Trace|dump_stack|should_fail|^<[0-9]>\[ *[0-9.]+\]  [ ?]|</TASK>|<TASK>|Buffer I/O error|EXT4-fs (warning|error)|I/O error|page allocation failure|Mem-Info|active_anon|Node 0|DMA|lowmem_reserve|free:|pagecache|swap|Free swap|Total swap|pages RAM|pages reserved|hugepages|cowloop: cow[0-9]+: (rdofile|cowfile)|cannot activate|could not restore
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

D=/sys/kernel/debug
need_faults failslab fail_page_alloc fail_function
cow_load

# The cowfile's file system: ext4 without journal, errors=continue, so
# that a fault inside ext4 cannot turn the scratch disk read-only.
truncate -s 128M "$SCRATCH/disk.img"
lo=$(losetup -f --show "$SCRATCH/disk.img")
mkfs.ext4 -q -F -O ^has_journal "$lo"
mkdir -p /mnt/fa
mount -o errors=continue "$lo" /mnt/fa
# A sparse rdofile with some data (the fingerprint reads it).
truncate -s 32M /mnt/fa/rdo
dd if=/dev/urandom of=/mnt/fa/rdo bs=64k count=4 conv=notrunc 2>/dev/null
# A cowfile with data, clean.
dev=$(activate /mnt/fa/rdo /mnt/fa/data.cow)
dd if=/dev/urandom of=/tmp/base bs=64k count=8 2>/dev/null
dd if=/tmp/base of="$dev" bs=64k seek=16 oflag=direct conv=fsync 2>/dev/null
deactivate "$dev"
sync

# Fault points: every allocation (also GFP_KERNEL ones, order 0), and the
# module's error injection points (doc/design.md), with the errno a real
# failure there would give.
for f in failslab fail_page_alloc; do
	echo N >$D/$f/ignore-gfp-wait
	echo 1 >$D/$f/verbose
done
echo 0 >$D/fail_page_alloc/min-order
echo 1 >$D/fail_function/verbose
for fn in cow_dev_alloc:0 cow_open_files:-12 cow_load:-12 cow_bm_load:-12 \
	  cow_commit:-5 cow_hdr_mark_dirty:-5 cow_add_disk:-12 \
	  cow_file_rw:-5 cow_bm_prepare:-5 cow_bm_sync:-5; do
	echo "${fn%:*}" >$D/fail_function/inject ||
		fail "fail_function cannot inject ${fn%:*} (not an error injection point?)"
	printf '%#x' "${fn#*:}" >"$D/fail_function/${fn%:*}/retval"
done
# refused activations say why in the kernel log
logged() { dmesg | grep -c "cannot activate rdofile /mnt/fa/rdo" || true; }
before=$(logged)
total=0
sweep() {
	out=$(timeout 600 cowioctl failsweep "$@" 2>&1) || {
		echo "$out" | grep -v '^ok:' | tail -n 40
		fail "failsweep $* failed"
	}
	echo "$out" | grep -v -e '^ok:' -e '^faults injected'
	n=$(echo "$out" | sed -n 's/^faults injected and survived: //p')
	total=$((total + n))
}

note "activation of a new cowfile, each fault point failing in turn"
sweep act /mnt/fa/rdo /mnt/fa/new.cow 3000
[ ! -s /mnt/fa/new.cow ] || fail "a refused activation left /mnt/fa/new.cow non-empty"
note "activation of a cowfile with data"
sum=$(md5 /mnt/fa/data.cow)
sweep act /mnt/fa/rdo /mnt/fa/data.cow 3000
check_eq "cowfile with data after the sweep" "$sum" "$(md5 /mnt/fa/data.cow)"
refusals=$(($(logged) - before))
note "$refusals refusals logged with their reason"
[ "$refusals" -gt 0 ] || fail "no refused activation logged"
note "sync and deactivation"
sweep sync /mnt/fa/rdo /mnt/fa/data.cow 3000
sweep deact /mnt/fa/rdo /mnt/fa/data.cow 3000

echo >$D/fail_function/inject	# unregisters every function
[ -z "$(cowdev -l -n 2>/dev/null)" ] || { cowdev -l; fail "devices left active"; }
cowrepair -n /mnt/fa/data.cow || fail "cowrepair -n: the cowfile needs repair"
dev=$(activate /mnt/fa/rdo /mnt/fa/data.cow)
check_eq "data written before the sweeps" "$(md5 /tmp/base)" \
	"$(dd if="$dev" bs=64k skip=16 count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
deactivate "$dev"
umount /mnt/fa
losetup -d "$lo"
note "faults injected and survived: $total"
