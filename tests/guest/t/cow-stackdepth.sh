#!/bin/sh
# The deepest kernel stack the I/O path reaches (the kernel's stack
# tracer), with a file system on top of the cowdevice (ext4, then xfs)
# and the cowfile on ext4, buffered and direct: it must stay below
# 12 KiB of the 16 KiB kernel stack.  The figure and the path are printed
# (doc/design.md quotes them).  Skipped where the kernel has no stack
# tracer.
# timeout: 900
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

LIMIT=12288
T=/sys/kernel/tracing
[ -e $T/stack_max_size ] || mount -t tracefs nodev $T 2>/dev/null || true
if [ ! -e /proc/sys/kernel/stack_tracer_enabled ] || [ ! -e $T/stack_max_size ]; then
	note "no stack tracer in $COW_KVER: nothing to measure"
	exit 0
fi
need fio
cow_load
truncate -s 512M "$SCRATCH/rdo"	# xfs wants 300 MB
dev=$(activate "$SCRATCH/rdo" "$SCRATCH/c.cow")
mkdir -p /mnt/sd
for fs in ext4 xfs; do
	case $fs in
	xfs) mkfs.xfs -q -f "$dev" ;;
	*) mkfs.ext4 -q -F "$dev" ;;
	esac
	mount "$dev" /mnt/sd
	echo 0 >$T/stack_max_size
	echo 1 >/proc/sys/kernel/stack_tracer_enabled
	fio --name=b --directory=/mnt/sd --size=8M --bs=4k --rw=randwrite \
		--ioengine=psync --fsync=16 --eta=never --output=/dev/null
	fio --name=d --directory=/mnt/sd --size=8M --bsrange=4k-256k \
		--rw=randrw --direct=1 --ioengine=libaio --iodepth=16 \
		--eta=never --output=/dev/null
	sync
	echo 0 >/proc/sys/kernel/stack_tracer_enabled
	max=$(cat $T/stack_max_size)
	note "deepest stack with $fs on the cowdevice: $max bytes"
	cat $T/stack_trace
	umount /mnt/sd
	[ "$max" -lt $LIMIT ] || fail "stack depth $max bytes with $fs on top (limit $LIMIT)"
done
deactivate "$dev"
