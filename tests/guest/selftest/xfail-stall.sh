#!/bin/sh
# Harness self-check (expected FAIL): the guest stops reporting (here the
# timeout watchdog is frozen, as a deadlocked guest would be); the host's
# boot timeout must kill QEMU and fail the test with its log.
# timeout: 5
. /cowloop/t/lib.sh
for p in /proc/[0-9]*; do
	[ "$(cat "$p/comm" 2>/dev/null)" = timeout ] && kill -STOP "${p#/proc/}"
done
note "guest stalled"
sleep 100000
