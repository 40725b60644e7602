#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh: the guest test suite.  For each kernel ($KVERS, default all with
# headers installed): build the module and the initramfs, create fresh
# scratch disks, boot QEMU (TCG) with the tests ($TESTS, default all of
# tests/guest/t/) on the kernel command line, and read the results the
# guest writes to its second serial port.  Prints one line per test:
#	PASS name (kernel)  |  FAIL name (kernel)
# plus the pseudo-test "kernel-log" (warnings, oopses... in the guest's
# kernel log), then "N passed, N failed" unless COW_NO_SUMMARY is set.
# Exit status: 0 when everything passed.
#
# A test that never reports (guest hung, panicked, timed out) fails, and
# the tests after it run in a new boot.  A test may ask for a reboot
# (reboot_guest in t/lib.sh): it then runs again in a new boot with the
# same disks and COW_PHASE+1.  Failed tests' console output is kept in
# build/guest/logs/<kernel>/<test>.log, each boot's console in bootN.log.
#
# With several kernels the guests run at the same time, one vCPU each
# (COW_PARALLEL=0: one after the other, COW_SMP vCPUs).  COW_SHARDS=
# "PATTERN:N ..." gives the kernels whose release contains PATTERN N
# guests at once, each with its share of the tests (make check-debug:
# its debug kernel is the slow one); their logs go to logs/<kernel>/gK/.
. "$(dirname "$0")/lib.sh"

MAX_BOOTS=${MAX_BOOTS:-20}
npass=0 nfail=0

# result KVER NAME PASS|FAIL [REASON]
result() {
	echo "$3 $2 ($1)${4:+: $4}"
	if [ "$3" = PASS ]; then npass=$((npass + 1)); else nfail=$((nfail + 1)); fi
}

# keep_log LOGDIR NAME CONSOLE REASON: the test's section of the console.
keep_log() {
	awk -v n="$2" 'index($0, "=== BEGIN " n " (") == 1 { p = 1 }
		p { print }
		p && index($0, "=== END " n ":") == 1 { exit }' "$3" >"$1/$2.log"
	[ -s "$1/$2.log" ] || cp "$3" "$1/$2.log"
	echo "host: $4 (full console: $3)" >>"$1/$2.log"
}

# follow FILE PID: copy the console log to stdout while QEMU runs (V=1).
follow() { tail -n +1 -s 0.2 -f --pid="$2" "$1" | tr -d '\r'; }

# prebuild KVER: fresh logs, the module, the tools and the initramfs.
prebuild() {
	rm -rf "$COW_OUT/logs/$1"
	mkdir -p "$COW_OUT/logs/$1"
	cow_build "$1" >"$COW_OUT/logs/$1/build-failures"
}

# shards KVER: how many guests run the tests of KVER (COW_SHARDS).
shards() {
	local s
	for s in ${COW_SHARDS:-}; do
		case $1 in *"${s%:*}"*) echo "${s##*:}"; return ;; esac
	done
	echo 1
}

# shard_tests KVER K N: the tests of guest K of N for KVER: longest
# timeout first, each to the guest with the least so far; in name order.
shard_tests() {
	local t to i best
	local -a load=()
	if [ "$3" = 1 ]; then
		cow_tests "$1"
		return
	fi
	for ((i = 1; i <= $3; i++)); do load[i]=0; done
	for t in $(cow_tests "$1"); do
		echo "$(cow_test_timeout "$t") $t"
	done | sort -k1,1nr -k2,2 | {
		while read -r to t; do
			best=1
			for ((i = 2; i <= $3; i++)); do
				[ "${load[i]}" -lt "${load[best]}" ] && best=$i
			done
			load[best]=$((load[best] + to))
			[ "$best" = "$2" ] && echo "$t"
		done
	} | sort
}

