#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-debug: the guest suite, fault-injection tests included, on
# kernels built to find bugs:
#   - a 6.12 kernel from Debian's linux-source-6.12 with KASAN, KFENCE,
#     lockdep, DEBUG_ATOMIC_SLEEP, DEBUG_OBJECTS, kmemleak, DEBUG_LIST and
#     fault injection (tests/debug/base.config + debug.config; built once
#     per configuration by build-kernel.sh, cached under build/debug/);
#   - a 6.12 kernel with KCSAN, the data race detector, which cannot
#     share a kernel with KASAN (base.config + kcsan.config): the
#     concurrency-heavy tests (COW_KCSAN_TESTS);
#   - Debian's PREEMPT_RT kernel (linux-image-6.12-rt-amd64), where
#     spinlocks sleep.
# Then coccinelle's semantic patches over src/module (coccicheck.sh).
# Ends with "N passed, N failed" and the build and run times.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
msg() { printf 'check-debug: %s\n' "$*" >&2; }

tests/guest/deps.sh
rtpkgs=(linux-image-6.12-rt-amd64 linux-headers-6.12-rt-amd64)
for p in "${rtpkgs[@]}"; do
	if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
		msg "installing ${rtpkgs[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
			-q install -y --no-install-recommends "${rtpkgs[@]}" >&2
		break
	fi
done
rt=$(ls /boot/vmlinuz-*-rt-amd64 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V | tail -n 1)
[ -n "$rt" ] || { msg "no PREEMPT_RT kernel installed"; exit 1; }

start=$SECONDS
dbg=$(tests/debug/build-kernel.sh debug)
kcsan=$(tests/debug/build-kernel.sh kcsan)
build=$((SECONDS - start))

out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$SECONDS
# The debug kernel runs everything several times slower under TCG:
# every test gets COW_TIMEOUT_SCALE times its timeout, none is skipped.
# Its tests are shared by two guests (COW_SHARDS), the PREEMPT_RT
# kernel's run in a third, the KCSAN kernel's (the concurrency-heavy
# tests, and debug-suspend) in a fourth: they keep both cores busy to
# the end.
rc=0
COW_DEBUG_TESTS=1 COW_TIMEOUT_SCALE=${COW_TIMEOUT_SCALE:-4} COW_NO_SUMMARY=1 \
	COW_SHARDS=${COW_SHARDS:-cowdebug:2} \
	COW_KCSAN_TESTS=${COW_KCSAN_TESTS:-cow-ioerr,cow-churn,cow-stress,cow-fio,cow-discard,crash-kill,crash-logwrites,cow-wberr,debug-suspend} \
	KVERS="$dbg,$rt,$kcsan" tests/guest/run.sh 2>&1 | tee "$out" || rc=$?
run=$((SECONDS - start))
tests/debug/coccicheck.sh 2>&1 | tee -a "$out" || true

npass=$(grep -c '^PASS ' "$out" || true)
nfail=$(grep -c '^FAIL ' "$out" || true)
[ $rc = 0 ] || [ "$nfail" != 0 ] || { echo "FAIL guest-suite (exit $rc)"; nfail=1; }
faults=$(find build/guest/logs/"$dbg" -name 'boot*.log' -exec cat {} + 2>/dev/null |
	grep -o 'faults injected and survived: [0-9]*' |
	grep -o '[0-9]*$' | paste -sd+ | bc 2>/dev/null || echo 0)
msg "debug kernels $dbg and $kcsan: build $((build / 60)) min (0 when cached: $(cat build/debug/*/build-seconds 2>/dev/null | tail -n 1) s when built); suite on $dbg and $rt: $((run / 60)) min; faults injected: ${faults:-0}"
echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
