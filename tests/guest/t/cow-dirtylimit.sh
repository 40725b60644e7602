#!/bin/sh
# A file system on the cowdevice under a tight dirty limit
# (vm.dirty_bytes = 1 MiB), buffered cowfile writes (direct_io=0): a
# 40 MiB buffered write and sync complete.  The device's thread must be
# throttled only against the cowfile's own disk, not against the dirty
# pages on top that only it can clean.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load direct_io=0
truncate -s 256M "$SCRATCH/rdo"
dev=$(activate "$SCRATCH/rdo" "$SCRATCH/c.cow")
mkfs.ext4 -q -F "$dev"
mkdir -p /mnt/dl
mount "$dev" /mnt/dl
old_bytes=$(cat /proc/sys/vm/dirty_bytes)
old_ratio=$(cat /proc/sys/vm/dirty_ratio)
restore() {
	if [ "$old_bytes" != 0 ]; then
		echo "$old_bytes" >/proc/sys/vm/dirty_bytes
	else
		echo "$old_ratio" >/proc/sys/vm/dirty_ratio
	fi
}
echo 1048576 >/proc/sys/vm/dirty_bytes
dd if=/dev/urandom of=/tmp/data bs=1M count=40 2>/dev/null
rc=0
timeout 200 sh -c 'dd if=/tmp/data of=/mnt/dl/big bs=1M 2>/dev/null && sync' || rc=$?
restore
[ $rc = 0 ] || fail "40 MiB buffered write + sync did not finish in 200 s (exit $rc)"
check_eq "file" "$(md5 /tmp/data)" "$(md5 /mnt/dl/big)"
umount /mnt/dl
deactivate "$dev"
cow_unload
