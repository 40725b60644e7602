#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what the test bed needs, and only what is missing: QEMU, this
# machine's kernels of tests/kernels.conf (Debian 12's 6.1 and 6.12) with
# their headers, busybox, the userland the guest tests call, mmdebstrap
# for the build roots of the other kernels (tests/guest/kernels.sh),
# sparse and checkpatch (linux-source-6.12).  A second run installs
# nothing.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)

# The "host" lines of kernels.conf: each image package and its headers.
kpkgs=()
while read -r _ _ root _ pkg; do
	if [ "$root" = host ]; then
		kpkgs+=("$pkg" "${pkg/linux-image-/linux-headers-}")
	fi
done < <(grep -v -E '^[[:space:]]*(#|$)' "$top/tests/kernels.conf")

PKGS=(
	gcc make libc6-dev			# tools and module
	qemu-system-x86 busybox-static		# the guest
	"${kpkgs[@]}"
	sparse linux-source-6.12		# make lint: sparse, checkpatch
	mmdebstrap				# build roots (Debian 13, sid)
	e2fsprogs xfsprogs fio dmsetup util-linux fdisk diffutils coreutils
	dosfstools				# cow-fslimit: a vfat cowfile
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
