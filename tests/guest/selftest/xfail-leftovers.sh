#!/bin/sh
# Harness self-check (expected FAIL): a test that fails with a cowdevice
# active and mounted, a loop device and a device-mapper table left
# behind; init takes them down, so that the test after it
# (selftest/leftovers-gone) finds nothing of them.
# timeout: 60
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh
cow_load
truncate -s 8M "$SCRATCH/rdo.img"
dev=$(activate "$SCRATCH/rdo.img" "$SCRATCH/rdo.cow")
mkfs.ext4 -q "$dev"
mkdir -p /tmp/leftover
mount "$dev" /tmp/leftover
truncate -s 1M "$SCRATCH/loop.img"
losetup -f "$SCRATCH/loop.img"
dmsetup create leftover --table "0 2048 zero"
fail "failing on purpose with $dev mounted on /tmp/leftover"
