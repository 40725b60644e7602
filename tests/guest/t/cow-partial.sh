#!/bin/sh
# 512-byte O_DIRECT writes at odd sectors (half of a 1 KiB unit) read back
# right and leave the other half of the unit as the rdofile has it; also
# writes straddling units and the device's last sector.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/rdo.img cow=$SCRATCH/p.cow
pattern "$img" 1024
sum=$(md5 "$img")
cp "$img" /tmp/expect
head -c 512 /dev/urandom >/tmp/s
dev=$(activate "$img" "$cow")
for sect in 1 3 101 1000 2047; do
	dd if=/tmp/s of="$dev" bs=512 seek=$sect count=1 oflag=direct \
		conv=notrunc 2>/dev/null
	dd if=/tmp/s of=/tmp/expect bs=512 seek=$sect count=1 conv=notrunc \
		2>/dev/null
done
# 1.5 KiB from sector 5: partial head unit and partial tail unit
head -c 1536 /dev/urandom >/tmp/m
dd if=/tmp/m of="$dev" bs=512 seek=5 oflag=direct conv=notrunc 2>/dev/null
dd if=/tmp/m of=/tmp/expect bs=512 seek=5 conv=notrunc 2>/dev/null
dd if="$dev" of=/tmp/got bs=64k iflag=direct 2>/dev/null
cmp /tmp/expect /tmp/got || fail "device content differs from expected"
deactivate "$dev"
dev=$(activate "$img" "$cow")
cmp /tmp/expect "$dev" || fail "content differs after reactivation"
deactivate "$dev"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
cow_unload
