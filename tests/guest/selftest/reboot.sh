#!/bin/sh
# Harness self-check (expected PASS): reboot_guest, with and without
# "crash", keeps the scratch disk and runs the test again in the next phase.
# timeout: 60
. /cowloop/t/lib.sh
case $COW_PHASE in
1)	echo one >state; sync; reboot_guest ;;
2)	check_eq "state after clean reboot" one "$(cat state)"
	echo two >state; sync; reboot_guest crash ;;
3)	check_eq "state after crash" two "$(cat state)" ;;
*)	fail "unexpected phase $COW_PHASE" ;;
esac
