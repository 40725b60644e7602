#!/bin/sh
# Every activation refusal of the product page and the format, each with
# its own message from cowdev (and a line in the kernel log): bad magic,
# newer version, packed, dirty, other size, other fingerprint, cowused not
# matching the bitmap, cowfile already active, cowfile = rdofile, cowfile
# not a regular file, rdofile too small.  Nothing is modified by a refusal.
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/rdo.img cow=$SCRATCH/good.cow bad=$SCRATCH/bad.cow
pattern "$img" 4096
sum=$(md5 "$img")
dev=$(activate "$img" "$cow")
dd if=/dev/urandom of="$dev" bs=4k count=3 seek=7 2>/dev/null
deactivate "$dev"
good=$(md5 "$cow")

# try MESSAGE: activation of $bad must be refused with MESSAGE, $bad intact
try() {
	before=$(md5 "$bad")
	refused "$1" cowdev -a "$img" "$bad"
	check_eq "refused cowfile unchanged" "$before" "$(md5 "$bad")"
	dmesg | tail -5 | grep -q "cannot activate" ||
		fail "no kernel log line for '$1'"
}
fresh() { cp "$cow" "$bad"; }

head -c 8192 /dev/urandom >"$bad";		try "not a cowfile"
fresh; poke "$bad" 4 '\002';			try "version"
fresh; poke "$bad" 6 '\002';			try "packed"
fresh; poke "$bad" 6 '\001';			try "dirty.*cowrepair"
fresh; poke "$bad" 48 '\005';			try "does not match the bitmap"
fresh; poke "$bad" 16 '\000' '\100';		try "corrupt header"
fresh; poke "$bad" 1 '\103' '\117' '\130';	try "not a cowfile"
fresh
cp "$img" "$SCRATCH/other.img"
poke "$SCRATCH/other.img" 0 'X'
refused "different rdofile" cowdev -a "$SCRATCH/other.img" "$bad"
truncate -s 8M "$SCRATCH/other.img"
refused "another size" cowdev -a "$SCRATCH/other.img" "$bad"

dev=$(activate "$img" "$cow")
refused "already active" cowdev -a "$img" "$cow"
ln "$cow" "$SCRATCH/hardlink.cow"
refused "already active" cowdev -a "$img" "$SCRATCH/hardlink.cow"
refused "already active|in use" cowdev -a "$img" "$SCRATCH/x.cow" "$dev"
deactivate "$dev"
refused "same file" cowdev -a "$img" "$img"
mkdir -p "$SCRATCH/dir.cow"
refused "not a regular file" cowdev -a "$img" "$SCRATCH/dir.cow"
mkfifo "$SCRATCH/fifo.cow"
refused "not a regular file" cowdev -a "$img" "$SCRATCH/fifo.cow"
refused "not a regular file" cowdev -a "$img" /dev/null
head -c 1000 /dev/urandom >"$SCRATCH/tiny.img"
refused "smaller than one" cowdev -a "$SCRATCH/tiny.img" "$SCRATCH/t.cow"
: >"$SCRATCH/empty.img"
refused "smaller than one" cowdev -a "$SCRATCH/empty.img" "$SCRATCH/e.cow"
refused "No such file" cowdev -a "$SCRATCH/missing.img" "$SCRATCH/m.cow"
refused "beyond maxcows|no such" cowdev -a "$img" "$SCRATCH/n.cow" /dev/cow/99
refused "not active|No such" cowdev -d /dev/cow/5
[ -z "$(cowdev -l | sed 1d)" ] || fail "a refused activation left a device"
check_eq "good cowfile unchanged" "$good" "$(md5 "$cow")"
check_eq "rdofile checksum" "$sum" "$(md5 "$img")"
cow_unload
