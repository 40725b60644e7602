#!/bin/sh
# Copy-on-read and fill (issue 25): the rdofile is a device-mapper disk
# that can fail for good, as a server that went away.  With
# --copy-on-read, what is read from the rdofile is copied into the
# cowfile: read again with the rdofile failing, it still reads.  With
# --fill, every unit is copied in the background while the device is
# used; once filled (sysfs fill: done), with the rdofile failing for
# good, the device reads everything, takes writes, deactivates, and
# reactivates standalone (the rdofile not even opened); a standalone
# activation of a cowfile that is not filled is refused.  The cowfile's
# modified map marks what was written, not what was copied.  A crash
# image taken during a fill (the cowfile as its disk holds it) repairs,
# and holds every write flushed before.
# timeout: 600
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need dmsetup losetup fio cmp
cow_load
M=1048576
SIZE=$((64 * M))
dm_rdofile fillrdo 64
rdo=/dev/mapper/fillrdo
gone() { dm_table fillrdo "0 $sz error"; }
back() { dm_table fillrdo "0 $sz linear $lo 0"; }
# fill DEV FIELD: field of /sys/block/cowN/cowloop/fill (1 present,
# 2 total, 3 copied, 4 state)
fill() { awk -v f="$2" '{ print $f }' "/sys/block/cow${1##*/}/cowloop/fill"; }
# wait_fill DEV STATE|COPIED SECONDS: until the state, or that many copied
wait_fill() {
	n=0
	while [ $n -lt $(($3 * 10)) ]; do
		case $2 in
		[0-9]*) [ "$(fill "$1" 3)" -ge "$2" ] && return 0 ;;
		*) [ "$(fill "$1" 4)" = "$2" ] && return 0 ;;
		esac
		sleep 0.1
		n=$((n + 1))
	done
	fail "$1: fill did not reach $2 in $3 s: $(cat "/sys/block/cow${1##*/}/cowloop/fill")"
}
# modbyte COW BYTE: byte BYTE of COW's modified map, in decimal
modbyte() {
	set -- "$1" "$2" $(( (12288 + SIZE + 4095) / 4096 * 4096 ))
	od -An -tu1 -j $(($3 + $2)) -N1 "$1" | tr -d ' '
}

note "copy-on-read: a read is copied; read again with the rdofile gone"
dev=$(activate --copy-on-read "$rdo" "$SCRATCH/cor.cow")
check_eq "fill state" copy-on-read "$(fill "$dev" 4)"
dd if="$dev" of=/tmp/fill.r1 bs=1M skip=16 count=8 iflag=direct 2>/dev/null
wait_fill "$dev" 8192 60
gone
dd if="$dev" of=/tmp/fill.r2 bs=1M skip=16 count=8 iflag=direct 2>/dev/null ||
	fail "a range copied on read does not read with the rdofile gone"
cmp /tmp/fill.r1 /tmp/fill.r2 || fail "a range copied on read reads otherwise"
if dd if="$dev" of=/dev/null bs=1M skip=40 count=1 iflag=direct 2>/dev/null; then
	fail "a range never read nor copied reads with the rdofile gone"
fi
back
deactivate "$dev"

