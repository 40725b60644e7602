#!/bin/sh
# A cowdevice accounts for its own I/O, as a bio-based driver must: the
# requests and sectors fio writes and reads, and a discard, appear in
# /sys/block/cowN/stat (what /proc/diskstats and iostat show), none is
# left in flight, and the I/O time grows.
# timeout: 120
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need fio blkdiscard
cow_load
head -c 16M /dev/urandom >"$SCRATCH/rdo"
dev=$(activate "$SCRATCH/rdo" "$SCRATCH/c.cow")
st=/sys/block/cow${dev##*/}/stat

# field N: field N (1-based) of the device's stat line
field() { awk -v n="$1" '{ print $n }' "$st"; }
# delta N BEFORE: how much field N grew
delta() { echo $(( $(field "$1") - $2 )); }

ticks=$(field 10)
# job NAME RW: fio RW of 8 MiB in 64 KiB requests, direct
job() {
	fio --name="$1" --filename="$dev" --rw="$2" --bs=64k --size=8M \
		--direct=1 --ioengine=psync --output=/tmp/iostat.fio \
		>/dev/null 2>&1 || fail "fio $2: $(cat /tmp/iostat.fio)"
}
note "stat: $(cat "$st")"
w_ios=$(field 5) w_sec=$(field 7)
job w write
note "stat: $(cat "$st")"
check_eq "sectors written" 16384 "$(delta 7 "$w_sec")"
check_eq "writes" 128 "$(delta 5 "$w_ios")"
r_ios=$(field 1) r_sec=$(field 3)
job r read
note "stat: $(cat "$st")"
check_eq "sectors read" 16384 "$(delta 3 "$r_sec")"
check_eq "reads" 128 "$(delta 1 "$r_ios")"
d_sec=$(field 14)
blkdiscard -o $((8 * 1048576)) -l 1048576 "$dev"
note "stat: $(cat "$st")"
check_eq "sectors discarded" 2048 "$(delta 14 "$d_sec")"
check_eq "in flight" 0 "$(field 9)"
[ "$(delta 10 "$ticks")" -gt 0 ] || fail "io_ticks did not grow"
grep -q " cow${dev##*/} " /proc/diskstats || fail "cow${dev##*/} not in /proc/diskstats"
deactivate "$dev"
