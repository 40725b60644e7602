#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-cowroot, guest side: one phase per boot of a Debian system
# whose root file system is on a cowdevice (cowroot=), run by
# cowcheck.service from the disk labelled cowctl (as guest.sh of make
# check-system, whose name it takes there).  cowcheck.mode= says which
# run of tests/system/cowroot.sh this is (disk, iso, ram, merge, direct),
# cowcheck.phase= which boot of it.  "PASS name (system, mode)" / "FAIL
# ..." lines, "TIME ..." (systemd-analyze), "FSYNCED file md5" and
# "KILLME" (kill the machine now) go to the second serial port; "NEXT"
# then a reboot, or "DONE" then a power-off, end the boot.
set -u
R=/dev/ttyS1
stty -F $R raw -echo 2>/dev/null
arg() { sed -n "s/.*cowcheck\\.$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
phase=$(arg phase)
mode=$(arg mode)
ctl=/media/cowctl
DIST=unknown
. "$ctl/dist.conf"
log() { echo "cowcheck: $*"; }
out() { echo "$*" > $R; log "$*"; }
pass() { out "PASS $1 ($DIST, $mode)"; }
fail() { out "FAIL $1 ($DIST, $mode)"; }
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
same() {
	if [ "$2" = "$3" ]; then pass "$1"; else
		fail "$1"; out "  want: $2"; out "  got:  $3"; fi
}
# count of this boot's journal lines matching an ERE
jcount() { journalctl -b -o cat "${@:2}" | grep -cE -- "$1"; }
# the lines cowroot's boot script wrote (to the kernel log, whence the
# journal has them under the identifier cowroot)
klog() { journalctl -b -t cowroot -o cat | sed 's/^/cowroot: /'; }
next() { out NEXT; sync; systemctl reboot; exit 0; }
finish() { out DONE; sync; systemctl poweroff; exit 0; }

COWFILE= RDOFILE= RO=
. /run/initramfs/cowroot/state 2>/dev/null
cowdir=${COWFILE%/*}

# The system is up: wait for the other jobs (not for this one), then its
# boot time.
for i in $(seq 600); do
	[ -z "$(systemctl list-jobs --no-legend | grep -v cowcheck)" ] && break
	sleep 1
done
# systemd's start is when the initramfs handed over (kernel + initramfs)
us=$(systemctl show -p UserspaceTimestampMonotonic --value)
out "TIME $DIST $mode-$phase: initramfs done at $((us / 1000000)).$((us / 100000 % 10)) s, system up (this test starts) at $(cut -d' ' -f1 /proc/uptime) s"
failed=$(systemctl list-units --failed --plain --no-legend | awk '{print $1}' | sort | tr '\n' ' ')
log "failed units: ${failed:-none}"
klog

# ---- what every boot with cowroot= has ------------------------------------
on_cow() {
	# read-only (ro): units that write to / fail, as on any read-only root
	[ "$RO" = y ] || same no-failed-units "" "$failed"
	same root-on-cowdevice /dev/cow/0 "$(findmnt -n -o SOURCE /)"
	same cowdev-lists-root "/dev/cow/0 $1 $2" \
		"$(cowdev -l -n | awk '$1 == "/dev/cow/0" { print $1, $2, $3 }')"
	same journal-root-line 1 "$(klog | grep -c '^cowroot: root on /dev/cow/0: ')"
	check shutdown-program test -x /run/initramfs/shutdown -a -x /run/initramfs/usr/bin/busybox \
		-a -x /run/initramfs/usr/sbin/cowdev
	if [ "$RO" = y ]; then
		check root-read-only sh -c "findmnt -n -o OPTIONS / | grep -qw ro"
		return
	fi
	check space-watch-active systemctl -q is-active cowroot-space.service
	check discard-mount sh -c "findmnt -n -o OPTIONS / | grep -qw discard"
}

# ---- apt installs a package, offline (its .deb is in the apt cache) -------
install_hello() {
	check apt-install-hello env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-download --no-install-recommends hello
	same hello-runs "Hello, world!" "$(hello 2>&1)"
	echo "$mode $phase" > /root/marker
	sync
}

# ---- a crash during apt-get install: fsync'd files, then KILLME -----------
# Files written and fsync'd (with their directory) one after the other;
# each one's name and md5 go to the host once fsync returned.  Meanwhile
# apt installs vim; once it unpacks and a few files are out, the host is
# asked to kill the machine (QEMU killed: a power loss).
crash() {
	local i=0 f n
	mkdir -p /var/tmp/fsync
	sync /var/tmp /var/tmp/fsync
	env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-download \
		--no-install-recommends vim > /tmp/apt.log 2>&1 &
	apt=$!
	n=0
	while :; do
		i=$((i + 1))
		f=/var/tmp/fsync/f$i
		head -c 262144 /dev/urandom > "$f"
		sync "$f" /var/tmp/fsync
		out "FSYNCED $f $(md5sum < "$f" | cut -d' ' -f1)"
		if [ $n = 0 ] && [ "$i" -ge 3 ] && grep -q '^Unpacking' /tmp/apt.log; then
			n=1
			out KILLME
		elif [ $n = 0 ] && ! kill -0 $apt 2>/dev/null; then
			fail crash-apt-unpacks
			tail -n 5 /tmp/apt.log | while read -r l; do out "  $l"; done
			break
		fi
		[ "$i" -ge 2000 ] && break
	done
	fail crash-not-killed
	finish
}

# ---- after the crash: fsck clean, every fsync'd file there ----------------
after_crash() {
	local f sum got missing=0 bad=0 total=0 re
	# fsck of the root in the initramfs (fsck.mode=force): its log holds
	# the e2fsck lines; clean is a journal replay at most, no fix
	log "fsck: $(cat /run/initramfs/fsck.log 2>/dev/null)"
	check fsck-root-ran test -e /run/initramfs/fsck-root
	same fsck-root-clean "" "$(sed -n '/^fsck from/,/^$/p' /run/initramfs/fsck.log 2>/dev/null |
		grep -v -E '^(fsck from|\[|Log of|fsck exited with status code 1$|$)|: (recovering journal|clean, |[0-9]+/[0-9]+ files \()' |
		grep -v -E '^(Clearing orphaned inode|Setting free (inodes|blocks) count)' | head -n 3)"
	while read -r f sum; do
		total=$((total + 1))
		if [ ! -e "$f" ]; then missing=$((missing + 1)); continue; fi
		got=$(md5sum < "$f" | cut -d' ' -f1)
		[ "$got" = "$sum" ] || bad=$((bad + 1))
	done < "$ctl/fsynced.txt"
	log "fsync'd before the kill: $total files"
	check fsynced-files-listed test "$total" -gt 0
	same fsynced-files-there "0 missing, 0 wrong" "$missing missing, $bad wrong"
	# the interrupted apt finishes, offline.  A package whose unpacking
	# the power cut interrupted is half-installed (dpkg marks it so, and
	# syncs, before it unpacks): dpkg asks for it to be reinstalled, which
	# apt-get -f does not do by itself
	env DEBIAN_FRONTEND=noninteractive dpkg --configure -a > /tmp/dpkg.log 2>&1
	re=$(dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package}\n' |
		awk 'substr($0, 2, 1) == "H" || substr($0, 3, 1) == "R" { print $NF }')
	if [ -n "$re" ]; then
		log "half-installed at the power cut, reinstalled: $re"
		# shellcheck disable=SC2086 # package names
		env DEBIAN_FRONTEND=noninteractive apt-get install -y -f --reinstall \
			--no-download --no-install-recommends $re >> /tmp/dpkg.log 2>&1
	fi
	env DEBIAN_FRONTEND=noninteractive apt-get install -y -f --no-download \
		--no-install-recommends vim >> /tmp/dpkg.log 2>&1
	if [ -z "$(dpkg --audit)" ] && command -v vim >/dev/null; then
		pass dpkg-recovers
	else
		# why, to the results: dpkg's own errors and what it lists
		fail dpkg-recovers
		{ grep -E '^(dpkg|E|W): |rror' /tmp/dpkg.log | head -n 12
		  dpkg --audit | head -n 8; } | while read -r l; do out "  $l"; done
	fi
}

# ---- the session fills up -------------------------------------------------
# ENOSPC for the writer, the root still read-write and readable, no I/O
# error in the kernel log (none from the cowdevice, none from ext4), a
# journal line, and writes again once the file is gone.
fill() {
	local rc=0
	log "before: $(df -k / "$cowdir" | tail -n 2 | tr -s ' ' | paste -sd';')"
	# (dd's messages to /run: the root file system is full)
	dd if=/dev/zero of=/fill bs=1M 2> /run/dd.err || rc=$?
	log "dd: $(tail -n 2 /run/dd.err | paste -sd' '); $(df -k / "$cowdir" | tail -n 2 | tr -s ' ' | paste -sd';')"
	check fill-enospc sh -c "[ $rc != 0 ] && grep -q 'No space left on device' /run/dd.err"
	check fill-root-rw sh -c "findmnt -n -o OPTIONS / | grep -qw rw"
	same fill-no-io-errors "" "$(journalctl -b -k -o cat | grep -E 'EXT4-fs (error|warning)|Buffer I/O error|I/O error|Remounting filesystem read-only|Aborting journal|lost async page write' | head -n 3)"
	check fill-readable sh -c "md5sum /usr/bin/dpkg /etc/os-release >/dev/null && ls /usr/share/doc | grep -q ."
	check fill-cowfile-room sh -c "[ \$(stat -f -c %a '$cowdir') -gt 0 ]"
	sleep 2
	# in the kernel log (and on the console): the journal may not have
	# been able to write while the root file system was full
	same fill-says-full 1 "$(dmesg | grep -c 'cowroot-space: the session is full: ')"
	rm -f /fill
	sync
	sleep 5
	check fill-writes-again dd if=/dev/urandom of=/after bs=1M count=32 conv=fsync status=none
	rm -f /after
	sleep 3
	same fill-says-room-again 1 "$(dmesg | grep -c 'cowroot-space: the session has room again')"
	dmesg | grep 'cowroot-space: '
	journalctl -b -o cat -u cowroot-space
}

# ---- reads of an rdofile inside squashfs: cowloop beside loop -------------
# The same file (rdofile), read through a second cowdevice (its cowfile
# in RAM) and through loop, 256 MiB each, direct I/O at the top, the page
# cache dropped before each: MB/s of each.
throughput() {
	local cow loopdev t0 t1 mbc mbl
	mkdir -p /run/crt && mount -t tmpfs -o size=64M crt /run/crt
	cow=$(cowdev -a "$RDOFILE" /run/crt/t.cow 2>&1)
	loopdev=$(losetup -r -f --show "$RDOFILE")
	rd() { sync; echo 3 > /proc/sys/vm/drop_caches
	       t0=$(date +%s%N)
	       dd if="$1" of=/dev/null bs=1M count=256 iflag=direct status=none
	       t1=$(date +%s%N)
	       echo $(( 256 * 1000000000 / (t1 - t0) )); }
	mbc=$(rd "$cow"); mbl=$(rd "$loopdev")
	mbc=$(rd "$cow")" $mbc"; mbl=$(rd "$loopdev")" $mbl"
	out "SPEED $DIST rdofile $(findmnt -n -o FSTYPE -T "$RDOFILE") in $(findmnt -n -o FSTYPE /run/initramfs/cowroot/rdo0): cowloop ${mbc% *} ${mbc#* } MB/s, loop ${mbl% *} ${mbl#* } MB/s (256 MiB, two runs each)"
	check throughput-read sh -c "[ ${mbc% *} -gt 0 ]"
	same throughput-same-data "$(dd if="$loopdev" bs=1M count=64 status=none | md5sum)" \
		"$(dd if="$cow" bs=1M count=64 status=none | md5sum)"
	losetup -d "$loopdev"
	cowdev -d "$cow"
	umount /run/crt
}

case $mode:$phase in
disk:1)
	on_cow /dev/vda /run/initramfs/cowroot/cow/cow/root.cow
	same new-session 1 "$(klog | grep -c 'cowfile /dev/vdb:/cow/root.cow: none yet: a new session')"
	install_hello
	next ;;
disk:2)
	on_cow /dev/vda /run/initramfs/cowroot/cow/cow/root.cow
	same session-kept "disk 1" "$(cat /root/marker 2>&1)"
	same hello-kept "Hello, world!" "$(hello 2>&1)"
	same found-clean 1 "$(klog | grep -c 'cowfile /dev/vdb:/cow/root.cow: found clean')"
	same no-repair 0 "$(klog | grep -c 'repair')"
	crash ;;
disk:3)
	# no repair option: the host repaired it in the rescue shell
	on_cow /dev/vda /run/initramfs/cowroot/cow/cow/root.cow
	same found-clean-after-shell 1 "$(klog | grep -c 'cowfile /dev/vdb:/cow/root.cow: found clean')"
	after_crash
	same session-kept "disk 1" "$(cat /root/marker 2>&1)"
	fill
	finish ;;
disk:4)
	# ro: the session as it was, read-only, nothing written
	on_cow /dev/vda /run/initramfs/cowroot/cow/cow/root.cow
	same ro-session "disk 1" "$(cat /root/marker 2>&1)"
	same ro-hello "Hello, world!" "$(hello 2>&1)"
	check ro-no-write sh -c '! touch /ro-test 2>/dev/null'
	same ro-cowdevice 1 "$(cat /sys/block/cow0/ro)"
	finish ;;
disk:5)
	# fresh: the session thrown away
	on_cow /dev/vda /run/initramfs/cowroot/cow/cow/root.cow
	same fresh-discarded 1 "$(klog | grep -c 'fresh: the session in /dev/vdb:/cow/root.cow is discarded')"
	same fresh-hello-gone "" "$(command -v hello)"
	same fresh-marker-gone "" "$(cat /root/marker 2>/dev/null)"
	finish ;;
iso:1)
	on_cow "$RDOFILE" /run/initramfs/cowroot/cow/live.cow
	same rdofile-path /run/initramfs/cowroot/rdo1/LiveOS/rootfs.img "$RDOFILE"
	same medium-iso9660 iso9660 "$(findmnt -n -o FSTYPE /run/initramfs/cowroot/rdo0)"
	same image-squashfs squashfs "$(findmnt -n -o FSTYPE /run/initramfs/cowroot/rdo1)"
	install_hello
	throughput
	next ;;
iso:2)
	on_cow "$RDOFILE" /run/initramfs/cowroot/cow/live.cow
	same session-kept "iso 1" "$(cat /root/marker 2>&1)"
	same found-clean 1 "$(klog | grep -c 'cowfile LABEL=cowdata:/live.cow: found clean')"
	crash ;;
iso:3)
	on_cow "$RDOFILE" /run/initramfs/cowroot/cow/live.cow
	same repaired-at-boot 1 "$(klog | grep -c 'cowfile LABEL=cowdata:/live.cow was not closed properly (a crash or power loss): repairing it (repair)')"
	after_crash
	fill
	finish ;;
ram:1)
	on_cow /dev/vda /run/initramfs/cowroot/cow/root.cow
	same cowfile-in-ram tmpfs "$(findmnt -n -o FSTYPE /run/initramfs/cowroot/cow)"
	same ram-size 716800 "$(df -k --output=size /run/initramfs/cowroot/cow | tail -n 1 | tr -d ' ')"
	install_hello
	fill
	next ;;
ram:2)
	on_cow /dev/vda /run/initramfs/cowroot/cow/root.cow
	same ram-session-new 1 "$(klog | grep -c 'cowfile ram: none yet: a new session')"
	same hello-gone "" "$(command -v hello)"
	same marker-gone "" "$(cat /root/marker 2>/dev/null)"
	finish ;;
merge:2)
	# the merge of merge:1 was cut short: completed at this boot
	on_cow /dev/vda /run/initramfs/cowroot/cow/cow/root.cow
	same merge-resumed 1 "$(klog | grep -c '^cowroot: cowfile /dev/vdb:/cow/root.cow: a merge was interrupted: merging ')"
	same merged 1 "$(klog | grep -c '^cowroot: the session is merged into /dev/vda; a fresh session starts')"
	same new-session-after-merge 1 "$(klog | grep -c 'none yet: a new session')"
	same hello-merged "Hello, world!" "$(hello 2>&1)"
	finish ;;
direct:*)
	same no-failed-units "" "$failed"
	same root-direct /dev/vda "$(findmnt -n -o SOURCE /)"
	same no-cowroot "" "$(klog)"
	check no-space-watch sh -c '! systemctl -q is-active cowroot-space.service'
	if [ -e /root/marker ]; then
		same hello-in-image "Hello, world!" "$(hello 2>&1)"
		same vim-in-image yes "$(command -v vim >/dev/null && echo yes)"
		check no-reserve-left test ! -e /.cowroot-reserve
	fi
	finish ;;
*)	fail "unknown-$mode-$phase"; finish ;;
esac
