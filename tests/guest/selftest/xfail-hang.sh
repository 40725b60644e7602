#!/bin/sh
# Harness self-check (expected FAIL): a test that never ends is killed by
# its timeout and reported as failed.
# timeout: 5
. /cowloop/t/lib.sh
note "sleeping forever"
sleep 100000
