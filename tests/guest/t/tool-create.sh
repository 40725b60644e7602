#!/bin/sh
# cowcreate (issue 26, item 4): the cowfile created offline equals, byte
# for byte, the one the driver creates at an activation and leaves at a
# clean deactivation right after, for a file system image, an rdofile
# with a partial last unit, a block device, on ext4 and on xfs; then the
# offline one is activated, written and read back, and the offline tools
# agree with the driver: cowlist -m lists what was written (also of the
# active cowfile after cowsync), cowmerge -o gives the image the
# cowdevice showed.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need cmp stat losetup
cow_load

# same RDO DIR NAME: cowcreate's cowfile of RDO in DIR equals the driver's
same() {
	off=$2/$3-offline.cow drv=$2/$3-driver.cow
	rm -f "$off" "$drv"
	out=$(cowcreate "$1" "$off") || fail "cowcreate $1 $off: $out"
	note "$out"
	dev=$(activate "$1" "$drv")
	deactivate "$dev"
	cmp "$off" "$drv" || fail "$3: the offline cowfile differs from the driver's (cmp above)"
	check_eq "$3: size" "$(stat -c %s "$drv")" "$(stat -c %s "$off")"
	check_eq "$3: mode" "$(stat -c %a "$drv")" "$(stat -c %a "$off")"
	check_eq "$3: cowlist" "$(cowlist -v "$drv" | sed '1d;/disk usage/d')" \
		"$(cowlist -v "$off" | sed '1d;/disk usage/d')"
	note "$3: offline and driver cowfiles equal ($(stat -c %s "$off") bytes)"
}

img=$SCRATCH/fs.img
mkfs_img "$img" 16384 ext4
same "$img" "$SCRATCH" ext4-image
[ -n "${XFS_SCRATCH:-}" ] && [ -d "$XFS_SCRATCH" ] &&
	same "$img" "$XFS_SCRATCH" xfs-cowfile
odd=$SCRATCH/odd.img
pattern "$odd" 3000
head -c 500 /dev/urandom >>"$odd"	# a partial last unit: rdosize says it
same "$odd" "$SCRATCH" partial-unit
loop=$(losetup -r -f --show "$img")
same "$loop" "$SCRATCH" blockdev
losetup -d "$loop"

# --- the offline cowfile in use: written, read back, mapped, merged -------
cow=$SCRATCH/ext4-image-offline.cow
sum=$(md5 "$img")
dev=$(activate "$img" "$cow")
pattern "$SCRATCH/data" 64
# direct: through the page cache, a 1 KiB write is a 4 KiB page's
dd if="$SCRATCH/data" of="$dev" bs=1k seek=100 oflag=direct conv=notrunc 2>/dev/null
dd if="$SCRATCH/data" of="$dev" bs=1k seek=8000 count=3 oflag=direct conv=notrunc 2>/dev/null
check_eq "read back" "$(md5 "$SCRATCH/data")" \
	"$(dd if="$dev" bs=1k skip=100 count=64 2>/dev/null | md5sum | cut -d' ' -f1)"
shown=$(md5 "$dev")
cowsync
check_eq "map of the active cowfile after cowsync" "102400 65536
8192000 3072" "$(cowlist -m -n "$cow" 2>/dev/null | tr -s ' ' | sed 's/^ //')"
cowlist -m -n "$cow" 2>&1 >/dev/null | grep -q "as of its last sync" ||
	fail "cowlist -m of an active cowfile does not say it is as of the last sync"
refused "in use by /dev/cow/[0-9]+ \(as its cowfile\)" cowmerge -o "$SCRATCH/x.img" "$img" "$cow"
# another session over the same image, created offline while it is active
out=$(cowcreate "$img" "$SCRATCH/second.cow") || fail "cowcreate of an active rdofile: $out"
deactivate "$dev"
check_eq "rdofile untouched" "$sum" "$(md5 "$img")"
cowlist "$cow" | grep -q "cowblocks in use: *67 " || fail "cowused: $(cowlist "$cow")"
check_eq "map after deactivation" "102400 65536
8192000 3072" "$(cowlist -m -n "$cow" | tr -s ' ' | sed 's/^ //')"
rm -f "$SCRATCH/merged.img"
cowmerge -o "$SCRATCH/merged.img" "$img" "$cow" || fail "cowmerge -o failed"
check_eq "cowmerge -o: the image the cowdevice showed" "$shown" "$(md5 "$SCRATCH/merged.img")"
check_eq "rdofile untouched by cowmerge -o" "$sum" "$(md5 "$img")"
# the second session, activated as created: the image unchanged
dev=$(activate "$img" "$SCRATCH/second.cow")
check_eq "second session shows the image" "$sum" "$(md5 "$dev")"
deactivate "$dev"
cow_unload
