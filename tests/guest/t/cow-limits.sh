#!/bin/sh
# Geometry and queue limits: an rdofile beyond the format's 16 PiB is
# refused at activation, saying the limit; the queue is set as loop sets
# it (1280 KiB requests, rotational as the disk below).
# timeout: 120
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
truncate -s 32P "$XFS_SCRATCH/huge" || fail "xfs did not take a 32 PiB sparse file"
refused "16 PiB" cowdev -a "$XFS_SCRATCH/huge" "$XFS_SCRATCH/huge.cow"
[ ! -s "$XFS_SCRATCH/huge.cow" ] || fail "the refused activation wrote to the cowfile"
rm -f "$XFS_SCRATCH/huge" "$XFS_SCRATCH/huge.cow"

truncate -s 16M "$SCRATCH/rdo"
dev=$(activate "$SCRATCH/rdo" "$SCRATCH/c.cow")
q=/sys/block/cow${dev##*/}/queue
check_eq "max_hw_sectors_kb" 1280 "$(cat $q/max_hw_sectors_kb)"
disk=$(basename "$(readlink -f /sys/class/block/$(basename "$(df -P "$SCRATCH" | awk 'NR==2 {print $1}')"))")
[ -e "/sys/block/$disk/queue/rotational" ] || disk=${disk%%[0-9]*}
check_eq "rotational as /dev/$disk" "$(cat /sys/block/$disk/queue/rotational)" \
	"$(cat $q/rotational)"
deactivate "$dev"
