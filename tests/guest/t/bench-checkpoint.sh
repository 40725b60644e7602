#!/bin/sh
# The benchmark of checkpoints (make bench-checkpoint; doc/benchmark.md):
# how long cowdev -c holds a cowdevice's I/O with 10 GiB modified, the
# cowfile on xfs (a reflink) and on ext4 (a copy of its data extents),
# while fio writes 4 KiB blocks at queue depth 16: what cowdev -c says,
# and the longest write fio saw.  One line per file system:
#   bench-checkpoint: FS modified 10 GiB: held N ms, slowest write N ms
# It checks what it measures: the checkpoint is clean and holds the
# modified units.
# suite: bench
# timeout: 3600
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need fio
cow_load
G=1073741824
GIB=10

# ms VALUE UNIT: VALUE (fio's, in nsec, usec or msec) in milliseconds
ms() { awk -v v="$1" -v u="$2" 'BEGIN {
	d = u == "nsec" ? 1e6 : u == "usec" ? 1e3 : 1; printf "%.1f", v / d }'; }

one() {
	dir=$1 fs=$2
	rdo=$dir/rdo.img cow=$dir/c.cow ck=$dir/ck.cow
	truncate -s $(((GIB + 1) * G)) "$rdo"
	dev=$(activate "$rdo" "$cow")
	note "$fs: writing $GIB GiB"
	fio --name=fill --filename="$dev" --rw=write --bs=1M --size=$((GIB * G)) \
		--ioengine=libaio --iodepth=8 --direct=1 --output=/tmp/bck.fill \
		>/dev/null 2>&1 || fail "$fs: fio filling $GIB GiB: $(cat /tmp/bck.fill)"
	sync "$dev"
	cowsync
	fio --name=load --filename="$dev" --rw=randwrite --bs=4k --size=$G \
		--offset=$((GIB * G)) --ioengine=libaio --iodepth=16 --direct=1 \
		--time_based --runtime=30 --output=/tmp/bck.load >/dev/null 2>&1 &
	fpid=$!
	sleep 8
	out=$(cowdev -c "$dev" "$ck") || fail "$fs: cowdev -c: $out"
	wait $fpid || fail "$fs: fio under the checkpoint: $(cat /tmp/bck.load)"
	held=$(echo "$out" | sed -n 's/.*I\/O held \([0-9.]*\) ms.*/\1/p')
	set -- $(sed -n 's/.*clat (\([a-z]*\)): min=[0-9.]*[kKmM]*, max=\([0-9.]*\)\([kKmM]*\),.*/\1 \2 \3/p' /tmp/bck.load | head -n 1)
	[ $# -ge 2 ] || fail "$fs: no latency in fio's output: $(cat /tmp/bck.load)"
	v=$2
	case ${3:-} in k|K) v=$(awk -v v="$v" 'BEGIN { print v * 1000 }') ;; m|M) v=$(awk -v v="$v" 'BEGIN { print v * 1000000 }') ;; esac
	used=$(cowlist "$ck" | awk '/cowblocks in use/ { print $4 }')
	[ "$used" -ge $((GIB * 1048576)) ] ||
		fail "$fs: the checkpoint holds $used units, not the $GIB GiB written"
	echo "bench-checkpoint: $fs modified $GIB GiB: held $held ms, slowest write $(ms "$v" "$1") ms ($(du -k "$ck" | cut -f1) KiB of new disk space at most: $(df -k "$dir" | awk 'NR==2 {print $3}') KiB used)"
	deactivate "$dev"
	rm -f "$rdo" "$cow" "$ck"
}

one "$XFS_SCRATCH" xfs
one "$SCRATCH" ext4
