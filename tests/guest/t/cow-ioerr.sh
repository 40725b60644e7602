#!/bin/sh
# A read served from both files fails, every time, when the rdofile's
# part fails: it never ends as a success with whatever the pages held.
# Every other 4 KiB of the device is in the cowfile (direct I/O, on xfs),
# the rest comes from an rdofile whose disk fails its reads late (a
# delay target over an error target), so that the pieces of one read
# complete on different CPUs and at different times; two readers at once
# read 64 KiB (16 pieces) at random places.  Under KCSAN (make
# check-debug) a status read racing the pieces' stores is reported.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

need dmsetup losetup dd fio
cow_load

M=1048576
SIZE=$((32 * M))
head -c $SIZE /dev/urandom >"$SCRATCH/rdo.img"
lo=$(losetup -f --show "$SCRATCH/rdo.img")
sz=$((SIZE / 512))
dm_create rdoerr-e "0 $sz error"
dm_create rdoerr "0 $sz linear $lo 0"
dev=$(activate /dev/mapper/rdoerr "$XFS_SCRATCH/c.cow")

note "every other 4 KiB block written to the cowfile"
fio --name=alt --filename="$dev" --rw=write:4k --bs=4k --size=$SIZE \
	--direct=1 --ioengine=psync --output=/tmp/ioerr.fio >/dev/null 2>&1 ||
	fail "fio writing every other block of $dev: $(cat /tmp/ioerr.fio)"
sync
check_eq "units in the cowfile" $((SIZE / 2048)) \
	"$(debugfs_field "$dev" 'cowblocks in use' | awk '{print $1}')"

note "the rdofile's disk fails its reads, 2 ms late"
dm_table rdoerr "0 $sz delay /dev/mapper/rdoerr-e 0 2"

# reader N: 300 reads of 64 KiB at pseudo-random places; each must fail
reader() {
	n=0 bad=0 seed=$1
	while [ $n -lt 300 ]; do
		seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
		blk=$(( seed % (SIZE / 65536) ))
		if dd if="$dev" of=/dev/null bs=65536 skip="$blk" count=1 \
				iflag=direct 2>/dev/null; then
			bad=$((bad + 1))
			echo "read of 64 KiB at block $blk succeeded"
		fi
		n=$((n + 1))
	done
	echo "$bad" >"/tmp/ioerr.$1"
}
reader 1 &
p1=$!
reader 2 &
p2=$!
wait $p1 $p2
check_eq "reads that succeeded although the rdofile failed (reader 1)" 0 \
	"$(cat /tmp/ioerr.1)"
check_eq "reads that succeeded although the rdofile failed (reader 2)" 0 \
	"$(cat /tmp/ioerr.2)"

note "the rdofile's disk works again: the data is back"
dm_table rdoerr "0 $sz linear $lo 0"
dd if="$dev" of=/tmp/ioerr.dev bs=4096 skip=1 count=1 iflag=direct 2>/dev/null
dd if="$SCRATCH/rdo.img" of=/tmp/ioerr.rdo bs=4096 skip=1 count=1 2>/dev/null
check_eq "an rdofile block reads back" "$(md5 /tmp/ioerr.rdo)" \
	"$(md5 /tmp/ioerr.dev)"
deactivate "$dev"
dmsetup remove rdoerr
dmsetup remove rdoerr-e
losetup -d "$lo"
