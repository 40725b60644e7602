#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-system: the .debs on a real Debian 12 system.  Builds them
# (make deb), builds or reuses the root file system of mkrootfs.sh
# (cached as build/system/rootfs-<hash>.img, the hash of its package
# lists and scripts), then boots a copy of it under QEMU (TCG, with the
# kernel and initramfs of its own /boot, systemd and udev), one boot per
# phase of guest.sh:
#   1 (6.1)  apt installs cowloop-dkms and cowloop-utils, dkms built the
#            module; a cowtab line and its fstab mount are set up
#   2 (6.1)  after a reboot: the cowdevice active, its fstab mount there;
#            data written
#   3 (6.1)  after a reboot: the data there, the cowfile clean at boot
#            without repair, the shutdown order right; apt installs the
#            6.12 kernel and headers, dkms built for it; bad cowtab lines
#   4 (6.12) boots 6.12: the module, the mount and the data there; the
#            malformed line, the missing rdofile and the dirty cowfiles
#            each got their journal line, the rest was activated
# and last checks on the host that shutdown left the cowfiles clean.
# One "PASS name (kernel)" / "FAIL name (kernel)" line per check, then
# "N passed, N failed".  V=1 shows the guest console; COW_SYSTEM_KEEP=1
# keeps the run's disks.
set -euo pipefail
. "$(dirname "$0")/../guest/lib.sh"
SYS=$COW_TOP/build/system
HERE=$COW_TOP/tests/system
COW_MEM=${COW_SYSTEM_MEM:-2G}
BOOT_TIMEOUT=${COW_SYSTEM_BOOT_TIMEOUT:-3600}
cd "$COW_TOP"

cow_need_pkgs mmdebstrap qemu-system-x86 e2fsprogs
[ "$(id -u)" = 0 ] || die "mmdebstrap --mode=root needs root"

start=$(date +%s)
mkdir -p "$SYS/logs"
results=$SYS/logs/results.txt
: > "$results"
record() { echo "$*" | tee -a "$results"; }

t0=$(date +%s)
if ! make --no-print-directory deb > "$SYS/logs/deb.log" 2>&1; then
	record "FAIL make-deb"
	tail -20 "$SYS/logs/deb.log" >&2
	exit 1
fi
record "PASS make-deb"
msg "make deb: $(( $(date +%s) - t0 )) s"
make -s tools >/dev/null

# ---- the root file system, cached by the hash of what makes it -------
hash=$(cat "$HERE/packages" "$HERE/later-packages" "$HERE/mkrootfs.sh" \
	"$HERE/cowcheck.service" | sha256sum | cut -c1-16)
base=$SYS/rootfs-$hash.img
if [ ! -e "$base" ]; then
	rm -f "$SYS"/rootfs-*.img
	msg "building the Debian 12 root file system (mmdebstrap): build/system/rootfs-$hash.img"
	t0=$(date +%s)
	if ! "$HERE/mkrootfs.sh" "$base" > "$SYS/logs/mkrootfs.log" 2>&1; then
		record "FAIL mkrootfs"
		tail -20 "$SYS/logs/mkrootfs.log" >&2
		exit 1
	fi
	msg "root file system built in $(( $(date +%s) - t0 )) s"
else
	msg "root file system: build/system/rootfs-$hash.img (cached)"
fi

# ---- the run's disks: root (a copy), data (/srv), ctl (debs, script) --
run=/dev/shm/cowloop-system-$$
if [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -lt $((8 * 1024 * 1024)) ]; then
	run=$SYS/run-$$
fi
mkdir -p "$run/ctl"
cleanup() {
	if [ -n "${COW_SYSTEM_KEEP:-}" ]; then msg "disks kept in $run"
	else rm -rf "$run"; fi
}
trap cleanup EXIT
cp --sparse=always "$base" "$run/root.img"
truncate -s 1G "$run/data.img"
mkfs.ext4 -q -F -L cowdata "$run/data.img"
cp "$HERE/guest.sh" "$COW_TOP"/build/deb/cowloop-dkms_*.deb \
	"$COW_TOP"/build/deb/cowloop-utils_*_amd64.deb "$run/ctl/"
mke2fs -q -t ext4 -L cowctl -d "$run/ctl" "$run/ctl.img" 64M

# the kernel and initramfs of release $1, from the root image's /boot
extract() {
	debugfs -R "dump /boot/vmlinuz-$1 $run/vmlinuz" "$run/root.img" 2>/dev/null
	debugfs -R "dump /boot/initrd.img-$1 $run/initrd" "$run/root.img" 2>/dev/null
	[ -s "$run/vmlinuz" ] && [ -s "$run/initrd" ]
}
r=$(debugfs -R "ls /boot" "$base" 2>/dev/null | tr -s ' ' '\n' |
	sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
[ -n "$r" ] || die "no kernel in the root file system's /boot"

phase=1
done=false
while [ $phase -le 4 ]; do
	rm -f "$run/vmlinuz" "$run/initrd"
	if ! extract "$r"; then
		record "FAIL boot-$phase-kernel-$r-in-image"
		break
	fi
	console=$SYS/logs/boot$phase.log
	res=$run/results$phase
	: > "$res"
	msg "boot $phase: $r"
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
	msg "boot $phase: $(( $(date +%s) - t0 )) s (qemu exit $rc)"
	tr -d '\r' < "$res" > "$res.txt"
	grep -E '^(PASS|FAIL) |^  ' "$res.txt" | tee -a "$results" || true
	next=$(sed -n 's/^BOOT //p' "$res.txt" | tail -1)
	if grep -qx DONE "$res.txt"; then
		done=true
		break
	fi
	if grep -q '^FAIL ' "$res.txt"; then	# the next phases build on it
		record "FAIL boot-$phase ($r): failures in this phase: later phases not run"
		break
	fi
	if [ -z "$next" ]; then
		record "FAIL boot-$phase ($r): the guest ended without finishing (exit $rc; see build/system/logs/boot$phase.log)"
		break
	fi
	r=$next
	phase=$((phase + 1))
done

# ---- on the host: shutdown left the cowfiles as they should be -------
state() {
	rm -f "$run/cow"
	debugfs -R "dump /$1 $run/cow" "$run/data.img" 2>/dev/null
	build/bin/cowlist "$run/cow" 2>&1 | sed -n 's/ *state cowfile: *//p'
}
if $done; then
	for f in rdo.cow:clean dirty-yes.cow:clean dirty-no.cow:dirty; do
		got=$(state "${f%%:*}")
		if [ "$got" = "${f#*:}" ]; then
			record "PASS after-poweroff-${f%%:*}-${f#*:} (host)"
		else
			record "FAIL after-poweroff-${f%%:*}-${f#*:} (host): state '$got'"
		fi
	done
fi
npass=$(grep -c '^PASS ' "$results" || true)
nfail=$(grep -c '^FAIL ' "$results" || true)
msg "check-system: $(( $(date +%s) - start )) s; console logs in build/system/logs/"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ] && $done
