#!/bin/sh
# Checkpoints (cowdev -c) of a cowdevice in use, with the cowfile on xfs
# (reflinks of the cowfile) and on ext4 (a copy of its data
# extents): the checkpoint is a clean cowfile for the same rdofile;
# activated beside the device (a second session branching from it) it
# holds exactly the data written before the checkpoint, and none of what
# was written after; taken while fio writes at queue depth 16, it still
# verifies what was written before; ext4 mounted on the device and
# taking writes, its checkpoint recovers (journal) with e2fsck, holds
# every file synced before and none written after.  A checkpoint to an
# existing file, to a file on the cowdevice itself, or of a cowdevice
# that is not active is refused, and the device's I/O is held a time
# cowdev reports.  A checkpoint taken while blocks are written one after
# another shows the device as at one moment (seqstamp): the cowfile is
# copied (ext4) or reflinked (xfs) while the device goes on.
# timeout: 600
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need fio mkfs.ext4 e2fsck
cow_load
M=1048576

# fiojob DEV SEED OFF SIZE [fio options]: random writes of SEED's data
fiojob() {
	d=$1 seed=$2 off=$3 size=$4
	shift 4
	fio --name=ck$seed --filename="$d" --rw=randwrite --bs=4k \
		--offset="$off" --size="$size" --ioengine=libaio --iodepth=16 \
		--direct=1 --randseed="$seed" --verify=crc32c --do_verify=0 \
		--output=/tmp/ck.fio "$@" >/dev/null 2>&1
}
# put FILE DEV: FILE's 16 MiB at the start of DEV; same FILE DEV: equal
put() { dd if="$1" of="$2" bs=1M oflag=direct conv=notrunc 2>/dev/null; }
same() { cmp -s -n $((16 * M)) "$1" "$2"; }
head -c $((16 * M)) /dev/urandom >/tmp/ck.A
head -c $((16 * M)) /dev/urandom >/tmp/ck.C

# held OUTPUT: the milliseconds cowdev -c says the I/O was held
held() { sed -n 's/.*I\/O held \([0-9.]*\) ms.*/\1/p' <<EOF
$1
EOF
}

# one DIR FSNAME
one() {
	dir=$1 where=$2
	rdo=$dir/rdo.img cow=$dir/c.cow ck=$dir/ck.cow ck2=$dir/ck2.cow
	head -c $((64 * M)) /dev/urandom >"$rdo"
	dev=$(activate "$rdo" "$cow")

	note "$where: data A written, then a checkpoint, then data C over it"
	put /tmp/ck.A "$dev"
	out=$(cowdev -c "$dev" "$ck") || fail "$where: cowdev -c $dev $ck failed: $out"
	note "$where: $out"
	[ -n "$(held "$out")" ] || fail "$where: cowdev -c did not say how long I/O was held: $out"
	cowlist "$ck" | grep -q "state cowfile: *clean" ||
		fail "$where: the checkpoint is not a clean cowfile: $(cowlist "$ck")"
	cowrepair -n "$ck" >/dev/null || fail "$where: cowrepair -n of the checkpoint: not clean"
	put /tmp/ck.C "$dev"
	same /tmp/ck.C "$dev" || fail "$where: data C on the device differs"

	note "$where: the checkpoint, activated beside the device, holds A, not C"
	dev2=$(activate "$rdo" "$ck")
	same /tmp/ck.A "$dev2" ||
		fail "$where: the checkpoint does not hold the data written before it"
	cmp -i $((16 * M)) -n $((16 * M)) "$rdo" "$dev2" ||
		fail "$where: the checkpoint's untouched part is not the rdofile's"
	deactivate "$dev2"

	note "$where: a checkpoint while fio writes at queue depth 16"
	fiojob "$dev" 5 $((32 * M)) $((16 * M)) --time_based --runtime=8 &
	fpid=$!
	sleep 3
	out=$(cowdev -c "$dev" "$ck2") || fail "$where: cowdev -c under load: $out"
	note "$where: under load: $out"
	wait $fpid || fail "$where: fio under the checkpoint: $(cat /tmp/ck.fio)"
	dev2=$(activate "$rdo" "$ck2")
	same /tmp/ck.C "$dev2" ||
		fail "$where: the checkpoint under load lost data written before it"
	deactivate "$dev2"
	rm -f "$ck" "$ck2"

	note "$where: ext4 on the device, in use, checkpointed"
	mkfs.ext4 -q -F "$dev"
	mkdir -p /tmp/ck.mnt /tmp/ck.mnt2
	mount "$dev" /tmp/ck.mnt
	pattern /tmp/ck.mnt/before 256
	sync
	out=$(cowdev -c "$dev" "$ck") || fail "$where: cowdev -c of a mounted device: $out"
	pattern /tmp/ck.mnt/after 64
	sync
	dev2=$(activate "$rdo" "$ck")
	e2fsck -fy "$dev2" >/tmp/ck.fsck 2>&1 || [ $? -le 1 ] ||
		fail "$where: e2fsck of the checkpoint: $(cat /tmp/ck.fsck)"
	mount "$dev2" /tmp/ck.mnt2
	cmp /tmp/ck.mnt/before /tmp/ck.mnt2/before ||
		fail "$where: a file synced before the checkpoint differs in it"
	[ ! -e /tmp/ck.mnt2/after ] || fail "$where: a file written after the checkpoint is in it"
	umount /tmp/ck.mnt2
	deactivate "$dev2"

	note "$where: refusals"
	: >"$dir/exists.cow"
	refused "exists" cowdev -c "$dev" "$dir/exists.cow"
	[ ! -s "$dir/exists.cow" ] || fail "$where: an existing file was written"
	refused "on the cowdevice itself" cowdev -c "$dev" /tmp/ck.mnt/self.cow
	[ ! -e /tmp/ck.mnt/self.cow ] || fail "$where: a refused checkpoint left its file"
	umount /tmp/ck.mnt
	deactivate "$dev"
	refused "not an active cowdevice" cowdev -c "$dev" "$dir/none.cow"
	rm -f "$rdo" "$cow" "$ck" "$dir/exists.cow"
}

