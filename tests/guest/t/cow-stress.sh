#!/bin/sh
# Mixed-size writes at high queue depth, verified: 512 B to 260 KiB,
# 512-byte aligned, most not 4 KiB aligned, so that small buffered
# writes and large direct ones land in the same cowfile pages at once
# (they must never collide: no stale data, no page-cache invalidation
# failure in the kernel log).  Verified by fio as written, then again
# after deactivation, drop_caches and reactivation.  Cowfile on ext4 and
# on xfs, with direct_io=1 and =0, a different seed each.
# timeout: 1500
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need fio
SIZE=${COW_STRESS_MB:-48}
# rdofile: non-zero data, so that a unit served from the wrong file shows
dd if=/dev/urandom of="$SCRATCH/rdo" bs=1M count=$SIZE 2>/dev/null

# job DEV SEED [fio options...]
job() {
	dev=$1 seed=$2
	shift 2
	fio --name=mix --filename="$dev" --ioengine=libaio --direct=1 \
		--rw=randwrite --iodepth=24 --iodepth_batch_submit=8 \
		--bssplit=512/10:1k/20:1536/5:3k/10:4k/10:7k/5:64k/15:65k/5:132k/10:260k/10 \
		--blockalign=512 --size=${SIZE}M --randseed="$seed" \
		--verify=crc32c --verify_fatal=1 --verify_backlog=256 \
		--group_reporting --output-format=terse "$@" >/tmp/fio.out 2>&1 ||
		{ cat /tmp/fio.out; fail "fio (seed $seed) on $dev: verify failed"; }
}

round() {
	fs=$1 dio=$2 seed=$3 dir=$4
	note "cowfile on $fs, direct_io=$dio, seed $seed"
	cow_load direct_io="$dio"
	cow=$dir/stress-$seed.cow
	rm -f "$cow"
	dev=$(activate "$SCRATCH/rdo" "$cow")
	job "$dev" "$seed"
	deactivate "$dev"
	echo 3 >/proc/sys/vm/drop_caches
	dev=$(activate "$SCRATCH/rdo" "$cow")
	job "$dev" "$seed" --verify_only
	deactivate "$dev"
	rm -f "$cow"
}

round ext4 1 11 "$SCRATCH"
round ext4 0 12 "$SCRATCH"
round xfs 1 13 "$XFS_SCRATCH"
round xfs 0 14 "$XFS_SCRATCH"
cow_unload
