#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkimage.sh OUT.img: the Debian 12 system of make check-fleet, built
# with mmdebstrap from the Debian mirror apt uses (the list in packages)
# as an ext4 image (label fleetroot), shared by the server and the
# clients through qcow2 overlays.  The engines' services are installed
# but not enabled: the test enables on each guest what its role needs.
# Timers and services that only cost boot time under TCG are masked.
# Cowloop's .debs and the test's own files are added per run
# (prepare.sh), so this image is rebuilt only when this file or the
# package list changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
dir=$out.d
list() { grep -v '^#' "$here/$1" | paste -sd, ; }
rm -rf "$dir" "$out"
mkdir -p "$dir"
mirror=http://deb.debian.org/debian
off="nbd-server.service nfs-server.service rtslib-fb-targetctl.service
	iscsid.service iscsid.socket open-iscsi.service nfs-blkmap.service
	rpcbind.service rpcbind.socket nftables.service"
mask="apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer
	fstrim.timer dpkg-db-backup.timer systemd-timesyncd.service
	e2scrub_reap.service systemd-networkd-wait-online.service"
nice mmdebstrap --mode=root --variant=apt --format=directory \
	--include="$(list packages)" \
	--customize-hook='echo fleet > "$1/etc/hostname"' \
	--customize-hook='echo "/dev/vda / ext4 errors=remount-ro 0 1" > "$1/etc/fstab"' \
	--customize-hook='chroot "$1" passwd -d root' \
	--customize-hook="chroot \"\$1\" sh -c 'for u in $(echo $off); do systemctl disable \$u 2>/dev/null || true; done'" \
	--customize-hook="chroot \"\$1\" systemctl mask $(echo $mask)" \
	--customize-hook='chroot "$1" systemctl enable systemd-networkd.service' \
	bookworm "$dir" \
	"deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
	"deb http://deb.debian.org/debian-security bookworm-security main"
nice mke2fs -q -t ext4 -L fleetroot -d "$dir" "$out.tmp" 4G
rm -rf "$dir"
mv "$out.tmp" "$out"
