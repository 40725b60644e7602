#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-system, guest side: one phase per boot of a Debian system
# of tests/system/dists.conf (cowcheck.service runs it from the disk
# labelled cowctl, which also holds the .debs and dist.conf: which system
# this is, and the later kernel's packages).  "PASS name (system,
# kernel)" / "FAIL ..." lines ("INFO ..." for what is found out, not
# checked), then "BOOT <release>" (the kernel of the next boot; the host
# extracts it from the image) or "DONE", go to the second serial port;
# then the system reboots or powers off (QEMU runs with -no-reboot: each
# boot is one run).
set -u
R=/dev/ttyS1
stty -F $R raw -echo 2>/dev/null
phase=$(sed -n 's/.*cowcheck\.phase=\([0-9]*\).*/\1/p' /proc/cmdline)
ctl=/media/cowctl
kver=$(uname -r)
DIST=unknown LATER_SUITE= LATER_PKGS= LATER_GLOB=
. "$ctl/dist.conf"
log() { echo "cowcheck: $*"; }
out() { echo "$*" > $R; log "$*"; }
pass() { out "PASS $1 ($DIST, $kver)"; }
fail() { out "FAIL $1 ($DIST, $kver)"; }
info() { out "INFO $1 ($DIST, $kver): $2"; }
# check name command...: PASS when the command succeeds
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
# same name want got
same() {
	if [ "$2" = "$3" ]; then pass "$1"; else
		fail "$1"; out "  want: $2"; out "  got:  $3"; fi
}
# journal lines of this boot matching an extended regexp
jcount() { journalctl -b -o cat "${@:2}" | grep -cE -- "$1"; }
next() { out "BOOT $1"; sync; systemctl reboot; exit 0; }
dkms_built() { dkms status -m cowloop -k "$1" | grep -q "^cowloop/.*, $1, .*: installed"; }
# dpkg --audit finds no package half-installed or half-configured
audit_clean() { [ -z "$(dpkg --audit 2>&1)" ]; }
# a cowloop module file of kernel $1, if any
module_files() { find "/lib/modules/$1" -name 'cowloop.ko*' 2>/dev/null; }
# after unit dependency: systemctl show -p After unit | has dependency
after() { systemctl show -p After "$1" | grep -qw -- "$2"; }

# fake_headers RELEASE: /tmp/cowtest-headers-RELEASE.deb, a package
# shaped like Debian's linux-headers-RELEASE: /lib/modules/RELEASE/build
# and a postinst that runs the kernel's header hooks (as linux-headers'
# postinst does, through linux-run-hooks or run-parts: --exit-on-error,
# a failing hook fails the package).  Its Makefile fails every build, so
# that cowloop cannot build for it.
fake_headers() {
	local r=$1 d=/tmp/fake-$1
	rm -rf "$d"
	mkdir -p "$d/DEBIAN" "$d/usr/src/cowtest-headers-$r/include/linux" "$d/lib/modules/$r"
	printf 'modules clean:\n\t@echo "cowtest: kernel %s: this build fails on purpose"; exit 2\n' \
		"$r" > "$d/usr/src/cowtest-headers-$r/Makefile"
	ln -s "/usr/src/cowtest-headers-$r" "$d/lib/modules/$r/build"
	cat > "$d/DEBIAN/control" <<-EOF
	Package: cowtest-headers-$r
	Version: 1
	Architecture: all
	Maintainer: cowloop check-system <root@localhost>
	Description: kernel headers that build nothing (make check-system)
	EOF
	cat > "$d/DEBIAN/postinst" <<-EOF
	#!/bin/sh
	set -e
	if [ "\$1" = configure ] && [ -d /etc/kernel/header_postinst.d ]; then
		DEB_MAINT_PARAMS="\$*" run-parts --report --exit-on-error --arg=$r /etc/kernel/header_postinst.d
	fi
	EOF
	chmod 755 "$d/DEBIAN/postinst"
	dpkg-deb -b "$d" "/tmp/cowtest-headers-$r.deb" >/dev/null
}

# install_fake RELEASE LOG: apt-get installs it; its exit status.
install_fake() {
	fake_headers "$1"
	env DEBIAN_FRONTEND=noninteractive apt-get install -y \
		"/tmp/cowtest-headers-$1.deb" > "$2" 2>&1
}

