#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of "make bench" (host side: tests/guest/bench.sh): fio jobs
# against /dev/cow/N, loop, dm-snapshot and qemu-nbd+qcow2, all on the
# same ext4 scratch disk, interleaved over rounds on fresh overlays.
# Not a test of t/: "make check" does not run it.
#
# Kernel command line (set by the host):
#   cowbench.size=MiB     size of the rdofile and of every overlay
#   cowbench.runtime=s    seconds per fio job
#   cowbench.rounds=N     rounds
#   cowbench.jobs=a,b     jobs to run (default all, see JOBS below)
#
# Results, on the results channel (and the console), one line each:
#   BENCH fio ROUND PHASE CONTESTANT JOB IOPS KiB/s KiB
#   BENCH disk ROUND PHASE CONTESTANT JOB VDA_IOS (I/Os of the disk)
#   BENCH wa ROUND JOB WRITTEN_BYTES ALLOC_BYTES FRESH_BYTES CONTESTANT
#   BENCH mem ROUND WHEN SLAB_KB VMALLOC_KB PERCPU_KB MEMFREE_KB
#   BENCH slab ROUND WHEN NAME ACTIVE_OBJS NUM_OBJS OBJSIZE PAGES
#   BENCH devmem ROUND WHEN BYTES (the device's own figure, sysfs memory)
#   BENCH info KEY VALUE
# PHASE: unmod (reads of the rdofile's data), first (writes to units not
# yet in the overlay), mod (reads and rewrites of a region written
# before).  Contestants: loop-dio / loop-buf (losetup --direct-io=on/off;
# over the rdofile, a fully written copy of it, or a fresh sparse file),
# cowloop, dm-snapshot, qcow2.
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

barg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^cowbench\.$1=//p"; }
SIZE=$(barg size)
RUNTIME=$(barg runtime)
ROUNDS=$(barg rounds)
JOBS=$(barg jobs | tr , ' ')
SIZE=${SIZE:-2048} RUNTIME=${RUNTIME:-5} ROUNDS=${ROUNDS:-2}
JOBS=${JOBS:-rr1 rr16 sr rw1 rw16 sw fsync}
READS="" WRITES=""
for j in $JOBS; do
	case $j in
	rr1|rr16|sr) READS="$READS $j" ;;
	rw1|rw16|sw|fsync) WRITES="$WRITES $j" ;;
	*) fail "unknown job $j" ;;
	esac
done

rdo=$SCRATCH/rdo.img copy=$SCRATCH/copy.img
ovl=$SCRATCH/overlay
out() {
	echo "BENCH $*"
	echo "BENCH $*" >"$COW_RESULTS"
}

# quiesce: written data on disk, no page cache left to help the next job.
quiesce() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# fiojob DEV JOB: run one fio job, echo "IOPS KiB/s KiB" (read + write).
# Reads are time based; writes stop after one pass over the device (fio's
# random map hits each block once) or at the runtime, so first writes
# stay first writes.
fiojob() {
	case $2 in
	rr1)	set -- "$1" --rw=randread --bs=4k --iodepth=1 --time_based ;;
	rr16)	set -- "$1" --rw=randread --bs=4k --iodepth=16 --time_based ;;
	sr)	set -- "$1" --rw=read --bs=1M --iodepth=4 --time_based ;;
	rw1)	set -- "$1" --rw=randwrite --bs=4k --iodepth=1 ;;
	rw16)	set -- "$1" --rw=randwrite --bs=4k --iodepth=16 ;;
	sw)	set -- "$1" --rw=write --bs=1M --iodepth=4 ;;
	fsync)	set -- "$1" --rw=randwrite --bs=4k --iodepth=1 --fsync=1 ;;
	esac
	dev=$1
	shift
	# fio would happily lay out a regular file in /dev instead.
	[ -b "$dev" ] || fail "$dev is not a block device"
	fio --name=bench --filename="$dev" --ioengine=libaio --direct=1 \
		--size=${SIZE}M --runtime="$RUNTIME" --randrepeat=0 \
		--output-format=terse --terse-version=3 --output=/tmp/fio.out --eta=never \
		"$@" >/tmp/fio.err 2>&1 ||
		{ cat /tmp/fio.err /tmp/fio.out >&2; fail "fio $* on $dev failed"; }
	# terse v3: read KiB;KiB/s;IOPS are fields 6-8, write 47-49.
	grep '^3;' /tmp/fio.out | tail -n 1 | awk -F';' \
		'{ printf "%d %d %d\n", $8 + $49, $7 + $48, $6 + $47 }'
}

