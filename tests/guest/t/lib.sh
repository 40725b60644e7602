# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for guest tests.  A test is a POSIX sh script
# tests/guest/t/NAME.sh run by busybox ash inside the guest; it starts with
#
#	#!/bin/sh
#	# What the test checks, in one or two lines.
#	# timeout: 120            (optional, seconds; default 300)
#	. /cowloop/t/lib.sh
#
# and passes by exiting 0.  lib.sh turns on "set -eu": any failing command
# fails the test.  stdout/stderr go to the guest console, which the host
# keeps in build/guest/logs/<kernel>/NAME.log when the test fails.  The
# runner also fails a test when the kernel log gets a WARNING, BUG, Oops,
# hung task... while it runs.
#
# Environment set by the runner:
#   COW_TEST      the test's name
#   COW_KVER      uname -r
#   COW_PHASE     1; N+1 after the test called reboot_guest N times
#   SCRATCH       /mnt/scratch/NAME on the ext4 scratch disk, empty in
#                 phase 1, kept across reboots; also the cwd
#   XFS_SCRATCH   /mnt/xfs/NAME on the xfs scratch disk, same rules
#   COW_RESULTS   the results serial port (used by reboot_guest)
# Paths: cowloop tools in /usr/local/sbin (on PATH), cowloop.ko in
# /lib/modules/$COW_KVER/extra/ (modprobe cowloop; loop, dm_mod, xfs are
# loaded at boot, modprobe dm_snapshot, brd... as needed), real util-linux,
# coreutils, e2fsprogs, xfsprogs, fio, dmsetup in their Debian paths.
#
# Busybox note: Debian's busybox-static ash runs its own applets (dd,
# losetup, mount, stat...) before anything on PATH.  The sourced
# /etc/cowtest/real-tools.sh defines shell functions so that those names
# run the real binaries; "busybox dd" still gets the applet.

set -eu
. /etc/cowtest/real-tools.sh

# fail MSG...: fail the test now.
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# note MSG...: a line in the test's log.
note() { echo "# $*"; }

# run CMD...: show "# CMD" (as typed at a root prompt), then run it;
# fail saying which command failed.  For narrated tests like demo.sh.
run() {
	echo "# $*"
	"$@" || fail "'$*' failed (exit $?)"
}

# assert CMD...: run CMD, fail with its text if it returns non-zero.
assert() {
	"$@" || fail "assertion failed: $*"
}

# check_eq WHAT EXPECTED ACTUAL: compare two strings.
check_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# md5 FILE: the md5sum of a file or device, hash only.
md5() {
	set -- $(md5sum "$1")
	echo "$1"
}

# need CMD...: fail with a clear message when a command is missing.
need() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || fail "missing in the guest: $c"
	done
}

# cow_load [PARAM...]: load the cowloop module (if not yet loaded; with
# PARAMs, loaded anew with them) and wait for /dev/cow/ctl.  Fails saying
# so when the module was not built.
cow_load() {
	[ -e "/lib/modules/$COW_KVER/extra/cowloop.ko" ] ||
		fail "cowloop.ko was not built for $COW_KVER (see build/guest/logs/$COW_KVER/build-module.log)"
	[ $# = 0 ] || cow_unload
	grep -q '^cowloop ' /proc/modules || modprobe cowloop "$@" ||
		fail "modprobe cowloop $* failed"
	wait_for /dev/cow/ctl
}

# cow_unload: remove the cowloop module if loaded.
cow_unload() {
	if grep -q '^cowloop ' /proc/modules; then
		rmmod cowloop || fail "rmmod cowloop failed"
	fi
}

# wait_for PATH [SECONDS]: wait until PATH exists (default 5 s).
wait_for() {
	n=0
	while [ ! -e "$1" ]; do
		[ $n -lt $((${2:-5} * 10)) ] || fail "$1 did not appear"
		sleep 0.1
		n=$((n + 1))
	done
}

# pattern FILE SIZE_KB: write a reproducible non-trivial pattern file.
pattern() {
	i=0
	while [ $i -lt "$2" ]; do
		printf '%-1023s\n' "block $i of $COW_TEST"
		i=$((i + 1))
	done | head -c $(($2 * 1024)) >"$1"
}

# reboot_guest [crash]: end this boot and run this test again in a fresh
# boot with COW_PHASE+1 and the same scratch disks.  "crash" resets the
# machine at once (sysrq b: no sync, no unmount) as a power cut would;
# otherwise the file systems are synced first.
reboot_guest() {
	echo "REBOOT $COW_TEST" >"$COW_RESULTS"
	if [ "${1:-}" = crash ]; then
		echo b >/proc/sysrq-trigger
	fi
	sync
	reboot -f
	sleep 60
	fail "reboot did not happen"
}
