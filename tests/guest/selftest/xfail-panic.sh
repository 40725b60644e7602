#!/bin/sh
# Harness self-check (expected FAIL): a kernel panic kills the guest; the
# host fails the running test and runs the remaining ones in a new boot.
# timeout: 20
. /cowloop/t/lib.sh
echo c >/proc/sysrq-trigger