# moment DIR FSNAME: a checkpoint of a device with 192 MiB modified
# while one block after another is written to it (seqstamp): it must
# show the device as at one moment of the writing.  The cowfile is
# copied (ext4) or reflinked (xfs) while the device goes on, then what
# changed meanwhile.
moment() {
	dir=$1 where=$2
	rdo=$dir/rdo.img cow=$dir/c.cow ck=$dir/ck.cow
	truncate -s $((256 * M)) "$rdo"
	dev=$(activate "$rdo" "$cow")
	fio --name=fill --filename="$dev" --rw=write --bs=1M --size=$((192 * M)) \
		--ioengine=libaio --iodepth=8 --direct=1 --output=/tmp/ck.fio \
		>/dev/null 2>&1 || fail "$where: fio filling 192 MiB: $(cat /tmp/ck.fio)"
	seqstamp write "$dev" $((208 * M)) 8192 >/tmp/ck.seq &
	wpid=$!
	sleep 2
	out=$(cowdev -c "$dev" "$ck") || fail "$where: cowdev -c while written: $out"
	kill -TERM $wpid
	wait $wpid || fail "$where: seqstamp write failed"
	log=$(dmesg | grep "checkpoint $ck:" | tail -n 1)
	note "$where: while written one block after another: $out; $(cat /tmp/ck.seq) blocks written; ${log#*: }"
	how=copying
	[ "$where" = xfs ] && how=reflinking
	echo "$log" | grep -q "$how [0-9]* MiB changed meanwhile" ||
		fail "$where: the checkpoint was not made ($how) while the device went on: $log"
	dev2=$(activate "$rdo" "$ck")
	t=$(seqstamp check "$dev2" $((208 * M)) 8192) ||
		fail "$where: the checkpoint is not the device at one moment: $t"
	note "$where: the checkpoint is the device after write $t"
	[ "$t" -gt 0 ] || fail "$where: the checkpoint holds none of the writes before it"
	cmp -n $((192 * M)) "$dev" "$dev2" ||
		fail "$where: the checkpoint's first 192 MiB differ from the device's"
	deactivate "$dev2"
	deactivate "$dev"
	rm -f "$rdo" "$cow" "$ck"
}

one "$XFS_SCRATCH" xfs
one "$SCRATCH" ext4
moment "$XFS_SCRATCH" xfs
moment "$SCRATCH" ext4
