#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: install missing dependencies, make the build roots and
# install the kernels of tests/kernels.conf's "check" set, run checkpatch
# (tests/lint.sh), then the host tests (tests/host/run.sh) beside the
# guest suite on every kernel of the set (tests/guest/run.sh; KVERS= and
# TESTS= narrow it down): the host tests' results are printed once the
# guests are done.  make check-kernels (COW_KSET=kernels): the same guest
# suite on the kernels of the "kernels" set instead, after looking up
# what Debian's meta packages point to now.  make check-long
# (COW_SUITE=long): the long guest tests only, on the "check" kernels.
# The last line is "N passed, N failed"; the exit status is non-zero if
# anything failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=$(mktemp) host=$(mktemp)
trap 'rm -f "$out" "$host" "$host.rc"' EXIT
export COW_KSET=${COW_KSET:-check}

tests/guest/deps.sh
# Every "PASS name" / "FAIL name" line, host or guest, counts; a suite
# that fails without such a line (crashed script) counts as one failure.
suite() {
	local rc=0 before
	before=$(grep -c '^FAIL ' "$out" || true)
	"$@" 2>&1 | tee -a "$out" || rc=$?
	if [ $rc -ne 0 ] && [ "$(grep -c '^FAIL ' "$out" || true)" = "$before" ]; then
		echo "FAIL $* (exit $rc)" | tee -a "$out"
	fi
}
hostpid=
if [ -n "${COW_SUITE:-}" ]; then
	suite tests/guest/buildroot.sh prepare "$COW_KSET"
elif [ "$COW_KSET" = check ]; then
	suite tests/guest/buildroot.sh prepare check
	suite tests/lint.sh
	# the tools once, before both suites use them
	suite make --no-print-directory -s tools
	(rc=0; make --no-print-directory check-host >"$host" 2>&1 || rc=$?
	 echo "$rc" >"$host.rc") &
	hostpid=$!
else
	suite tests/guest/buildroot.sh prepare all
fi
COW_NO_SUMMARY=1 suite tests/guest/run.sh
if [ -n "$hostpid" ]; then
	wait "$hostpid" || true
	echo "check: the host tests, run beside the guests:"
	tee -a "$out" <"$host"
	rc=$(cat "$host.rc" 2>/dev/null || echo 1)
	if [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$host"; then
		echo "FAIL make check-host (exit $rc)" | tee -a "$out"
	fi
fi

npass=$(grep -c '^PASS ' "$out" || true)
nfail=$(grep -c '^FAIL ' "$out" || true)
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
