#!/bin/sh
# The device's thread is freezable, as loop's workers are: after the
# system freezes for a suspend or a hibernation image, the cowfile's
# file system takes no more writes from it.  Three suspends to idle
# (to the freezer stage of /sys/power/pm_test) while fio writes and verifies
# through ext4 on a cowdevice: every task freezes and thaws (no
# freezing failed), and fio's data verifies afterwards.
# Needs /sys/power/pm_test (CONFIG_PM_DEBUG: make check-debug's kernel;
# Debian's cloud kernels lack it): under QEMU's TCG a real suspend to
# idle is not woken by the RTC alarm (tried: rtcwake -m freeze).
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need fio mkfs.ext4
[ -w /sys/power/pm_test ] || fail "no /sys/power/pm_test in $COW_KVER: this test needs the kernel of make check-debug (CONFIG_PM_DEBUG)"
grep -qw freeze /sys/power/state || fail "no suspend-to-idle in $COW_KVER: $(cat /sys/power/state)"
cow_load
head -c 64M /dev/urandom >"$SCRATCH/rdo"
dev=$(activate "$SCRATCH/rdo" "$SCRATCH/c.cow")
mkfs.ext4 -q -F "$dev"
mkdir -p /mnt/susp
mount "$dev" /mnt/susp
fio --name=susp --directory=/mnt/susp --rw=randwrite --bs=4k --size=16M \
	--ioengine=psync --fsync=8 --verify=crc32c --time_based --runtime=40 \
	--output=/tmp/susp.fio >/dev/null 2>&1 &
fiopid=$!
sleep 5
echo freezer >/sys/power/pm_test
for i in 1 2 3; do
	echo freeze >/sys/power/state ||
		fail "suspend to the freezer stage ($i) failed"
	sleep 2
done
echo none >/sys/power/pm_test
# 6.1 says "Freezing of tasks failed after" and "Freezing remaining
# freezable tasks ... (elapsed ...) done."; 6.12 "Freezing user space
# processes failed after" (or "aborted") and "Freezing remaining
# freezable tasks completed (elapsed ...)", after a line of its own
# when it begins
failed='Freezing .* (failed|aborted) after'
dmesg | grep -qE "$failed" &&
	fail "tasks did not freeze: $(dmesg | grep -E -A5 "$failed")"
check_eq "freezes completed" 3 \
	"$(dmesg | grep -cE 'Freezing remaining freezable tasks( completed|.*done)')"
wait $fiopid || fail "fio: $(cat /tmp/susp.fio)"
grep -q 'err= 0' /tmp/susp.fio || fail "fio: $(cat /tmp/susp.fio)"
umount /mnt/susp
deactivate "$dev"
