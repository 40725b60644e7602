# SPDX-License-Identifier: GPL-2.0
#
# Host-side helpers shared by the guest test bed scripts (deps.sh, run.sh,
# demo.sh, vm-shell.sh, selftest.sh).  Sourced, never run.
#
# Layout of what the test bed produces (all under build/guest/):
#   initramfs-<kver>.cpio.gz   cached initramfs per kernel (+ .hash of inputs)
#   disks/                     scratch disk images when /dev/shm is too small
#   logs/<kver>/<test>.log     console output of every failed test
#   logs/<kver>/boot<N>.log    full console log of each boot of the last run
#
# Environment knobs (all optional):
#   KVERS="6.1 6.12"   kernels to use (substring match on the release)
#   TESTS="a,b"        tests to run (names of tests/guest/t/NAME.sh)
#   V=1                copy the guest console to stdout while it runs
#   COW_MEM=1G         guest memory;  COW_SMP=2  guest vCPUs
#   COW_DISK_SIZE=4G   size of the sparse ext4 scratch disk (xfs one: half)
#   KEEP_DISKS=1       keep the scratch disks after the run (path printed)
#   COW_APPEND="..."   more kernel command line
#   COW_OUT=dir        logs, initramfs images, disks (default build/guest)
#   COW_DEBUG_BOOT=0   the test suite boots without its memory checks
#                      (see cow_debug_append)

set -euo pipefail

COW_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COW_GUEST_SRC=$COW_TOP/tests/guest
COW_OUT=${COW_OUT:-$COW_TOP/build/guest}
COW_MEM=${COW_MEM:-1G}
COW_SMP=${COW_SMP:-2}
COW_DISK_SIZE=${COW_DISK_SIZE:-4G}
# Seconds allowed for a boot on top of the tests' own timeouts.
COW_BOOT_MARGIN=${COW_BOOT_MARGIN:-120}
# Default per-test timeout; a test overrides it with a "# timeout: N" line.
COW_TEST_TIMEOUT=${COW_TEST_TIMEOUT:-300}

msg() { printf '%s\n' "guest: $*" >&2; }
die() { msg "error: $*"; exit 1; }

# cow_need_pkgs PKG...: install those of the Debian packages that are
# missing (root needed then), waiting for another apt's lock.
cow_need_pkgs() {
	local p missing=()
	for p in "$@"; do
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
			missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	[ "$(id -u)" = 0 ] || die "run as root to install: ${missing[*]}"
	msg "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q \
		install -y --no-install-recommends "${missing[@]}" >&2
}

. "$COW_GUEST_SRC/kernels.sh"

