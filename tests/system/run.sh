#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-system: the .debs on real Debian systems, those of
# tests/system/dists.conf in turn (Debian 12, then Debian 13; DIST=d13
# picks one).  Builds the .debs (make deb), then for each system builds or
# reuses its root file system (mkrootfs.sh; cached as
# build/system/NAME/rootfs-<hash>.img, the hash of its dists.conf line,
# package lists and scripts) and boots a copy of it under QEMU (TCG, with
# the kernel and initramfs of its own /boot, systemd and udev), one boot
# per phase of guest.sh:
#   1 (stock kernel)  apt installs cowloop-dkms and cowloop-utils, dkms
#            built the module; a cowtab line and its fstab mount set up
#   2 (stock) after a reboot: the cowdevice active, its fstab mount
#            there; data written
#   3 (stock) after a reboot: the data there, the cowfile clean at boot
#            without repair, the shutdown order right; apt installs the
#            later kernel of dists.conf (Debian 12: 6.12; Debian 13: the
#            backports kernel kernels.conf pins) with its headers, dkms
#            built for it; kernels DKMS must not build for (older than
#            6.1, or failing to build) installed as packages: no
#            half-configured package, no module; bad cowtab lines
#   4 (later) boots the later kernel: the module, the mount and the data
#            there; the malformed line, the missing rdofile and the dirty
#            cowfiles each got their journal line, the rest was activated
# and last checks on the host that shutdown left the cowfiles clean.
# One "PASS name (system, kernel)" / "FAIL name (system, kernel)" line
# per check, then "N passed, N failed" for each system and in all.
# V=1 shows the guest console; COW_SYSTEM_KEEP=1 keeps the run's disks.
set -euo pipefail
. "$(dirname "$0")/../guest/lib.sh"
. "$(dirname "$0")/lib.sh"
SYS=$COW_TOP/build/system
HERE=$SYS_HERE
COW_MEM=${COW_SYSTEM_MEM:-2G}
BOOT_TIMEOUT=${COW_SYSTEM_BOOT_TIMEOUT:-3600}
cd "$COW_TOP"

cow_need_pkgs mmdebstrap qemu-system-x86 e2fsprogs
[ "$(id -u)" = 0 ] || die "mmdebstrap --mode=root needs root"
dists=$(sys_dists)
[ -n "$dists" ] || die "DIST=${DIST:-}: no such system in tests/system/dists.conf"

start=$(date +%s)
sys_begin results.txt
msg "${times[0]}"
make -s tools >/dev/null

# sys_image NAME: the cached root file system of system NAME (made if
# missing); its path in $base.
sys_image() {
	local name=$1 hash t0
	hash=$(sys_hash "$name")
	base=$SYS/$name/rootfs-$hash.img
	[ -e "$base" ] && { msg "$name: root file system build/system/$name/rootfs-$hash.img (cached)"; return 0; }
	mkdir -p "$SYS/$name" "$SYS/logs/$name"
	rm -f "$SYS/$name"/rootfs-*.img
	msg "$name: building the root file system (mmdebstrap $(sys_release "$name")): build/system/$name/rootfs-$hash.img"
	t0=$(date +%s)
	if ! "$HERE/mkrootfs.sh" "$name" "$base" > "$SYS/logs/$name/mkrootfs.log" 2>&1; then
		record "FAIL mkrootfs ($name)"
		tail -20 "$SYS/logs/$name/mkrootfs.log" >&2
		return 1
	fi
	msg "$name: root file system built in $(( $(date +%s) - t0 )) s"
	times+=("$name root file system $(( $(date +%s) - t0 )) s")
}

