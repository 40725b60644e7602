#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: install missing dependencies, make the build roots and
# install the kernels of tests/kernels.conf's "check" set, run checkpatch
# (tests/lint.sh), the host tests (tests/host/run.sh) and the guest suite
# on every kernel of the set (tests/guest/run.sh; KVERS= and TESTS= narrow
# it down).  make check-kernels (COW_KSET=kernels): the same guest suite on
# the kernels of the "kernels" set instead, after looking up what Debian's
# meta packages point to now.  The last line is "N passed, N failed"; the
# exit status is non-zero if anything failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
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
if [ "$COW_KSET" = check ]; then
	suite tests/guest/buildroot.sh prepare check
	suite tests/lint.sh
	suite make --no-print-directory check-host
else
	suite tests/guest/buildroot.sh prepare all
fi
COW_NO_SUMMARY=1 suite tests/guest/run.sh

npass=$(grep -c '^PASS ' "$out" || true)
nfail=$(grep -c '^FAIL ' "$out" || true)
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
