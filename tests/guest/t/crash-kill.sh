#!/bin/sh
# Hard reset in the middle of a write workload (issue 5).  Phase 1: ext4
# on /dev/cow/0 gets files written and fsync'd (their md5s recorded, also
# fsync'd) while un-fsync'd data keeps being written; the guest is reset
# (sysrq b: no sync, the guest's page cache, where the cowfile's unflushed
# writes sit, is lost).  Phase 2: the cowfile is dirty and refused;
# cowrepair only recounts (ORDERED); the device activates, ext4 recovers
# its journal, e2fsck -fn is clean, every fsync'd file is intact; more
# files, and a second reset.  Phase 3: option=r at modprobe repairs in the
# kernel and activates; same checks.
# timeout: 600
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need e2fsck
rdo=$SCRATCH/rdo.img cow=$XFS_SCRATCH/fs.cow exp=$SCRATCH/expected
mnt=/tmp/ck.mnt
mkdir -p $mnt

# workload FIRST LAST: files fFIRST..fLAST written and fsync'd, each
# recorded durably in $exp, with a background writer that never fsyncs;
# then a file left half written, and the reset.
workload() {
	(
		j=0
		while :; do
			head -c $((256 * 1024 + j * 4096)) /dev/urandom \
				>$mnt/junk$((j % 5)) 2>/dev/null || exit 0
			j=$((j + 1))
		done
	) &
	i=$1
	while [ $i -le $2 ]; do
		head -c $(( (i % 7 + 1) * 96 * 1024 + i * 333 )) /dev/urandom >$mnt/f$i
		sync $mnt/f$i $mnt
		echo "f$i $(md5 $mnt/f$i)" >>"$exp"
		sync "$exp"
		i=$((i + 1))
	done
	# mid-write: a file being written, never fsync'd
	head -c 2M /dev/urandom >$mnt/f$i &
	sleep 1
	note "resetting the guest with $(wc -l <"$exp") fsync'd files"
	reboot_guest crash
}

# check_after_crash: every fsync'd file intact, ext4 clean after its
# journal recovery (by mounting), on the activated /dev/cow/0.
check_after_crash() {
	mount -o noatime /dev/cow/0 $mnt || fail "ext4 on /dev/cow/0 does not mount"
	n=0
	while read -r name sum; do
		[ -e $mnt/$name ] || fail "fsync'd file $name is missing"
		check_eq "fsync'd file $name" "$sum" "$(md5 $mnt/$name)"
		n=$((n + 1))
	done <"$exp"
	note "$n fsync'd files intact"
	umount $mnt
	e2fsck -fn /dev/cow/0 >/tmp/fsck.out 2>&1 || {
		cat /tmp/fsck.out
		fail "e2fsck -fn of /dev/cow/0 after the crash is not clean"
	}
}

# is_dirty: the cowfile is dirty (and ORDERED), as a crash leaves it.
is_dirty() {
	st=$(cowlist -v "$cow")
	echo "$st" | grep -q "state cowfile: *dirty" ||
		fail "cowfile not dirty after a crash: $st"
	echo "$st" | grep -q "ordered: *yes" ||
		fail "cowfile written by this driver is not ORDERED: $st"
}

case $COW_PHASE in
1)
	mkfs_img "$rdo" 65536 ext4
	: >"$exp"
	sync
	cow_load
	dev=$(activate "$rdo" "$cow")
	check_eq device /dev/cow/0 "$dev"
	mount -o noatime "$dev" $mnt
	workload 1 12
	;;
2)
	cow_load
	is_dirty
	refused "dirty.*cowrepair" cowdev -a "$rdo" "$cow"
	rc=0; out=$(cowrepair "$cow") || rc=$?	# fsck's 1: repaired
	[ $rc = 1 ] || fail "cowrepair failed (exit $rc): $out"
	echo "$out"
	echo "$out" | grep -q "only cowused recounted" ||
		fail "cowrepair of an ORDERED cowfile did more than a recount"
	cowlist "$cow" | grep -q "state cowfile: *clean" ||
		fail "cowfile still dirty after cowrepair"
	dev=$(activate "$rdo" "$cow")
	check_eq device /dev/cow/0 "$dev"
	check_after_crash
	mount -o noatime "$dev" $mnt
	workload 13 20
	;;
3)
	is_dirty
	modprobe cowloop rdofile="$rdo" cowfile="$cow" option=r ||
		fail "modprobe with option=r failed"
	wait_for /dev/cow/0 10
	dmesg | grep -q "repaired" || fail "no 'repaired' line in the kernel log"
	check_after_crash
	deactivate /dev/cow/0
	cowlist "$cow" | grep -q "state cowfile: *clean" ||
		fail "cowfile not clean after deactivation"
	check_eq "fsync'd files" 20 "$(wc -l <"$exp")"
	;;
esac
