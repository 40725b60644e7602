#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: install missing dependencies, run the host tests
# (tests/host/run.sh, when present) and the guest suite on every kernel
# (tests/guest/run.sh; KVERS= and TESTS= narrow it down).  The last line
# is "N passed, N failed"; the exit status is non-zero if anything failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

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
if [ -x tests/host/run.sh ]; then
	suite make --no-print-directory check-host
else
	echo "check: tests/host/run.sh not present: host tests skipped"
fi
COW_NO_SUMMARY=1 suite tests/guest/run.sh

npass=$(grep -c '^PASS ' "$out" || true)
nfail=$(grep -c '^FAIL ' "$out" || true)
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
