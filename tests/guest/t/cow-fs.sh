#!/bin/sh
# mkfs, mount, write, unmount and a clean fsck for ext2, ext4 and xfs made
# on /dev/cow/N over a zero-filled rdofile (cowfile on ext4 and on xfs).
# timeout: 600
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
mkdir -p /mnt/fs
for fs in ext2 ext4 xfs; do
	for dir in "$SCRATCH" "$XFS_SCRATCH"; do
		img=$dir/$fs.img cow=$dir/$fs.cow
		truncate -s 320M "$img"
		sum=$(md5 "$img")
		dev=$(activate "$img" "$cow")
		case $fs in
		xfs)	mkfs.xfs -q -f "$dev" ;;
		*)	"mkfs.$fs" -q -F "$dev" ;;
		esac
		mount "$dev" /mnt/fs
		pattern /tmp/p 2048
		cp /tmp/p /mnt/fs/p
		mkdir /mnt/fs/d
		i=0
		while [ $i -lt 50 ]; do echo $i >/mnt/fs/d/$i; i=$((i + 1)); done
		umount /mnt/fs
		case $fs in
		xfs)	xfs_repair -n "$dev" ;;
		*)	e2fsck -fn "$dev" ;;
		esac || fail "fsck of $fs on $dev (cowfile in $dir) not clean"
		mount "$dev" /mnt/fs
		cmp /tmp/p /mnt/fs/p || fail "$fs: data differs"
		umount /mnt/fs
		deactivate "$dev"
		check_eq "$fs rdofile checksum" "$sum" "$(md5 "$img")"
		rm -f "$img" "$cow"
	done
done
cow_unload