# Kernels cowloop cannot build for, installed as packages: one older than
# 6.1 (dkms.conf excludes it: DKMS says so), one whose build fails (the
# build log): each package configured (dpkg --audit clean), a message
# naming the kernel and the reason, no cowloop.ko for it.  Then what
# DKMS's own autoinstall would have done (cowloop-dkms does not use it
# for this reason), shown by forcing AUTOINSTALL=yes in
# /etc/dkms/cowloop.conf: INFO lines, whatever this Debian's dkms does.
kernels_dkms_cannot_build() {
	local r rc log
	r=5.10.0-cowtest-amd64
	log=/tmp/fake-$r.log
	rc=0; install_fake "$r" "$log" || rc=$?
	cat "$log"
	same excluded-kernel-apt-exit 0 "$rc"
	check excluded-kernel-audit-clean audit_clean
	same excluded-kernel-dkms-says 1 "$(grep -c 'includes a BUILD_EXCLUSIVE directive' "$log")"
	same excluded-kernel-cowloop-dkms-says 1 "$(grep -c "^cowloop-dkms: cowloop .* is not built for kernel $r (it builds for 6.1 and later" "$log")"
	same excluded-kernel-no-module "" "$(module_files "$r")"
	r=7.99.0-cowtest-amd64
	log=/tmp/fake-$r.log
	rc=0; install_fake "$r" "$log" || rc=$?
	cat "$log"
	same failing-build-apt-exit 0 "$rc"
	check failing-build-audit-clean audit_clean
	same failing-build-dkms-says 1 "$(grep -c "Bad return status for module build on kernel: $r" "$log")"
	same failing-build-cowloop-dkms-says 1 "$(grep -c "^cowloop-dkms: cowloop .* did not build for kernel $r (dkms exit [0-9]*; build log: /var/lib/dkms/cowloop/.*/build/make.log)" "$log")"
	same failing-build-no-module "" "$(module_files "$r")"
	check failing-build-dkms-not-installed sh -c "! dkms status -m cowloop -k $r | grep -q installed"
	# what dkms's autoinstall does with the same two: without
	# cowloop-dkms's hooks, dkms.conf has AUTOINSTALL=yes
	mkdir -p /tmp/hooks
	mv /etc/kernel/postinst.d/cowloop-dkms /tmp/hooks/postinst
	mv /etc/kernel/header_postinst.d/cowloop-dkms /tmp/hooks/header_postinst
	for r in 5.9.0-cowtest-amd64 7.98.0-cowtest-amd64; do
		log=/tmp/fake-$r.log
		rc=0; install_fake "$r" "$log" || rc=$?
		cat "$log"
		info "dkms-own-autoinstall-$r" "apt-get exit $rc, dpkg --audit: $(dpkg --audit 2>&1 | grep -o 'cowtest-headers-[^ ]*' | sort -u | paste -sd' ' | sed 's/^$/clean/')$(grep -q 'Autoinstall on .* was skipped' "$log" && echo ', autoinstall: skipped')$(grep -q 'Autoinstall on .* failed\|One or more modules failed to install during autoinstall' "$log" && echo ', autoinstall: failed')"
		dpkg --purge "cowtest-headers-$r" >/dev/null 2>&1
	done
	mv /tmp/hooks/postinst /etc/kernel/postinst.d/cowloop-dkms
	mv /tmp/hooks/header_postinst /etc/kernel/header_postinst.d/cowloop-dkms
	env DEBIAN_FRONTEND=noninteractive dpkg --configure -a >/dev/null 2>&1
	check audit-clean-after-reconfigure audit_clean
	dpkg --purge cowtest-headers-5.10.0-cowtest-amd64 cowtest-headers-7.99.0-cowtest-amd64 \
		cowtest-headers-5.9.0-cowtest-amd64 cowtest-headers-7.98.0-cowtest-amd64 >/dev/null 2>&1
	rm -rf /lib/modules/*-cowtest-amd64 /var/lib/dkms/cowloop/*/*-cowtest-amd64
	dkms status
}

# The system came up with systemd and udev: every phase.  (This unit is
# part of the start-up: wait for the other jobs, not for the state.)
for i in $(seq 300); do
	[ -z "$(systemctl list-jobs --no-legend | grep -v cowcheck)" ] && break
	sleep 1
done
failed=$(systemctl list-units --failed --plain --no-legend | awk '{print $1}' | sort | tr '\n' ' ')
log "failed units: ${failed:-none}"
check systemd-udevd-active systemctl -q is-active systemd-udevd.service

[ "$phase" = 4 ] || same no-failed-units "" "$failed"
case $phase in
1)	# ---- install both .debs with apt; dkms builds the module --------
	t0=$(date +%s)
	check apt-install-debs env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y "$ctl"/cowloop-dkms_*.deb \
		"$ctl"/cowloop-utils_*.deb
	log "apt-get install of the .debs: $(( $(date +%s) - t0 )) s"
	check dpkg-audit-clean audit_clean
	dkms status
	check dkms-built-$kver dkms_built "$kver"
	same module-from-dkms "/lib/modules/$kver/updates/dkms" \
		"$(dirname "$(modinfo -k "$kver" -F filename cowloop 2>&1)")"
	check cowtab-target-enabled systemctl -q is-enabled cowdev.target
	check modprobe modprobe cowloop
	udevadm settle
	same ctl-node-root-only "root:root 600" "$(stat -c '%U:%G %a' /dev/cow/ctl)"

	# rdofile and cowfile on their own file system (/srv, in fstab)
	echo "LABEL=cowdata /srv ext4 defaults 0 2" >> /etc/fstab
	mkdir -p /srv /mnt/cow && mount /srv
	mkdir -p /tmp/seed && echo original > /tmp/seed/orig.txt
	mkfs.ext4 -q -L cowfs -d /tmp/seed /srv/rdo.img 64M
	chmod 444 /srv/rdo.img
	cat >> /etc/cowtab <<-EOF
	/srv/rdo.img /srv/rdo.cow 0
	EOF
	echo "/dev/cow/0 /mnt/cow ext4 defaults 0 2" >> /etc/fstab
	# by hand first: cowdev -A, the block node's owner, cowdev -D
	same cowdev-A-by-hand /dev/cow/0 "$(cowdev -A 2>&1)"
	udevadm settle
	same cow-node-group-disk "root:disk 660" "$(stat -c '%U:%G %a' /dev/cow/0)"
	same cowdev-A-again "" "$(cowdev -A 2>&1)"
	# a disk image with a partition table (cowdev -a -P): the udev
	# rule's /dev/cow/1p1 beside the kernel's /dev/cow1p1
	truncate -s 16M /srv/part.img
	echo ',8M' | sfdisk -q /srv/part.img
	same partscan-activate /dev/cow/1 \
		"$(cowdev -a -P /srv/part.img /srv/part.cow 1 2>&1)"
	udevadm settle
	check partition-node test -b /dev/cow1p1
	same partition-symlink /dev/cow1p1 "$(readlink -f /dev/cow/1p1)"
	check cowdev-D cowdev -D
	check partition-symlink-gone test ! -e /dev/cow/1p1
	same cowfile-clean-after-D "clean" \
		"$(cowlist /srv/rdo.cow | sed -n 's/ *state cowfile: *//p')"
	# Before cowdev@0 starts at boot: the cowfile's state, for phase 3.
	cat > /etc/systemd/system/cowcheck-state.service <<-EOF
	[Unit]
	DefaultDependencies=no
	RequiresMountsFor=/srv/rdo.cow
	Before=cowdev@0.service
	[Service]
	Type=oneshot
	ExecStart=/bin/sh -c 'cowlist /srv/rdo.cow > /run/cowcheck-state 2>&1'
	[Install]
	WantedBy=cowdev@0.service
	EOF
	systemctl enable cowcheck-state.service
	next "$kver"
	;;