# img_dump IMAGE PATH OUT: file PATH of ext4 IMAGE to OUT, following
# symbolic links (/boot/vmlinuz-R may be one, to /usr/lib/modules/R/).
img_dump() {
	local img=$1 p=$2 out=$3 i link
	for i in 1 2 3 4 5 6; do
		link=$(debugfs -R "stat $p" "$img" 2>/dev/null |
			sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')
		if [ -z "$link" ] && debugfs -R "stat $p" "$img" 2>/dev/null | grep -q 'Type: symlink'; then
			rm -f "$out"
			debugfs -R "dump $p $out" "$img" 2>/dev/null
			link=$(cat "$out")
		fi
		[ -n "$link" ] || break
		case $link in
		/*) p=$link ;;
		*) p=${p%/*}/$link ;;
		esac
	done
	rm -f "$out"
	debugfs -R "dump $p $out" "$img" 2>/dev/null
	[ -s "$out" ]
}

# sys_run NAME: the phases on system NAME.
sys_run() {
	local name=$1 run phase done r rc console res next t0 tail f got
	local dstart logs=$SYS/logs/$1 boots=""
	dstart=$(date +%s)
	mkdir -p "$logs"
	sys_image "$name" || return 0
	# the run's disks: root (a copy), data (/srv), ctl (debs, script)
	run=/dev/shm/cowloop-system-$$-$name
	if [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -lt $((8 * 1024 * 1024)) ]; then
		run=$SYS/run-$$-$name
	fi
	mkdir -p "$run/ctl"
	cp --sparse=always "$base" "$run/root.img"
	truncate -s 1G "$run/data.img"
	mkfs.ext4 -q -F -L cowdata "$run/data.img"
	cp "$HERE/guest.sh" "$COW_TOP"/build/deb/cowloop-dkms_*.deb \
		"$COW_TOP"/build/deb/cowloop-utils_*_amd64.deb "$run/ctl/"
	{
		echo "DIST=$name"
		echo "LATER_SUITE=$(sys_later_suite "$name")"
		echo "LATER_PKGS=\"$(sys_later_pkgs "$name")\""
		echo "LATER_GLOB='$(sys_later_glob "$name")'"
	} > "$run/ctl/dist.conf"
	mke2fs -q -t ext4 -L cowctl -d "$run/ctl" "$run/ctl.img" 64M

	# the kernel and initramfs of release $1, from the root image: /boot,
	# or (7.x packages) the image in /usr/lib/modules/R/
	extract() {
		rm -f "$run/vmlinuz" "$run/initrd"
		img_dump "$run/root.img" "/boot/vmlinuz-$1" "$run/vmlinuz" ||
			img_dump "$run/root.img" "/usr/lib/modules/$1/vmlinuz" "$run/vmlinuz" ||
			return 1
		img_dump "$run/root.img" "/boot/initrd.img-$1" "$run/initrd"
	}
	r=$(debugfs -R "ls /boot" "$base" 2>/dev/null | tr -s ' ' '\n' |
		sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
	if [ -z "$r" ]; then
		record "FAIL boot-1 ($name): no kernel in the root file system's /boot"
		rm -rf "$run"
		return 0
	fi

	phase=1
	done=false
	while [ $phase -le 4 ]; do
		if ! extract "$r"; then
			record "FAIL boot-$phase ($name, $r): no kernel or initramfs of $r in the root file system (/boot, /usr/lib/modules/$r)"
			break
		fi
		console=$logs/boot$phase.log
		res=$run/results$phase
		: > "$res"
		msg "$name: boot $phase: $r"
		t0=$(date +%s)
		tail=()
		[ -n "${V:-}" ] && { : > "$console"; tail -f "$console" & tail=($!); }
		rc=0
		COW_KERNEL=$run/vmlinuz COW_INITRD=$run/initrd \
		COW_DISK1=$run/root.img COW_DISK2=$run/data.img COW_TIMEOUT=$BOOT_TIMEOUT \
		COW_DEBUG_BOOT=0 cow_qemu "$r" \
			"root=/dev/vda rw cowcheck.phase=$phase $(cow_debug_append "$r")" \
			"$console" "$res" -drive "$(cow_drive "$run/ctl.img")" || rc=$?
		[ ${#tail[@]} -gt 0 ] && kill "${tail[0]}" 2>/dev/null
		msg "$name: boot $phase: $(( $(date +%s) - t0 )) s (qemu exit $rc)"
		boots="$boots${boots:+ + }$(( $(date +%s) - t0 ))"
		tr -d '\r' < "$res" > "$res.txt"
		grep -E '^(PASS|FAIL|INFO) |^  ' "$res.txt" | tee -a "$results" || true
		next=$(sed -n 's/^BOOT //p' "$res.txt" | tail -1)
		if grep -qx DONE "$res.txt"; then
			done=true
			break
		fi
		if grep -q '^FAIL ' "$res.txt"; then	# the next phases build on it
			record "FAIL boot-$phase ($name, $r): failures in this phase: later phases not run"
			break
		fi
		if [ -z "$next" ]; then
			record "FAIL boot-$phase ($name, $r): the guest ended without finishing (exit $rc; see build/system/logs/$name/boot$phase.log)"
			break
		fi
		r=$next
		phase=$((phase + 1))
	done

	# ---- on the host: shutdown left the cowfiles as they should be ---
	if $done; then
		for f in rdo.cow:clean dirty-yes.cow:clean dirty-no.cow:dirty; do
			rm -f "$run/cow"
			debugfs -R "dump /${f%%:*} $run/cow" "$run/data.img" 2>/dev/null
			got=$(build/bin/cowlist "$run/cow" 2>&1 | sed -n 's/ *state cowfile: *//p')
			if [ "$got" = "${f#*:}" ]; then
				record "PASS after-poweroff-${f%%:*}-${f#*:} ($name, host)"
			else
				record "FAIL after-poweroff-${f%%:*}-${f#*:} ($name, host): state '$got'"
			fi
		done
	fi
	if [ -n "${COW_SYSTEM_KEEP:-}" ]; then msg "$name: disks kept in $run"
	else rm -rf "$run"; fi
	times+=("$name boots $boots s, $(( $(date +%s) - dstart )) s in all")
	msg "$name: boots $boots s; $(( $(date +%s) - dstart )) s in all"
}

for d in $dists; do
	sys_run "$d"
done

npass=$(grep -c '^PASS ' "$results" || true)
nfail=$(grep -c '^FAIL ' "$results" || true)
for d in $dists; do
	echo "$d: $(grep -c "^PASS .*($d, " "$results" || true) passed, $(grep -c "^FAIL .*($d[,)]" "$results" || true) failed"
done
msg "check-system: $(( $(date +%s) - start )) s (${times[*]/%/;}); console logs in build/system/logs/"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ] && [ "$(grep -c '^PASS .*(.*, host)' "$results" || true)" -eq $((3 * $(wc -w <<<"$dists"))) ]
