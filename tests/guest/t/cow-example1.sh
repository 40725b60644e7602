#!/bin/sh
# The product page's Example 1: an ext2 floppy image edited through
# /dev/cow/N; the image never changes, the changes persist in the
# cowfile across deactivation, and a new cowfile shows the original.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/floppy.img cow=$SCRATCH/ses1.cow
mkfs_img "$img" 1440 ext2
sum=$(md5 "$img")
mkdir -p /mnt/floppy

dev=$(activate "$img" "$cow")
mount "$dev" /mnt/floppy
ls -l /mnt/floppy
check_eq "aliases.db size" 12288 "$(stat -c %s /mnt/floppy/aliases.db)"
echo "0.0 0 0.0 changed" >/mnt/floppy/adjtime
rm /mnt/floppy/aliases
umount /mnt/floppy
deactivate "$dev"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"

# ls -l shows at most doffset + 1440 KiB, du the little really used.
size=$(stat -c %s "$cow")
used=$(du -k "$cow" | cut -f1)
note "ls -l: $size bytes, du -k: $used KiB"
[ "$size" -le $((4096 + 1440 * 1024)) ] || fail "cowfile size $size too big"
[ "$used" -lt 200 ] || fail "cowfile uses $used KiB: not sparse"
cowlist "$cow"
cowlist "$cow" | grep -q 'state cowfile:     clean' || fail "cowfile not clean"

dev=$(activate "$img" "$cow")
mount "$dev" /mnt/floppy
check_eq adjtime "0.0 0 0.0 changed" "$(cat /mnt/floppy/adjtime)"
[ ! -e /mnt/floppy/aliases ] || fail "aliases came back"
[ -e /mnt/floppy/aliases.db ] || fail "aliases.db is gone"
umount /mnt/floppy
deactivate "$dev"

rm "$cow"
dev=$(activate "$img" "$cow")
mount -r "$dev" /mnt/floppy
[ -e /mnt/floppy/aliases ] || fail "new cowfile does not show the original"
check_eq adjtime "0.0 0 0.0" "$(head -1 /mnt/floppy/adjtime)"
umount /mnt/floppy
deactivate "$dev"
e2fsck -fn "$img" >/dev/null || fail "rdofile no longer clean"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
cow_unload
