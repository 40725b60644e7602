#!/bin/sh
# Kernel memory stays bounded whatever the device's size and whatever was
# written.  An 8 TiB sparse rdofile in a 1 GiB guest: a discard of the
# whole device (mkfs does one) sets all 2^33 bits, a bitmap of 1 GiB,
# then a write-zeroes of all of it (fallocate --punch-hole on the
# device): the device's memory (sysfs, sampled) stays within what it
# may keep, nothing is killed for memory, nothing stalls (hung tasks
# panic the guest), the device reads zeroes and keeps its data across
# deactivation, repair check and reactivation; a fill that must look
# through the whole bitmap for the only units not in the cowfile, the
# last MiB's, keeps within the bound too.  Then, with the guest down to
# about 512 MiB (hugepages set aside), fio writes at random over 64 GiB
# and verifies.  Minutes per kernel under TCG: make check-long.
# suite: long
# timeout: 2400
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need fio blkdiscard fallocate truncate
cow_load
T=1099511627776 G=1073741824
rdo=$XFS_SCRATCH/big.img cow=$SCRATCH/big.cow
truncate -s $((8 * T)) "$rdo"
dev=$(activate "$rdo" "$cow")
mem=/sys/block/cow${dev##*/}/cowloop/memory

# watch CMD...: run CMD, sampling the device's memory every second;
# prints the largest sample
watch() {
	"$@" &
	pid=$!
	max=0
	while kill -0 $pid 2>/dev/null; do
		m=$(cat "$mem")
		[ "$m" -gt "$max" ] && max=$m
		sleep 1
	done
	wait $pid || fail "$* failed"
	echo "$max"
}
# bound: what a device may keep (4096 pages, zero markers, reserves) and
# the pages of one request in flight, with room for its buffers
bound=$((4096 * 4096 + 64 * 4096 + 65536 * 8 + 16 * 4096 + 1048576))
oom() { dmesg | grep -E 'Out of memory|oom-kill|page allocation failure' || true; }

note "discard of the whole 8 TiB device"
t0=$(date +%s)
max=$(watch blkdiscard "$dev")
note "discard: $(($(date +%s) - t0)) s, largest memory $max bytes"
[ "$max" -le "$bound" ] || fail "memory of the device reached $max bytes (bound $bound)"
check_eq "blocks in use after the discard" $((8 * T / 1024)) \
	"$(debugfs_field "$dev" 'cowblocks in use' | awk '{print $1}')"

note "write-zeroes of the whole device"
t0=$(date +%s)
max=$(watch fallocate --punch-hole --offset 0 --length $((8 * T)) "$dev")
note "write-zeroes: $(($(date +%s) - t0)) s, largest memory $max bytes"
[ "$max" -le "$bound" ] || fail "memory of the device reached $max bytes (bound $bound)"
[ -z "$(oom)" ] || fail "memory ran out: $(oom)"

for off in 0 $((3 * T + 12345 * 1024)) $((8 * T - 4096)); do
	dd if="$dev" of=/tmp/bm.blk bs=4096 count=1 skip=$((off / 4096)) \
		iflag=direct 2>/dev/null
	cmp -s -n 4096 /tmp/bm.blk /dev/zero ||
		fail "$dev at $off does not read as zeroes"
done
dd if=/dev/urandom of=/tmp/bm.dat bs=64k count=1 2>/dev/null
dd if=/tmp/bm.dat of="$dev" bs=64k seek=$((5 * T / 65536)) oflag=direct \
	2>/dev/null
deactivate "$dev"
cowrepair -n "$cow" >/tmp/bm.rep 2>&1 || fail "cowrepair -n after the deactivation: $(cat /tmp/bm.rep)"
# reactivated with --fill: every unit is in already (cowloop/fill says
# done at once; the fill's look through the bitmap is the case below)
dev=$(activate --fill "$rdo" "$cow")
fill=/sys/block/cow${dev##*/}/cowloop/fill
check_eq "fill state, every unit in" done "$(awk '{ print $4 }' "$fill")"
dd if="$dev" of=/tmp/bm.back bs=64k count=1 skip=$((5 * T / 65536)) \
	iflag=direct 2>/dev/null
check_eq "data written after the discards" "$(md5 /tmp/bm.dat)" \
	"$(md5 /tmp/bm.back)"
deactivate "$dev"
rm -f "$cow"

note "fill looking through the whole bitmap for the last MiB"
dev=$(activate "$rdo" "$cow")
blkdiscard -o 0 -l $((8 * T - 1048576)) "$dev" ||
	fail "discard of all but the last MiB failed"
deactivate "$dev"
dev=$(activate --fill "$rdo" "$cow")
mem=/sys/block/cow${dev##*/}/cowloop/memory
fill=/sys/block/cow${dev##*/}/cowloop/fill
filled() {
	while [ "$(awk '{ print $4 }' "$fill")" = filling ]; do sleep 1; done
}
t0=$(date +%s)
max=$(watch filled)
note "fill: $(($(date +%s) - t0)) s, largest memory $max bytes; $(cat "$fill")"
check_eq "fill state" done "$(awk '{ print $4 }' "$fill")"
check_eq "units the fill copied (the last MiB)" 1024 \
	"$(awk '{ print $3 }' "$fill")"
[ "$max" -le "$bound" ] || fail "memory of the device reached $max bytes (bound $bound)"
[ -z "$(oom)" ] || fail "memory ran out: $(oom)"
deactivate "$dev"
rm -f "$cow" "$rdo"

note "fio writes at random over 64 GiB with about 512 MiB of memory"
truncate -s $((64 * G)) "$rdo"
dev=$(activate "$rdo" "$cow")
mem=/sys/block/cow${dev##*/}/cowloop/memory
echo 256 >/proc/sys/vm/nr_hugepages
note "hugepages set aside: $(cat /proc/sys/vm/nr_hugepages) of 2 MiB; $(grep MemAvailable /proc/meminfo)"
max=$(watch fio --name=rand --filename="$dev" --rw=randwrite --bs=4k \
	--size=$((64 * G)) --io_size=192M --direct=1 --ioengine=libaio \
	--iodepth=16 --verify=crc32c --verify_backlog=4096 --randseed=7 \
	--output=/tmp/bm.fio)
echo 0 >/proc/sys/vm/nr_hugepages
note "randwrite: largest memory $max bytes"
grep -q 'err= 0' /tmp/bm.fio || fail "fio: $(cat /tmp/bm.fio)"
[ "$max" -le "$bound" ] || fail "memory of the device reached $max bytes (bound $bound)"
[ -z "$(oom)" ] || fail "memory ran out: $(oom)"
deactivate "$dev"
rm -f "$cow" "$rdo"
