#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftest.sh: check the harness itself on one kernel (KVERS, default 6.1):
# a hung test, a stalled guest, a kernel warning/oops, a panic must each be
# reported as FAIL (with the tests after them still run), and a test that
# reboots the guest (cleanly and by a reset) must PASS, and what a failed
# test left behind (mounts, cowdevices, loop and dm devices) is gone for
# the next one.  Takes ~2 minutes.
#   tests/guest/selftest.sh
. "$(dirname "$0")/lib.sh"
export KVERS=${KVERS:-6.1} COW_NO_SUMMARY=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT

bad=0
# have_logs TEST...: each failed test's console log was kept.
have_logs() {
	for t in "$@"; do
		ls "$COW_OUT"/logs/*/"$t.log" >/dev/null 2>&1 ||
			{ echo "selftest: no log for $t"; bad=1; }
	done
}

# The stall is only noticed at the boot timeout: keep that one short.
COW_BOOT_MARGIN=40 TESTS=xfail-stall "$COW_GUEST_SRC/run.sh" | tee "$out" || true
have_logs xfail-stall
TESTS=xfail-hang,xfail-warn,xfail-panic,reboot,selftest-loop,xfail-leftovers,leftovers-gone \
	"$COW_GUEST_SRC/run.sh" | tee -a "$out" || true
have_logs xfail-hang xfail-warn xfail-panic kernel-log
expect() {	# expect PASS|FAIL NAME
	if ! grep -q "^$1 $2 (" "$out"; then
		echo "selftest: expected $1 $2"
		bad=1
	fi
}
expect FAIL xfail-stall
expect FAIL xfail-hang
expect FAIL xfail-warn
expect FAIL xfail-panic
expect PASS reboot
expect PASS selftest-loop
expect FAIL xfail-leftovers
expect PASS leftovers-gone
expect FAIL kernel-log
[ $bad = 0 ] && echo "selftest: harness OK"
exit $bad
