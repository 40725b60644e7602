#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The images of make check-cowroot (tests/system/cowroot.sh), for the
# Debian system NAME of tests/system/dists.conf:
#
#   mkcowroot.sh base NAME OUT.tar
#       the system of make check-system (tests/system/packages) plus
#       busybox (the shutdown environment of cowroot), with the packages
#       the test installs (hello, vim) only downloaded into its apt cache,
#       made by mmdebstrap as a tarball; cached by cowroot.sh
#   mkcowroot.sh image BASE.tar OUTDIR DEB...
#       OUTDIR/rootfs.img: BASE.tar with the .debs installed in a chroot
#       (DKMS builds the module, update-initramfs puts the cowroot hook's
#       files in the initramfs; /etc/kernel/cmdline names cowroot=, so
#       that the hook warns of what is missing), as a 3 GiB ext4 image
#       labelled cowroot, fstab naming LABEL=cowroot; its kernel and
#       initramfs as OUTDIR/vmlinuz and OUTDIR/initrd; and
#       OUTDIR/live.iso: an ISO 9660 image labelled COWLIVE holding
#       LiveOS/squashfs.img, a squashfs holding LiveOS/rootfs.img (as
#       Fedora's live media)
set -euo pipefail
. "$(dirname "$0")/../guest/lib.sh"
. "$(dirname "$0")/lib.sh"

# installed besides tests/system/packages, and downloaded only
COWROOT_PKGS="busybox"
COWROOT_LATER="hello vim"

case ${1:-} in
base)
	name=$2
	out=$3
	sources=()
	for s in $(sys_suites "$name"); do
		case $s in
		*-security) sources+=("deb $COW_MIRROR/debian-security $s main") ;;
		*) sources+=("deb $COW_MIRROR/debian $s main") ;;
		esac
	done
	rm -f "$out" "$out.tmp"
	nice mmdebstrap --mode=root --variant=apt --format=tar \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--include="$(sys_packages "$name"),${COWROOT_PKGS// /,}" \
		--skip=cleanup/apt/lists --skip=cleanup/apt/cache \
		--customize-hook='echo cowcheck > "$1/etc/hostname"' \
		--customize-hook='echo "LABEL=cowroot / ext4 errors=remount-ro 0 1" > "$1/etc/fstab"' \
		--customize-hook='mkdir -p "$1/var/log/journal"' \
		--customize-hook='chroot "$1" passwd -d root' \
		--customize-hook="copy-in $SYS_HERE/cowcheck.service /etc/systemd/system" \
		--customize-hook='chroot "$1" systemctl enable cowcheck.service' \
		--customize-hook="chroot \"\$1\" apt-get install -y --download-only $COWROOT_LATER" \
		"$(sys_release "$name")" "$out.tmp" "${sources[@]}"
	mv "$out.tmp" "$out"
	;;
image)
	base=$2
	out=$3
	shift 3
	cow_need_pkgs squashfs-tools xorriso e2fsprogs
	dir=$out/tree
	rm -rf "$dir" "$out/rootfs.img" "$out/live.iso" "$out/iso"
	mkdir -p "$dir" "$out/iso/LiveOS" "$out/sq/LiveOS"
	tar -xpf "$base" -C "$dir"
	mkdir -p "$dir/tmp/debs"
	cp "$@" "$dir/tmp/debs/"
	# a system meant to boot with cowroot=, as its boot loader's
	# configuration says: the hook's warnings are on (cowroot.sh fails
	# on any)
	mkdir -p "$dir/etc/kernel"
	echo "root=LABEL=cowroot ro cowroot=LABEL=cowroot,ram" > "$dir/etc/kernel/cmdline"
	# apt, dpkg, DKMS and update-initramfs in the chroot, with /dev,
	# /proc and /sys mounted in a mount namespace of its own
	unshare -m --propagation private sh -ec '
		mount --rbind /dev "$1/dev"
		mount -t proc proc "$1/proc"
		mount -t sysfs sysfs "$1/sys"
		chroot "$1" env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			sh -c "apt-get install -y /tmp/debs/*.deb"
		chroot "$1" env PATH=/usr/sbin:/usr/bin:/sbin:/bin update-initramfs -u -k all
		chroot "$1" dkms status' sh "$dir"
	rm -rf "$dir/tmp/debs"
	r=$(ls "$dir/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
	cp "$dir/boot/vmlinuz-$r" "$out/vmlinuz"
	cp "$dir/boot/initrd.img-$r" "$out/initrd"
	echo "$r" > "$out/release"
	nice mke2fs -q -t ext4 -L cowroot -d "$dir" "$out/rootfs.img" 3G
	# e2fsck -f would index the large directories mke2fs -d wrote at
	# the first boot's forced check: done here, so that the image is
	# what a check finds clean
	e2fsck -fy "$out/rootfs.img" >/dev/null || [ $? = 1 ]
	rm -rf "$dir"
	# the live medium: ISO 9660 > squashfs > ext4 image
	ln "$out/rootfs.img" "$out/sq/LiveOS/rootfs.img"
	nice mksquashfs "$out/sq" "$out/iso/LiveOS/squashfs.img" -comp zstd -quiet -no-progress
	rm -rf "$out/sq"
	nice xorriso -as mkisofs -quiet -iso-level 3 -V COWLIVE -R -J \
		-o "$out/live.iso" "$out/iso"
	rm -rf "$out/iso"
	;;
*)
	sed -n '4,22s/^# \{0,1\}//p' "$0" >&2
	exit 2
	;;
esac
