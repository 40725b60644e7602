#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-cowroot: a whole Debian system booted with its root file
# system on a cowdevice (cowroot=, cowroot(7)), on each system of
# tests/system/dists.conf (DIST=d12 picks one).  The .debs (make deb) are
# installed in a chroot of the system (mkcowroot.sh: DKMS builds the
# module, update-initramfs adds cowroot's hook), which becomes a 3 GiB
# ext4 image, the rdofile, and an ISO 9660 live medium holding it inside
# a squashfs.  Then, under QEMU (TCG), one boot per phase of
# cowroot-guest.sh, in runs:
#
#   disk    the image on a read-only virtio disk, the cowfile on a second
#           disk: apt installs hello, reboot: it is there; a crash (QEMU
#           killed) during apt-get install: the next boot, without the
#           repair option, stops in the rescue shell saying why, where
#           cowrepair is typed; fsck clean, every fsync'd file there; the
#           session filled up: ENOSPC; the image unchanged
#   missing the cowfile's device missing: the message and the rescue
#           shell, no boot
#   iso     the image as LiveOS/rootfs.img in LiveOS/squashfs.img on an
#           ISO 9660 CD (-cdrom), the cowfile on a disk: as disk, and the
#           repair option repairs after the crash by itself; read speed
#           of the rdofile in squashfs through cowloop and through loop
#   ram     the image on a read-only disk, the cowfile in RAM: hello
#           installed, the session filled up (ENOSPC), reboot: gone
#   merge   the disk run's session merged into (a copy of) the image at
#           boot (merge), then that image booted without cowloop (direct):
#           the package is there
#
# After each run the host checks that the cowfile is clean and its file
# system was unmounted cleanly, and that the image (and ISO) did not
# change.  One "PASS name (system, run)" / "FAIL ..." line per check;
# "SPEED" and "TIME" lines (boot times, systemd-analyze, beside the direct
# boot's); then "N passed, N failed".  V=1 shows the consoles;
# COW_SYSTEM_KEEP=1 keeps the disks.
set -euo pipefail
. "$(dirname "$0")/../guest/lib.sh"
. "$(dirname "$0")/lib.sh"
SYS=$COW_TOP/build/system
HERE=$SYS_HERE
MEM=${COW_SYSTEM_MEM:-2G}
BOOT_TIMEOUT=${COW_SYSTEM_BOOT_TIMEOUT:-1800}
cd "$COW_TOP"

cow_need_pkgs mmdebstrap qemu-system-x86 e2fsprogs squashfs-tools xorriso
[ "$(id -u)" = 0 ] || die "mmdebstrap --mode=root and chroot need root"
dists=$(sys_dists)
[ -n "$dists" ] || die "DIST=${DIST:-}: no such system in tests/system/dists.conf"

start=$(date +%s)
sys_begin cowroot-results.txt
make -s tools >/dev/null

# ---- one boot ---------------------------------------------------------------
# cr_boot TAG APPEND [QEMU ARGS...]: boot the image's kernel and initramfs
# in the background ($qpid); console (a socket, for the rescue shell, and
# $logs/TAG.log), results on the second serial port ($run/TAG.res).
# TCG's translation cache is held to 256 MiB (QEMU's default, 1 GiB,
# makes a 2 GiB guest a 3.3 GiB process).
cr_boot() {
	local tag=$1 append=$2
	shift 2
	console=$logs/$tag.log
	res=$run/$tag.res
	: > "$res"
	: > "$console"
	rm -f "$run/con.sock"
	boot_t0=$(date +%s)
	nice qemu-system-x86_64 -nodefaults -display none -no-reboot \
		-accel tcg,tb-size=256 -cpu max -smp "$COW_SMP" -m "$MEM" \
		-kernel "$img/vmlinuz" -initrd "$img/initrd" \
		-append "console=ttyS0 loglevel=5 $append" \
		-chardev "socket,id=con,path=$run/con.sock,server=on,wait=off,logfile=$console" \
		-serial chardev:con -serial "file:$res" "$@" &
	qpid=$!
	tailpid=
	[ -n "${V:-}" ] && { tail -f "$console" & tailpid=$!; }
	return 0
}

# cr_wait [PATTERN FILE]: until QEMU exits (0), or PATTERN (ERE) shows in
# FILE (1), or the boot's time is up (2: QEMU killed).
cr_wait() {
	local n=0
	while kill -0 "$qpid" 2>/dev/null; do
		if [ -n "${1:-}" ] && tr -d '\r' < "$2" | grep -qE -- "$1"; then
			return 1
		fi
		sleep 1
		n=$((n + 1))
		if [ $n -ge "$BOOT_TIMEOUT" ]; then
			kill -9 "$qpid" 2>/dev/null
			wait "$qpid" 2>/dev/null || true
			return 2
		fi
	done
	wait "$qpid" 2>/dev/null || true
	return 0
}

