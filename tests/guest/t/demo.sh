#!/bin/sh
# The product page's Example 1, narrated: a filesystem on a write-protected
# "floppy" (a 1440 KiB ext2 image, made read-only) mounted read-write
# through a cowdevice; the changes land in the cowfile, the floppy never
# changes.  Run by "make demo", and part of the suite.
# timeout: 300
. /cowloop/t/lib.sh

fd0=$SCRATCH/fd0.img
cow=$SCRATCH/ses1.cow
mnt=/mnt/floppy
mkdir -p "$mnt" files

say() { printf '\n=== %s\n' "$*"; }
# attach: "cowdev -a" the floppy and the cowfile; sets $dev.
attach() {
	echo "# cowdev -a $fd0 $cow"
	dev=$(cowdev -a "$fd0" "$cow") || fail "cowdev -a failed"
	echo "$dev"
	wait_for "$dev"
}

say "A 1440 KiB ext2 floppy image with a few files, then write-protected"
printf '0.000000 1593515640 0.000000\n1593515640\nUTC\n' >files/adjtime
yes '# See man 5 aliases for format' | head -c 1343 >files/aliases
head -c 12288 /dev/zero >files/aliases.db
echo >files/at.deny
yes '# atsar configuration' | head -c 872 >files/atsar.conf
yes '# /etc/auto.master' | head -c 212 >files/auto.master
chmod 640 files/aliases.db
chmod 600 files/at.deny
run mkfs.ext2 -q -b 1024 -d files "$fd0" 1440
run chmod a-w "$fd0"
orig=$(md5 "$fd0")
run md5sum "$fd0"

say "Mounted read-only, as the floppy would be"
run mount -r -o loop "$fd0" $mnt
run ls -l $mnt
run umount $mnt

say "Load the driver and mount the floppy read-write via a new cowfile"
need cowdev cowlist
echo "# modprobe cowloop"
cow_load
attach
run mount "$dev" $mnt
run ls -l $mnt

say "Modify adjtime, remove aliases"
echo "# echo ... >$mnt/adjtime"
printf '0.000000 1593516240 0.000000\n1593516240\nLOCAL\n' >$mnt/adjtime
run ls -l $mnt/adjtime
run rm $mnt/aliases
run umount "$dev"
run cowdev -d "$dev"

say "The floppy itself is unmodified"
run md5sum "$fd0"
check_eq "md5sum of the floppy" "$orig" "$(md5 "$fd0")"

say "The cowfile is sparse: its size (ls) against the space it uses (du)"
run ls -l "$cow"
run du -k "$cow"
run cowlist "$cow"

say "Reactivate with the same cowfile: the changes are back"
attach
run mount "$dev" $mnt
run ls -l $mnt
run cat $mnt/adjtime
grep -q LOCAL $mnt/adjtime || fail "adjtime lost its change"
[ ! -e $mnt/aliases ] || fail "aliases is back although it was removed"
run umount "$dev"
run cowdev -d "$dev"

say "Remove the cowfile: a new empty one shows the original floppy again"
run rm "$cow"
attach
run mount "$dev" $mnt
run ls -l $mnt
[ -e $mnt/aliases ] || fail "aliases missing with a fresh cowfile"
grep -q UTC $mnt/adjtime || fail "adjtime is not the original"
run umount "$dev"
run cowdev -d "$dev"
check_eq "md5sum of the floppy at the end" "$orig" "$(md5 "$fd0")"
say "Demo complete"
