#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkimage.sh OUT.img [SYSTEM]: the Debian system of make check-fleet,
# built with mmdebstrap from the Debian mirror apt uses (the list in
# packages) as an ext4 image (label fleetroot), shared by the server and
# the clients through qcow2 overlays.  SYSTEM: d12 (Debian 12 and its
# kernel, the default) or d13-bpo (Debian 13 and the newest kernel of
# trixie-backports: the kernel packages of the list taken from there).
# The engines' services are installed but not enabled: the test enables
# on each guest what its role needs.
# Timers and services that only cost boot time under TCG are masked.
# Cowloop's .debs and the test's own files are added per run
# (prepare.sh), so this image is rebuilt only when this file or the
# package list changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
system=${2:-d12}
dir=$out.d
mirror=http://deb.debian.org/debian
case $system in
d12)	suite=bookworm; ksuite=
	sources=("deb $mirror bookworm main" "deb $mirror bookworm-updates main"
		"deb http://deb.debian.org/debian-security bookworm-security main") ;;
d13-bpo) suite=trixie; ksuite=trixie-backports
	sources=("deb $mirror trixie main" "deb $mirror trixie-updates main"
		"deb $mirror trixie-backports main"
		"deb http://deb.debian.org/debian-security trixie-security main") ;;
*)	echo "mkimage.sh: unknown system '$system' (d12 or d13-bpo)" >&2; exit 2 ;;
esac
list() {
	grep -v '^#' "$here/$1" |
	sed -E "${ksuite:+s,^linux-(image|headers)-[a-z0-9.-]+\$,&/$ksuite,}" |
	paste -sd,
}
rm -rf "$dir" "$out"
mkdir -p "$dir"
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
	"$suite" "$dir" "${sources[@]}"
nice mke2fs -q -t ext4 -L fleetroot -d "$dir" "$out.tmp" 4G
rm -rf "$dir"
mv "$out.tmp" "$out"
