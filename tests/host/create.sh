# SPDX-License-Identifier: GPL-2.0
# cowcreate: the empty cowfile of an rdofile, without the driver, bit for
# bit what the driver leaves after an activation and a clean
# deactivation (issue 26, item 4): compared with cowfiles crafted from
# the spec (mkcow, addext: LP64 header, clean, cowused 0, ORDERED, the
# exact rdofile size, 1024 + mapsize bytes, sparse).  Sourced by run.sh
# after files.sh (mkrdo, hold, lockwait, $R, $units, the helpers).

N=$T/new.cow
# spec file units size fingerprint: the cowfile the spec gives
spec() {
	mkcow "$1" 64 "$2" 0 0 "$4"
	addext "$1" 1 "$3"
}
# created name rdofile-size fingerprint: cowcreate $R $N equals spec's
created() {
	local n=$1 size=$2 fp=$3 u=$(($2 / 1024))
	rm -f "$N"
	spec "$T/spec.cow" $u "$size" "$fp"
	expect "create-$n" 0 "cowfile $N: created for rdofile $R ($u $(cow_blocks $u) of 1024 bytes)" \
		"$BIN/cowcreate" "$R" "$N"
	result "create-$n-spec" cmp "$N" "$T/spec.cow"
}
cow_blocks() { [ "$1" = 1 ] && echo block || echo blocks; }

# mkrdo: 1443 units and 500 bytes, fingerprint 0x9a302010 (sums 0x10,
# unit 1's zero skipped, 0x20, 0x30, 0x9a), sign-extended in LP64
units=1443
mkrdo
created floppy $((units * 1024 + 500)) 0xffffffff9a302010
result create-mode [ "$(stat -c %a "$N")" = "$(printf '%o' $((0600 & ~$(umask))))" ]
[ "$(stat -c %s "$N")" = $((1024 + 1024)) ] && [ $(( $(stat -c %b "$N") * 512 )) -le 4096 ]
result create-size-sparse [ $? = 0 ]
result create-no-temp [ -z "$(ls -A "$T" | grep '^\.new\.cow\.cowcreate-')" ]
# a cowfile the tools take: clean, nothing modified, the pair accepted
expect create-cowlist-map 0 "[]" "$BIN/cowlist" -m -J "$N"
"$BIN/cowlist" -v "$N" | grep -q "state cowfile: *clean" &&
	"$BIN/cowlist" -v "$N" | grep -q "ordered: *yes"
result create-cowlist-clean [ $? = 0 ]
rm -f "$T/o.img"
"$BIN/cowmerge" -o "$T/o.img" "$R" "$N" >/dev/null
result create-merge-o-is-rdofile cmp "$T/o.img" "$R"
rm -f "$T/o.img"
# fingerprint below 0x80000000: no sign extension; no partial unit
units=1440
head -c $((units * 1024)) /dev/zero > "$R"
put "$R" 10 1 0x11; put "$R" 5000 1 0x22; put "$R" 9000 1 0x33; put "$R" 20000 1 0x44
put "$R" 30000 1 0x55		# a fifth: not counted
created exact $((units * 1024)) 0x44332211
# one unit; an rdofile of holes (fingerprint 0); a bitmap of 2 blocks
head -c 1024 /dev/urandom > "$R"
fp=$(od -An -tu1 -v "$R" | tr -s ' \n' '\n\n' | awk 'NF { s += $1 } END { print s % 256 }')
created one-unit 1024 "$fp"
rm -f "$R"; truncate -s $((8193 * 1024 + 1)) "$R"
created holes-8193 $((8193 * 1024 + 1)) 0
# 8 TiB of holes: quick, sparse, in 64 MiB
rm -f "$R" "$N"; truncate -s $((1 << 43)) "$R"
spec "$T/spec.cow" $((1 << 33)) $((1 << 43)) 0
expect create-8tib-64mib 0 "cowfile $N: created for rdofile $R (8589934592 blocks of 1024 bytes)" \
	bash -c 'ulimit -v 65536 && exec timeout 60 "$@"' - "$BIN/cowcreate" "$R" "$N"
[ "$(stat -c %s "$N")" = $((1024 + (1 << 30))) ] && cmp -s "$N" "$T/spec.cow" &&
	[ $(( $(stat -c %b "$N") * 512 )) -le 65536 ]
result create-8tib-spec [ $? = 0 ]
rm -f "$N" "$T/spec.cow"

