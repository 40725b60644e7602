#!/bin/sh
# Read-only (issue 14): blockdev --setro makes a cowdevice refuse writes
# (blktests block/012: a direct write fails with EPERM) until --setrw;
# cowdev -a -r shows a session without changing its cowfile by one byte
# (no DIRTY mark, not even its time stamps), also from a read-only file
# system; it creates no cowfile, refuses a dirty one, stays read-only
# (--setrw refused) and its file system mounts read-only only.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need xfs_io blockdev
cow_load

rdo=$SCRATCH/rdo.img cow=$SCRATCH/s.cow
mkfs_img $rdo 16384 ext4
sum=$(md5 $rdo)

# pwrite DEV: one 4 KiB direct write at 0, as blktests block/012 does
pwrite() { xfs_io -d -c "pwrite -b 4k 0 4k" "$1" 2>&1; }

# --- blockdev --setro / --setrw on a writable cowdevice --------------------
truncate -s 4M $SCRATCH/raw.img
dev=$(activate $SCRATCH/raw.img $SCRATCH/raw.cow)
check_eq "ro at first" 0 "$(blockdev --getro $dev)"
blockdev --setro $dev
check_eq "ro after --setro" 1 "$(blockdev --getro $dev)"
out=$(pwrite $dev) || true
echo "$out" | grep -q "Operation not permitted" ||
	fail "write to a cowdevice after --setro: '$out'"
check_eq "nothing written while ro" 0 "$(debugfs_field $dev cowwrites)"
blockdev --setrw $dev
out=$(pwrite $dev) || fail "write after --setrw failed: $out"
check_eq "written after --setrw" 1 "$(debugfs_field $dev cowwrites)"
deactivate $dev

# a session to look at later
dev=$(activate $rdo $cow)
mkdir -p /tmp/cowro.mnt
mount $dev /tmp/cowro.mnt
pattern /tmp/cowro.mnt/session 40
echo changed >>/tmp/cowro.mnt/adjtime
want=$(md5 /tmp/cowro.mnt/session) adj=$(md5 /tmp/cowro.mnt/adjtime)
umount /tmp/cowro.mnt
deactivate $dev
check_eq "rdofile" "$sum" "$(md5 $rdo)"

# --- cowdev -a -r ------------------------------------------------------
refused "none.cow: No such file" cowdev -a -r $rdo $SCRATCH/none.cow
[ ! -e $SCRATCH/none.cow ] || fail "cowdev -a -r created a cowfile"
: >$SCRATCH/empty.cow
refused "cowfile missing or empty" cowdev -a -r $rdo $SCRATCH/empty.cow
check_eq "empty cowfile size" 0 "$(stat -c %s $SCRATCH/empty.cow)"

csum=$(md5 $cow) stamp=$(stat -c '%Y %Z %s' $cow)
sleep 1.1	# a write would now change the time stamps
dev=$(cowdev -a -r $rdo $cow) || fail "cowdev -a -r failed"
wait_for $dev
check_eq "ro of a read-only activation" 1 "$(blockdev --getro $dev)"
check_eq "state" clean "$(cat /sys/block/cow${dev##*/}/cowloop/state)"
cowlist $cow | grep -q "state cowfile: *clean" ||
	fail "cowfile marked dirty by a read-only activation: $(cowlist $cow)"
check_eq "discard of a read-only device" none \
	"$(cat /sys/block/cow${dev##*/}/cowloop/discard)"
out=$(pwrite $dev) || true
echo "$out" | grep -q "Operation not permitted" ||
	fail "write to a read-only activation: '$out'"
refused "Read-only file system" blockdev --setrw $dev
check_eq "still ro" 1 "$(blockdev --getro $dev)"
refused "read-only|write-protected" mount -w $dev /tmp/cowro.mnt
mount -o ro $dev /tmp/cowro.mnt
check_eq "session file" "$want" "$(md5 /tmp/cowro.mnt/session)"
check_eq "changed file" "$adj" "$(md5 /tmp/cowro.mnt/adjtime)"
find /tmp/cowro.mnt -type f -exec cat {} + >/dev/null
umount /tmp/cowro.mnt
cowsync || fail "cowsync with a read-only cowdevice failed"
deactivate $dev
check_eq "cowfile after a read-only session" "$csum" "$(md5 $cow)"
check_eq "cowfile's times and size" "$stamp" "$(stat -c '%Y %Z %s' $cow)"

# --- from a read-only file system --------------------------------------
truncate -s 64M $SCRATCH/ro.fs
mkfs.ext4 -q $SCRATCH/ro.fs
mkdir -p /tmp/cowro.fs
mount $SCRATCH/ro.fs /tmp/cowro.fs
cp $cow /tmp/cowro.fs/s.cow
umount /tmp/cowro.fs
mount -o ro $SCRATCH/ro.fs /tmp/cowro.fs
dev=$(cowdev -a -r $rdo /tmp/cowro.fs/s.cow) ||
	fail "cowdev -a -r of a cowfile on a read-only file system failed"
wait_for $dev
mount -o ro $dev /tmp/cowro.mnt
check_eq "session from a read-only fs" "$want" "$(md5 /tmp/cowro.mnt/session)"
umount /tmp/cowro.mnt
deactivate $dev
# and writable activation is refused there, with the reason
refused "Read-only file system" cowdev -a $rdo /tmp/cowro.fs/s.cow
umount /tmp/cowro.fs

# --- a dirty cowfile is refused read-only (no repair possible) ---------
poke $cow 6 '\001' '\000'
refused "dirty" cowdev -a -r $rdo $cow
check_eq "rdofile at the end" "$sum" "$(md5 $rdo)"
