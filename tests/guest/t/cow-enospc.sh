#!/bin/sh
# The cowfile's filesystem fills up (a 20 MiB ext4 on loop): writes of new
# units fail with an error, the kernel log gets one line per cause (not
# one per request, even with reads in between), reads and rewrites of
# written units keep working (of units copied on read too), after space
# is freed new writes work, the
# cowfile stays consistent and nothing acknowledged is lost.  Also wants
# a warning in the kernel log before the filesystem is full (space watch).
# timeout: 600
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
# soft MSG: a failure that does not stop the test (checked at the end)
softfail=""
soft() { echo "FAIL: $*" >&2; softfail="$softfail; $*"; }
img=$SCRATCH/rdo.img small=$SCRATCH/small.img mnt=/mnt/small
truncate -s 64M "$img"
dd if=/dev/urandom of="$img" bs=1M count=2 conv=notrunc 2>/dev/null
sum=$(md5 "$img")
# 4 KiB blocks, no journal, no reserve: the numbers below are predictable
truncate -s 20M "$small"
mkfs.ext4 -q -F -b 4096 -m 0 -O ^has_journal "$small"
mkdir -p $mnt
mount -o loop "$small" $mnt
cow=$mnt/c.cow
dev=$(activate "$img" "$cow")
n=${dev#/dev/cow/}

# acknowledged data: 4 MiB at 0, fsync'd
head -c 4194304 /dev/urandom >/tmp/a
dd if=/tmp/a of="$dev" bs=256k oflag=direct conv=fsync 2>/dev/null
# leave about 8 MiB free
free_kb=$(df -k $mnt | awk 'NR==2 {print $4}')
dd if=/dev/zero of=$mnt/filler bs=1M count=$(((free_kb - 8192) / 1024)) conv=fsync 2>/dev/null
df -k $mnt
dmesg -c >/dev/null

# fill from 4 MiB on, 256 KiB per direct write, until a write fails
head -c 16777216 /dev/urandom >/tmp/fill
if dd if=/tmp/fill of="$dev" bs=256k seek=16 oflag=direct 2>/tmp/dd.err; then
	fail "16 MiB of writes fit in a filesystem with 8 MiB free"
fi
cat /tmp/dd.err
grep -qE "Input/output error|No space left" /tmp/dd.err || fail "unexpected write error: $(cat /tmp/dd.err)"
ok=$(sed -n 's/^\([0-9]*\)+[0-9]* records out.*/\1/p' /tmp/dd.err)
note "$ok writes of 256 KiB succeeded before the error"
df -k $mnt
[ "$ok" -gt 8 ] || fail "only $ok writes succeeded with 8 MiB free"

# one line per cause: more failing writes, with reads in between
i=0
while [ $i -lt 20 ]; do
	dd if=/tmp/fill of="$dev" bs=64k count=1 seek=$((600 + i * 8)) oflag=direct 2>/dev/null &&
		fail "a write of a new unit succeeded on a full filesystem"
	dd if="$dev" of=/dev/null bs=64k count=1 skip=$i iflag=direct 2>/dev/null ||
		fail "read of written unit failed while full"
	i=$((i + 1))
done
dmesg | grep cowloop | tee /tmp/log
errlines=$(grep -c "cow$n: cowfile.*error" /tmp/log || true)
[ "$errlines" -le 2 ] || soft "$errlines kernel log lines for one cause (ENOSPC), want 1"
[ "$errlines" -ge 1 ] || soft "no kernel log line for ENOSPC on the cowfile"

# reads and rewrites of written units still work, and fsync too
dd if="$dev" of=/tmp/back bs=256k count=16 iflag=direct 2>/dev/null
cmp /tmp/a /tmp/back || fail "acknowledged data differs while full"
dd if="$dev" of=/tmp/back bs=256k skip=16 count="$ok" iflag=direct 2>/dev/null
cmp -n $((ok * 262144)) /tmp/fill /tmp/back || fail "written units differ while full"
head -c 1048576 /dev/urandom >/tmp/b
dd if=/tmp/b of="$dev" bs=256k seek=4 oflag=direct conv=fsync,notrunc 2>/dev/null ||
	fail "rewrite (+fsync) of written units failed while full"
dd if=/tmp/b of=/tmp/a bs=256k seek=4 conv=notrunc 2>/dev/null

# free space: new writes work again
rm $mnt/filler
sync
dd if=/tmp/fill of="$dev" bs=256k count=8 seek=200 oflag=direct conv=fsync 2>/dev/null ||
	fail "writes still fail after space was freed"
dmesg | grep cowloop | tail -3

deactivate "$dev"
dmesg | tail -2 | grep -q "left dirty" && fail "final write of header and bitmap failed"
cowlist "$cow" | tee /tmp/l
grep -q 'state cowfile:     clean$' /tmp/l || fail "cowfile not clean"
dev=$(activate "$img" "$cow")		# checks cowused against the bitmap
dd if="$dev" of=/tmp/back bs=256k count=16 2>/dev/null
cmp /tmp/a /tmp/back || fail "acknowledged data lost"
dd if="$dev" of=/tmp/back bs=256k skip=16 count="$ok" 2>/dev/null
cmp -n $((ok * 262144)) /tmp/fill /tmp/back || fail "written units lost"
dd if="$dev" of=/tmp/back bs=256k skip=200 count=8 2>/dev/null
cmp -n 2097152 /tmp/fill /tmp/back || fail "writes after freeing space lost"
deactivate "$dev"
umount $mnt
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"

# The filesystem fills up while the bitmap block of the new units is still
# a hole in the cowfile (units past 24 MiB: bitmap bytes past the header's
# 4 KiB block): the flush that follows must still work, or rewrites and
# fsync fail until space is freed and deactivation leaves the cowfile dirty.
mount -o loop "$small" $mnt
rm -f "$cow" $mnt/filler
dev=$(activate "$img" "$cow")
dd if=/tmp/fill of="$dev" bs=64k count=1 oflag=direct conv=fsync 2>/dev/null
free_kb=$(df -k $mnt | awk 'NR==2 {print $4}')
dd if=/dev/zero of=$mnt/filler bs=1M count=$(((free_kb - 1024) / 1024)) conv=fsync 2>/dev/null
df -k $mnt
dd if=/tmp/fill of="$dev" bs=64k seek=640 oflag=direct 2>/dev/null &&
	fail "16 MiB fit in 1 MiB"
dd if=/tmp/fill of="$dev" bs=64k count=1 oflag=direct conv=fsync,notrunc 2>/dev/null ||
	soft "rewrite + fsync fail once the filesystem is full: the bitmap block of the last units is not allocated (sparse), its write needs space"
rm $mnt/filler
sync
deactivate "$dev"
dmesg | tail -3 | grep -q "left dirty" && soft "full filesystem left the cowfile dirty"
cowlist "$cow" | grep -q 'state cowfile:     clean$' || soft "cowfile not clean after a full filesystem"
umount $mnt

# Copied units (copy-on-read): a rewrite of one sets its bit of the
# modified map, which must not need space either (its block is given
# when the unit is copied).  Units from 40 MiB on: their bytes of the map
# are past its first block, which the activation writes.
mount -o loop "$small" $mnt
rm -f "$cow" $mnt/filler
dev=$(activate --copy-on-read "$img" "$cow")
dd if="$dev" of=/dev/null bs=1M skip=40 count=4 iflag=direct 2>/dev/null
i=0
while [ "$(awk '{ print $3 }' /sys/block/cow$n/cowloop/fill)" -lt 4096 ] &&
      [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
check_eq "units copied on read" 4096 "$(awk '{ print $3 }' /sys/block/cow$n/cowloop/fill)"
dd if=/dev/zero of=$mnt/filler bs=1M conv=fsync 2>/dev/null || true
sync
df -k $mnt
dd if=/tmp/b of="$dev" bs=256k count=4 seek=160 oflag=direct conv=fsync,notrunc 2>/dev/null ||
	fail "rewrite (+fsync) of copied units failed while full"
dd if="$dev" of=/tmp/back bs=256k count=4 skip=160 iflag=direct 2>/dev/null
cmp /tmp/b /tmp/back || fail "rewritten copied units differ while full"
rm $mnt/filler
sync
deactivate "$dev"
cowlist -m -n "$cow" | grep -q "^ *41943040 *1048576" ||
	fail "the rewrite is not in the modified map: $(cowlist -m -n "$cow")"
rm -f "$cow"
umount $mnt

# Space watch (driver TODO): a warning before the filesystem is full.
# Redo a fill from about 90% and look for a line before the first error.
mount -o loop "$small" $mnt
dev=$(activate "$img" "$cow")
free_kb=$(df -k $mnt | awk 'NR==2 {print $4}')
total_kb=$(df -k $mnt | awk 'NR==2 {print $2}')
dd if=/dev/zero of=$mnt/filler bs=1M count=$(((free_kb - total_kb / 10) / 1024)) conv=fsync 2>/dev/null
df -k $mnt
dmesg -c >/dev/null
# at a writer's pace (64 KiB per 0.25 s): a 20 MiB filesystem's last 5%
# would otherwise go in less than the watch's one-second period
i=0
while [ $i -lt 64 ] &&
	dd if=/tmp/fill of="$dev" bs=64k count=1 skip=$i seek=$((256 + i)) oflag=direct 2>/dev/null; do
	sleep 0.25
	i=$((i + 1))
done
dmesg | grep cowloop | tee /tmp/log
rm $mnt/filler
deactivate "$dev"
umount $mnt
first_err=$(grep -n "cow$n: cowfile.*error" /tmp/log | head -1 | cut -d: -f1)
warn=$(grep -n -iE "cow$n: .*(space|full)" /tmp/log | grep -v "error" | head -1 | cut -d: -f1)
[ -n "$warn" ] || soft "no kernel log warning before the cowfile's filesystem filled up (space watch missing)"
[ -z "$warn" ] || [ "$warn" -lt "${first_err:-999999}" ] || soft "the space warning came after the first error"
[ "$(grep -iE "cow$n: .*(space|full)" /tmp/log | grep -vc error)" -le 3 ] || soft "space warnings flood the log"
[ -z "$softfail" ] || fail "${softfail#; }"
