#!/bin/sh
# fsfreeze of the cowfile's file system holds the cowdevice's writes
# (direct and buffered) until the thaw: nothing is allocated in the
# frozen file system, no file system warning, and the writes complete,
# intact, after fsfreeze -u.
# timeout: 240
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need fsfreeze
cow_load
truncate -s 64M "$SCRATCH/rdo"
truncate -s 128M /tmp/fz.img
mkfs.ext4 -q -F /tmp/fz.img
mkdir -p /mnt/fz
mount -o loop /tmp/fz.img /mnt/fz
dev=$(activate "$SCRATCH/rdo" /mnt/fz/c.cow)
dd if=/dev/urandom of=/tmp/big bs=4M count=1 2>/dev/null
dd if=/dev/urandom of=/tmp/small bs=4k count=1 2>/dev/null
# A first write gives the bitmap page its block: while frozen, only the
# data writes themselves can be held (or not).
dd if=/tmp/small of="$dev" bs=4k oflag=direct conv=fsync 2>/dev/null
sync
blocks=$(stat -c %b /mnt/fz/c.cow)

fsfreeze -f /mnt/fz
dd if=/tmp/big of="$dev" bs=4M seek=2 oflag=direct 2>/dev/null &
big=$!
dd if=/tmp/small of="$dev" bs=4k seek=100 oflag=direct 2>/dev/null &
small=$!
sleep 4
kill -0 $big 2>/dev/null || fail "a 4 MiB write completed on a frozen cowfile file system"
kill -0 $small 2>/dev/null || fail "a 4 KiB write completed on a frozen cowfile file system"
check_eq "cowfile blocks while frozen" "$blocks" "$(stat -c %b /mnt/fz/c.cow)"
fsfreeze -u /mnt/fz
wait $big || fail "the 4 MiB write failed after the thaw"
wait $small || fail "the 4 KiB write failed after the thaw"

check_eq "4 MiB write" "$(md5 /tmp/big)" \
	"$(dd if="$dev" bs=4M skip=2 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
check_eq "4 KiB write" "$(md5 /tmp/small)" \
	"$(dd if="$dev" bs=4k skip=100 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
deactivate "$dev"
umount /mnt/fz