# run_kernel KVER [K N]: the tests of KVER (guest K of N: its share).
run_kernel() {
	local r=$1 k=${2:-1} n=${3:-1} logs=$COW_OUT/logs/$1
	local -a pending=()
	local -A phase=() to=()
	local t boot=0 klog="" qpid rc line klabel=$1

	# Build failures ("FAIL build-... (kver)") count in the totals.
	[ -n "${COW_PREBUILT:-}" ] || [ "$k" != 1 ] || prebuild "$r"
	if [ "$k" = 1 ]; then
		cat "$logs/build-failures"
		npass=$((npass + $(grep -c '^PASS' "$logs/build-failures" || true)))
		nfail=$((nfail + $(grep -c '^FAIL' "$logs/build-failures" || true)))
	fi
	[ -e "$COW_OUT/initramfs-$r.cpio.gz" ] || die "no initramfs for $r"
	if [ "$n" -gt 1 ]; then
		logs=$logs/g$k
		klabel="$r, guest $k of $n"
		mkdir -p "$logs"
	fi

	cow_make_disks "$r-g$k"
	for t in $(shard_tests "$r" "$k" "$n"); do
		pending+=("$t")
		phase[$t]=1
		to[$t]=$(cow_test_timeout "$t")
	done

	while [ ${#pending[@]} -gt 0 ]; do
		boot=$((boot + 1))
		local cmd="" limit=$COW_BOOT_MARGIN
		local console=$logs/boot$boot.log res=$logs/boot$boot.res
		for t in "${pending[@]}"; do
			cmd+="${cmd:+,}$t:${to[$t]}:${phase[$t]}"
			limit=$((limit + to[$t]))
		done
		if [ $boot -gt "$MAX_BOOTS" ]; then
			for t in "${pending[@]}"; do
				result "$r" "$t" FAIL "more than $MAX_BOOTS boots"
			done
			break
		fi
		: >"$console"
		: >"$res"
		local start=$SECONDS
		COW_TIMEOUT=$limit cow_qemu "$r" "cowtests=$cmd $(cow_debug_append "$r")" \
			"$console" "$res" </dev/null &
		qpid=$!
		[ -n "${V:-}" ] && follow "$console" $qpid &
		rc=0
		wait $qpid || rc=$?
		wait
		sed -i 's/\r$//' "$console" "$res"
		msg "$r boot $boot: $((SECONDS - start)) s, qemu exit $rc"

		# Parse the results channel.
		local -A started=() done_=() reboot=()
		local why="guest died (panic or crash) during the test"
		[ $rc = 124 ] && why="no result within the boot timeout of $limit s (guest hung)"
		local klog_seen=""
		while read -r word name; do
			case $word in
			BEGIN)	started[$name]=1 ;;
			REBOOT)	reboot[$name]=1 ;;
			PASS|FAIL)
				if [ "$name" = kernel-log ]; then
					klog_seen=1
					[ "$word" = FAIL ] && klog=FAIL
					[ -z "$klog" ] && klog=PASS
					[ "$word" = FAIL ] && keep_log "$logs" kernel-log "$console" \
						"kernel log of boot $boot has warnings/oopses"
					continue
				fi
				case $name in init:*)
					msg "guest init failed: $name"; continue ;;
				esac
				done_[$name]=1
				result "$r" "$name" "$word"
				[ "$word" = FAIL ] && keep_log "$logs" "$name" "$console" "test failed"
				;;
			esac
		done <"$res"

		local -a next=()
		local progress=""
		for t in "${pending[@]}"; do
			if [ -n "${done_[$t]:-}" ]; then
				progress=1
			elif [ -n "${reboot[$t]:-}" ]; then
				progress=1
				phase[$t]=$((phase[$t] + 1))
				next+=("$t")
			elif [ -n "${started[$t]:-}" ]; then
				progress=1
				result "$r" "$t" FAIL "$why"
				keep_log "$logs" "$t" "$console" "$why"
			else
				next+=("$t")
			fi
		done
		# A boot that ended without kernel-log report nor reboot request
		# died: that is a kernel-log failure too.
		if [ -z "$klog_seen" ] && [ ${#reboot[@]} -eq 0 ]; then
			klog=FAIL
			keep_log "$logs" kernel-log "$console" "boot $boot ended abnormally: $why"
		fi
		if [ -z "$progress" ]; then
			for t in "${next[@]}"; do
				result "$r" "$t" FAIL "guest did not start tests (see $console)"
				keep_log "$logs" "$t" "$console" "guest did not start tests"
			done
			next=()
		fi
		pending=("${next[@]}")
	done
	result "$klabel" kernel-log "${klog:-FAIL}"
	cow_remove_disks
}

kernels=$(cow_kernels)
[ -n "$kernels" ] || die "no kernel matching '${KVERS:-}' with headers (run make deps)"
set -- $kernels
guests=()	# "KVER K N" for each guest
for r in "$@"; do
	n=$(shards "$r")
	for ((k = 1; k <= n; k++)); do guests+=("$r $k $n"); done
done
if [ ${#guests[@]} -gt 1 ] && [ "${COW_PARALLEL:-1}" = 1 ]; then
	# One guest per kernel (or shard) at once, one vCPU each: TCG keeps
	# a host core busy per vCPU, so this halves the wall time on two
	# cores.  The tools are built first; each kernel's guests start as
	# soon as its module and initramfs are, while the others' build.
	export COW_SMP=${COW_SMP_PARALLEL:-1} COW_PREBUILT=1
	mkdir -p "$COW_OUT/logs"
	cow_build_tools >"$COW_OUT/logs/tools-failures"
	cat "$COW_OUT/logs/tools-failures"
	for r in "$@"; do
		(
			prebuild "$r"
			for g in "${guests[@]}"; do
				[ "${g%% *}" = "$r" ] || continue
				(
					trap 'cow_remove_disks' EXIT
					run_kernel $g
					echo "$npass $nfail" >"$COW_OUT/count-${g// /-}"
				) &
			done
			wait
		) &
	done
	wait
	npass=0 nfail=$(grep -c '^FAIL' "$COW_OUT/logs/tools-failures" || true)
	for g in "${guests[@]}"; do
		read -r p f <"$COW_OUT/count-${g// /-}" ||
			{ p=0 f=1; echo "FAIL run (${g%% *})"; }
		npass=$((npass + p)) nfail=$((nfail + f))
	done
else
	trap 'cow_remove_disks' EXIT
	for g in "${guests[@]}"; do
		run_kernel $g
	done
fi
[ -n "${COW_NO_SUMMARY:-}" ] || echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