# ---- where the cowfile goes -------------------------------------------
units=1443; mkrdo
echo data > "$N"
expect create-exists 1 "cowcreate: cowfile $N: exists (5 bytes): not replaced (remove it first)" \
	"$BIN/cowcreate" "$R" "$N"
result create-exists-untouched [ "$(cat "$N")" = data ]
: > "$N"		# empty: what cowdev -a leaves when refused; new to the driver
spec "$T/spec.cow" $units $((units * 1024 + 500)) 0xffffffff9a302010
expect create-empty-file 0 "cowfile $N: created for rdofile $R (1443 blocks of 1024 bytes)" \
	"$BIN/cowcreate" "$R" "$N"
result create-empty-file-spec cmp "$N" "$T/spec.cow"
if command -v python3 >/dev/null; then
	: > "$N"
	hold "$N" w	# cowdev -a is activating it
	expect create-empty-locked 1 "cowcreate: $(locked "cowfile $N")" "$BIN/cowcreate" "$R" "$N"
	kill $holder; wait $holder 2>/dev/null
	result create-empty-locked-untouched [ ! -s "$N" ]
	hold "$R" w	# cowmerge is writing the rdofile
	rm -f "$N"
	expect create-rdofile-locked 1 "cowcreate: $(locked "rdofile $R")" "$BIN/cowcreate" "$R" "$N"
	kill $holder; wait $holder 2>/dev/null
	result create-rdofile-locked-nothing [ ! -e "$N" ]
fi
rm -f "$N"; ln -s "$T/elsewhere.cow" "$N"
expect create-symlink 1 "cowcreate: cowfile $N: a symbolic link: not created (name the file itself)" \
	"$BIN/cowcreate" "$R" "$N"
rm -f "$N"
expect create-directory 1 "cowcreate: cowfile $T: cowfile is not a regular file" \
	"$BIN/cowcreate" "$R" "$T"
expect create-samefile 1 "cowcreate: rdofile $R: cowfile and rdofile are the same file" \
	"$BIN/cowcreate" "$R" "$R"
expect create-no-directory 1 "cowcreate: cowfile $T/nodir/x.cow: cannot open its directory: No such file or directory" \
	"$BIN/cowcreate" "$R" "$T/nodir/x.cow"
expect create-missing-rdofile 1 "cowcreate: rdofile $T/nope: No such file or directory" \
	"$BIN/cowcreate" "$T/nope" "$N"
head -c 1000 /dev/urandom > "$T/small.img"
expect create-rdosmall 1 "cowcreate: rdofile $T/small.img: rdofile is smaller than one 1 KiB block" \
	"$BIN/cowcreate" "$T/small.img" "$N"
rm -f "$T/small.img"
mkfifo "$T/fifo"
expect create-fifo 1 "cowcreate: rdofile $T/fifo: rdofile is neither a regular file nor a block device" \
	timeout 10 "$BIN/cowcreate" "$T/fifo" "$N"
rm -f "$T/fifo"
result create-refused-nothing [ ! -e "$N" ]
"$BIN/cowcreate" "$R" >/dev/null 2>&1; result create-one-arg-exit-2 [ $? = 2 ]
"$BIN/cowcreate" "$R" "$N" x >/dev/null 2>&1; result create-three-args-exit-2 [ $? = 2 ]

# ---- the rdofile and active cowdevices ----------------------------------
S=$T/sys-create; rm -rf "$S"; mkdir -p "$S/block/cow2/cowloop"
echo /x.img > "$S/block/cow2/cowloop/rdofile"; echo /x.cow > "$S/block/cow2/cowloop/cowfile"
stat -c '%Hd:%Ld %i %Hr:%Lr' "$R" > "$S/block/cow2/cowloop/rdofile_id"
echo "0:1 2 0:0" > "$S/block/cow2/cowloop/cowfile_id"
# another session's rdofile: a second session over the same image
expect create-rdofile-of-active 0 "cowfile $N: created for rdofile $R (1443 blocks of 1024 bytes)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowcreate" "$R" "$N"
rm -f "$N"
stat -c '%Hd:%Ld %i %Hr:%Lr' "$R" > "$S/block/cow2/cowloop/cowfile_id"
echo "0:1 2 0:0" > "$S/block/cow2/cowloop/rdofile_id"
expect create-rdofile-active-cowfile 1 "cowcreate: rdofile $R: in use by /dev/cow/2 (as its cowfile, which changes): deactivate it first (cowdev -d /dev/cow/2)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowcreate" "$R" "$N"
# a cowdevice as the rdofile: no stacking (a block device sysfs names cowN)
if [ "$(id -u)" = 0 ] && loop=$(losetup -r -f --show "$R" 2>/dev/null); then
	mkdir -p "$S/dev/block"
	ln -s ../../devices/virtual/block/cow2/cow2p1 "$S/dev/block/$(stat -c '%Hr:%Lr' "$loop")"
	expect create-rdofile-cowdevice 1 "cowcreate: rdofile $loop: rdofile is a cowdevice itself (stacking is not supported; /dev/cow2p1)" \
		env COWLOOP_SYSFS="$S" "$BIN/cowcreate" "$loop" "$N"
	rm -f "$S/dev/block/"*
	spec "$T/spec.cow" $units $((units * 1024)) 0xffffffff9a302010
	"$BIN/cowcreate" "$loop" "$N" >/dev/null
	result create-blockdev-rdofile cmp "$N" "$T/spec.cow"	# 512-byte multiple
	losetup -d "$loop"
	rm -f "$N"
