#!/bin/sh
# The product page's Example 2: the rdofile is a read-only block device
# (a read-only loop device over an ext2 image); files copied in through
# /dev/cow/0 persist, the device is never written.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/chicken.img cow=$SCRATCH/chicken.cow
mkfs_img "$img" 8192 ext2
sum=$(md5 "$img")
ro=$(losetup -r -f --show "$img")
check_eq "loop device read-only" 1 "$(blockdev --getro "$ro")"
mkdir -p /cow+chicken

dev=$(activate "$ro" "$cow")
check_eq "first free device" /dev/cow/0 "$dev"
mount "$dev" /cow+chicken
pattern /tmp/termcap 700
cp /tmp/termcap /cow+chicken/termcap
umount /cow+chicken
deactivate "$dev"

dev=$(activate "$ro" "$cow")
mount "$dev" /cow+chicken
cmp /tmp/termcap /cow+chicken/termcap || fail "termcap differs after reactivation"
umount /cow+chicken
deactivate "$dev"
losetup -d "$ro"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
cow_unload