# cr_end TAG WHAT: QEMU is gone: the results of the boot.
cr_end() {
	[ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
	tr -d '\r' < "$res" > "$res.txt"
	grep -E '^(PASS|FAIL|TIME|SPEED) |^  ' "$res.txt" | tee -a "$results" || true
	msg "$name: $1: $(( $(date +%s) - boot_t0 )) s"
	boots="$boots${boots:+ + }$(( $(date +%s) - boot_t0 ))"
}

# cr_type TEXT: type TEXT on the console.
cr_type() {
	/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
for c in sys.argv[2]:
    s.sendall(c.encode()); time.sleep(0.02)
time.sleep(1); s.close()' "$run/con.sock" "$1"
}

# cr_phase TAG RUN PHASE APPEND [QEMU ARGS...]: one whole boot, which
# must end with NEXT (a reboot) or DONE (a power-off).
cr_phase() {
	local tag=$1 mode=$2 phase=$3 append=$4 rc=0
	shift 4
	cr_boot "$tag" "$append cowcheck.mode=$mode cowcheck.phase=$phase" "$@"
	cr_wait || rc=$?
	cr_end "$tag"
	if [ $rc = 2 ]; then
		record "FAIL $tag-finished ($name, $mode): no end after $BOOT_TIMEOUT s (see build/system/logs/$name/$tag.log)"
		return 1
	fi
	if ! grep -qxE 'NEXT|DONE' "$res.txt"; then
		record "FAIL $tag-finished ($name, $mode): the guest ended without finishing (see build/system/logs/$name/$tag.log)"
		return 1
	fi
	[ "$mode" = direct ] || shutdown_clean "$tag" "$mode"
}

# shutdown_clean TAG RUN: the boot's shutdown went through cowroot's
# shutdown program, which deactivated the root's cowdevice.
shutdown_clean() {
	if tr -d '\r' < "$console" | grep -q '^cowroot-shutdown: cowdevices deactivated: cowfiles closed clean'; then
		record "PASS $1-shutdown-deactivated ($name, $2)"
	else
		record "FAIL $1-shutdown-deactivated ($name, $2): no 'cowroot-shutdown: cowdevices deactivated' on the console"
	fi
}

# cow_state DISK PATH: the state of cowfile PATH on ext4 image DISK; and
# e2fsck -n of DISK (clean: unmounted cleanly, nothing to fix).
cow_state() {
	rm -f "$run/cow"
	debugfs -R "dump $2 $run/cow" "$1" 2>/dev/null
	build/bin/cowlist "$run/cow" 2>&1 | sed -n 's/ *state cowfile: *//p'
	rm -f "$run/cow"
}
host_checks() {	# RUN DISK PATH
	local got
	got=$(cow_state "$2" "$3")
	if [ "$got" = clean ]; then record "PASS cowfile-clean-after-poweroff ($name, $1)"
	else record "FAIL cowfile-clean-after-poweroff ($name, $1): state '$got'"; fi
	if e2fsck -fn "$2" > "$run/fsck.out" 2>&1 && ! grep -q 'recovering journal\|needs_recovery' "$run/fsck.out"; then
		record "PASS cowfile-fs-clean ($name, $1)"
	else
		record "FAIL cowfile-fs-clean ($name, $1): $(tail -n 3 "$run/fsck.out" | paste -sd' ')"
	fi
}
same_sum() {	# RUN FILE SUM
	if [ "$(sha256sum < "$2")" = "$3" ]; then record "PASS image-unchanged-${2##*/} ($name, $1)"
	else record "FAIL image-unchanged-${2##*/} ($name, $1)"; fi
}
# ctl_disk FILES...: the ctl disk of the next boot (guest script, dist.conf,
# the list of fsync'd files)
ctl_disk() {
	rm -rf "$run/ctl" "$run/ctl.img"
	mkdir -p "$run/ctl"
	cp "$HERE/cowroot-guest.sh" "$run/ctl/guest.sh"
	echo "DIST=$name" > "$run/ctl/dist.conf"
	[ $# -gt 0 ] && cp "$@" "$run/ctl/"
	mke2fs -q -t ext4 -L cowctl -d "$run/ctl" "$run/ctl.img" 16M
}
new_data() {	# a fresh 1 GiB ext4 disk for the cowfile
	rm -f "$run/data.img"
	truncate -s 1G "$run/data.img"
	mkfs.ext4 -q -F -L cowdata "$run/data.img"
}
drv() { echo "file=$1,if=virtio,format=raw,cache=writeback,aio=threads${2:+,$2}"; }

# crash_run RUN TAG APPEND QEMU-ARGS...: boot TAG, which says KILLME once
# apt-get unpacks; QEMU is killed then; the FSYNCED lines are kept.
crash_boot() {
	local mode=$1 tag=$2 append=$3 rc=0
	shift 3
	cr_boot "$tag" "$append cowcheck.mode=$mode cowcheck.phase=2" "$@"
	cr_wait '^KILLME' "$res" || rc=$?
	if [ $rc = 1 ]; then
		sleep 1
		kill -9 "$qpid" 2>/dev/null
		wait "$qpid" 2>/dev/null || true
		record "PASS $tag-killed-during-apt ($name, $mode)"
	else
		record "FAIL $tag-killed-during-apt ($name, $mode): no KILLME (see build/system/logs/$name/$tag.log)"
	fi
	cr_end "$tag"
	tr -d '\r' < "$res" | sed -n 's/^FSYNCED //p' > "$run/fsynced.txt"
	msg "$name: $(wc -l < "$run/fsynced.txt") files fsync'd before the kill"
	[ $rc = 1 ]
}

# rescue_boot RUN APPEND LINE QEMU-ARGS...: a boot that must stop in the
# initramfs' rescue shell after the console line LINE, never go on.
rescue_boot() {
	local mode=$1 append=$2 line=$3 rc=0
	shift 3
	cr_boot "$mode" "$append" "$@"
	cr_wait '^\(initramfs\) ' "$console" || rc=$?
	kill -9 "$qpid" 2>/dev/null
	wait "$qpid" 2>/dev/null || true
	cr_end "$mode"
	# LINE ends a console line; it may follow initramfs-tools' "Begin:
	# Running /scripts/local-top ... " on it
	if [ $rc = 1 ] && tr -d '\r' < "$console" |
		awk -v l="$line" 'length($0) >= length(l) && substr($0, length($0) - length(l) + 1) == l { f = 1 } END { exit !f }'; then
		record "PASS rescue-shell-$mode ($name, $mode)"
	else
		record "FAIL rescue-shell-$mode ($name, $mode): no '$line' and rescue shell (see build/system/logs/$name/$mode.log)"
	fi
}

# ---- the runs of one system ---------------------------------------------------
cr_system() {
	local hash base sum isosum rc boots=""
	name=$1
	logs=$SYS/logs/$name
	mkdir -p "$logs" "$SYS/$name"
	local dstart
	dstart=$(date +%s)
	# the base tarball, cached by what makes it (mkcowroot.sh's package
	# lists and its base step)
	hash=$( { sys_line "$name"; sys_packages "$name"
		  sed -n '/^COWROOT_/p; /^base)$/,/^	;;$/p' "$HERE/mkcowroot.sh"
		  cat "$HERE/cowcheck.service"; } | sha256sum | cut -c1-16)
	base=$SYS/$name/cowroot-base-$hash.tar
	if [ ! -e "$base" ]; then
		rm -f "$SYS/$name"/cowroot-base-*.tar
		msg "$name: making the cowroot base system (mmdebstrap $(sys_release "$name"))"
		t0=$(date +%s)
		if ! "$HERE/mkcowroot.sh" base "$name" "$base" > "$logs/cowroot-base.log" 2>&1; then
			record "FAIL cowroot-base ($name)"
			tail -n 20 "$logs/cowroot-base.log" >&2
			return 0
		fi
		times+=("$name base $(( $(date +%s) - t0 )) s")
	fi
	# the run's images on the disk, not in /dev/shm: a shared machine's
	# RAM is what its QEMU guests need (no swap: the OOM killer takes the
	# largest guest), and the page cache holds what the boots read
	run=$SYS/cowroot-run-$$-$name
	img=$run/img
	rm -rf "$run"
	mkdir -p "$img"
	t0=$(date +%s)
	if ! "$HERE/mkcowroot.sh" image "$base" "$img" build/deb/cowloop-dkms_*.deb \
			build/deb/cowloop-utils_*_amd64.deb > "$logs/cowroot-image.log" 2>&1; then
		record "FAIL cowroot-image ($name)"
		tail -n 20 "$logs/cowroot-image.log" >&2
		rm -rf "$run"
		return 0
	fi
	times+=("$name image $(( $(date +%s) - t0 )) s")
	if grep -q '^W: cowroot' "$logs/cowroot-image.log"; then
		record "FAIL initramfs-hook-warnings ($name): $(grep '^W: cowroot' "$logs/cowroot-image.log" | head -n 1)"
	else
		record "PASS initramfs-hook-quiet ($name)"
	fi
	lsinitramfs "$img/initrd" > "$run/initrd.list"
	if grep -q 'cowloop\.ko' "$run/initrd.list" &&
	   grep -q 'scripts/local-top/cowroot$' "$run/initrd.list"; then
		record "PASS initramfs-has-cowroot ($name)"
	else
		record "FAIL initramfs-has-cowroot ($name): no cowloop.ko or local-top/cowroot in the initramfs"
	fi
	sum=$(sha256sum < "$img/rootfs.img")
	isosum=$(sha256sum < "$img/live.iso")
	local ro="$(drv "$img/rootfs.img" readonly=on)"
	# ro: Debian's default (the initramfs mounts the root read-only,
	# systemd remounts it); the boot after a crash forces fsck of the root
	local C="ro" F="ro fsck.mode=force"

	# ---- disk: the image on a read-only disk, the cowfile on another ---
	local D="-drive $ro -drive $(drv "$run/data.img") -drive $(drv "$run/ctl.img")"
	local cr="cowroot=/dev/vda,/dev/vdb:/cow/root.cow"
	new_data
	ctl_disk
	# shellcheck disable=SC2086 # drive options without blanks
	if cr_phase disk-1 disk 1 "$cr $C" $D && crash_boot disk disk-2 "$cr $C" $D; then
		# no repair option: the rescue shell says why; cowrepair there
		ctl_disk "$run/fsynced.txt"
		rc=0
		cr_boot disk-3 "$cr $F cowcheck.mode=disk cowcheck.phase=3" $D
		cr_wait '^\(initramfs\) ' "$console" || rc=$?
		if [ $rc = 1 ]; then
			if tr -d '\r' < "$console" | grep -q '^cowroot: cowfile /dev/vdb:/cow/root.cow is dirty (not closed properly: a crash or power loss): boot with cowroot=/dev/vda,/dev/vdb:/cow/root.cow,repair, or run: cowrepair /run/initramfs/cowroot/cow/cow/root.cow$'; then
				record "PASS rescue-shell-dirty-cowfile ($name, disk)"
			else
				record "FAIL rescue-shell-dirty-cowfile ($name, disk): no such message before the shell"
			fi
			cr_type $'cowrepair /run/initramfs/cowroot/cow/cow/root.cow; exit\n'
			rc=0
			cr_wait || rc=$?
		else
			record "FAIL rescue-shell-dirty-cowfile ($name, disk): no rescue shell"
		fi
		cr_end disk-3
		grep -qx DONE "$res.txt" || record "FAIL disk-3-finished ($name, disk): see build/system/logs/$name/disk-3.log"
		shutdown_clean disk-3 disk
		host_checks disk "$run/data.img" /cow/root.cow
		# ro: the session shown read-only, its cowfile unchanged
		local cowsum
		cowsum=$(debugfs -R "cat /cow/root.cow" "$run/data.img" 2>/dev/null | sha256sum)
		ctl_disk
		cr_phase disk-4 disk 4 "$cr,ro $C" $D
		if [ "$(debugfs -R "cat /cow/root.cow" "$run/data.img" 2>/dev/null | sha256sum)" = "$cowsum" ]; then
			record "PASS ro-cowfile-unchanged ($name, disk)"
		else
			record "FAIL ro-cowfile-unchanged ($name, disk)"
		fi
		cp --sparse=always "$run/data.img" "$run/merge-data.img"
		# fresh: the session thrown away, a new one
		cr_phase disk-5 disk 5 "$cr,fresh $C" $D
		host_checks disk "$run/data.img" /cow/root.cow
	fi
	same_sum disk "$img/rootfs.img" "$sum"
	times+=("$name disk $boots s")

	# ---- missing, badopt: the rescue shell, no boot ------------------
	boots=""
	rescue_boot missing "cowroot=/dev/vda,LABEL=nosuchstick:/s.cow,timeout=5 ro" \
		'cowroot: cowfile LABEL=nosuchstick:/s.cow: device not found after 5 s' -drive "$ro"
	rescue_boot badopt "cowroot=/dev/vda,ram,ramsize=1G,bogus ro" \
		'cowroot: cowroot=/dev/vda,ram,ramsize=1G,bogus: unknown option(s): bogus (known: ro, repair, merge, fresh, nodiscard, ramsize=SIZE, timeout=SECONDS)' \
		-drive "$ro"

	# ---- iso: image in squashfs on a CD, cowfile on a disk, repair ---
	boots=""
	local I="-cdrom $img/live.iso -drive $(drv "$run/data.img") -drive $(drv "$run/ctl.img")"
	cr="cowroot=LABEL=COWLIVE:/LiveOS/squashfs.img:/LiveOS/rootfs.img,LABEL=cowdata:/live.cow,repair"
	new_data
	ctl_disk
	# shellcheck disable=SC2086
	if cr_phase iso-1 iso 1 "$cr $C" $I && crash_boot iso iso-2 "$cr $C" $I; then
		ctl_disk "$run/fsynced.txt"
		cr_phase iso-3 iso 3 "$cr $F" $I
		host_checks iso "$run/data.img" /live.cow
	fi
	same_sum iso "$img/live.iso" "$isosum"
	times+=("$name iso $boots s")

	# ---- ram: the cowfile in a tmpfs of 700 MiB ----------------------
	boots=""
	cr="cowroot=/dev/vda,ram,ramsize=700M"
	ctl_disk
	# shellcheck disable=SC2086
	cr_phase ram-1 ram 1 "$cr $C" -drive "$ro" -drive "$(drv "$run/ctl.img")" &&
		cr_phase ram-2 ram 2 "$cr $C" -drive "$ro" -drive "$(drv "$run/ctl.img")"
	same_sum ram "$img/rootfs.img" "$sum"
	times+=("$name ram $boots s")

	# ---- merge: the disk run's session into a copy of the image ------
	# killed in the middle (a power loss), completed at the next boot
	# without the merge option, then the image booted without cowloop
	boots=""
	cp --sparse=always "$img/rootfs.img" "$run/merge.img"
	cr="cowroot=/dev/vda,/dev/vdb:/cow/root.cow"
	local M="-drive $(drv "$run/merge.img") -drive $(drv "$run/merge-data.img") -drive $(drv "$run/ctl.img")"
	ctl_disk
	if [ -e "$run/merge-data.img" ]; then
		rc=0
		# shellcheck disable=SC2086
		cr_boot merge-1 "$cr,merge $C cowcheck.mode=merge cowcheck.phase=1" $M
		cr_wait '^cowmerge: merging: ' "$console" || rc=$?
		kill -9 "$qpid" 2>/dev/null
		wait "$qpid" 2>/dev/null || true
		cr_end merge-1
		if [ $rc = 1 ]; then
			record "PASS merge-killed-midway ($name, merge): $(cow_state "$run/merge-data.img" /cow/root.cow)"
		else
			record "FAIL merge-killed-midway ($name, merge): no cowmerge progress seen (see build/system/logs/$name/merge-1.log)"
		fi
		# shellcheck disable=SC2086
		if cr_phase merge-2 merge 2 "$cr $C" $M; then
			if e2fsck -fn "$run/merge.img" > "$run/fsck.out" 2>&1; then
				record "PASS merged-image-fsck-clean ($name, merge)"
			else
				record "FAIL merged-image-fsck-clean ($name, merge): $(tail -n 3 "$run/fsck.out" | paste -sd' ')"
			fi
			cr_phase direct-1 direct 1 "root=/dev/vda $C" \
				-drive "$(drv "$run/merge.img")" -drive "$(drv "$run/ctl.img")"
		fi
	fi
	# the same image as it was built, booted directly: the boot time to
	# compare with
	cp --sparse=always "$img/rootfs.img" "$run/direct.img"
	ctl_disk
	cr_phase direct-0 direct 0 "root=/dev/vda $C" \
		-drive "$(drv "$run/direct.img")" -drive "$(drv "$run/ctl.img")"
	times+=("$name merge and direct $boots s")

	if [ -n "${COW_SYSTEM_KEEP:-}" ]; then msg "$name: disks kept in $run"
	else rm -rf "$run"; fi
	times+=("$name $(( $(date +%s) - dstart )) s in all")
}

for d in $dists; do
	cr_system "$d"
done

npass=$(grep -c '^PASS ' "$results" || true)
nfail=$(grep -c '^FAIL ' "$results" || true)
for d in $dists; do
	echo "$d: $(grep -c "^PASS .*($d[,)]" "$results" || true) passed, $(grep -c "^FAIL .*($d[,)]" "$results" || true) failed"
done
grep -E '^(TIME|SPEED) ' "$results" || true
msg "check-cowroot: $(( $(date +%s) - start )) s (${times[*]/%/;}); console logs in build/system/logs/NAME/"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
