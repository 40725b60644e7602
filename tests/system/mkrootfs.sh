#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkrootfs.sh OUT.img: the Debian 12 system of make check-system, built
# with mmdebstrap from the Debian mirror apt uses (packages: the list in
# packages; later-packages only downloaded into its apt cache, for the
# test to install offline), as an ext4 image (label cowroot) for
# /dev/vda.  systemd, udev, the stock cloud kernel (6.1) with headers,
# DKMS; cowcheck.service runs the test's phases.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
dir=$out.d
list() { grep -v '^#' "$here/$1" | paste -sd, ; }
later=$(grep -v '^#' "$here/later-packages" | tr '\n' ' ')
rm -rf "$dir" "$out"
mkdir -p "$dir"
mirror=http://deb.debian.org/debian
nice mmdebstrap --mode=root --variant=apt --format=directory \
	--include="$(list packages)" \
	--skip=cleanup/apt/lists --skip=cleanup/apt/cache \
	--customize-hook='echo cowcheck > "$1/etc/hostname"' \
	--customize-hook='echo "/dev/vda / ext4 errors=remount-ro 0 1" > "$1/etc/fstab"' \
	--customize-hook='mkdir -p "$1/var/log/journal"' \
	--customize-hook='chroot "$1" passwd -d root' \
	--customize-hook="copy-in $here/cowcheck.service /etc/systemd/system" \
	--customize-hook='chroot "$1" systemctl enable cowcheck.service' \
	--customize-hook="chroot \"\$1\" apt-get install -y --download-only $later" \
	bookworm "$dir" \
	"deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
	"deb http://deb.debian.org/debian-security bookworm-security main"
nice mke2fs -q -t ext4 -L cowroot -d "$dir" "$out.tmp" 6G
rm -rf "$dir"
mv "$out.tmp" "$out"
