# SPDX-License-Identifier: GPL-2.0
#
# Helpers of make check-system (run.sh, mkrootfs.sh): the Debian systems
# of tests/system/dists.conf.  Sourced after tests/guest/lib.sh, never run.

SYS_HERE=$COW_TOP/tests/system
SYS_CONF=$SYS_HERE/dists.conf

# sys_dists: the NAMEs to run, in dists.conf order; DIST=a,b picks some.
sys_dists() {
	local n want
	for n in $(awk '!/^[ \t]*(#|$)/ { print $1 }' "$SYS_CONF"); do
		if [ -z "${DIST:-}" ]; then echo "$n"; continue; fi
		for want in ${DIST//,/ }; do
			if [ "$want" = "$n" ]; then echo "$n"; fi
		done
	done
}

# sys_line NAME: its dists.conf line.
sys_line() { awk -v n="$1" '!/^[ \t]*#/ && $1 == n' "$SYS_CONF"; }

# sys_suites NAME: its apt suites, the release first.
sys_suites() { sys_line "$1" | awk '{ $1 = $2 = ""; sub(/^ +/, ""); print }'; }
sys_release() { sys_suites "$1" | awk '{ print $1 }'; }

# sys_later_image NAME: the linux-image package of the later kernel (the
# PACKAGE of its tests/kernels.conf line).
sys_later_image() {
	local k
	k=$(sys_line "$1" | awk '{ print $2 }')
	cow_kline "$k" | awk '{ print $5 }'
}

# sys_later_suite NAME: the suite it comes from (kernels.conf's SUITE),
# the target release of its apt-get (-t trixie-backports: its
# dependencies from there too).
sys_later_suite() {
	local k
	k=$(sys_line "$1" | awk '{ print $2 }')
	cow_kline "$k" | awk '{ print $4 }'
}

# sys_later_pkgs NAME: that image and its headers.
sys_later_pkgs() {
	local img
	img=$(sys_later_image "$1")
	echo "$img ${img/linux-image-/linux-headers-}"
}

# sys_later_glob NAME: a shell pattern of the release it installs:
# linux-image-7.3.4+deb13-cloud-amd64 is 7.3.4+deb13-cloud-amd64 itself,
# linux-image-6.12-cloud-amd64 6.12.*-cloud-amd64,
# linux-image-cloud-amd64 *-cloud-amd64.
sys_later_glob() {
	local p
	p=$(sys_later_image "$1")
	p=${p#linux-image-}
	case $p in
	[0-9]*.[0-9]*.[0-9]*) echo "$p" ;;
	[0-9]*) echo "${p%%-*}.*-${p#*-}" ;;
	*) echo "*-$p" ;;
	esac
}

# sys_packages NAME: the packages of its root file system, comma-separated.
sys_packages() {
	cat "$SYS_HERE/packages" "$SYS_HERE/packages.$1" 2>/dev/null |
		grep -v -E '^[ \t]*(#|$)' | paste -sd,
}

# sys_hash NAME: what its root file system is made from.
sys_hash() {
	{ sys_line "$1"; sys_later_suite "$1"; sys_later_pkgs "$1"; sys_packages "$1"
	  cat "$SYS_HERE/mkrootfs.sh" "$SYS_HERE/cowcheck.service"
	} | sha256sum | cut -c1-16
}

# sys_begin NAME: a fresh results file $SYS/logs/NAME that record() adds
# a result line to, times=() for the run's timings, then make deb (its
# log in $SYS/logs/deb.log; a failure ends the run): "PASS make-deb"
# and its time first.
sys_begin() {
	local t0
	mkdir -p "$SYS/logs"
	results=$SYS/logs/$1
	: > "$results"
	times=()
	t0=$(date +%s)
	if ! make --no-print-directory deb > "$SYS/logs/deb.log" 2>&1; then
		record "FAIL make-deb"
		tail -20 "$SYS/logs/deb.log" >&2
		exit 1
	fi
	record "PASS make-deb"
	times+=("make deb $(( $(date +%s) - t0 )) s")
}
record() { echo "$*" | tee -a "$results"; }
