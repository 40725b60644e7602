#!/bin/sh
# A flush that fails while writing the bitmap (the cowfile's disk errors
# the very block of one bitmap page, flushes still succeed): every later
# flush fails too, once the disk works again (a writeback error is never
# forgotten: what it lost cannot be told from the cowfile), and the
# cowfile is marked dirty.  The crash image is the cowfile as its disk
# holds it (read with O_DIRECT), repaired by a recount and activated: the
# data acknowledged by the flush before the failure reads back, the data
# of the failed flush reads as itself or as the rdofile's, nothing else.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need dmsetup filefrag
cow_load
dd if=/dev/urandom of="$SCRATCH/rdo" bs=1M count=64 2>/dev/null
# the cowfile's file system: ext4 without journal (a write error does not
# stop it), 4 KiB blocks, on dm-linear over loop
truncate -s 128M "$SCRATCH/disk.img"
lo=$(losetup -f --show "$SCRATCH/disk.img")
sz=$(blockdev --getsz "$lo")
dm_create flushdisk "0 $sz linear $lo 0"
mkfs.ext4 -q -F -b 4096 -O ^has_journal /dev/mapper/flushdisk
mkdir -p /mnt/fe
mount -o errors=continue /dev/mapper/flushdisk /mnt/fe
dev=$(activate "$SCRATCH/rdo" /mnt/fe/c.cow)

# Units from 48 MiB on have their bits in bitmap page 1 (file offset
# 4096..8191): give it its block and make it durable.
dd if=/dev/urandom of=/tmp/d1 bs=64k count=1 2>/dev/null
dd if=/dev/urandom of=/tmp/d2 bs=64k count=4 2>/dev/null
dd if=/tmp/d1 of="$dev" bs=64k seek=768 oflag=direct conv=fsync 2>/dev/null
sync
blk=$(filefrag -v -b4096 /mnt/fe/c.cow | awk '
	/^ *[0-9]+:/ { gsub(/[.:]/, " "); if ($2 <= 1 && 1 <= $3) { print $4 + 1 - $2; exit } }')
[ -n "$blk" ] || { filefrag -v /mnt/fe/c.cow; fail "bitmap page 1 has no block"; }
note "bitmap page 1 is at file system block $blk"

# More units with bits in that page, then a flush while its block fails.
dd if=/tmp/d2 of="$dev" bs=64k seek=800 oflag=direct 2>/dev/null
s=$((blk * 8))
dm_table flushdisk "0 $s linear $lo 0
$s 8 error
$((s + 8)) $((sz - s - 8)) linear $lo $((s + 8))"
if sync "$dev" 2>/dev/null; then
	note "the flush with a failing bitmap block reported success"
	dm_table flushdisk "0 $sz linear $lo 0"
	fail "a flush whose bitmap write failed reported success"
fi
dm_table flushdisk "0 $sz linear $lo 0"
if sync "$dev" 2>/dev/null; then
	fail "a flush after a failed writeback, the disk working again, reported success"
fi
dd if=/mnt/fe/c.cow of=/tmp/fe.hdr bs=4096 count=1 iflag=direct 2>/dev/null
check_eq "header flags on disk after the failed writeback" 1 \
	"$(od -An -tu2 -j6 -N2 /tmp/fe.hdr | tr -d ' ')"

# The crash image: what the cowfile's disk holds now.
dd if=/mnt/fe/c.cow of="$SCRATCH/crash.cow" bs=1M iflag=direct 2>/dev/null
cowrepair "$SCRATCH/crash.cow" >/dev/null || [ $? = 1 ] ||	# 1: repaired
	fail "cowrepair of the crash image failed"
dev2=$(activate "$SCRATCH/rdo" "$SCRATCH/crash.cow")
check_eq "data acknowledged by the first flush" "$(md5 /tmp/d1)" \
	"$(dd if="$dev2" bs=64k skip=768 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
dd if="$SCRATCH/rdo" of=/tmp/d2.rdo bs=64k skip=800 count=4 2>/dev/null
sectors_either "$dev2" $((800 * 65536)) /tmp/d2.rdo /tmp/d2 >/dev/null ||
	fail "data of the failed flush reads as neither itself nor the rdofile's"
deactivate "$dev2"
deactivate "$dev"
umount /mnt/fe
dmsetup remove flushdisk
losetup -d "$lo"
