#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what the test bed needs, and only what is missing: QEMU, the two
# Debian cloud kernels (6.1 and 6.12) with their headers, busybox and the
# userland the guest tests call.  A second run installs nothing.
set -euo pipefail

PKGS=(
	gcc make libc6-dev			# tools and module
	qemu-system-x86 busybox-static		# the guest
	linux-image-cloud-amd64 linux-headers-cloud-amd64
	linux-image-6.12-cloud-amd64 linux-headers-6.12-cloud-amd64
	e2fsprogs xfsprogs fio dmsetup util-linux fdisk diffutils coreutils
	qemu-utils				# qemu-nbd, qemu-img (make bench)
	kmod cpio gzip xz-utils zstd		# initramfs builder
)

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi

[ "$(id -u)" = 0 ] || { echo "deps: run as root to install: ${missing[*]}" >&2; exit 1; }
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt/dpkg (unattended upgrades, a parallel job) may hold the lock.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }
apt_get update
apt_get install -y --no-install-recommends "${missing[@]}"
