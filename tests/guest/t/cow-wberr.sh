#!/bin/sh
# A writeback error on the cowfile is never forgotten.  (1) Data waits in
# the page cache, the cowfile's disk fails, cowsync reports the error,
# the disk works again: fsync of /dev/cow/N must still fail (loop's
# would: the error was lost data), every later flush too, and the
# cowfile must say it needs repair (dirty, on disk).  (2) Nothing waits,
# the disk fails only the clean header cowsync writes: after the disk
# works again, a write and a flush must not carry that clean header to
# disk (it shares its page with the bitmap's first bytes) while the
# device is in use.  Both end with cowrepair and the data written before
# the last good flush reading back.
# timeout: 300
# klog-allow: EXT4-fs \(dm-[0-9]+\): failed to convert unwritten extents to written extents -- potential data loss!
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need dmsetup losetup dd
cow_load
M=1048576
head -c $((32 * M)) /dev/urandom >"$SCRATCH/rdo"
# the cowfile's file system: ext4 without journal and without barriers
# (an fsync with nothing to write sends nothing), on dm-linear over loop
truncate -s 128M "$SCRATCH/disk.img"
lo=$(losetup -f --show "$SCRATCH/disk.img")
sz=$(blockdev --getsz "$lo")
dm_create wbdisk "0 $sz linear $lo 0"
mkfs.ext4 -q -F -b 4096 -O ^has_journal /dev/mapper/wbdisk
mkdir -p /mnt/wb
mount -o errors=continue,nobarrier /dev/mapper/wbdisk /mnt/wb

# flags_on_disk: the cowfile's header flags word as its disk holds it
flags_on_disk() {
	dd if=/mnt/wb/c.cow of=/tmp/wb.hdr bs=4096 count=1 iflag=direct 2>/dev/null
	od -An -tu2 -j6 -N2 /tmp/wb.hdr | tr -d ' '
}
# fsync_dev DEV: fsync of the block device (a flush), its exit status
fsync_dev() { dd if=/dev/null of="$1" conv=fsync oflag=append 2>/dev/null; }

# ---- (1) lost data: cowsync sees the error, the device flush must too --
dev=$(activate "$SCRATCH/rdo" /mnt/wb/c.cow)
dd if=/dev/urandom of=/tmp/wb.a bs=64k count=16 2>/dev/null
dd if=/tmp/wb.a of="$dev" bs=64k oflag=direct 2>/dev/null
fsync_dev "$dev" || fail "fsync of $dev failed with a working disk"
# buffered (not 4 KiB aligned: through the cowfile's page cache), unsynced
dd if=/dev/urandom of=/tmp/wb.b bs=1024 count=63 2>/dev/null
dd if=/tmp/wb.b of="$dev" bs=1024 seek=4097 oflag=direct 2>/dev/null
note "the cowfile's disk fails; cowsync"
dm_table wbdisk "0 $sz error"
if cowsync 2>/tmp/wb.err; then
	fail "cowsync succeeded with the cowfile's disk failing"
fi
note "cowsync said: $(cat /tmp/wb.err)"
dm_table wbdisk "0 $sz linear $lo 0"
note "the disk works again"
if fsync_dev "$dev"; then
	fail "fsync of $dev succeeded after data was lost in writeback"
fi
dd if=/tmp/wb.a of="$dev" bs=64k seek=64 count=1 oflag=direct 2>/dev/null
if fsync_dev "$dev"; then
	fail "a later flush of $dev succeeded after data was lost in writeback"
fi
sync
check_eq "header flags on disk while in use, after the loss" 1 "$(flags_on_disk)"
cowdev -d "$dev" 2>/dev/null || true
[ ! -e "$dev" ] || deactivate "$dev"
check_eq "the cowfile says it needs repair" dirty \
	"$(cowlist /mnt/wb/c.cow | sed -n 's/ *state cowfile: *//p')"
cowrepair /mnt/wb/c.cow >/dev/null 2>&1 || [ $? = 1 ] || fail "cowrepair of the dirty cowfile failed"
dev=$(activate "$SCRATCH/rdo" /mnt/wb/c.cow)
dd if="$dev" of=/tmp/wb.a2 bs=64k count=16 iflag=direct 2>/dev/null
check_eq "data flushed before the loss" "$(md5 /tmp/wb.a)" "$(md5 /tmp/wb.a2)"
deactivate "$dev"

# ---- (2) only the clean header's write fails ----------------------------
rm -f /mnt/wb/c.cow
dev=$(activate "$SCRATCH/rdo" /mnt/wb/c.cow)
dd if=/tmp/wb.a of="$dev" bs=64k oflag=direct 2>/dev/null
fsync_dev "$dev" || fail "fsync of $dev failed with a working disk"
sync
note "the cowfile's disk fails; cowsync writes the clean header"
dm_table wbdisk "0 $sz error"
if cowsync 2>/tmp/wb.err; then
	fail "cowsync succeeded with the cowfile's disk failing"
fi
dm_table wbdisk "0 $sz linear $lo 0"
note "the disk works again; a write whose bit is in the header's page"
dd if=/tmp/wb.a of="$dev" bs=64k seek=100 count=1 oflag=direct 2>/dev/null
fsync_dev "$dev" || true
sync
check_eq "header flags on disk while in use" 1 "$(flags_on_disk)"
cowdev -d "$dev" 2>/dev/null || true
[ ! -e "$dev" ] || deactivate "$dev"
umount /mnt/wb
dmsetup remove wbdisk
losetup -d "$lo"
