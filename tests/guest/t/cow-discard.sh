#!/bin/sh
# Discard and write-zeroes (issue 14): with the cowfile on ext4, on xfs
# (holes punched) and on ramfs (no holes: discard not offered,
# write-zeroes written as zeroes), every discarded or zeroed range reads
# as zeroes, never as the rdofile's data, next to untouched neighbours
# (aligned, unaligned, inside one 1 KiB unit, over units never written);
# the cowfile's allocation shrinks by what was discarded; fio writes
# mixed sizes at queue depth 16 and verifies them while randtrim of
# 512 B..1 MiB runs beside, whose range then holds only the rdofile's
# data and zeroes; everything holds after
# deactivation, cowrepair -n and reactivation; a discard of the whole
# device leaves a cowfile whose data area is holes; fstrim of ext4 and
# xfs on the cowdevice gives the space back.
# timeout: 1200
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need fio blkdiscard fstrim xfs_io cmp
cow_load

K=1024 M=1048576
SIZE=$((24 * M)) MODEL=$((16 * M))	# [0, 16M): modelled; the rest: fio
SRC=$SCRATCH/src.img
head -c $SIZE /dev/urandom >"$SRC"

# sysfs DEV ATTR: /sys/block/cowN/ATTR
sysfs() { cat "/sys/block/cow${1##*/}/$2"; }

# zero_model OFF LEN: what the model says after OFF, LEN was zeroed
zero_model() {
	dd if=/dev/zero of=$model bs=512 seek=$(($1 / 512)) \
		count=$(($2 / 512)) conv=notrunc 2>/dev/null
}

# put OFF LEN: write random data at OFF, LEN to the device and the model
put() {
	head -c "$2" /dev/urandom >/tmp/put.dat
	dd if=/tmp/put.dat of=$dev bs=512 seek=$(($1 / 512)) oflag=direct \
		conv=notrunc 2>/dev/null
	dd if=/tmp/put.dat of=$model bs=512 seek=$(($1 / 512)) \
		conv=notrunc 2>/dev/null
}

# zero discard|zeroout OFF LEN: blkdiscard [-z] on the device and the model
zero() {
	case $1 in
	discard) blkdiscard -o "$2" -l "$3" $dev ;;
	zeroout) blkdiscard -z -o "$2" -l "$3" $dev ;;
	esac || fail "blkdiscard $1 $2 $3 on $dev ($where) failed"
	zero_model "$2" "$3"
}

# same WHAT: the device's modelled part equals the model
same() {
	cmp -n $MODEL $dev $model ||
		fail "$where: $1: the device differs from the model"
}

# allocated FILE: KiB allocated to FILE
allocated() { set -- $(du -k "$1"); echo "$1"; }

# fio_mixed SEED: fio writes of mixed sizes at queue depth 16 in
# [16M, 20M) while randtrim of 512 B..256 KiB runs in [20M, 24M) beside
# them; the writes then verify, and each sector of the trimmed range is
# the rdofile's or zeroes (and some are zeroes)
fio_mixed() {
	fio --output=/dev/null --filename=$dev --direct=1 --randseed=$1 \
		--name=w --offset=$MODEL --size=$((4 * M)) --rw=randwrite \
		--bsrange=512-65536 --blockalign=512 --ioengine=libaio \
		--iodepth=16 --verify=crc32c --do_verify=0 \
		--name=t --offset=$((MODEL + 4 * M)) --size=$((4 * M)) \
		--rw=randtrim --bsrange=512-262144 --blockalign=512 \
		--ioengine=psync --number_ios=40 ||
		fail "$where: fio writes beside trims (seed $1) failed"
	fio --output=/dev/null --filename=$dev --direct=1 --randseed=$1 \
		--name=w --offset=$MODEL --size=$((4 * M)) --rw=randwrite \
		--bsrange=512-65536 --blockalign=512 --ioengine=libaio \
		--iodepth=16 --verify=crc32c --verify_only ||
		fail "$where: data written beside trims (seed $1) does not verify"
	nz=$(sectors_either $dev $((MODEL + 4 * M)) $dir/trim.old $dir/trim.zero) ||
		fail "$where: trimmed range holds other data than the rdofile's or zeroes"
	[ "$nz" -gt 0 ] || fail "$where: randtrim zeroed nothing"
	note "$where: seed $1: $nz sectors of 8192 trimmed"
}