2)	# ---- cowtab activated at boot, its fstab mount there ------------
	check cowdev0-active systemctl -q is-active cowdev@0.service
	same cowdev0-listed "/dev/cow/0 /srv/rdo.img /srv/rdo.cow" \
		"$(cowdev -l -n | tr -s ' ' | sed 's/ $//')"
	same cow-node-at-boot "root:disk 660" "$(stat -c '%U:%G %a' /dev/cow/0)"
	same fstab-mount "/dev/cow/0" "$(findmnt -n -o SOURCE /mnt/cow)"
	same rdofile-data "original" "$(cat /mnt/cow/orig.txt 2>&1)"
	check after-srv after cowdev@0.service srv.mount
	check mount-after-blockdev after mnt-cow.mount blockdev@dev-cow-0.target
	dd if=/dev/urandom of=/mnt/cow/data bs=1M count=8 status=none
	sync
	md5sum < /mnt/cow/data > /srv/data.md5
	next "$kver"
	;;
3)	# ---- data kept, cowfile clean without repair; the other kernel --
	same data-after-reboot "$(cat /srv/data.md5)" "$(md5sum < /mnt/cow/data)"
	same cowfile-clean-at-boot "clean" \
		"$(sed -n 's/ *state cowfile: *//p' /run/cowcheck-state)"
	same no-repair-at-boot 0 "$(jcount 'dirty|repair' -t cowdev)"
	# the last shutdown: /mnt/cow unmounted, then /dev/cow/0
	# deactivated, then /srv unmounted
	order=$(journalctl -b -1 -o cat _PID=1 | grep -oE '^(Unmounted mnt-cow\.mount|Stopped cowdev@0\.service|Unmounted srv\.mount)' |
		tr '\n' '|')
	same shutdown-order "Unmounted mnt-cow.mount|Stopped cowdev@0.service|Unmounted srv.mount|" "$order"
	# the later kernel of dists.conf, from the apt cache; with
	# -t SUITE, its dependencies (linux-base) come from there too
	t0=$(date +%s)
	# shellcheck disable=SC2086 # one word per package
	check apt-install-other-kernel env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-download --no-install-recommends \
		-t "$LATER_SUITE" $LATER_PKGS
	log "apt-get install of $LATER_PKGS: $(( $(date +%s) - t0 )) s"
	check dpkg-audit-clean-other-kernel audit_clean
	# shellcheck disable=SC2086 # a pattern
	new=$(cd /lib/modules && ls -d $LATER_GLOB 2>/dev/null | sort -V | tail -1)
	same other-kernel-installed yes "$([ -n "$new" ] && echo yes || echo "no /lib/modules/$LATER_GLOB")"
	dkms status
	check dkms-built-$new dkms_built "$new"
	check module-file-$new test -n "$(module_files "$new")"
	check initramfs-$new test -s "/boot/initrd.img-$new"
	check kernel-image-$new test -s "/boot/vmlinuz-$new"
	# Bad input for the next boot: a malformed line, a missing
	# rdofile (its fstab mount nofail), dirty cowfiles (copies of the
	# active one) with repair=yes and with the default repair=no.
	cp --sparse=always /srv/rdo.cow /srv/dirty-yes.cow
	cp --sparse=always /srv/rdo.cow /srv/dirty-no.cow
	same copy-is-dirty "dirty" \
		"$(cowlist /srv/dirty-no.cow | sed -n 's/ *state cowfile: *//p')"
	cat >> /etc/cowtab <<-EOF
	garbage-line
	/srv/missing.img /srv/missing.cow 2
	/srv/rdo.img /srv/dirty-yes.cow 3 repair=yes
	/srv/rdo.img /srv/dirty-no.cow 4
	EOF
	mkdir -p /mnt/cow2
	echo "/dev/cow/2 /mnt/cow2 ext4 nofail 0 0" >> /etc/fstab
	next "$new"
	;;
