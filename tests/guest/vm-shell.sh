#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vm-shell.sh [KVER]: boot a test guest (module, tools, tests, scratch
# disks, cowloop loaded) with an interactive shell on the console, for
# debugging.  KVER defaults to the oldest installed kernel; a substring
# ("6.12") is fine.  Leave with "exit" (powers off) or Ctrl-A x.
. "$(dirname "$0")/lib.sh"

KVERS=${1:-${KVERS:-}}
r=$(cow_kernels | sed -n 1p)	# reads all: no SIGPIPE under pipefail
[ -n "$r" ] || die "no kernel matching '${KVERS:-}' with headers (run make deps)"
mkdir -p "$COW_OUT/logs/$r"
cow_build "$r"
cow_make_disks "$r"
trap cow_remove_disks EXIT
msg "booting $r; the scratch disks are $COW_DISK1 $COW_DISK2"
cow_qemu "$r" cowshell=1 stdio /dev/null
