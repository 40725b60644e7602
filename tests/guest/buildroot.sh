#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# buildroot.sh: the build roots of tests/guest/kernels.sh, by hand.
#
#   buildroot.sh prepare [check|all]   make the build roots and install the
#                       kernels of that set of tests/kernels.conf (make
#                       kernels); prints what Debian's meta packages point to
#   buildroot.sh make RELEASE ARGS...  run "make ARGS" in this tree, inside
#                       the build root that has kernel RELEASE (the
#                       top-level Makefile does this for "make module" when
#                       RELEASE's headers are only there)
#   buildroot.sh list   "RELEASE ROOT" of every kernel in the build roots
. "$(dirname "$0")/lib.sh"

case ${1:-} in
prepare)
	cow_kernels_prepare "${2:-all}"
	;;
make)
	[ $# -ge 2 ] || die "usage: buildroot.sh make RELEASE [make arguments]"
	r=$2
	shift 2
	root=$(cow_kroot "$r")
	case $root in
	"$COW_ROOTS"/*) ;;
	*) die "kernel $r is in no build root (make kernels installs those of tests/kernels.conf)" ;;
	esac
	cow_kheaders "$root" "$r" || die "build root ${root#"$COW_TOP"/}: no headers for $r"
	cow_root_run "${root##*/}" make -C "$COW_TOP" "$@"
	;;
list)
	for img in "$COW_ROOTS"/*/boot/vmlinuz-*; do
		[ -e "$img" ] || continue
		echo "${img##*/boot/vmlinuz-} ${img%/boot/vmlinuz-*}"
	done
	;;
*)
	sed -n '4,14s/^# \{0,1\}//p' "$0" >&2
	exit 2
	;;
esac
