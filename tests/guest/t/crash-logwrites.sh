#!/bin/sh
# Crash consistency by log replay (issue 5): the file system holding the
# cowfiles sits on dm-log-writes; ext4 on /dev/cow/0 gets files written and
# fsync'd (a mark after each fsync), /dev/cow/1 gets fio rounds ending in
# fsync (a mark after each), then discards and write-zeroes, whole and
# partial units, before and after a flush.  Both file systems run with
# -o discard, so the log holds discards too (deleted files on the
# cowdevice, holes punched in the cowfiles).  The log is then replayed to
# every mark and to a sample of the flushes, and each state must repair
# (recount only), activate, fsck clean, and hold every file fsync'd before
# that point; a
# discarded range reads as zeroes once flushed, and before, unit by unit,
# as its old data or zeroes, sector by sector, nothing else.
# timeout: 1500
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need dmsetup fio e2fsck replay-log
cow_load
modprobe dm_log_writes || fail "modprobe dm_log_writes failed"

NFILES=${NFILES:-10} NRAW=${NRAW:-3} NFLUSH=${NFLUSH:-12}
W=$XFS_SCRATCH			# xfs: reflink copies of the replayed disk
rdo=$SCRATCH/rdo.img raw=$SCRATCH/raw.img exp=$SCRATCH/expected
host=/tmp/lw.host fs=/tmp/lw.fs
mkdir -p $host $fs

# The rdofile: an ext4 image with the product page's files; a zero file
# for the raw device.
mkfs_img "$rdo" 32768 ext4
truncate -s 8M "$raw"
: >"$exp"

# The disk of the cowfiles' file system, logged to $W/log.img.
truncate -s 96M $W/base.img
truncate -s 768M $W/log.img
base=$(losetup -f --show $W/base.img)
logd=$(losetup -f --show $W/log.img)
# no udev in the guest: create the node ourselves
dmsetup create --noudevsync cowlw --table "0 $(blockdev --getsz "$base") log-writes $base $logd"
dmsetup mknodes cowlw
mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 /dev/mapper/cowlw
mount -o noatime,discard /dev/mapper/cowlw $host

fsdev=$(activate "$rdo" $host/fs.cow)
rawdev=$(activate "$raw" $host/raw.cow)
check_eq "first device" /dev/cow/0 "$fsdev"
check_eq "second device" /dev/cow/1 "$rawdev"
mount -o noatime,discard "$fsdev" $fs
sync
dmsetup message cowlw 0 mark setup

# --- the workload ------------------------------------------------------
fiojob() {	# fiojob DEV ROUND [fio options]: round ROUND's data on DEV
	dv=$1 r=$2
	shift 2
	fio --name=raw$r --filename="$dv" --rw=randwrite --bs=4k \
		--size=4M --ioengine=psync --direct=1 --randseed=$r \
		--verify=crc32c --do_verify=0 --output=/dev/null "$@"
}

i=1
while [ $i -le $NFILES ]; do
	f=f$i
	# sizes from 4 KiB to ~1.3 MiB, some not a multiple of 4 KiB
	head -c $(( (i * i * 13 + 4) * 1024 + (i % 3) * 700 )) /dev/urandom >$fs/$f
	if [ $((i % 3)) = 0 ]; then
		# rewrite a file of the rdofile in place, and append to it
		dd if=/dev/urandom of=$fs/aliases.db bs=1k seek=$i count=3 \
			conv=notrunc 2>/dev/null
		echo "line $i" >>$fs/adjtime
		sync $fs/aliases.db $fs/adjtime
		echo "$i aliases.db $(md5 $fs/aliases.db)" >>"$exp"
		echo "$i adjtime $(md5 $fs/adjtime)" >>"$exp"
	fi
	sync $fs/$f $fs
	echo "$i $f $(md5 $fs/$f)" >>"$exp"
	dmsetup message cowlw 0 mark file-$i
	# data that is never fsync'd, partly overwritten later
	head -c $((i * 37 * 1024)) /dev/urandom >$fs/junk$((i % 4))
	i=$((i + 1))
done
sync "$exp"

r=1
while [ $r -le $NRAW ]; do
	fiojob "$rawdev" $r --fsync=64 --end_fsync=1 || fail "fio round $r failed"
	dmsetup message cowlw 0 mark raw-$r
	r=$((r + 1))