note "rewrite of a copied unit after cowsync: the cowfile is dirty on disk"
# Its bitmap bit was set by the copy, so no flush is pending that would
# mark the header; its modified bit is only in the page cache until the
# next flush.  A crash with the header clean would keep a map without
# it (no repair), and cowmerge would skip the user's data.
dev=$(activate --copy-on-read "$rdo" "$SCRATCH/rw.cow")
dd if="$dev" of=/dev/null bs=1M skip=20 count=1 iflag=direct 2>/dev/null
wait_fill "$dev" 1024 60
cowsync || fail "cowsync failed"
state=/sys/block/cow${dev##*/}/cowloop/state
check_eq "state after cowsync" clean "$(cat "$state")"
check_eq "header flags on disk after cowsync" 0 \
	"$(( $(od -An -tu1 -j6 -N1 "$SCRATCH/rw.cow") & 1 ))"
head -c 8192 /dev/urandom | dd of="$dev" bs=8k seek=2560 oflag=direct 2>/dev/null ||
	fail "the rewrite of a copied unit failed"
check_eq "state after rewriting a copied unit" dirty "$(cat "$state")"
check_eq "header flags on disk after rewriting a copied unit (DIRTY)" 1 \
	"$(( $(od -An -tu1 -j6 -N1 "$SCRATCH/rw.cow") & 1 ))"
deactivate "$dev"
check_eq "modified map, units 20480..20487 (the rewrite)" 255 \
	"$(modbyte "$SCRATCH/rw.cow" 2560)"
check_eq "modified map, units 20488..20495 (copied only)" 0 \
	"$(modbyte "$SCRATCH/rw.cow" 2561)"
rm -f "$SCRATCH/rw.cow"

note "fill: writes while it fills, then done; the rdofile gone for good"
cp "$SCRATCH/rdo.img" "$SCRATCH/model"
head -c $((4 * M)) /dev/urandom >/tmp/fill.w
dd if=/tmp/fill.w of="$SCRATCH/model" bs=1M conv=notrunc 2>/dev/null
dev=$(activate --fill "$rdo" "$SCRATCH/fill.cow")
# 1 KiB/s: a step of 1 MiB waits 1000 s, unless the new rate is taken
echo 1 >"/sys/block/cow${dev##*/}/cowloop/fill_rate"
check_eq "fill rate" 1 "$(cat "/sys/block/cow${dev##*/}/cowloop/fill_rate")"
dd if=/tmp/fill.w of="$dev" bs=1M oflag=direct 2>/dev/null
sync "$dev"
# a crash image while it fills: the cowfile as its disk holds it
sleep 2
dd if="$SCRATCH/fill.cow" of="$SCRATCH/crash.cow" bs=1M iflag=direct 2>/dev/null
check_eq "fill state, throttled" filling "$(fill "$dev" 4)"
echo 0 >"/sys/block/cow${dev##*/}/cowloop/fill_rate"
wait_fill "$dev" done 300
cowdev -l -O NAME,FILL | grep -q "100.0% done" ||
	fail "cowdev -l does not show the fill done: $(cowdev -l -O NAME,FILL)"
gone
cmp "$dev" "$SCRATCH/model" || fail "the filled device, the rdofile gone, reads otherwise"
rdoreads=$(debugfs_field "$dev" rdoreads)
dd if=/dev/urandom of=/tmp/fill.w2 bs=1M count=2 2>/dev/null
dd if=/tmp/fill.w2 of="$dev" bs=1M seek=40 oflag=direct 2>/dev/null ||
	fail "a write to the filled device, the rdofile gone, failed"
dd if=/tmp/fill.w2 of="$SCRATCH/model" bs=1M seek=40 conv=notrunc 2>/dev/null
cmp "$dev" "$SCRATCH/model" || fail "the filled device after a write reads otherwise"
check_eq "reads of the rdofile once filled" "$rdoreads" "$(debugfs_field "$dev" rdoreads)"
deactivate "$dev"

note "the modified map: written units marked, copied ones not"
check_eq "modified map, unit 0..7 (written)" 255 "$(modbyte "$SCRATCH/fill.cow" 0)"
check_eq "modified map, units 20000..20007 (copied)" 0 "$(modbyte "$SCRATCH/fill.cow" 2500)"
check_eq "modified map, units 40960..40967 (written, rdofile gone)" 255 \
	"$(modbyte "$SCRATCH/fill.cow" 5120)"

check_eq "cowlist -m: the written extents only" "0 4194304 41943040 2097152" \
	"$(cowlist -m -n "$SCRATCH/fill.cow" | tr -s ' \n' '  ' | sed 's/^ //; s/ $//')"

note "reactivation with the rdofile gone: refused, unless standalone"
refused "I/O error|Input/output error" cowdev -a "$rdo" "$SCRATCH/fill.cow"
dev=$(activate --standalone "$rdo" "$SCRATCH/fill.cow")
cmp "$dev" "$SCRATCH/model" || fail "the standalone device reads otherwise"
check_eq "reads of the rdofile, standalone" 0 "$(debugfs_field "$dev" rdoreads)"
check_eq "rdofile_id, standalone" - "$(cat "/sys/block/cow${dev##*/}/cowloop/rdofile_id")"
deactivate "$dev"
refused "must hold every block" cowdev -a --standalone "$rdo" "$SCRATCH/cor.cow"
back

note "the rdofile failing during a fill: copying stops, the device goes on"
dev=$(activate --fill "$rdo" "$SCRATCH/fail.cow")
echo 2048 >"/sys/block/cow${dev##*/}/cowloop/fill_rate"
wait_fill "$dev" 2048 60
gone
wait_fill "$dev" failed 60
dmesg | grep -q "cow${dev##*/}: copying units .* into the cowfile failed" ||
	fail "a failed copy is not said in the kernel log"
dd if=/tmp/fill.w of="$dev" bs=1M seek=8 oflag=direct 2>/dev/null ||
	fail "a write after the fill failed does not take"
dd if="$dev" of=/tmp/fill.r3 bs=1M skip=8 count=4 iflag=direct 2>/dev/null
cmp /tmp/fill.w /tmp/fill.r3 || fail "a write after the fill failed reads otherwise"
back
deactivate "$dev"

note "the crash image taken while it filled"
cowrepair "$SCRATCH/crash.cow" >/dev/null 2>&1 || [ $? = 1 ] ||
	fail "cowrepair of the crash image failed"
dev=$(activate "$rdo" "$SCRATCH/crash.cow")
dd if="$dev" of=/tmp/fill.w3 bs=1M count=4 iflag=direct 2>/dev/null
cmp /tmp/fill.w /tmp/fill.w3 || fail "a write flushed before the crash is lost"
cmp -n $((40 * M)) "$dev" "$SCRATCH/model" ||
	fail "the crash image reads otherwise than the device did then"
deactivate "$dev"
dmsetup remove fillrdo
losetup -d "$lo"
