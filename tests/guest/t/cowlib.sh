# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the cowloop driver tests, on top of lib.sh:
#	. /cowloop/t/lib.sh
#	. /cowloop/t/cowlib.sh

# mkfs_img IMG SIZE_KB FSTYPE: an image holding a file system with the
# files of the product page's Example 1 (adjtime, aliases, aliases.db...).
mkfs_img() {
	truncate -s "$2"K "$1"
	case $3 in
	xfs)	mkfs.xfs -q -f "$1" ;;
	*)	"mkfs.$3" -q -F "$1" ;;
	esac
	mkdir -p /tmp/mnt.img
	mount -o loop "$1" /tmp/mnt.img
	printf '0.0 0 0.0\n0\nUTC\n' >/tmp/mnt.img/adjtime
	pattern /tmp/mnt.img/aliases 1
	head -c 1343 /tmp/mnt.img/aliases >/tmp/mnt.img/aliases.tmp
	mv /tmp/mnt.img/aliases.tmp /tmp/mnt.img/aliases
	pattern /tmp/mnt.img/aliases.db 12
	echo x >/tmp/mnt.img/at.deny
	pattern /tmp/mnt.img/atsar.conf 1
	echo "/misc /etc/auto.misc" >/tmp/mnt.img/auto.master
	umount /tmp/mnt.img
}

# activate RDO COW [DEV]: cowdev -a, checks the name it prints, echoes it.
activate() {
	dev=$(cowdev -a "$@") || fail "cowdev -a $* failed"
	case $dev in
	/dev/cow/[0-9]*) ;;
	*) fail "cowdev -a $* printed '$dev'" ;;
	esac
	wait_for "$dev"
	[ -b "$dev" ] || fail "$dev is not a block device"
	echo "$dev"
}

# deactivate DEV: cowdev -d, and the node goes away.
deactivate() {
	cowdev -d "$1" || fail "cowdev -d $1 failed"
	n=0
	while [ -e "$1" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
	[ ! -e "$1" ] || fail "$1 still exists after cowdev -d"
}

# refused MESSAGE CMD...: CMD must fail and say MESSAGE (a grep -E pattern).
refused() {
	msg=$1
	shift
	if out=$("$@" 2>&1); then
		fail "'$*' succeeded, expected refusal '$msg'"
	fi
	echo "$out" | grep -qE "$msg" ||
		fail "'$*' said '$out', expected '$msg'"
	note "refused as expected: $out"
}

# debugfs_field DEV FIELD: a value from /sys/kernel/debug/cowloop/N.
debugfs_field() {
	sed -n "s/^ *$2: *//p" "/sys/kernel/debug/cowloop/${1##*/}"
}

# poke FILE OFFSET OCTAL...: overwrite bytes of FILE at OFFSET, e.g.
# poke x.cow 6 '\001' '\000' sets the flags word to DIRTY.
poke() {
	f=$1 off=$2
	shift 2
	for b in "$@"; do
		printf "$b" | dd of="$f" bs=1 seek=$off conv=notrunc 2>/dev/null
		off=$((off + 1))
	done
}

# dm_create NAME TABLE: a device-mapper device (no udev in the guest).
dm_create() {
	dmsetup create --noudevsync "$1" --table "$2"
	dmsetup mknodes "$1"
	wait_for "/dev/mapper/$1"
}

# dm_table NAME TABLE: replace the live table of NAME (TABLE may have
# several lines).
dm_table() {
	dmsetup suspend --noudevsync --noflush "$1"
	printf '%s\n' "$2" | dmsetup load --noudevsync "$1"
	dmsetup resume --noudevsync "$1"
}

# sectors_either DEV OFF A B: each 512-byte sector of DEV from byte OFF
# (as many as file A holds) is that sector of A or that of B (a range
# discarded, or not yet flushed: old data or new, nothing else); prints
# how many are B's and not A's (tools/sectors-either.c).
sectors_either() {
	sectors-either "$@"
}

# need_faults KIND...: the fault injection capabilities (failslab,
# fail_page_alloc, fail_function...) a test needs: the debug kernel of
# make check-debug has them, the stock kernels do not.
need_faults() {
	for f in "$@"; do
		[ -d "/sys/kernel/debug/$f" ] ||
			fail "$COW_KVER has no $f: this test needs the kernel of make check-debug"
	done
}
