#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkrootfs.sh NAME OUT.img: the Debian system NAME of make check-system
# (tests/system/dists.conf), built with mmdebstrap from the Debian mirror
# apt uses, as an ext4 image (label cowroot) for /dev/vda: the packages of
# tests/system/packages (and packages.NAME): systemd, udev, the stock
# cloud kernel with headers, DKMS; the later kernel's image and headers
# (dists.conf) only downloaded into its apt cache, for the test to install
# offline; cowcheck.service runs the test's phases.
set -euo pipefail
. "$(dirname "$0")/../guest/lib.sh"
. "$(dirname "$0")/lib.sh"
name=$1
out=$2
[ -n "$(sys_line "$name")" ] || die "no system '$name' in tests/system/dists.conf"
dir=$out.d
later=$(sys_later_pkgs "$name")
sources=()
for s in $(sys_suites "$name"); do
	case $s in
	*-security) sources+=("deb $COW_MIRROR/debian-security $s main") ;;
	*) sources+=("deb $COW_MIRROR/debian $s main") ;;
	esac
done
rm -rf "$dir" "$out"
mkdir -p "$dir"
# The registry serves snapshots: their Release files may have expired.
nice mmdebstrap --mode=root --variant=apt --format=directory \
	--aptopt='Acquire::Check-Valid-Until "false"' \
	--include="$(sys_packages "$name")" \
	--skip=cleanup/apt/lists --skip=cleanup/apt/cache \
	--customize-hook='echo cowcheck > "$1/etc/hostname"' \
	--customize-hook='echo "/dev/vda / ext4 errors=remount-ro 0 1" > "$1/etc/fstab"' \
	--customize-hook='mkdir -p "$1/var/log/journal"' \
	--customize-hook='chroot "$1" passwd -d root' \
	--customize-hook="copy-in $SYS_HERE/cowcheck.service /etc/systemd/system" \
	--customize-hook='chroot "$1" systemctl enable cowcheck.service' \
	--customize-hook="chroot \"\$1\" apt-get install -y --download-only -t $(sys_later_suite "$name") $later" \
	"$(sys_release "$name")" "$dir" "${sources[@]}"
nice mke2fs -q -t ext4 -L cowroot -d "$dir" "$out.tmp" 6G
rm -rf "$dir"
mv "$out.tmp" "$out"
