#!/bin/sh
# A cowfile must fit its file system's largest file: a DVD image with its
# cowfile on a vfat stick (4 GiB), a 20 GiB rdofile with its cowfile on
# ext2 with 1 KiB blocks (16 GiB), a 16 TiB rdofile with its cowfile on
# ext4 (16 TiB less 4 KiB) are refused at activation, with the limit in
# cowdev's message and the kernel log, instead of failing writes past the
# limit later; read-only activations never grow the cowfile and are not
# refused.  A 15 TiB rdofile on ext4 fits, and discard (the punch probe
# past the cowfile's end, below the limit) is offered.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need mkfs.vfat mkfs.ext2 truncate
cow_load
G=1073741824
T=1099511627776
# sparse rdofiles on the xfs scratch disk (xfs holds 8 EiB files)
mkrdo() { truncate -s "$2" "$XFS_SCRATCH/$1"; echo "$XFS_SCRATCH/$1"; }

# fs NAME MKFS...: a 64 MiB file system image mounted on /mnt/NAME
fs() {
	n=$1
	shift
	truncate -s 64M "$SCRATCH/$n.img"
	"$@" "$SCRATCH/$n.img" >/dev/null 2>&1 || fail "$* failed"
	mkdir -p "/mnt/$n"
	mount -o loop "$SCRATCH/$n.img" "/mnt/$n"
}
fs vfat mkfs.vfat
fs ext2k mkfs.ext2 -q -F -b 1024

# refused_limit RDO COW LIMIT_TEXT
refused_limit() {
	refused "file system.*$3" cowdev -a "$1" "$2"
	dmesg | tail -n 5 | grep -q "cowfile $2: its file system holds files up to" ||
		fail "kernel log does not name the limit for $2: $(dmesg | tail -n 3)"
	[ ! -e "$2" ] || [ "$(stat -c %s "$2")" = 0 ] ||
		fail "$2 left behind with $(stat -c %s "$2") bytes"
}

note "vfat: a 6 GiB rdofile"
refused_limit "$(mkrdo dvd.iso $((6 * G)))" /mnt/vfat/dvd.cow "4(\\.0)? ?GiB"
note "vfat: a 3 GiB rdofile fits"
dev=$(activate "$(mkrdo cd.iso $((3 * G)))" /mnt/vfat/cd.cow)
deactivate "$dev"

note "ext2 with 1 KiB blocks: a 20 GiB rdofile"
refused_limit "$(mkrdo disk20.img $((20 * G)))" /mnt/ext2k/disk.cow "16(\\.0)? ?GiB"

note "ext4 (the scratch disk): a 16 TiB rdofile"
refused_limit "$(mkrdo disk16t.img $((16 * T)))" "$SCRATCH/big.cow" "16(\\.0)? ?TiB"

note "ext4: a 15 TiB rdofile fits, with discard"
dev=$(activate "$(mkrdo disk15t.img $((15 * T)))" "$SCRATCH/big.cow")
check_eq "discard of a cowdevice whose cowfile fits ext4" punch \
	"$(cat "/sys/block/cow${dev##*/}/cowloop/discard")"
dd if=/dev/urandom of=/tmp/fsl.dat bs=64k count=1 2>/dev/null
dd if=/tmp/fsl.dat of="$dev" bs=64k seek=$((15 * T / 65536 - 1)) \
	oflag=direct 2>/dev/null || fail "a write at the end of the 15 TiB device failed"
dd if="$dev" of=/tmp/fsl.back bs=64k skip=$((15 * T / 65536 - 1)) \
	iflag=direct 2>/dev/null
check_eq "the last 64 KiB of the 15 TiB device" "$(md5 /tmp/fsl.dat)" \
	"$(md5 /tmp/fsl.back)"
deactivate "$dev"

note "read-only activations grow nothing and are not refused"
dev=$(activate "$XFS_SCRATCH/dvd.iso" "$SCRATCH/dvd.cow")
deactivate "$dev"
cp "$SCRATCH/dvd.cow" /mnt/vfat/dvd.cow
dev=$(activate -r "$XFS_SCRATCH/dvd.iso" /mnt/vfat/dvd.cow)
deactivate "$dev"
umount /mnt/vfat /mnt/ext2k