done

# discards on the raw device, in [4M, 4.5M), which fio leaves alone: the
# data first (flushed), then holes and zeroes (a mark before their flush,
# one after)
Z=$((4 * 1048576))
head -c $((512 * 1024)) /dev/urandom >$SCRATCH/zold
cp $SCRATCH/zold $SCRATCH/znew
dd if=/dev/zero of=$SCRATCH/znew bs=1k count=256 conv=notrunc 2>/dev/null
dd if=/dev/zero of=$SCRATCH/znew bs=512 seek=601 count=7 conv=notrunc 2>/dev/null
dd if=/dev/zero of=$SCRATCH/znew bs=1k seek=400 count=64 conv=notrunc 2>/dev/null
sync $SCRATCH/znew
dd if=$SCRATCH/zold of="$rawdev" bs=1k seek=$((Z / 1024)) oflag=direct 2>/dev/null
sync "$rawdev"
dmsetup message cowlw 0 mark zdata
blkdiscard -o $Z -l $((256 * 1024)) "$rawdev"
blkdiscard -z -o $((Z + 601 * 512)) -l $((7 * 512)) "$rawdev"
blkdiscard -z -o $((Z + 400 * 1024)) -l $((64 * 1024)) "$rawdev"
dmsetup message cowlw 0 mark zmid
sync "$rawdev"
dmsetup message cowlw 0 mark zeroed

umount $fs
deactivate "$fsdev"
deactivate "$rawdev"
umount $host
dmsetup message cowlw 0 mark clean
status=$(dmsetup status cowlw)
note "log-writes status: $status"
dmesg | grep -q "log-writes.*[Ff]ull" && fail "the log device was too small"
dmsetup remove --noudevsync cowlw
losetup -d "$base"

# --- replay --------------------------------------------------------------
replay-log $logd >$SCRATCH/entries
note "log: $(wc -l <$SCRATCH/entries) entries, $(grep -c FLUSH $SCRATCH/entries) flushes"
start=$(awk '$5 == "setup" { print $1 }' $SCRATCH/entries)
end=$(awk '$5 == "clean" { print $1 }' $SCRATCH/entries)
[ -n "$start" ] && [ -n "$end" ] || fail "marks setup/clean not in the log"
# Checkpoints: every mark from setup to clean, and NFLUSH flushes spread
# evenly between them.
awk -v s=$start -v e=$end -v n=$NFLUSH '
	$1 >= s && $1 <= e && $2 ~ /MARK/ { print $1, $5; next }
	$1 > s && $1 < e && $2 ~ /FLUSH/ { f[nf++] = $1 }
	END { for (k = 0; k < n && nf; k++) print f[int(k * nf / n)], "flush" }
' $SCRATCH/entries | sort -n -u -k1,1 >$SCRATCH/checkpoints
note "$(wc -l <$SCRATCH/checkpoints) checkpoints"

# The marks of the file workload, by entry: "ENTRY ROUND".
awk '$5 ~ /^file-/ { sub(/file-/, "", $5); print $1, $5 }' \
	$SCRATCH/entries >$SCRATCH/filemarks

truncate -s 96M $W/replay.img
done_to=-1
chk=/tmp/lw.chk cfs=/tmp/lw.cfs
mkdir -p $chk $cfs

# repair_if_dirty COWFILE: a dirty cowfile must be ORDERED, refused by the
# driver, and repaired by cowrepair with a recount only.
repair_if_dirty() {
	st=$(cowlist -v "$1") || fail "cowlist $1 failed"
	echo "$st" | grep -q "state cowfile: *clean" && return 0
	echo "$st" | grep -q "state cowfile: *dirty" || fail "cowlist $1: $st"
	echo "$st" | grep -q "ordered: *yes" || fail "dirty cowfile $1 is not ORDERED"
	refused "dirty.*cowrepair" cowdev -a "$2" "$1"
	# fsck's exit status: 1, repaired
	rc=0; out=$(cowrepair "$1") || rc=$?
	[ $rc = 1 ] || fail "cowrepair $1: exit $rc: $out"
	echo "$out" | grep -q "only cowused recounted" ||
		fail "cowrepair of an ORDERED cowfile did more than a recount: $out"
	dirty=$((dirty + 1))
}

