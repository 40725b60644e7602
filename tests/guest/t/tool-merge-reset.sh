#!/bin/sh
# cowmerge into a block device, interrupted by a reset (issue 12).
# Phase 1: a cowdevice over a loop device gets 64 MiB of new data (the
# expected image's md5 is kept); while it is active, cowmerge and
# cowrepair refuse its files ("in use by /dev/cow/0"); after cowdev -d,
# cowmerge runs and the guest is reset (sysrq b) once the cowfile says
# "merging" on disk.  Phase 2: the driver and cowrepair refuse the half-merged
# cowfile; the same cowmerge command completes the merge; the block
# device equals the expected image; a rerun has nothing to do.
# timeout: 600
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

img=$SCRATCH/rdo.img cow=$SCRATCH/m.cow exp=$SCRATCH/expected

case $COW_PHASE in
1)
	cow_load
	head -c 96M /dev/urandom >"$img"
	sync "$img"		# the rdofile exists durably before it all
	loop=$(losetup -f --show "$img")
	dev=$(activate "$loop" "$cow")
	dd if=/dev/urandom of="$dev" bs=1M seek=16 count=64 conv=fsync 2>/dev/null
	md5 "$dev" >"$exp"
	sync "$exp"
	refused "in use by /dev/cow/0 \(as its rdofile\)" cowmerge -y "$loop" "$cow"
	refused "in use by /dev/cow/0 \(as its cowfile\)" cowmerge -y "$img" "$cow"
	refused "in use by /dev/cow/0 \(as its cowfile\)" cowrepair -n "$cow"
	deactivate "$dev"
	sync
	cowmerge -y "$loop" "$cow" >"$SCRATCH/merge1.out" 2>&1 &
	pid=$!
	# Before it marks the cowfile, cowmerge reads the whole rdofile
	# (fingerprints): seconds, or a minute on a loaded machine.
	n=0
	while ! cowlist "$cow" | grep -q "state cowfile: *merging"; do
		if ! kill -0 $pid 2>/dev/null; then
			note "cowmerge ended first: $(cat "$SCRATCH/merge1.out")"
			break
		fi
		n=$((n + 1))
		[ $n -lt 3000 ] || fail "cowmerge did not start merging in 300 s"
		sleep 0.1
	done
	# The header seen in the page cache may not be on disk yet: its
	# fsync (cow_hdr_write) is made before the first write of the merge.
	sync "$cow"
	note "state before the reset: $(cowlist "$cow" | grep 'state cowfile')"
	reboot_guest crash
	;;
2)
	cow_load
	loop=$(losetup -f --show "$img")
	st=$(cowlist "$cow" | grep 'state cowfile')
	note "after the reset: $st"
	case $st in
	*merging*)
		refused "merge into the rdofile is under way" cowdev -a "$loop" "$cow"
		refused "merge into the rdofile is under way.*not repaired" cowrepair "$cow"
		out=$(cowmerge -y "$loop" "$cow") || fail "rerun of cowmerge: $out"
		echo "$out" | grep -q "completing the interrupted merge" ||
			fail "rerun did not say it completes the merge: $out"
		;;
	*merged*)
		note "the merge had completed before the reset"
		;;
	*)
		fail "cowfile neither merging nor merged after the reset: $st"
		;;
	esac
	check_eq "merged block device" "$(cat "$exp")" "$(md5 "$loop")"
	cowlist "$cow" | grep -q "state cowfile: *merged" || fail "not merged"
	out=$(cowmerge -y "$loop" "$cow") || fail "second rerun: $out"
	echo "$out" | grep -q "already merged" || fail "second rerun said: $out"
	refused "already merged" cowdev -a "$loop" "$cow"
	losetup -d "$loop"
	;;
esac
