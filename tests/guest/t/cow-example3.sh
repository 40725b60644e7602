#!/bin/sh
# The product page's Example 3: three cowdevices over one rdofile, mounted
# at once, each with its own changes; cowdev -l and df show them.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/sda2.img
mkfs_img "$img" 32768 ext2
sum=$(md5 "$img")
for i in 0 1 2; do
	dev=$(activate "$img" "$SCRATCH/inst$i.cow")
	check_eq "device $i" "/dev/cow/$i" "$dev"
done
cowdev -l | tee /tmp/list
# columns widen for long paths (cowdev(8)): compare the words
check_eq "cowdev -l header" \
	"cowdevice read-only file copy-on-write file" \
	"$(head -1 /tmp/list | tr -s ' ' | sed 's/ *$//')"
for i in 0 1 2; do
	grep -q "^/dev/cow/$i  *$img  *$SCRATCH/inst$i.cow" /tmp/list ||
		fail "cowdev -l lacks /dev/cow/$i"
	mkdir -p /mnt/fs$i
	mount /dev/cow/$i /mnt/fs$i
	echo "instance $i" >/mnt/fs$i/who
	pattern /mnt/fs$i/data$i $((100 + i * 50))
done
df | grep /dev/cow/
for i in 0 1 2; do
	check_eq "instance $i" "instance $i" "$(cat /mnt/fs$i/who)"
	for j in 0 1 2; do
		[ $i = $j ] || [ ! -e /mnt/fs$i/data$j ] ||
			fail "data$j leaked into instance $i"
	done
	umount /mnt/fs$i
	deactivate /dev/cow/$i
done
[ -z "$(cowdev -l | sed 1d)" ] || fail "cowdev -l still lists devices"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
cow_unload
