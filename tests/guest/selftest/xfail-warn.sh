#!/bin/sh
# Harness self-check (expected FAIL, and kernel-log FAIL): a kernel
# warning/oops in the kernel log fails the test that was running.
# timeout: 20
. /cowloop/t/lib.sh
echo "<4>WARNING: CPU: 0 PID: $$ at selftest/xfail-warn.sh: injected" >/dev/kmsg
echo "<1>BUG: kernel NULL pointer dereference, address: 0 (injected)" >/dev/kmsg