nchecks=0 dirty=0 nz=0
while read -r k what; do
	replay-log $logd $W/replay.img $((done_to + 1)) $k
	done_to=$k
	cp --reflink=auto $W/replay.img $W/check.img
	lo=$(losetup -f --show $W/check.img)
	mount -o noatime "$lo" $chk ||
		fail "entry $k ($what): the cowfiles' ext4 does not mount"
	# checkpoints start at the mark "setup", after a sync: both cowfiles
	# are durable from there on
	[ -e $chk/fs.cow ] && [ -e $chk/raw.cow ] ||
		fail "entry $k ($what): cowfiles missing"
	if [ "$what" = clean ]; then
		for c in $chk/fs.cow $chk/raw.cow; do
			cowlist $c | grep -q "state cowfile: *clean" ||
				fail "$c not clean (durably) after deactivation"
		done
	fi
	repair_if_dirty $chk/fs.cow "$rdo"
	repair_if_dirty $chk/raw.cow "$raw"

	d=$(activate "$rdo" $chk/fs.cow)
	mount -o noatime "$d" $cfs ||
		fail "entry $k ($what): ext4 on the cowdevice does not mount"
	# every file fsync'd before entry k, at its last fsync'd contents
	n=$(awk -v k=$k '$1 <= k { r = $2 } END { print r + 0 }' $SCRATCH/filemarks)
	nf=0
	# Between marks (at a flush), a file rewritten after file-$n may
	# already hold part of its next version: only files written once
	# are checked there; at a mark, every file.
	case $what in flush) later=$n ;; *) later=999999 ;; esac
	for name in $(awk -v n=$n -v l=$later '$1 <= n { f[$2] = 1 }
			$1 > l { x[$2] = 1 }
			END { for (a in f) if (!(a in x)) print a }' "$exp"); do
		want=$(awk -v n=$n -v f=$name '$1 <= n && $2 == f { m = $3 } END { print m }' "$exp")
		[ -e $cfs/$name ] || fail "entry $k ($what): $name fsync'd at file-$n is missing"
		check_eq "entry $k ($what): $name" "$want" "$(md5 $cfs/$name)"
		nf=$((nf + 1))
	done
	umount $cfs
	e2fsck -fn "$d" >$SCRATCH/fsck.out 2>&1 || {
		cat $SCRATCH/fsck.out
		fail "entry $k ($what): e2fsck -fn of the cowdevice's ext4 not clean"
	}
	deactivate "$d"

	case $what in raw-*)
		d=$(activate "$raw" $chk/raw.cow)
		[ -b "$d" ] || fail "$d is not a block device"
		fiojob "$d" ${what#raw-} --verify_only ||
			fail "entry $k ($what): fio data of round ${what#raw-} not intact"
		deactivate "$d"
	esac
	case $what in zdata|zmid|zeroed|clean)
		d=$(activate "$raw" $chk/raw.cow)
		case $what in
		zdata)	sectors_either "$d" $Z $SCRATCH/zold $SCRATCH/zold ;;
		zmid)	sectors_either "$d" $Z $SCRATCH/zold $SCRATCH/znew ;;
		*)	sectors_either "$d" $Z $SCRATCH/znew $SCRATCH/znew ;;
		esac >/dev/null ||
			fail "entry $k ($what): the discarded range holds other data (a sector neither old nor new)"
		deactivate "$d"
		nz=$((nz + 1))
	esac
	umount $chk
	losetup -d "$lo"
	rm -f $W/check.img
	note "entry $k ($what): ok, $nf files checked"
	nchecks=$((nchecks + 1))
done <$SCRATCH/checkpoints

losetup -d "$logd"
[ $nchecks -ge $((NFILES + NRAW + 2)) ] || fail "only $nchecks checkpoints"
[ $nz = 4 ] || fail "only $nz of the 4 discard checkpoints (zdata, zmid, zeroed, clean)"
ndisc=$(grep -c DISCARD $SCRATCH/entries || true)
[ "$ndisc" -gt 0 ] || fail "no discard in the log: the cowfiles' holes were not tested"
[ $dirty -gt 0 ] || fail "no checkpoint had a dirty cowfile: nothing tested"
note "crash-logwrites: $nchecks states checked, $dirty dirty cowfiles repaired, $ndisc discards in the log"