fi
rm -rf "$S"

# ---- a file system that cannot hold the cowfile (the driver's check) ---
# ext2 with 1 KiB blocks holds files of 16 GiB at most
if [ "$(id -u)" = 0 ] && command -v mkfs.ext2 >/dev/null; then
	truncate -s 64M "$T/ext2.img"
	mkdir -p "$T/ext2"
	if mkfs.ext2 -q -F -b 1024 "$T/ext2.img" >/dev/null 2>&1 &&
	   mount -o loop "$T/ext2.img" "$T/ext2" 2>/dev/null; then
		rm -f "$T/big.img"; truncate -s 20G "$T/big.img"
		expect create-fslimit 1 "cowcreate: cowfile $T/ext2/x.cow: the cowfile's file system cannot hold a cowfile this large (this rdofile's cowfile grows to 20 GiB, 21477462016 bytes)" \
			"$BIN/cowcreate" "$T/big.img" "$T/ext2/x.cow"
		result create-fslimit-nothing [ "$(ls -A "$T/ext2")" = lost+found ]
		truncate -s 15G "$T/big.img"			# fits
		"$BIN/cowcreate" "$T/big.img" "$T/ext2/x.cow" >/dev/null
		spec "$T/spec.cow" $((15 << 20)) $((15 << 30)) 0
		result create-fslimit-fits cmp "$T/ext2/x.cow" "$T/spec.cow"
		umount "$T/ext2"
	fi
	rm -rf "$T/ext2" "$T/ext2.img" "$T/big.img"
fi
# beyond 16 PiB (a tmpfs holds such a sparse file): refused, as the driver
if [ "$(id -u)" = 0 ] && mkdir -p "$T/huge" && mount -t tmpfs -o size=1m tmpfs "$T/huge" 2>/dev/null; then
	truncate -s $(((1 << 54) + 1024)) "$T/huge/r.img"
	expect create-rdobig 1 "cowcreate: rdofile $T/huge/r.img: rdofile larger than 16 PiB, the largest a cowfile can describe" \
		"$BIN/cowcreate" "$T/huge/r.img" "$T/huge/r.cow"
	umount "$T/huge"
fi
rmdir "$T/huge" 2>/dev/null

# ---- interrupted or killed: nothing under the name ---------------------
if command -v strace >/dev/null; then
	rm -f "$N"
	strace -qq -o /dev/null -e trace=pwrite64 -e inject=pwrite64:signal=INT:when=1 \
		"$BIN/cowcreate" "$R" "$N" >/dev/null 2>"$T/err"
	rc=$?
	[ $rc = 1 ] && [ "$(cat "$T/err")" = "cowcreate: cowfile $N: interrupted: not created" ] &&
		[ ! -e "$N" ] && [ -z "$(ls -A "$T" | grep '^\.new\.cow\.cowcreate-')" ]
	result create-interrupted [ $? = 0 ]
	( strace -qq -o /dev/null -e trace=pwrite64 -e inject=pwrite64:signal=KILL:when=1 \
		"$BIN/cowcreate" "$R" "$N" >/dev/null 2>&1; exit $? ) 2>/dev/null
	rc=$?
	[ $rc = 137 ] && [ ! -e "$N" ]
	result create-killed-nothing [ $? = 0 ]
	rm -f "$T"/.new.cow.cowcreate-* "$T/err"
fi
rm -f "$N" "$T/spec.cow"
