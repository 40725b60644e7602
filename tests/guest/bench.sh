#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: cowloop against loop, dm-snapshot and qemu-nbd+qcow2 in one
# guest boot (QEMU TCG), same ext4 disk for all, contestants interleaved
# over rounds on fresh overlays, best of each job kept.  The guest side is
# tests/guest/bench/bench.sh, the report tests/guest/bench/report.py.
# See doc/benchmark.md.
#
# Knobs (environment or make variables):
#   KERNELRELEASE=r or KVERS=6.1   kernel (default: the 6.12 one)
#   BENCH_SIZE=2G      rdofile and overlay size (working set); 1 GiB guest
#   BENCH_RUNTIME=5    seconds per fio job
#   ROUNDS=2           interleaved rounds
#   BENCH_JOBS=a,b     subset of rr1,rr16,sr,rw1,rw16,sw,fsync
#   BENCH_QUICK=1      smoke test: 256 MiB files, 3 s jobs (unless set)
#   V=1                guest console on stdout while it runs
# Output: a table on stdout, build/bench/results.{txt,json}, bench.png.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ -n "${BENCH_QUICK:-}" ]; then
	BENCH_SIZE=${BENCH_SIZE:-256M} BENCH_RUNTIME=${BENCH_RUNTIME:-3}
fi
BENCH_SIZE=${BENCH_SIZE:-2G} BENCH_RUNTIME=${BENCH_RUNTIME:-5}
ROUNDS=${ROUNDS:-2} BENCH_JOBS=${BENCH_JOBS:-rr1,rr16,sr,rw1,rw16,sw,fsync}
OUT=$COW_TOP/build/bench
size_mib=$(( $(numfmt --from=iec "$BENCH_SIZE") / 1048576 ))
[ "$size_mib" -ge 64 ] || die "BENCH_SIZE=$BENCH_SIZE: at least 64M"

# --- deps: qemu-nbd/qemu-img for the guest, gnuplot for the chart ---------
bench_deps() {
	local p missing=()
	for p in qemu-utils gnuplot-nox python3; do
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		msg "bench: missing ${missing[*]} (run as root to install)"
		return 0
	fi
	msg "bench: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q \
		install -y --no-install-recommends "${missing[@]}" >&2 ||
	{ apt-get -q update >&2 && DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=600 -q install -y \
		--no-install-recommends "${missing[@]}" >&2; }
}
bench_deps
command -v qemu-nbd >/dev/null || die "qemu-nbd missing: apt-get install qemu-utils"

# --- kernel -----------------------------------------------------------------
if [ -n "${KERNELRELEASE:-}" ]; then
	r=$KERNELRELEASE
else
	r=$(KVERS=${KVERS:-6.12} cow_kernels | tail -n 1)
fi
[ -n "$r" ] && [ -e "/boot/vmlinuz-$r" ] ||
	die "no kernel '${KERNELRELEASE:-${KVERS:-6.12}}' with headers (run make deps)"

# --- disk: rdofile, its copy, the modified cowfile and one overlay -------
# (~4.1 x BENCH_SIZE), in /dev/shm when cow_make_disks finds room there
# (twice the image size), else in build/guest/disks.
disk_mib=$(( size_mib * 9 / 2 + 512 ))
export COW_DISK_SIZE=${disk_mib}M
where=/dev/shm
if [ ! -w /dev/shm ] ||
   [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -lt $(( disk_mib * 2048 )) ]; then
	where=$COW_OUT/disks
	mkdir -p "$where"
	[ "$(df -Pk "$where" | awk 'NR==2 {print $4}')" -ge $(( disk_mib * 1024 )) ] ||
		die "no room for the ${disk_mib} MiB bench disk in /dev/shm or $where"
fi
msg "bench: kernel $r, ${size_mib} MiB files, ${BENCH_RUNTIME} s jobs, $ROUNDS rounds, disk in $where"

# --- time limit: per round 5 x reads + 5 x writes + 3 x all jobs ------------
nj=$(echo "$BENCH_JOBS" | tr , '\n' | grep -c .)
per_job=$(( BENCH_RUNTIME + 15 ))
limit=$(( 600 + size_mib / 5 + ROUNDS * (nj * 13 * per_job + size_mib / 5) ))

mkdir -p "$OUT"
rc=0
# Measured without the test suite's memory checks (slub_debug...).
COW_DEBUG_BOOT=0 COW_NO_SUMMARY=1 TESTS=bench KVERS=$r COW_MEM=${COW_MEM:-1G} \
COW_TEST_TIMEOUT=$limit \
COW_APPEND="cowbench.size=$size_mib cowbench.runtime=$BENCH_RUNTIME cowbench.rounds=$ROUNDS cowbench.jobs=$BENCH_JOBS" \
	"$COW_GUEST_SRC/run.sh" || rc=$?

cat "$COW_OUT/logs/$r"/boot*.res 2>/dev/null | grep '^BENCH ' >"$OUT/raw.txt" || true
if [ ! -s "$OUT/raw.txt" ]; then
	die "no results (see build/guest/logs/$r/)"
fi
/usr/bin/python3 "$COW_GUEST_SRC/bench/report.py" "$OUT" <"$OUT/raw.txt"
[ $rc = 0 ] || msg "bench: the guest run failed (exit $rc): see build/guest/logs/$r/"
exit $rc
