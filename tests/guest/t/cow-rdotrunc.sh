#!/bin/sh
# The rdofile shrinks or goes away while active: a regular rdofile
# truncated (to half, then to zero), a loop device detached (losetup -d),
# a dm device removed with --force (its table becomes an error target).
# Reads of what is gone give errors, no oops, no hang, and deactivation
# still works.
# timeout: 420
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/rdo.img
truncate -s 8M "$img"
dd if=/dev/urandom of="$img" bs=1M count=8 conv=notrunc 2>/dev/null
cp "$img" /tmp/orig
dev=$(activate "$img" "$SCRATCH/a.cow")
cmp /tmp/orig "$dev" || fail "device differs from its rdofile"
dd if=/dev/urandom of="$dev" bs=4k count=4 seek=1 oflag=direct conv=fsync 2>/dev/null

note "rdofile truncated to 4 MiB while active"
truncate -s 4M "$img"
echo 3 >/proc/sys/vm/drop_caches
dmesg -c >/dev/null
rc=0; timeout 60 dd if="$dev" of=/dev/null bs=64k skip=64 count=16 iflag=direct 2>/dev/null || rc=$?
[ $rc != 124 ] || fail "read beyond the truncated end hung"
[ $rc != 0 ] || fail "read beyond the truncated end succeeded (returned what?)"
timeout 60 dd if="$dev" of=/tmp/head bs=64k count=64 iflag=direct 2>/dev/null ||
	fail "read of the part still there failed"
check_eq "device size unchanged" 8388608 "$(blockdev --getsize64 "$dev")"
# full-unit writes there go to the cowfile and read back
head -c 65536 /dev/urandom >/tmp/w
timeout 60 dd if=/tmp/w of="$dev" bs=64k seek=100 oflag=direct conv=fsync 2>/dev/null ||
	fail "full-unit write beyond the truncated end failed"
timeout 60 dd if="$dev" of=/tmp/r bs=64k skip=100 count=1 iflag=direct 2>/dev/null
cmp /tmp/w /tmp/r || fail "written units beyond the truncated end read back wrong"
# a partial unit there needs a copy-up from the missing part: error
rc=0; timeout 60 dd if=/tmp/w of="$dev" bs=512 count=1 seek=$((110 * 128 + 1)) oflag=direct 2>/dev/null || rc=$?
[ $rc != 124 ] || fail "partial write beyond the truncated end hung"
note "partial write beyond the end: exit $rc"
dmesg | grep cowloop || true
lines=$(dmesg | grep -c "cowloop: cow.*rdofile.*error" || true)
[ "$lines" -le 3 ] || fail "$lines kernel log lines for one truncated rdofile"

note "rdofile truncated to zero"
truncate -s 0 "$img"
echo 3 >/proc/sys/vm/drop_caches
rc=0; timeout 60 dd if="$dev" of=/dev/null bs=64k count=4 skip=2 iflag=direct 2>/dev/null || rc=$?
[ $rc != 124 ] || fail "read of a zero-size rdofile hung"
[ $rc != 0 ] || fail "read of a zero-size rdofile succeeded"
timeout 60 cowdev -d "$dev" || fail "deactivation after truncation failed or hung"
cowlist "$SCRATCH/a.cow" | grep -q 'state cowfile:     clean$' || fail "cowfile not clean"
refused "another size|smaller" cowdev -a "$img" "$SCRATCH/a.cow"

note "loop device as rdofile, detached while active"
cp /tmp/orig "$img"
loopdev=$(losetup -f --show -r "$img")
dev=$(activate "$loopdev" "$SCRATCH/b.cow")
cmp /tmp/orig "$dev" || fail "device differs from its loop rdofile"
losetup -d "$loopdev"
echo 3 >/proc/sys/vm/drop_caches
rc=0; timeout 60 dd if="$dev" of=/tmp/r bs=64k iflag=direct 2>/dev/null || rc=$?
[ $rc != 124 ] || fail "read after losetup -d hung"
note "read after losetup -d: exit $rc (autoclear keeps the loop until we close it)"
timeout 60 cowdev -d "$dev" || fail "deactivation after losetup -d failed or hung"
sleep 1
losetup -a | grep -q "^$loopdev:" && fail "$loopdev not released after deactivation"

note "dm device as rdofile, removed with --force"
loopdev=$(losetup -f --show -r "$img")
dm_create cowtrunc "0 $(blockdev --getsz "$loopdev") linear $loopdev 0"
dev=$(activate /dev/mapper/cowtrunc "$SCRATCH/c.cow")
cmp /tmp/orig "$dev" || fail "device differs from its dm rdofile"
dmesg -c >/dev/null
timeout 60 dmsetup remove --noudevsync --force cowtrunc 2>&1 || true
echo 3 >/proc/sys/vm/drop_caches
rc=0; timeout 60 dd if="$dev" of=/dev/null bs=64k iflag=direct 2>/dev/null || rc=$?
[ $rc != 124 ] || fail "read after dmsetup remove --noudevsync --force hung"
[ $rc != 0 ] || fail "read of a removed dm rdofile succeeded"
dmesg | grep cowloop || true
lines=$(dmesg | grep -c "cowloop: cow.*error" || true)
[ "$lines" -le 3 ] || fail "$lines kernel log lines for one removed rdofile"
timeout 60 cowdev -d "$dev" || fail "deactivation after dm removal failed or hung"
dmsetup remove --noudevsync cowtrunc 2>/dev/null || true
losetup -d "$loopdev"
[ -z "$(cowdev -l | sed 1d)" ] || fail "devices left active"
cow_unload
