#!/bin/sh
# The bitmap with memory short (the debug kernel of make check-debug
# only: fail_function makes the bitmap's page allocation without waiting,
# cow_bm_alloc_nowait, fail, so that every page the device needs comes
# after it has given back its clean pages):
# - a read whose bits are in two pages, neither in memory: the second
#   page's allocation must not give back the first, which the same read
#   had just fetched (the read then took the user's units for not in the
#   cowfile and returned the rdofile's zeroes);
# - a fill whose next bitmap page cannot be read (fail_function on
#   cow_file_rw): the fill stops, says so, and the device goes on (it
#   used to retry at every idle moment, silently, for ever).
# timeout: 900
# klog-allow: cowloop: cow[0-9]+: reading the bitmap of units
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

D=/sys/kernel/debug/fail_function
need_faults fail_function
need cmp
cow_load
M=1048576
# inject FUNCTION RETVAL: every call of FUNCTION fails with RETVAL
inject() {
	echo "$1" >$D/inject ||
		fail "fail_function cannot inject $1 (not an error injection point?)"
	printf '%#x' "$2" >"$D/$1/retval"
	echo 100 >$D/probability
	echo 1 >$D/interval
	echo -1 >$D/times
	echo 0 >$D/verbose
}
stop_inject() { echo >$D/inject; }

# A sparse rdofile of 512 MiB (reads zeroes): bitmap page p holds the
# bits of units (p * 32768 - 8192) to (p * 32768 + 24575), 1 KiB each;
# page 2 begins at unit 57344, byte 56 MiB of the device.
truncate -s 512M "$SCRATCH/rdo"
dev=$(activate "$SCRATCH/rdo" "$SCRATCH/a.cow")
head -c $((64 * 1024)) /dev/urandom >/tmp/bm.w
# 64 KiB across the boundary of pages 1 and 2, and a unit in page 0
dd if=/tmp/bm.w of="$dev" bs=32k seek=$((56 * 32 - 1)) oflag=direct 2>/dev/null
dd if=/tmp/bm.w of="$dev" bs=64k seek=32 count=1 oflag=direct 2>/dev/null
cowsync || fail "cowsync failed"

note "a read across two bitmap pages, memory short"
inject cow_bm_alloc_nowait 0
# a first write in page 4 (a zero page made a page): the device gives
# back its clean pages, those of the read below among them
dd if=/tmp/bm.w of="$dev" bs=64k seek=$((120 * 16)) count=1 oflag=direct 2>/dev/null ||
	fail "a write with the bitmap's allocation failing did not take"
dd if="$dev" of=/tmp/bm.r bs=32k skip=$((56 * 32 - 1)) count=2 iflag=direct 2>/dev/null ||
	fail "a read with the bitmap's allocation failing failed"
stop_inject
cmp /tmp/bm.w /tmp/bm.r ||
	fail "a read across two bitmap pages, memory short, returned other data (the rdofile's?): $(cmp /tmp/bm.w /tmp/bm.r 2>&1)"
dd if="$dev" of=/tmp/bm.r bs=64k skip=$((120 * 16)) count=1 iflag=direct 2>/dev/null
cmp /tmp/bm.w /tmp/bm.r || fail "the write made with memory short reads otherwise"
deactivate "$dev"
cowrepair -n "$SCRATCH/a.cow" >/dev/null || fail "cowrepair -n: the cowfile is not clean"

note "a fill whose next bitmap page cannot be read"
dev=$(activate --fill "$SCRATCH/rdo" "$SCRATCH/a.cow")
n=${dev##*/}
# 1 KiB/s: after its first step of 1 MiB, the fill waits
echo 1 >"/sys/block/cow$n/cowloop/fill_rate"
sleep 2
# the shrinkers: the device gives back every clean bitmap page
sync
echo 3 >/proc/sys/vm/drop_caches
sleep 1
inject cow_file_rw -5
echo 0 >"/sys/block/cow$n/cowloop/fill_rate"
i=0
while [ "$(awk '{ print $4 }' "/sys/block/cow$n/cowloop/fill")" != failed ] &&
      [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
stop_inject
check_eq "fill state after a bitmap read error" failed \
	"$(awk '{ print $4 }' "/sys/block/cow$n/cowloop/fill")"
dmesg | grep -q "cow$n: reading the bitmap of units .* failed" ||
	fail "the bitmap read error of the fill is not said in the kernel log"
dd if="$dev" of=/tmp/bm.r bs=32k skip=$((56 * 32 - 1)) count=2 iflag=direct 2>/dev/null ||
	fail "a read after the fill stopped failed"
cmp /tmp/bm.w /tmp/bm.r || fail "a read after the fill stopped returned other data"
deactivate "$dev"
cowrepair -n "$SCRATCH/a.cow" >/dev/null || fail "cowrepair -n: the cowfile is not clean"
