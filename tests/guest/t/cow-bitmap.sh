#!/bin/sh
# The bitmap as the driver keeps it: single units written on both sides
# of every 4 KiB block boundary of the on-disk bitmap (the driver's pages
# follow the cowfile's blocks, not the bitmap's start at 1024) and at the
# last unit land on exactly their bits on disk, read back after
# reactivation, and nothing else changes; a bit set beyond the last unit
# is refused until cowrepair -f clears it.  A bitmap page is written as
# one block of the cowfile.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/rdo.img cow=$SCRATCH/bm.cow
# 102403 units: a bitmap of 12801 bytes at 1024, over cowfile blocks 0-3
awk -v t="$COW_TEST" 'BEGIN { for (i = 0; i < 102403; i++)
	printf "%-1023s\n", "block " i " of " t }' >"$img"
sum=$(md5 "$img")
# unit U's bit is at cowfile byte 1024 + U / 8: block boundaries at units
# 24576 (byte 4096), 57344 (8192) and 90112 (12288); the last is 102402.
UNITS="0 7 8 24575 24576 57343 57344 90111 90112 102401 102402"

# bit COWFILE UNIT: 1 when UNIT's bit is set on disk, else 0.
bit() {
	v=$(od -An -tu1 -j $((1024 + $2 / 8)) -N1 "$1" | tr -d ' ')
	echo $(((v >> ($2 % 8)) & 1))
}

# Unit 0 alone: its bit shares the header's block, so the cowfile holds
# two blocks (that one and the data's), not a second bitmap block.
dev=$(activate "$img" "$SCRATCH/one.cow")
printf '%-1023s\n' "unit 0 alone" |
	dd of="$dev" bs=1024 oflag=direct conv=notrunc 2>/dev/null
deactivate "$dev"
check_eq "bytes allocated with unit 0 written" 8192 \
	$(($(stat -c '%b * %B' "$SCRATCH/one.cow")))

dev=$(activate "$img" "$cow")
for u in $UNITS; do
	printf '%-1023s\n' "unit $u written" |
		dd of="$dev" bs=1024 seek=$u oflag=direct conv=notrunc 2>/dev/null ||
		fail "1 KiB write at unit $u failed"
done
check_eq "cowblocks in use" "11 (of 1024 bytes)" \
	"$(debugfs_field "$dev" 'cowblocks in use')"
deactivate "$dev"

# exactly those bits, in the right place
for u in $UNITS; do
	check_eq "bit of unit $u" 1 "$(bit "$cow" $u)"
done
for u in 1 6 9 24574 24577 57342 57345 90110 90113 102400; do
	check_eq "bit of unit $u (not written)" 0 "$(bit "$cow" $u)"
done
n=$(od -An -v -tu1 -j 1024 -N 12801 "$cow" | tr -s ' ' '\n' | grep -c '[1-9]')
check_eq "non-zero bitmap bytes" 9 "$n"	# 0 and 7 share one, 102401 and 102402

cowlist "$cow" | grep -q 'cowblocks in use: *11' || fail "cowlist: not 11 units in use"

dev=$(activate "$img" "$cow")
for u in $UNITS; do
	dd if="$dev" bs=1024 skip=$u count=1 iflag=direct 2>/dev/null |
		head -c 32 | grep -q "unit $u written" || fail "unit $u did not read back"
done
for u in 1 24577 90113 102400; do
	dd if="$dev" bs=1024 skip=$u count=1 2>/dev/null | head -c 40 |
		grep -q "block $u " || fail "unit $u does not read from the rdofile"
done
deactivate "$dev"

# a bit beyond the last unit (102403: byte 1024 + 12800, bit 3)
cp "$cow" "$SCRATCH/tail.cow"
v=$(od -An -tu1 -j $((1024 + 12800)) -N1 "$cow" | tr -d ' ')
poke "$SCRATCH/tail.cow" $((1024 + 12800)) "\\$(printf %o $((v | 8)))"
refused "beyond the last block" cowdev -a "$img" "$SCRATCH/tail.cow"
cowrepair -f "$SCRATCH/tail.cow" >/dev/null 2>&1 || true
check_eq "bit 102403 after cowrepair -f" 0 "$(bit "$SCRATCH/tail.cow" 102403)"
check_eq "bit 102402 after cowrepair -f" 1 "$(bit "$SCRATCH/tail.cow" 102402)"
dev=$(activate "$img" "$SCRATCH/tail.cow")
deactivate "$dev"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
cow_unload