# --- contestants: setup_C echoes a block device, teardown_C undoes ---------
# A fresh overlay file each time: $ovl.
loop_attach() {	# loop_attach FILE on|off [-r]
	losetup -f --show --direct-io="$2" ${3:-} "$1"
}
loop_detach() {
	losetup -d "$1"
	n=0	# detach is asynchronous: wait until the loop is free again
	while [ -n "$(cat /sys/block/${1#/dev/}/loop/backing_file 2>/dev/null)" ] &&
	      [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
}

# setup PHASE CONTESTANT: the device to measure, fresh.
setup() {
	rm -f "$ovl"
	case $1:$2 in
	unmod:loop-*)	loop_attach "$rdo" "$(mode "$2")" -r ;;
	first:loop-*)	truncate -s ${SIZE}M "$ovl"
			loop_attach "$ovl" "$(mode "$2")" ;;
	mod:loop-*)	loop_attach "$copy" "$(mode "$2")" ;;
	*:cowloop)	activate "$rdo" "$ovl" ;;
	*:dm-snapshot)	setup_dmsnap ;;
	*:qcow2)	setup_qcow2 ;;
	esac
}
mode() { case $1 in loop-dio) echo on ;; *) echo off ;; esac; }

teardown() {	# teardown CONTESTANT DEV
	case $1 in
	loop-*)		loop_detach "$2" ;;
	cowloop)	deactivate "$2" ;;
	dm-snapshot)	dmsetup remove bsnap
			loop_detach "$(cat /tmp/snap.origin)"
			loop_detach "$(cat /tmp/snap.cow)" ;;
	qcow2)		qemu-nbd -d "$2" >/dev/null ;;
	esac
	rm -f "$ovl"
}

# dm-snapshot, persistent, 8-sector chunks; origin: loop over the
# rdofile, COW device: loop over a sparse file (room for the data and
# the exception store: 16 bytes per 4 KiB chunk).
setup_dmsnap() {
	truncate -s $((SIZE + SIZE / 128 + 16))M "$ovl"
	loop_attach "$rdo" on -r >/tmp/snap.origin
	loop_attach "$ovl" on >/tmp/snap.cow
	echo "0 $((SIZE * 2048)) snapshot $(cat /tmp/snap.origin) $(cat /tmp/snap.cow) P 8" |
		dmsetup create bsnap
	# Without udev nothing makes /dev/mapper/bsnap; devtmpfs has dm-N.
	d=/dev/$(dmsetup info -c --noheadings -o blkdevname bsnap)
	wait_for "$d"
	echo "$d"
}

# qemu-nbd serving a qcow2 overlay whose backing file is the rdofile,
# with O_DIRECT + native AIO on its files (the setting closest to DIO).
setup_qcow2() {
	qemu-img create -q -f qcow2 -F raw -b "$rdo" "$ovl" ${SIZE}M
	qemu-nbd -c /dev/nbd0 -f qcow2 --cache=none --aio=native "$ovl" >&2 ||
		fail "qemu-nbd -c /dev/nbd0 $ovl failed"
	n=0
	while [ "$(cat /sys/block/nbd0/size)" = 0 ] && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	echo /dev/nbd0
}

# vda_ios: I/Os completed by the guest's disk (reads, writes).
vda_ios() { awk '{ print $1 + $5 }' /sys/block/vda/stat; }

# measure ROUND PHASE CONTESTANT JOB: fresh overlay, one job, teardown.
# Also "BENCH disk ...": I/Os that reached the disk during the job, a
# check that a contestant's figures come from the disk, not a cache.
measure() {
	quiesce
	d=$(setup "$2" "$3")
	v0=$(vda_ios)
	r=$(fiojob "$d" "$4")
	out fio "$1" "$2" "$3" "$4" $r
	out disk "$1" "$2" "$3" "$4" $(($(vda_ios) - v0))
	case $3:$2 in
	cowloop:first)	wa "$1" "$4" "$r" "$FRESH" "$3" ;;
	loop-*:first)	wa "$1" "$4" "$r" 0 "$3" ;;
	esac
	teardown "$3" "$d"
}

# wa ROUND JOB "IOPS KiB/s KiB" FRESH CONTESTANT: write amplification of
# the overlay $ovl (cowfile, or loop's sparse file: what the file system
# alone adds): bytes it allocated (after a flush) over bytes written.
wa() {
	sync
	out wa "$1" "$2" $(($(echo "$3" | cut -d' ' -f3) * 1024)) \
		$(alloc "$ovl") "$4" "$5"
}
alloc() { echo $(($(stat -c '%b * %B' "$1"))); }

