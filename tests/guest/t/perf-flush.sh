#!/bin/sh
# The cost of flush handling (issue 5), for the performance work: fio 4k
# random writes with fsync=1 on /dev/cow/0 and on loop over a copy of the
# same rdofile, in the same boot, on the same file system.  Prints
#   flush-cost[first]: cowloop X iops, loop Y iops, ratio Z
# for writes to units not yet in the cowfile (each flush writes bitmap
# pages), and flush-cost[again] for the same offsets rewritten (a flush is
# then only an fsync of the cowfile).  No threshold beyond sanity: runs
# of 3 s (SECS), enough to show that flushes work and what they cost in
# this boot; the figures that count are make bench's fsync=1 jobs.
# timeout: 400
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need fio
SECS=${SECS:-3}
rdo=$SCRATCH/rdo.img copy=$SCRATCH/copy.img cow=$SCRATCH/rdo.cow

# A fully allocated rdofile, and a copy of it for loop.
dd if=/dev/urandom of="$rdo" bs=1M count=64 2>/dev/null
cp "$rdo" "$copy"
sync

# iops DEV SEED: write IOPS of a 4k randwrite fsync=1 run on DEV.
iops() {
	fio --name=flush --filename="$1" --rw=randwrite --bs=4k --size=64M \
		--fsync=1 --ioengine=psync --direct=1 --randseed="$2" \
		--runtime=$SECS --time_based --output-format=terse \
		--terse-version=3 >/tmp/fio.terse || fail "fio on $1 failed"
	v=$(awk -F';' '{ printf "%d", $49 }' /tmp/fio.terse)
	[ "$v" -gt 0 ] || fail "fio on $1: no writes done"
	echo "$v"
}

# ratio A B: A/B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cow_load
dev=$(activate "$rdo" "$cow")
lo=$(losetup -f --show "$copy")
for pass in first again; do
	c=$(iops "$dev" 7)
	l=$(iops "$lo" 7)
	echo "flush-cost[$pass]: cowloop $c iops, loop $l iops, ratio $(ratio "$c" "$l")"
done
note "cowfile after the runs: $(du -k "$cow" | cut -f1) KiB used, $(cowlist "$cow" | grep 'in use')"
losetup -d "$lo"
deactivate "$dev"
cowlist "$cow" | grep -q "state cowfile: *clean" ||
	fail "cowfile not clean after deactivation"