# one DIR FSNAME: the whole sequence with the cowfile in DIR
one() {
	dir=$1 where=$2 model=$1/model rdo=$1/rdo.img cow=$1/d.cow
	cp "$SRC" $rdo
	cp "$SRC" $model
	sum=$(md5 $rdo)
	dev=$(activate $rdo $cow)

	if [ "$where" = ramfs ]; then
		check_eq "$where: discard" none "$(sysfs $dev cowloop/discard)"
		check_eq "$where: discard_max_bytes" 0 \
			"$(sysfs $dev queue/discard_max_bytes)"
		refused "not supported" blkdiscard -o 0 -l $M $dev
		zmode=zeroout
	else
		check_eq "$where: discard" punch "$(sysfs $dev cowloop/discard)"
		check_eq "$where: discard_max_bytes" $((1024 * M)) \
			"$(sysfs $dev queue/discard_max_bytes)"
		# a hint: 6.12 rounds it up to the physical block size; the
		# discards of parts of units below show 512-byte precision
		g=$(sysfs $dev queue/discard_granularity)
		[ "$g" = 512 ] || [ "$g" = 4096 ] ||
			fail "$where: discard_granularity $g"
		zmode=discard
	fi
	check_eq "$where: write_zeroes_max_bytes" $((1024 * M)) \
		"$(sysfs $dev queue/write_zeroes_max_bytes)"

	# 2 MiB written, then discarded: zeroes, and the space is back
	put $((2 * M)) $((2 * M))
	sync
	before=$(allocated $cow)
	zero $zmode $((2 * M)) $((2 * M))
	same "2 MiB written then zeroed"
	after=$(allocated $cow)
	note "$where: cowfile $before KiB allocated before, $after KiB after"
	if [ "$where" != ramfs ]; then
		[ $((before - after)) -ge $((3 * K / 2)) ] ||
			fail "$where: discarding 2 MiB freed only $((before - after)) KiB"
	fi

	# units never written: zeroes, not the rdofile's data
	zero zeroout $((5 * M)) $M
	zero $zmode $((6 * M)) $((M + 3 * K))
	same "units never written, zeroed"

	# parts of units, with and without a copy in the cowfile
	put $((8 * M)) $((64 * K))
	zero $zmode $((8 * M + 1536)) 2560		# 1.5 KiB .. 4 KiB
	zero $zmode $((8 * M + 8 * K + 512)) 512	# inside one unit
	zero zeroout $((8 * M + 60 * K + 512)) $((5 * K))	# past the write
	zero $zmode $((10 * M + 512)) $((3 * K))	# never written
	zero zeroout $((11 * M - 512)) 1024		# across two units
	same "parts of units zeroed"

	# last units of the device; then the rest with fio
	zero zeroout $((MODEL - 3 * K - 512)) $((3 * K + 512))
	same "the last units of the model zeroed"
	if [ "$where" != ramfs ]; then
		dd if=$rdo of=$dir/trim.old bs=1k skip=$(((MODEL + 4 * M) / K)) \
			count=4096 2>/dev/null
		head -c $((4 * M)) /dev/zero >$dir/trim.zero
		fio_mixed 11
		rm $dir/trim.old $dir/trim.zero
	fi
	same "after fio"

	# it all holds after deactivation, and the cowfile is consistent
	cmp -n $MODEL $dev $model
	dd if=$dev of=$dir/dev.img bs=$M 2>/dev/null
	deactivate $dev
	cowrepair -n $cow >/dev/null || fail "$where: cowrepair -n $cow: not clean"
	echo 3 >/proc/sys/vm/drop_caches
	dev=$(activate $rdo $cow)
	cmp $dev $dir/dev.img || fail "$where: changed by deactivation"
	check_eq "$where: rdofile" "$sum" "$(md5 $rdo)"

	# the whole device: all zeroes, the data area all holes
	if [ "$where" != ramfs ]; then
		blkdiscard $dev || fail "$where: blkdiscard of $dev failed"
		cmp -n $SIZE $dev /dev/zero ||
			fail "$where: whole device discarded, not all zeroes"
		deactivate $dev
		doff=$(cowlist -v $cow | sed -n 's/^ *data offset: *//p')
		seek=$(xfs_io -r -c "seek -d $doff" $cow | tail -n 1)
		case $seek in
		DATA*EOF*) ;;
		*) fail "$where: data in the data area after the whole device was discarded: $seek" ;;
		esac
		cowrepair -n $cow >/dev/null || fail "$where: cowrepair -n $cow: not clean"
		note "$where: whole device discarded, cowfile $(allocated $cow) KiB allocated"
		dev=$(activate $rdo $cow)
		cmp -n $SIZE $dev /dev/zero ||
			fail "$where: after reactivation, not all zeroes"
	fi
	deactivate $dev
	rm -f $rdo $cow $model $dir/dev.img
}

one $SCRATCH ext4
one $XFS_SCRATCH xfs
mkdir -p /tmp/cowdisc.ramfs
mount -t ramfs ramfs /tmp/cowdisc.ramfs
one /tmp/cowdisc.ramfs ramfs
umount /tmp/cowdisc.ramfs

# fstrim of a file system on the cowdevice gives the space back
trimtest() {	# trimtest DIR TOPFS
	rdo=$1/t.img cow=$1/t.cow
	truncate -s $((320 * M)) $rdo	# xfs wants 300 MB
	dev=$(activate $rdo $cow)
	case $2 in
	ext4) mkfs.ext4 -q $dev ;;	# mke2fs discards the device first
	xfs) mkfs.xfs -q -f -K $dev ;;
	esac
	mkdir -p /tmp/cowdisc.mnt
	mount $dev /tmp/cowdisc.mnt
	head -c $((16 * M)) /dev/urandom >/tmp/cowdisc.mnt/big
	sync
	full=$(allocated $cow)
	rm /tmp/cowdisc.mnt/big
	sync	# the blocks are free once the journal has committed
	fstrim /tmp/cowdisc.mnt || fail "fstrim of $2 on $dev failed"
	sync
	trimmed=$(allocated $cow)
	note "$2 on $dev: cowfile $full KiB with a 16 MiB file, $trimmed KiB after rm and fstrim"
	[ $((full - trimmed)) -ge $((14 * K)) ] ||
		fail "$2 on $dev: fstrim gave back only $((full - trimmed)) KiB"
	umount /tmp/cowdisc.mnt
	deactivate $dev
	cowrepair -n $cow >/dev/null || fail "cowrepair -n $cow: not clean"
	rm -f $rdo $cow
}
trimtest $SCRATCH ext4
trimtest $XFS_SCRATCH xfs
