#!/bin/sh
# Refusals beyond cow-refuse: stacking (rdofile = another /dev/cow/N) is
# refused clearly and without deadlock, stacking through a loop device
# works; cowfile = the rdofile by symlink or hard link, a block device, a
# cowdevice, a symlink to a directory, on a read-only filesystem; rdofile
# a directory, FIFO, character device, another device's cowfile while
# active; a truncated cowfile.  Nothing is modified by a refusal.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/rdo.img cow=$SCRATCH/a.cow
pattern "$img" 1024
sum=$(md5 "$img")
dev=$(activate "$img" "$cow")
dd if=/dev/urandom of="$dev" bs=4k count=2 seek=3 conv=fsync 2>/dev/null

# stacking: refused directly, with the reason
refused "stack|cowdevice" cowdev -a "$dev" "$SCRATCH/s.cow"
dmesg | tail -3 | grep -q "cannot activate.*$dev" || fail "no kernel log line for stacking"
[ ! -s "$SCRATCH/s.cow" ] || fail "stacking refusal wrote a cowfile"
rm -f "$SCRATCH/s.cow"
# a cowdevice or a block device as cowfile
refused "not a regular file" cowdev -a "$img" "$dev"
refused "not a regular file" cowdev -a "$img" /dev/vda
# through a loop device: works, and each layer keeps its data
loopdev=$(losetup -f --show -r "$dev")
dev2=$(timeout 60 cowdev -a "$loopdev" "$SCRATCH/s2.cow") || fail "stacking through $loopdev failed or hung"
wait_for "$dev2"
cmp "$dev" "$dev2" || fail "stacked device differs from the lower one"
lower=$(md5 "$dev")
dd if=/dev/zero of="$dev2" bs=4k count=4 seek=1 conv=fsync 2>/dev/null
check_eq "lower device untouched by upper writes" "$lower" "$(md5 "$dev")"
refused "in use|busy" cowdev -d "$dev"
timeout 60 cowdev -d "$dev2" || fail "deactivate of the stacked device"
losetup -d "$loopdev"
deactivate "$dev"

# same file by other names
ln -s "$img" "$SCRATCH/sym.cow"
refused "same file" cowdev -a "$img" "$SCRATCH/sym.cow"
ln "$img" "$SCRATCH/hard.cow"
refused "same file" cowdev -a "$img" "$SCRATCH/hard.cow"
refused "same file" cowdev -a "$SCRATCH/hard.cow" "$img"
mkdir -p "$SCRATCH/d"
ln -s "$SCRATCH/d" "$SCRATCH/dirlink.cow"
refused "not a regular file" cowdev -a "$img" "$SCRATCH/dirlink.cow"
# rdofile of the wrong type: never opened (a FIFO would block)
mkfifo "$SCRATCH/fifo.img"
refused "neither a regular file|not a regular|block device" timeout 30 cowdev -a "$SCRATCH/fifo.img" "$SCRATCH/f.cow"
refused "neither a regular file|not a regular|block device" cowdev -a "$SCRATCH/d" "$SCRATCH/f.cow"
refused "neither a regular file|not a regular|block device" cowdev -a /dev/zero "$SCRATCH/f.cow"
[ ! -e "$SCRATCH/f.cow" ] || fail "a refused rdofile left a cowfile"
# cowfile on a read-only filesystem
truncate -s 8M "$SCRATCH/ro.img"
mkfs.ext2 -q -F "$SCRATCH/ro.img"
mkdir -p /mnt/ro
mount -o loop,ro "$SCRATCH/ro.img" /mnt/ro
refused "Read-only|read-only" cowdev -a "$img" /mnt/ro/x.cow
umount /mnt/ro
# an active device's cowfile as rdofile of another: the rdofile would
# change under the second device
dev=$(activate "$img" "$cow")
refused "rdofile is the cowfile of an active cowdevice" \
	cowdev -a "$cow" "$SCRATCH/c2.cow"
# and an active device's rdofile as cowfile of another: written under it
pattern "$SCRATCH/other.img" 64
refused "cowfile is the rdofile of an active cowdevice" \
	cowdev -a "$SCRATCH/other.img" "$img"
deactivate "$dev"
[ -z "$(cowdev -l | sed 1d)" ] || fail "devices left active"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
# a cowfile cut short: its bitmap lists units the file no longer holds.
# Refused, also with option=r; never served as zeroes.
dev=$(activate "$img" "$SCRATCH/t.cow")
dd if=/dev/urandom of="$dev" bs=4k count=4 seek=8 oflag=direct conv=fsync 2>/dev/null
deactivate "$dev"
size=$(stat -c %s "$SCRATCH/t.cow")
truncate -s $((size - 8192)) "$SCRATCH/t.cow"
refused "truncated" cowdev -a "$img" "$SCRATCH/t.cow"
cow_unload
if modprobe cowloop rdofile="$img" cowfile="$SCRATCH/t.cow" option=r 2>/dev/null; then
	fail "option=r activated a truncated cowfile"
fi
dmesg | grep -q "cowfile truncated" || fail "no kernel line says the cowfile is truncated"
cow_unload