# cow_kernels: the kernels to test, oldest first.  Without KVERS: those
# of tests/kernels.conf's set $COW_KSET (check: make check; all: make
# check-kernels) that are installed (make deps, cow_kernels_prepare).
# KVERS (space or comma separated) picks among every installed kernel
# with headers, here and in the build roots: a kernels.conf NAME
# ("bpo"), a version ("6.1" is 6.1.0-57-cloud-amd64, not 6.12.x; "6.12"
# is every stock 6.12), or any other part of a release ("deb13").  The
# kernels of "make check-debug" (the debug build "-cowdebug" and the
# PREEMPT_RT "-rt-" ones) are only picked by their NAME or by more than
# a version: "cowdebug", "rt-amd64".  COW_SYSROOT (tests only) is where
# this machine's /boot and /lib/modules are.
cow_kernels() {
	local img r want special root
	if [ -z "${KVERS:-}" ]; then
		cow_kset_releases "${COW_KSET:-check}" | sort -V
		return
	fi
	for img in "${COW_SYSROOT:-}"/boot/vmlinuz-* "$COW_ROOTS"/*/boot/vmlinuz-*; do
		[ -e "$img" ] || continue
		r=${img##*/boot/vmlinuz-}
		root=${img%/boot/vmlinuz-*}
		cow_kheaders "$root" "$r" || continue
		case $r in
		*-cowdebug*|*-cowkcsan*|*-rt-*) special=1 ;;
		*) special= ;;
		esac
		for want in ${KVERS//,/ }; do
			# "6.1" matches 6.1.0-57-cloud-amd64 but not 6.12.x.
			if [[ -z $special && $r == "$want"* &&
			      ${r:${#want}:1} != [0-9] ]] ||
			   [[ $want == *[!0-9.]* && $r == *"$want"* ]] ||
			   [ "$(cow_kresolved "$want" 2>/dev/null)" = "$r" ]; then
				echo "$r"
				break
			fi
		done
	done | sort -uV
}

# cow_tests [KVER]: test names to run: $TESTS (comma or space separated)
# or every tests/guest/t/*.sh except the shared libraries (*lib.sh), the
# fault-injection tests debug-*.sh, which run only with
# COW_DEBUG_TESTS=1 (make check-debug) on a kernel that has fault
# injection (the debug kernel), and the tests of another suite (a
# "# suite: NAME" line: long for make check-long, bench for make
# bench-checkpoint), which run only with COW_SUITE=NAME, alone.
# make check-debug's KCSAN kernel runs COW_KCSAN_TESTS only.
cow_tests() {
	local f suite
	case ${1:-} in
	*-cowkcsan*)	# make check-debug's KCSAN kernel: its own share
		if [ -n "${COW_KCSAN_TESTS:-}" ]; then
			printf '%s\n' ${COW_KCSAN_TESTS//,/ }
			return
		fi ;;
	esac
	if [ -n "${TESTS:-}" ]; then
		printf '%s\n' ${TESTS//,/ }
		return
	fi
	for f in "$COW_GUEST_SRC"/t/*.sh; do
		suite=$(sed -n 's/^# suite: *//p' "$f")
		[ "${COW_SUITE:-}" = "$suite" ] || continue
		f=${f##*/}
		case $f in
		*lib.sh) ;;
		debug-*)
			[ "${COW_DEBUG_TESTS:-0}" = 1 ] &&
			grep -qs '^CONFIG_FAIL_MAKE_REQUEST=y' "$(cow_kfile "${1:-}" "/boot/config-${1:-}")" &&
			echo "${f%.sh}"
			;;
		*) echo "${f%.sh}" ;;
		esac
	done
}

# Path of a test script; harness self-check tests live in selftest/, the
# guest side of "make bench" in bench/.
cow_test_file() {
	local d
	for d in t selftest bench; do
		if [ -e "$COW_GUEST_SRC/$d/$1.sh" ]; then
			echo "$COW_GUEST_SRC/$d/$1.sh"
			return 0
		fi
	done
	return 1
}

# Timeout of one test in seconds: its "# timeout: N" header line, if any,
# times COW_TIMEOUT_SCALE (make check-debug: its kernel is slower).
cow_test_timeout() {
	local f t=""
	if f=$(cow_test_file "$1"); then
		t=$(sed -n 's/^# timeout: *\([0-9][0-9]*\).*/\1/p; T; q' "$f")
	fi
	echo $(( ${t:-$COW_TEST_TIMEOUT} * ${COW_TIMEOUT_SCALE:-1} ))
}

# cow_build_tools: the tools, once a run (COW_TOOLS_BUILT).
cow_build_tools() {
	[ -z "${COW_TOOLS_BUILT:-}" ] || return 0
	export COW_TOOLS_BUILT=1
	mkdir -p "$COW_OUT/logs"
	if ! make -C "$COW_TOP" --no-print-directory tools \
			>"$COW_OUT/logs/build-tools.log" 2>&1; then
		echo "FAIL build-tools (host)"
		msg "tools did not build: see build/guest/logs/build-tools.log"
	fi
}

# cow_api_broke LOG: what a failed module build says of the kernel API,
# one phrase per symbol: "bdev_nonrot() is gone (dev.c:655); struct
# bvec_iter has no member bi_bvec_done (io.c:167)".
cow_api_broke() {
	sed -n -E 's/^(.*\/)?([^/:]+\.[ch]):([0-9]+):[0-9]+: error: (.*)$/\2:\3 \4/p' "$1" |
	sed -E \
	 -e "s/^([^ ]+) implicit declaration of function ‘([^’]+)’.*/\2() is gone (\1)/;t" \
	 -e "s/^([^ ]+) ‘struct ([^’]+)’ has no member named ‘([^’]+)’.*/struct \2 has no member \3 (\1)/;t" \
	 -e "s/^([^ ]+) too (many|few) arguments to function ‘([^’]+)’.*/\3() takes other arguments (\1)/;t" \
	 -e "s/^([^ ]+) ‘([^’]+)’ undeclared.*/\2 is gone (\1)/;t" \
	 -e "s/^([^ ]+) unknown type name ‘([^’]+)’.*/type \2 is gone (\1)/;t" \
	 -e "s/^([^ ]+) (.*)/\2 (\1)/" |
	sort -u -t'(' -k1,1 | head -n 8 | paste -sd';' | sed 's/;/; /g'
}

# Build the tools once, and the module and the initramfs for kernel $1.
# The module is built with W=1 and sparse (C=2): any warning of either
# fails build-module-clean.  Build failures are not fatal: the guest
# tests that need the missing piece fail with a message saying so.
# Prints "FAIL build-... (kver)" lines for failed builds (a failed module
# build names the kernel API that broke), with the log kept under
# build/guest/logs/.
cow_build() {
	local r=$1 log=$COW_OUT/logs/$1 why n
	mkdir -p "$log"
	cow_build_tools
	rm -f "$COW_TOP/build/$r/cowloop.ko" "$COW_TOP/build/$r"/*.o
	if ! make -C "$COW_TOP" --no-print-directory module KERNELRELEASE="$r" \
			W=1 C=2 >"$log/build-module.log" 2>&1; then
		why=$(cow_api_broke "$log/build-module.log")
		echo "FAIL build-module ($r)${why:+: the kernel API changed: $why}"
		msg "module did not build for $r: see build/guest/logs/$r/build-module.log"
	else
		n=$(grep -c -E '(warning|error):' "$log/build-module.log" || true)
		if [ "$n" -gt 0 ]; then
			echo "FAIL build-module-clean ($r): $n warnings (W=1, sparse): $(grep -m1 -E '(warning|error):' "$log/build-module.log")"
		else
			echo "PASS build-module-clean ($r)"
		fi
	fi
	"$COW_GUEST_SRC/mkinitramfs.sh" "$r" "$COW_OUT/initramfs-$r.cpio.gz" >&2
}

# Create fresh sparse scratch disks for a run: $COW_DISK1 (ext4) and
# $COW_DISK2 (xfs), formatted here so that the guest boots straight into
# mounting them.  Kept in /dev/shm when it has room (steadier I/O timing).
cow_make_disks() {
	local dir=/dev/shm need_kb
	need_kb=$(( $(numfmt --from=iec "$COW_DISK_SIZE") / 1024 * 2 ))
	if [ ! -w $dir ] || [ "$(df -Pk $dir | awk 'NR==2 {print $4}')" -lt "$need_kb" ]; then
		dir=$COW_OUT/disks
	fi
	mkdir -p "$dir"
	COW_DISK1=$dir/cowloop-$$-$1-ext4.img
	COW_DISK2=$dir/cowloop-$$-$1-xfs.img
	rm -f "$COW_DISK1" "$COW_DISK2"
	truncate -s "$COW_DISK_SIZE" "$COW_DISK1"
	truncate -s "$(( $(numfmt --from=iec "$COW_DISK_SIZE") / 2 ))" "$COW_DISK2"
	mkfs.ext4 -q -F -L scratch "$COW_DISK1"
	mkfs.xfs -q -f -L xfscratch "$COW_DISK2"
}

cow_remove_disks() {
	if [ -n "${KEEP_DISKS:-}" ]; then
		msg "scratch disks kept: ${COW_DISK1:-} ${COW_DISK2:-}"
	else
		rm -f "${COW_DISK1:-}" "${COW_DISK2:-}"
	fi
}

# cow_debug_append KVER: the checks the test suite boots every kernel
# with (make bench does not): slab red zones, poisoning and consistency
# checks for every cache (slub_debug=FZP), freed memory zeroed
# (init_on_free=1), and KFENCE sampling every millisecond where the
# kernel has KFENCE (6.12, 7.x).  A use-after-free then reads poison or
# traps instead of stale data.  Not U (the stack of every allocation and
# free, for the report only): it cost 12% of the suite's time under TCG,
# and make check-debug's KASAN reports those stacks.  COW_DEBUG_BOOT=0
# turns them off.
#
# Always: an oops, a hung task (120 s) or a soft lockup panics the guest,
# which ends the boot at once (panic=-1, -no-reboot): the test fails and
# the next ones run in a new boot, instead of the guest sitting idle
# until the boot's timeout.
#
# A KASAN kernel boots with 4-level paging (no5lvl): TCG's "-cpu max" has
# LA57, and while identify_cpu() rebuilds boot_cpu_data's feature bits
# (IRQs are on, alternatives not applied yet) pgtable_l5_enabled() reads
# false, so an interrupt then taking a spinlock in the 5-level direct map
# gets a false "KASAN: wild-memory-access" (tests/guest/README).  Its
# kernel log is 16 MiB: the fault-injection tests' reports (page
# allocation failures) must not push a test's earlier lines out before
# init reads them.
cow_debug_append() {
	local config
	config=$(cow_kfile "$1" "/boot/config-$1")
	printf '%s' "oops=panic hung_task_panic=1 softlockup_panic=1"
	grep -qs '^CONFIG_KASAN=y' "$config" &&
		printf ' %s' "no5lvl log_buf_len=16M"
	# KCSAN's instrumented jitterentropy self-test ran 22 s without a
	# break at boot on a loaded host: a soft lockup, which panics.
	grep -qs '^CONFIG_KCSAN=y' "$config" &&
		printf ' %s' "watchdog_thresh=30"
	[ "${COW_DEBUG_BOOT:-1}" = 1 ] || return 0
	# KASAN (the debug kernel) does the slab checks better, and faster.
	grep -qs '^CONFIG_KASAN=y' "$config" ||
		printf ' %s' "slub_debug=FZP"
	printf ' %s' "init_on_free=1"
	if grep -qs '^CONFIG_KFENCE=y' "$config"; then
		printf ' %s' "kfence.sample_interval=1"
	fi
}

# Drive options: O_DIRECT + native AIO when the image's filesystem
# supports O_DIRECT (tmpfs does since Linux 6.6), else host page cache.
cow_drive() {
	local cache="cache=none,aio=native"
	if ! dd if="$1" of=/dev/null bs=4096 count=1 iflag=direct \
			status=none 2>/dev/null; then
		cache="cache=writeback,aio=threads"
	fi
	echo "file=$1,if=virtio,format=raw,$cache"
}

# cow_qemu KVER CMDLINE CONSOLE RESULTS [qemu args...]
# Boots kernel KVER with its initramfs and the scratch disks
# (COW_KERNEL and COW_INITRD replace /boot/vmlinuz-KVER and the test
# bed's initramfs: make check-system boots a Debian system's own).  CONSOLE is
# a file for the first serial port, or "stdio" for an interactive console
# (Ctrl-A x quits); RESULTS is a file for the second serial port.  With
# COW_TIMEOUT=seconds set, QEMU is killed after that long (exit 124).
# slab_nomerge: every cache of the module shows in /proc/slabinfo (leak
# checks, the benchmark's memory figure).  no_timer_check: on a loaded
# host a TCG guest's timer can miss the boot-time IO-APIC check, which
# then panics ("IO-APIC + timer doesn't work"); QEMU's timer is fine.
cow_qemu() {
	local r=$1 append=$2 console=$3 results=$4
	shift 4
	local serial0=(-serial "file:$console") wrap=()
	[ "$console" = stdio ] && serial0=(-serial mon:stdio)
	[ -n "${COW_TIMEOUT:-}" ] && wrap=(timeout -k 5 "$COW_TIMEOUT")
	"${wrap[@]}" qemu-system-x86_64 -nodefaults -display none -no-reboot \
		-accel tcg -cpu max -smp "$COW_SMP" -m "$COW_MEM" \
		-kernel "${COW_KERNEL:-$(cow_kfile "$r" "/boot/vmlinuz-$r")}" \
		-initrd "${COW_INITRD:-$COW_OUT/initramfs-$r.cpio.gz}" \
		-append "console=ttyS0 panic=-1 loglevel=5 slab_nomerge no_timer_check $append${COW_APPEND:+ $COW_APPEND}" \
		"${serial0[@]}" -serial "file:$results" \
		-drive "$(cow_drive "$COW_DISK1")" \
		-drive "$(cow_drive "$COW_DISK2")" \
		"$@"
}
