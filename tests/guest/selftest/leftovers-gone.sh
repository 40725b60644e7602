#!/bin/sh
# Harness self-check (expected PASS), run after selftest/xfail-leftovers:
# nothing of what that failed test left behind is still there.
# timeout: 30
. /cowloop/t/lib.sh
! grep -q ' /tmp/leftover ' /proc/mounts || fail "/tmp/leftover still mounted"
[ ! -d /sys/module/cowloop ] || fail "cowloop still loaded"
[ -z "$(losetup -a)" ] || fail "loop devices left: $(losetup -a)"
[ -z "$(dmsetup ls 2>/dev/null | grep leftover)" ] || fail "dm table left"
