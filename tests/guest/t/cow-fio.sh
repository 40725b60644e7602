#!/bin/sh
# fio random writes with crc32c verification at queue depth 16 (libaio,
# direct), then a verifying read pass after deactivation and reactivation.
# timeout: 600
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/rdo.img cow=$SCRATCH/fio.cow
pattern "$img" 65536
sum=$(md5 "$img")
dev=$(activate "$img" "$cow")
job="--name=v --filename=$dev --ioengine=libaio --direct=1 --iodepth=16
	--bs=4k --size=48M --verify=crc32c --verify_state_save=0"
fio $job --rw=randwrite --do_verify=1 --output=/tmp/fio1 ||
	{ cat /tmp/fio1; fail "fio randwrite verify failed"; }
deactivate "$dev"
dev=$(activate "$img" "$cow")
fio $job --rw=randread --verify_only=1 --output=/tmp/fio2 ||
	{ cat /tmp/fio2; fail "fio verify after reactivation failed"; }
# and the unmodified tail still reads from the rdofile
dd if="$dev" bs=1M skip=48 count=16 2>/dev/null | md5sum >/tmp/a
dd if="$img" bs=1M skip=48 count=16 2>/dev/null | md5sum >/tmp/b
cmp /tmp/a /tmp/b || fail "unmodified part differs from the rdofile"
deactivate "$dev"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
cow_unload
