#!/bin/sh
# Partitions (issue 14): a cowdevice over a disk image with a partition
# table scans for its partitions only when activated with -P (without,
# partx can still add them, as on loop) (cowNpM in
# /dev and /sys/block/cowN/); they mount and take writes while the
# rdofile stays unchanged; the table changed through the cowdevice is
# read again by BLKRRPART, which fails with EBUSY while a partition is
# open; the device cannot be deactivated while a partition is mounted;
# cowmerge carries the new table and the partitions' data into the
# rdofile.
# timeout: 600
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need sfdisk blockdev losetup mkfs.ext4 cowmerge partx
cow_load

M=1048576
# table_of DISK: its partition table, without the names of the nodes
table_of() { sfdisk -d "$1" | sed -n '/^label-id/p; s/.*: *\(start=.*\)/\1/p'; }
img=$SCRATCH/disk.img cow=$SCRATCH/disk.cow
truncate -s $((64 * M)) $img
# MBR: p1 16 MiB ext4, p2 24 MiB ext4, 20 MiB free at the end
printf 'label: dos\nstart=2048, size=32768, type=83\nstart=34816, size=49152, type=83\n' |
	sfdisk -q $img
lo=$(losetup -f --show -P $img)
mkfs.ext4 -q ${lo}p1
mkfs.ext4 -q ${lo}p2
mkdir -p /tmp/cowpart
mount ${lo}p1 /tmp/cowpart
pattern /tmp/cowpart/orig 64
umount /tmp/cowpart
losetup -d $lo
sum=$(md5 $img)
table=$(table_of $img)

# without -P: no partitions of its own, but partx may add them (BLKPG),
# as on a loop device without -P
dev=$(activate $img $cow)
c=${dev##*/}	# not n: wait_for uses n
sleep 0.5
[ ! -e /dev/cow${c}p1 ] || fail "cow${c}p1 exists without -P"
refused "Invalid argument" blockdev --rereadpt $dev
partx -a $dev || fail "partx -a $dev refused without -P"
wait_for /dev/cow${c}p2 20
check_eq "partitions partx added" 2 "$(ls -d /sys/block/cow$c/cow${c}p* | wc -l)"
partx -d --nr 1:2 $dev || fail "partx -d --nr 1:2 $dev"
deactivate $dev

# with -P
dev=$(cowdev -a -P $img $cow) || fail "cowdev -a -P failed"
c=${dev##*/}	# not n: wait_for uses n
wait_for /dev/cow${c}p1 20
wait_for /dev/cow${c}p2 20
[ -d /sys/block/cow$c/cow${c}p1 ] || fail "no /sys/block/cow$c/cow${c}p1"
check_eq "partitions" 2 "$(ls -d /sys/block/cow$c/cow${c}p* | wc -l)"
check_eq "p2 size (sectors)" 49152 "$(cat /sys/block/cow$c/cow${c}p2/size)"
mkdir -p /tmp/cowpart1 /tmp/cowpart2
mount /dev/cow${c}p1 /tmp/cowpart1
mount /dev/cow${c}p2 /tmp/cowpart2
pattern /tmp/cowpart1/new 200
pattern /tmp/cowpart2/new2 300
[ -e /tmp/cowpart1/orig ] || fail "the rdofile's file is not on cow${c}p1"
p1new=$(md5 /tmp/cowpart1/new) p2new=$(md5 /tmp/cowpart2/new2)
sync
refused "in use" cowdev -d $dev
# a partition is open: the table is not read again
refused "Device or resource busy" blockdev --rereadpt $dev
umount /tmp/cowpart2

# a third partition, through the cowdevice; BLKRRPART shows it
printf 'start=83968, size=40960, type=83\n' | sfdisk -q -N 3 --no-reread $dev ||
	fail "sfdisk on $dev failed"
umount /tmp/cowpart1
blockdev --rereadpt $dev || fail "BLKRRPART on $dev failed"
wait_for /dev/cow${c}p3 20
check_eq "p3 size (sectors)" 40960 "$(cat /sys/block/cow$c/cow${c}p3/size)"
mkfs.ext4 -q /dev/cow${c}p3
mount /dev/cow${c}p3 /tmp/cowpart2
pattern /tmp/cowpart2/third 50
p3new=$(md5 /tmp/cowpart2/third)
umount /tmp/cowpart2
newtable=$(table_of $dev)
check_eq "three partitions in the table" 3 "$(echo "$newtable" | grep -c start=)"
check_eq "rdofile while active" "$sum" "$(md5 $img)"
deactivate $dev
[ ! -e /dev/cow${c}p1 ] || fail "cow${c}p1 still there after deactivation"
check_eq "rdofile after the session" "$sum" "$(md5 $img)"
check_eq "rdofile's table" "$table" "$(table_of $img)"

# the session again: its partitions and data are back
dev=$(cowdev -a -P $img $cow)
wait_for /dev/cow${c}p3 20
mount -o ro /dev/cow${c}p1 /tmp/cowpart1
check_eq "p1 after reactivation" "$p1new" "$(md5 /tmp/cowpart1/new)"
umount /tmp/cowpart1
deactivate $dev

# cowmerge carries the new table and the data into (a copy of) the rdofile
cp $img $SCRATCH/merged.img
cowmerge -y $SCRATCH/merged.img $cow >/dev/null || fail "cowmerge failed"
check_eq "merged table" "$newtable" "$(table_of $SCRATCH/merged.img)"
lo=$(losetup -f --show -P $SCRATCH/merged.img)
for p in 1:new:$p1new 2:new2:$p2new 3:third:$p3new; do
	mount -o ro ${lo}p${p%%:*} /tmp/cowpart1
	f=${p#*:}
	check_eq "merged p${p%%:*}" "${f#*:}" "$(md5 /tmp/cowpart1/${f%%:*})"
	umount /tmp/cowpart1
done
losetup -d $lo
check_eq "rdofile at the end" "$sum" "$(md5 $img)"
