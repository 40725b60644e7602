#!/bin/sh
# The tools know an active cowdevice's files by device and inode (sysfs
# rdofile_id and cowfile_id; issue 23, item 12): renamed or linked while
# active, they are still refused by cowrepair and cowmerge; a new file
# at an old path is not; a block-device rdofile is known by any node of
# it.  The ids are what stat(1) gives.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/rdo.img cow=$SCRATCH/id.cow
pattern "$img" 4096
dev=$(activate "$img" "$cow")
n=${dev##*/}
dd if=/dev/urandom of="$dev" bs=4k count=3 seek=7 conv=fsync 2>/dev/null
sys=/sys/block/cow$n/cowloop
check_eq "cowfile_id" "$(stat -c '%Hd:%Ld %i %Hr:%Lr' "$cow")" "$(cat $sys/cowfile_id)"
check_eq "rdofile_id" "$(stat -c '%Hd:%Ld %i %Hr:%Lr' "$img")" "$(cat $sys/rdofile_id)"

# renamed while active: still theirs
mv "$cow" "$SCRATCH/renamed.cow"
mv "$img" "$SCRATCH/renamed.img"
cp "$SCRATCH/renamed.cow" "$SCRATCH/copy.cow"	# a valid header, not in use
refused "in use by /dev/cow/$n \(as its cowfile\)" cowrepair -n "$SCRATCH/renamed.cow"
refused "in use by /dev/cow/$n \(as its cowfile\)" cowrepair "$SCRATCH/renamed.cow"
refused "in use by /dev/cow/$n \(as its rdofile\)" \
	cowmerge -n "$SCRATCH/renamed.img" "$SCRATCH/copy.cow"
ln "$SCRATCH/renamed.cow" "$SCRATCH/hardlink.cow"
refused "in use by /dev/cow/$n \(as its cowfile\)" cowrepair -n "$SCRATCH/hardlink.cow"
# another file at the old path is not in use (the copy is dirty: 4)
cp "$SCRATCH/copy.cow" "$cow"
rc=0; out=$(cowrepair -n "$cow" 2>&1) || rc=$?
case $out in *"in use by /dev/cow"*) fail "a new file at the old path taken for the active one: $out" ;; esac
check_eq "cowrepair -n of the copy" 4 "$rc"
deactivate "$dev"
rc=0; out=$(cowrepair -n "$SCRATCH/renamed.cow" 2>&1) || rc=$?
check_eq "cowrepair -n after cowdev -d ($out)" 0 "$rc"

# a block-device rdofile: any node of the device
loop=$(losetup -f --show "$SCRATCH/renamed.img")
dev=$(activate "$loop" "$SCRATCH/blk.cow")
n=${dev##*/}
check_eq "rdofile_id of a block device" \
	"$(stat -c '%Hd:%Ld %i %Hr:%Lr' "$loop")" "$(cat /sys/block/cow$n/cowloop/rdofile_id)"
mknod "$SCRATCH/loopnode" b "$(stat -c '%Hr' "$loop")" "$(stat -c '%Lr' "$loop")"
refused "in use by /dev/cow/$n \(as its rdofile\)" \
	cowmerge -n "$SCRATCH/loopnode" "$SCRATCH/copy.cow"
deactivate "$dev"
losetup -d "$loop"
rm -f "$SCRATCH/loopnode"
cow_unload
