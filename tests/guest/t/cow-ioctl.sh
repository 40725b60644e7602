#!/bin/sh
# Hostile callers of /dev/cow/ctl (tests/guest/tools/cowioctl.c): bad
# pointers, unterminated, relative, empty and over-long paths, absurd
# device numbers, unknown commands and sizes, reserved fields, inactive
# devices; two processes racing activate/deactivate of one device while a
# third opens it; an unprivileged user gets EPERM and still reads sysfs.
# Errnos every time, never an oops.
# timeout: 420
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need cowioctl
cow_load maxcows=8
img=$SCRATCH/rdo.img
pattern "$img" 2048
sum=$(md5 "$img")
rc=0

note "garbage"
cowioctl garbage "$img" "$SCRATCH/g.cow" || rc=1

note "race: activate/deactivate cow5 from two processes, open from a third"
cowioctl race "$img" "$SCRATCH/r.cow" 5 40 || rc=1
cowlist "$SCRATCH/r.cow" | grep -q 'state cowfile:     clean$' ||
	{ echo "FAIL: raced cowfile not clean"; rc=1; }
dev=$(activate "$img" "$SCRATCH/r.cow" /dev/cow/5)
cmp "$img" "$dev" || { echo "FAIL: raced device does not read as the rdofile"; rc=1; }
deactivate "$dev"

note "unprivileged caller"
dev=$(activate "$img" "$SCRATCH/u.cow" /dev/cow/2)
cowioctl unpriv 2 || rc=1
[ -b /dev/cow/2 ] || { echo "FAIL: cow2 gone after the unprivileged calls"; rc=1; }
deactivate "$dev"

[ -z "$(cowdev -l | sed 1d)" ] || { cowdev -l; echo "FAIL: devices left active"; rc=1; }
cow_unload
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
[ $rc = 0 ] || fail "some ioctl expectations were not met (FAIL lines above)"