# memory WHEN ROUND [DEV]: the module's memory as /proc shows it, and
# what the device DEV says it holds.
memory() {
	[ -n "${3:-}" ] &&
		out devmem "$2" "$1" "$(cat /sys/block/cow${3#/dev/cow/}/cowloop/memory)"
	quiesce
	awk -v w="$1" -v r="$2" '
		/^Slab:/ { s = $2 } /^VmallocUsed:/ { v = $2 }
		/^Percpu:/ { p = $2 } /^MemFree:/ { f = $2 }
		END { printf "mem %s %s %d %d %d %d\n", r, w, s, v, p, f }' \
		/proc/meminfo | { read -r l; out $l; }
	# name active num objsize perslab pagesperslab : tunables a b c :
	# slabdata active_slabs num_slabs shared
	grep -E '^cow_' /proc/slabinfo |
	while read -r name act num size _ pps _ _ _ _ _ _ _ slabs _; do
		out slab "$2" "$1" "$name" "$act" "$num" "$size" $((slabs * pps))
	done
}

# --- setup -----------------------------------------------------------------
need fio losetup dmsetup qemu-img qemu-nbd
mkdir -p /var/lock	# qemu-nbd -c puts its socket there
modprobe dm_snapshot
modprobe nbd nbds_max=2
cow_load
out info kernel "$COW_KVER"
out info size_mib "$SIZE"
out info runtime_s "$RUNTIME"
out info rounds "$ROUNDS"
out info mem_kib "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
out info cpus "$(grep -c ^processor /proc/cpuinfo)"
out info fs "ext4 on virtio-blk /dev/vda"
note "writing the rdofile and its copy (${SIZE} MiB each)"
t0=$(date +%s)
fio --name=mkrdo --filename="$rdo" --rw=write --bs=1M --size=${SIZE}M \
	--ioengine=libaio --iodepth=4 --direct=1 --output=/dev/null --eta=never
cp "$rdo" "$copy"
sync
out info prep_s $(($(date +%s) - t0))
# Queue settings that change timing, and the guest's clock.
l=$(loop_attach "$rdo" on -r)
q=/sys/block/${l#/dev/}/queue
out info loop_queue "sched=$(cat $q/scheduler | tr ' ' ,)" \
	"rotational=$(cat $q/rotational)" "nr_requests=$(cat $q/nr_requests)"
loop_detach "$l"
out info clocksource "$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
# Allocation of a cowfile before any write: header and bitmap.
d=$(activate "$rdo" "$ovl")
q=/sys/block/cow${d#/dev/cow/}/queue
[ -d "$q" ] && out info cow_queue "sched=$(cat $q/scheduler | tr ' ' ,)" \
	"rotational=$(cat $q/rotational)"
deactivate "$d"
sync
FRESH=$(alloc "$ovl")
rm -f "$ovl"

# --- rounds ----------------------------------------------------------------
LOOPS="loop-dio loop-buf"
round=1
while [ "$round" -le "$ROUNDS" ]; do
	note "round $round of $ROUNDS"
	for j in $READS; do
		for c in $LOOPS cowloop dm-snapshot qcow2; do
			measure "$round" unmod "$c" "$j"
		done
	done
	for j in $WRITES; do
		for c in $LOOPS cowloop dm-snapshot qcow2; do
			measure "$round" first "$c" "$j"
		done
	done

	# Modified region: the whole device written once through cowloop
	# (that fill is a first write too: its amplification is recorded).
	# The device stays active for the reads and rewrites, interleaved
	# with loop over the written copy.
	memory before "$round"
	cd_=$(activate "$rdo" "$SCRATCH/mod.cow")
	memory active "$round" "$cd_"
	fio --name=fill --filename="$cd_" --rw=write --bs=1M --size=${SIZE}M \
		--ioengine=libaio --iodepth=4 --direct=1 --output=/dev/null --eta=never
	sync
	out wa "$round" fill $((SIZE * 1048576)) $(alloc "$SCRATCH/mod.cow") "$FRESH" cowloop
	memory modified "$round" "$cd_"
	for j in $READS $WRITES; do
		for c in $LOOPS; do
			measure "$round" mod "$c" "$j"
		done
		quiesce
		v0=$(vda_ios)
		r=$(fiojob "$cd_" "$j")
		out fio "$round" mod cowloop "$j" $r
		out disk "$round" mod cowloop "$j" $(($(vda_ios) - v0))
	done
	memory used "$round" "$cd_"
	deactivate "$cd_"
	rm -f "$SCRATCH/mod.cow"
	memory deactivated "$round"
	round=$((round + 1))
done
rm -f "$rdo" "$copy"