4)	# ---- booted the other kernel: bad lines did not stop the boot ---
	# shellcheck disable=SC2254 # a pattern
	case $kver in $LATER_GLOB) pass booted-other-kernel ;; *) fail booted-other-kernel ;; esac
	same module-from-dkms "/lib/modules/$kver/updates/dkms" \
		"$(dirname "$(modinfo -F filename cowloop 2>&1)")"
	check cowdev0-active systemctl -q is-active cowdev@0.service
	same fstab-mount "/dev/cow/0" "$(findmnt -n -o SOURCE /mnt/cow)"
	same data-on-other-kernel "$(cat /srv/data.md5)" "$(md5sum < /mnt/cow/data)"
	same failed-units "cowdev@2.service cowdev@4.service " "$failed"
	line=$(grep -n '^garbage-line' /etc/cowtab | cut -d: -f1)
	same malformed-line-journal 1 "$(jcount "^/etc/cowtab:$line: too few fields" -t cowtab-generator)"
	same missing-rdofile-journal 1 "$(jcount "^cowdev: /etc/cowtab:$((line + 1)): rdofile /srv/missing.img: No such file or directory: /dev/cow/2 not activated" -t cowdev)"
	check missing-rdofile-unit-failed systemctl -q is-failed cowdev@2.service
	check nofail-mount-absent sh -c '! findmnt -n /mnt/cow2'
	same dirty-repaired-journal 1 "$(jcount "^cowdev: /etc/cowtab:$((line + 2)): cowfile /srv/dirty-yes.cow is dirty \(not closed properly\): repairing it as cowtab says \(repair=yes\)" -t cowdev)"
	check dirty-repaired-active systemctl -q is-active cowdev@3.service
	same dirty-refused-journal 1 "$(jcount "^cowdev: /etc/cowtab:$((line + 3)): cowfile /srv/dirty-no.cow is dirty \(not closed properly\): /dev/cow/4 not activated" -t cowdev)"
	check dirty-refused-unit-failed systemctl -q is-failed cowdev@4.service
	same active-after-bad-input "0 3" "$(cowdev -l -n -O NAME | sed 's|/dev/cow/||' | awk '{print $1}' | paste -sd' ')"
	journalctl -b -o cat -t cowdev -t cowtab-generator
	kernels_dkms_cannot_build
	out DONE
	sync
	systemctl poweroff
	;;
*)	fail "phase-$phase-unknown"; out DONE; systemctl poweroff ;;
esac
