#!/bin/sh
# The disks under the cowfile's filesystem and under the rdofile start
# failing (dm-error, dm-flakey): errors surface to the caller, nothing
# hangs, the kernel log has a line per cause and not per request, and the
# device can still be deactivated.
# timeout: 600
# klog-allow: EXT4-fs error \(device dm-[0-9]+\)|EXT4-fs \(dm-[0-9]+\): Remounting filesystem read-only|EXT4-fs \(dm-[0-9]+\): failed to convert unwritten extents to written extents
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need dmsetup
modprobe dm_flakey 2>/dev/null || true
cow_load
# soft MSG: a failure that does not stop the test (checked at the end)
softfail=""
soft() { echo "FAIL: $*" >&2; softfail="$softfail; $*"; }
mkdir -p /mnt/cd

# cowlines: cowloop's error lines in the kernel log since the last dmesg -c
cowlines() { dmesg | grep -c "cowloop: cow.*error" || true; }

# rdofile: a dm-linear block device over loop, random data
truncate -s 16M "$SCRATCH/rdo.img"
dd if=/dev/urandom of="$SCRATCH/rdo.img" bs=1M count=16 conv=notrunc 2>/dev/null
rloop=$(losetup -f --show "$SCRATCH/rdo.img")
rsz=$(blockdev --getsz "$rloop")
dm_create cowrdo "0 $rsz linear $rloop 0"
rdo=/dev/mapper/cowrdo
# cowfile: on ext4 on dm-linear over loop
truncate -s 64M "$SCRATCH/cow.img"
cloop=$(losetup -f --show "$SCRATCH/cow.img")
csz=$(blockdev --getsz "$cloop")
dm_create cowdisk "0 $csz linear $cloop 0"
mkfs.ext4 -q -F /dev/mapper/cowdisk
mount -o errors=continue /dev/mapper/cowdisk /mnt/cd
dev=$(activate "$rdo" /mnt/cd/c.cow)
dd if=/dev/urandom of="$dev" bs=64k count=16 oflag=direct conv=fsync 2>/dev/null
cmp -n 1048576 "$rdo" "$dev" 2>/dev/null && fail "writes did not change the device"
dmesg -c >/dev/null

note "cowfile's disk returns errors"
dm_table cowdisk "0 $csz error"
echo 3 >/proc/sys/vm/drop_caches
errs=0 i=0
while [ $i -lt 20 ]; do
	timeout 60 dd if=/dev/urandom of="$dev" bs=4k count=4 seek=$((512 + i * 8)) \
		oflag=direct conv=fsync 2>/dev/null || errs=$((errs + 1))
	rc=0
	timeout 60 dd if="$dev" of=/dev/null bs=4k count=4 skip=$((i * 4)) iflag=direct 2>/dev/null || rc=$?
	[ $rc != 124 ] || fail "read hung with a failing cowfile disk"
	i=$((i + 1))
done
note "$errs of 20 writes+fsync failed"
[ $errs -eq 20 ] || fail "only $errs of 20 writes+fsync to a failing cowfile disk reported an error"
dmesg | grep cowloop || true
lines=$(cowlines)
[ "$lines" -ge 1 ] || soft "no kernel log line for the failing cowfile"
[ "$lines" -le 3 ] || soft "$lines kernel log lines for one failing cowfile (40 requests)"
dmesg -c >/dev/null

note "rdofile's disk returns errors"
dm_table cowdisk "0 $csz linear $cloop 0"
dm_table cowrdo "0 $rsz error"
echo 3 >/proc/sys/vm/drop_caches
errs=0 i=0
while [ $i -lt 20 ]; do
	rc=0
	timeout 60 dd if="$dev" of=/dev/null bs=4k count=2 skip=$((1024 + i * 16)) iflag=direct 2>/dev/null || rc=$?
	[ $rc != 124 ] || fail "read hung with a failing rdofile disk"
	[ $rc = 0 ] || errs=$((errs + 1))
	i=$((i + 1))
done
[ $errs -eq 20 ] || fail "only $errs of 20 reads of a failing rdofile reported an error"
# a partial-unit write needs the rdofile (copy-up): an error, no hang
rc=0
timeout 60 dd if=/dev/urandom of="$dev" bs=512 count=1 seek=$((8 * 1024 * 2 + 1)) oflag=direct 2>/dev/null || rc=$?
[ $rc != 124 ] || fail "partial write hung with a failing rdofile disk"
[ $rc != 0 ] || fail "partial write succeeded without its rdofile unit"
dmesg | grep cowloop || true
lines=$(cowlines)
[ "$lines" -ge 1 ] || soft "no kernel log line for the failing rdofile"
[ "$lines" -le 3 ] || soft "$lines kernel log lines for one failing rdofile (21 requests)"

note "both fail; deactivation still works"
dm_table cowdisk "0 $csz error"
timeout 120 cowdev -d "$dev" || fail "deactivation failed or hung with failing disks"
[ ! -e "$dev" ] || { sleep 2; [ ! -e "$dev" ] || fail "$dev still there"; }
dmesg | grep cowloop | tail -3

note "dm-flakey under the cowfile: up 2 s, down 1 s"
dm_table cowrdo "0 $rsz linear $rloop 0"
dm_table cowdisk "0 $csz linear $cloop 0"
umount /mnt/cd || umount -l /mnt/cd
e2fsck -fy /dev/mapper/cowdisk >/dev/null 2>&1 || true
mount /dev/mapper/cowdisk /mnt/cd
# the cowfile was left dirty by the failed final write: repair at activation
if ! dev=$(cowdev -a "$rdo" /mnt/cd/c.cow 2>&1); then
	note "$dev"
	cowrepair /mnt/cd/c.cow || true
	dev=$(activate "$rdo" /mnt/cd/c.cow)
fi
wait_for "$dev"
dmesg -c >/dev/null
dm_table cowdisk "0 $csz flakey $cloop 0 2 1"
timeout 200 fio --name=flakey --filename="$dev" --rw=randwrite --bs=4k --size=8M \
	--direct=1 --ioengine=psync --time_based --runtime=20 --fsync=8 \
	--continue_on_error=all --output=/tmp/fio.out >/dev/null 2>&1
rc=$?
[ $rc != 124 ] || fail "fio hung on a flakey cowfile disk"
dm_table cowdisk "0 $csz linear $cloop 0"
grep -E "err=|error" /tmp/fio.out | head -5 || true
lines=$(cowlines)
note "$lines cowloop error lines during 20 s of flakey disk"
dmesg | grep cowloop | head -20 || true
timeout 120 cowdev -d "$dev" || fail "deactivation after flakey failed or hung"
umount /mnt/cd || umount -l /mnt/cd
dmsetup remove --noudevsync cowdisk
dmsetup remove --noudevsync cowrdo
losetup -d "$cloop" "$rloop"
[ "$lines" -le 20 ] || soft "$lines kernel log lines in 20 s of a flakey disk: not one per cause"
[ -z "$softfail" ] || fail "${softfail#; }"
