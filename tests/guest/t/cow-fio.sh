#!/bin/sh
# fio random writes with crc32c verification at queue depth 16 (libaio,
# direct): 4 KiB writes (through the cowfile's page cache) and a mix of
# 4 KiB to 1 MiB (the large ones direct to the cowfile), then a verifying
# read pass after deactivation and reactivation.  Small and large writes
# over the same units agree, before and after reactivation.
# timeout: 600
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/rdo.img cow=$SCRATCH/fio.cow
pattern "$img" 65536
sum=$(md5 "$img")
dev=$(activate "$img" "$cow")
small="--name=v --filename=$dev --ioengine=libaio --direct=1 --iodepth=16
	--bs=4k --size=24M --verify=crc32c --verify_state_save=0"
mixed="--name=m --filename=$dev --ioengine=libaio --direct=1 --iodepth=16
	--bssplit=4k/40:16k/20:64k/20:1m/20 --offset=24M --size=24M
	--verify=crc32c --verify_state_save=0"
fio $small --rw=randwrite --do_verify=1 --output=/tmp/fio1 ||
	{ cat /tmp/fio1; fail "fio 4k randwrite verify failed"; }
fio $mixed --rw=randwrite --do_verify=1 --output=/tmp/fio1 ||
	{ cat /tmp/fio1; fail "fio 4k-1M randwrite verify failed"; }

# 48 MiB on: a small write, a large one over it, a small one inside that
head -c 1048576 /dev/urandom >/tmp/big
head -c 4096 /dev/urandom >/tmp/small
u=$((48 * 256))
dd if=/tmp/small of="$dev" bs=4k seek=$((u + 5)) oflag=direct conv=notrunc 2>/dev/null
dd if=/tmp/big of="$dev" bs=1M seek=48 oflag=direct conv=notrunc 2>/dev/null
dd if=/tmp/small of="$dev" bs=4k seek=$((u + 7)) oflag=direct conv=notrunc 2>/dev/null
cp /tmp/big /tmp/want
dd if=/tmp/small of=/tmp/want bs=4k seek=7 conv=notrunc 2>/dev/null
overlap() {
	dd if="$dev" of=/tmp/got bs=1M skip=48 count=1 iflag=direct 2>/dev/null
	cmp /tmp/got /tmp/want >/dev/null ||
		fail "small and large writes over the same units disagree ($1)"
}
overlap "active"

deactivate "$dev"
dev=$(activate "$img" "$cow")
fio $small --rw=randread --verify_only=1 --output=/tmp/fio2 ||
	{ cat /tmp/fio2; fail "fio 4k verify after reactivation failed"; }
fio $mixed --rw=randread --verify_only=1 --output=/tmp/fio2 ||
	{ cat /tmp/fio2; fail "fio 4k-1M verify after reactivation failed"; }
overlap "after reactivation"
# and the unmodified tail still reads from the rdofile
dd if="$dev" bs=1M skip=56 count=8 2>/dev/null | md5sum >/tmp/a
dd if="$img" bs=1M skip=56 count=8 2>/dev/null | md5sum >/tmp/b
cmp /tmp/a /tmp/b || fail "unmodified part differs from the rdofile"
deactivate "$dev"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
cow_unload
