#!/bin/sh
# cowloop.ko loads, creates the control device /dev/cow/ctl, and unloads.
# timeout: 60
. /cowloop/t/lib.sh

cow_load
[ -c /dev/cow/ctl ] || fail "/dev/cow/ctl is not a character device"
note "$(ls -l /dev/cow/ctl)"
grep '^cowloop ' /proc/modules
cow_unload
[ ! -e /dev/cow/ctl ] || fail "/dev/cow/ctl still there after rmmod"
