#!/bin/sh
# modprobe parameters (maxcows, rdofile/cowfile activation at load,
# option=r repair), persistence across rmmod/modprobe, refusal to
# deactivate or unload while mounted, cowsync and the debugfs report, the
# geometry of a new cowfile against cowlist and the format spec.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_unload
img=$SCRATCH/rdo.img cow=$SCRATCH/m.cow
truncate -s 100M "$img"
mkfs.ext2 -q -F "$img"
sum=$(md5 "$img")

for bad in "maxcows=0" "maxcows=100000" "option=x rdofile=$img cowfile=$cow" \
	"rdofile=$img" "rdofile=$SCRATCH/none cowfile=$cow"; do
	if modprobe cowloop $bad 2>/dev/null; then
		fail "modprobe cowloop $bad succeeded"
	fi
	note "modprobe cowloop $bad refused: $(dmesg | tail -1)"
done
[ ! -e "$SCRATCH/none" ] || fail "refused load created a file"
# the kernel's line names the file that could not be opened, and why
dmesg | tail -1 | grep -q "cowfile $cow: cannot open the rdofile: -ENOENT" ||
	fail "missing rdofile: the kernel said: $(dmesg | tail -1)"
[ ! -e "$cow" ] || rm -f "$cow"

modprobe cowloop maxcows=1022
check_eq maxcows 1022 "$(cat /sys/module/cowloop/parameters/maxcows)"
dev=$(activate "$img" "$SCRATCH/last.cow" /dev/cow/1021)
check_eq "last device" /dev/cow/1021 "$dev"
deactivate "$dev"
cow_unload

modprobe cowloop rdofile="$img" cowfile="$cow"
wait_for /dev/cow/0
# A new cowfile: 102400 units, 13 bitmap blocks, data at 16384.
check_eq "new cowfile size" $((1024 + 13312)) "$(stat -c %s "$cow")"
check_eq "cowfile mode" 600 "$(stat -c %a "$cow")"
cowlist "$cow" | tee /tmp/l
grep -q 'data offset:     16384$' /tmp/l || fail "data offset"
grep -q 'bitmap-blocks:        13 (of 1024 bytes)$' /tmp/l || fail "bitmap-blocks"
grep -q 'size rdofile:    102400 (of 1024 bytes)$' /tmp/l || fail "size rdofile"
grep -q 'state cowfile:     dirty$' /tmp/l || fail "active cowfile not dirty"

mkdir -p /mnt/m
mount /dev/cow/0 /mnt/m
pattern /mnt/m/f 300
sync
check_eq opens 1 "$(debugfs_field /dev/cow/0 'number of opens')"
check_eq "debugfs rdofile" "$img" "$(debugfs_field /dev/cow/0 'read-only file')"
check_eq "debugfs cowfile" "$cow" "$(debugfs_field /dev/cow/0 'copy-on-write file')"
check_eq "bitmap-blocks" "13 (of 1024 bytes)" "$(debugfs_field /dev/cow/0 bitmap-blocks)"
cat /sys/kernel/debug/cowloop/0
refused "in use|busy" cowdev -d /dev/cow/0
if rmmod cowloop 2>/dev/null; then fail "rmmod succeeded while mounted"; fi

cowsync
check_eq "state after cowsync" clean "$(debugfs_field /dev/cow/0 'state cowfile')"
cowlist "$cow" | grep -q 'state cowfile:     clean$' || fail "cowfile not clean after cowsync"
used=$(debugfs_field /dev/cow/0 'cowblocks in use')
cowlist "$cow" | grep -q "cowblocks in use: *${used% (*} (of" ||
	fail "cowlist disagrees with debugfs on cowblocks in use ($used)"
pattern /mnt/m/g 100
sync
check_eq "state after a write" dirty "$(debugfs_field /dev/cow/0 'state cowfile')"
umount /mnt/m
rmmod cowloop
cowlist "$cow" | grep -q 'state cowfile:     clean$' || fail "not clean after rmmod"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"

# persistence across rmmod/modprobe
modprobe cowloop rdofile="$img" cowfile="$cow"
wait_for /dev/cow/0
mount /dev/cow/0 /mnt/m
pattern /tmp/f 300
cmp /tmp/f /mnt/m/f || fail "data lost across rmmod/modprobe"
umount /mnt/m
rmmod cowloop

# a dirty cowfile is refused at load, and repaired with option=r
poke "$cow" 6 '\001'
if modprobe cowloop rdofile="$img" cowfile="$cow"; then
	fail "dirty cowfile accepted without option=r"
fi
dmesg | tail -3 | grep -q "dirty" || fail "no 'dirty' message in kernel log"
modprobe cowloop rdofile="$img" cowfile="$cow" option=r
wait_for /dev/cow/0
mount /dev/cow/0 /mnt/m
cmp /tmp/f /mnt/m/f || fail "data lost by the option=r repair"
umount /mnt/m
rmmod cowloop
cowlist "$cow" | grep -q 'state cowfile:     clean$' || fail "not clean after repair"
e2fsck -fn "$img" >/dev/null
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
