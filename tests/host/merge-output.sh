# SPDX-License-Identifier: GPL-2.0
# cowmerge -o: the merged image written to a new file, rdofile and
# cowfile untouched (issue 26, item 3).  Sourced by run.sh after
# files.sh (mkrdo, mkmerge, hold, lockwait, $R, $C, $units, $doff).

O=$T/out.img
# inplace rdofile cowfile image: what a merge in place of copies gives
inplace() {
	cp "$1" "$3"; cp "$2" "$T/inplace.cow"
	"$BIN/cowmerge" -y "$3" "$T/inplace.cow" >/dev/null 2>&1
	rm -f "$T/inplace.cow"
}
# no_temp: no temporary file left beside the output
no_temp() { ! ls -a "$T" | grep -q '^\.out\.img\.cowmerge-'; }

mkrdo; mkmerge 64
rs=$(sum "$R"); cs=$(sum "$C")
rm -f "$O"
expect output-merge 0 "Number of blocks modified in $O: 6 ($R and $C untouched)" \
	"$BIN/cowmerge" -o "$O" "$R" "$C"
inplace "$R" "$C" "$T/inplace.img"
result output-equals-inplace cmp "$O" "$T/inplace.img"
[ "$rs" = "$(sum "$R")" ] && [ "$cs" = "$(sum "$C")" ] &&
	"$BIN/cowlist" "$C" | grep -q "state cowfile: *clean"
result output-untouched [ $? = 0 ]
result output-mode [ "$(stat -c %a "$O")" = "$(printf '%o' $((0666 & ~$(umask))))" ]
result output-no-temp no_temp

# ---- sparse where the image is zero: the rdofile's zeroes (holes or
# not) and the cowfile's (discarded units: bits over holes) ----------------
units=8192; doff=$(doffset_of $units)
head -c $((4 << 20)) /dev/urandom > "$R"		# 4 MiB of data
head -c $((3 << 20)) /dev/zero >> "$R"			# 3 MiB of written zeroes
truncate -s $((8 << 20)) "$R"				# 1 MiB hole
fp=$(python3 -c '
import sys
d = open(sys.argv[1], "rb").read(); fp = n = 0
for i in range(0, len(d) // 1024):
    cs = sum(d[i * 1024:(i + 1) * 1024]) % 256
    if cs:
        fp |= cs << (8 * n); n += 1
        if n == 4: break
print(hex(fp | (0xffffffff00000000 if fp & 0x80000000 else 0)))' "$R" 2>/dev/null)
if [ -n "$fp" ]; then
	mkcow "$C" 64 $units 0 2048 "$fp"
	head -c 128 /dev/zero | tr '\0' '\377' |	# units 0-1023, 7168-8191
		dd of="$C" bs=1 seek=1024 conv=notrunc status=none
	head -c 128 /dev/zero | tr '\0' '\377' |
		dd of="$C" bs=1 seek=$((1024 + 7168 / 8)) conv=notrunc status=none
	truncate -s $((doff + units * 1024)) "$C"	# their data: holes
	head -c 1024 /dev/urandom |			# but unit 8000
		dd of="$C" bs=1024 seek=$((doff / 1024 + 8000)) conv=notrunc status=none
	rm -f "$O"
	"$BIN/cowmerge" -o "$O" "$R" "$C" >/dev/null
	inplace "$R" "$C" "$T/inplace.img"
	result output-sparse-equals-inplace cmp "$O" "$T/inplace.img"
	# allocated: MiB 1-3 of the rdofile and unit 8000, nothing else
	alloc=$(( $(stat -c %b "$O") * 512 ))
	[ $alloc -ge $((3 << 20)) ] && [ $alloc -le $(((3 << 20) + (256 << 10))) ]
	result output-sparse [ $? = 0 ]
	echo "  (sparse output: $alloc bytes allocated of $((8 << 20)))" >&2
fi

# ---- 1 TiB rdofile, three modified units: O(modified), 64 MiB ------------
units=$((1 << 30)); doff=$(doffset_of $units)
rm -f "$R"; truncate -s $((units * 1024)) "$R"	# holes: fingerprint 0
mkcow "$C" 64 $units 0 3 0; setbit "$C" 0; setbit "$C" 123456789; setbit "$C" $((units - 1))
wunit "$C" "$doff" 0 1; wunit "$C" "$doff" 123456789 2; wunit "$C" "$doff" $((units - 1)) 3
rm -f "$O"
expect output-1tib-64mib 0 "Number of blocks modified in $O: 3 ($R and $C untouched)" \
	bash -c 'ulimit -v 65536 && exec timeout 60 "$@"' - "$BIN/cowmerge" -o "$O" "$R" "$C"
[ "$(stat -c %s "$O")" = $((units * 1024)) ] &&
	[ "$(get "$O" $((123456789 * 1024)) 1)" = 2 ] &&
	[ "$(get "$O" $((units * 1024 - 1)) 1)" = 3 ] &&
	[ $(( $(stat -c %b "$O") * 512 )) -le $((64 << 10)) ]
result output-1tib-sparse [ $? = 0 ]
rm -f "$O" "$R" "$C"

# ---- -n, -p, an existing file, the rdofile or cowfile as the output -----
units=1443; doff=$(doffset_of $units)
mkrdo; mkmerge 64
expect output-dry-run 0 "merge of $R and $C into $O: would write an image of 1478132 bytes (1.4 MiB), 6 blocks (6144 bytes, 6.0 KiB) from the cowfile in 3 runs, the rest from the rdofile; nothing written (--dry-run)" \
	"$BIN/cowmerge" -n -o "$O" "$R" "$C"
result output-dry-run-nothing [ ! -e "$O" ] && no_temp
out=$("$BIN/cowmerge" -p -o "$O" "$R" "$C" 2>&1 >/dev/null)
result output-progress [ "$(sed -E 's|, [0-9.]+ [KMGTPE]?i?B/s$|, R/s|' <<<"$out" | tail -n 1)" = \
	"cowmerge: writing: 1443/1443 blocks (100%), R/s" ]
os=$(sum "$O")
echo old > "$T/old.img"
expect output-exists 1 "cowmerge: output $T/old.img: file exists: not replaced (-f replaces it)" \
	"$BIN/cowmerge" -o "$T/old.img" "$R" "$C"
result output-exists-untouched [ "$(cat "$T/old.img")" = old ]
expect output-exists-n 1 "cowmerge: output $T/old.img: file exists: not replaced (-f replaces it)" \
	"$BIN/cowmerge" -n -o "$T/old.img" "$R" "$C"
expect output-force 0 "Number of blocks modified in $T/old.img: 6 ($R and $C untouched)" \
	"$BIN/cowmerge" -f -o "$T/old.img" "$R" "$C"
result output-force-image [ "$(sum "$T/old.img")" = "$os" ]
rs=$(sum "$R"); cs=$(sum "$C")
ln "$R" "$T/hard.img"; ln -s "$C" "$T/sym.cow"
for x in "rdofile:$R:$R" "cowfile:$C:$C" "hardlink:$T/hard.img:$R" "symlink:$T/sym.cow:$C"; do
	n=${x%%:*} x=${x#*:}
	what=rdofile; [ "${x#*:}" = "$C" ] && what=cowfile
	expect "output-refuses-own-$n" 1 \
		"cowmerge: output ${x%%:*}: is the $what ${x#*:}: never replaced, not even with -f" \
		"$BIN/cowmerge" -f -o "${x%%:*}" "$R" "$C"
done
[ "$rs" = "$(sum "$R")" ] && [ "$cs" = "$(sum "$C")" ]
result output-refuses-own-untouched [ $? = 0 ]
rm -f "$T/hard.img" "$T/sym.cow"
ln -s "$T/old.img" "$T/sym.img"
expect output-force-symlink 1 "cowmerge: output $T/sym.img: a symbolic link (name the file it points to): not replaced (only a regular file is)" \
	"$BIN/cowmerge" -f -o "$T/sym.img" "$R" "$C"
mkdir -p "$T/adir"
expect output-force-directory 1 "cowmerge: output $T/adir: a directory: not replaced (only a regular file is)" \
	"$BIN/cowmerge" -f -o "$T/adir" "$R" "$C"
expect output-no-directory 1 "cowmerge: output $T/nodir/x.img: cannot open its directory: No such file or directory" \
	"$BIN/cowmerge" -o "$T/nodir/x.img" "$R" "$C"
expect output-no-directory-n 1 "cowmerge: output $T/nodir/x.img: cannot open its directory: No such file or directory" \
	"$BIN/cowmerge" -n -o "$T/nodir/x.img" "$R" "$C"
rm -rf "$T/sym.img" "$T/adir" "$T/old.img"
"$BIN/cowmerge" -f "$R" "$C" >/dev/null 2>&1; result output-f-without-o-exit-2 [ $? = 2 ]

# ---- refusals of the pair: as a merge's, and a cowfile in use -----------
rm -f "$O"
put "$C" 6 2 1
expect output-refuses-dirty 1 "cowmerge: cowfile $C: cowfile is dirty (not closed properly): run cowrepair first" \
	"$BIN/cowmerge" -o "$O" "$R" "$C"
put "$C" 6 2 0
mkmerge 64 0x12345678
expect output-refuses-fingerprint 1 "cowmerge: cowfile $C: written for a different rdofile (fingerprint mismatch; rdofile $R)" \
	"$BIN/cowmerge" -o "$O" "$R" "$C"
result output-refused-nothing [ ! -e "$O" ] && no_temp
mkmerge 64
S=$T/sys-out; rm -rf "$S"; mkdir -p "$S/block/cow6/cowloop"
fid() { stat -c '%Hd:%Ld %i %Hr:%Lr' "$1"; }
echo /x.img > "$S/block/cow6/cowloop/rdofile"; echo /x.cow > "$S/block/cow6/cowloop/cowfile"
fid "$C" > "$S/block/cow6/cowloop/cowfile_id"; echo "0:1 2 0:0" > "$S/block/cow6/cowloop/rdofile_id"
expect output-refuses-active-cowfile 1 "cowmerge: cowfile $C: in use by /dev/cow/6 (as its cowfile): deactivate it first (cowdev -d /dev/cow/6)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowmerge" -o "$O" "$R" "$C"
fid "$R" > "$S/block/cow6/cowloop/cowfile_id"
expect output-refuses-rdofile-active-cowfile 1 "cowmerge: rdofile $R: in use by /dev/cow/6 (as its cowfile, which changes): deactivate it first (cowdev -d /dev/cow/6)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowmerge" -o "$O" "$R" "$C"
# another session over the same rdofile is active: the rdofile is read
fid "$R" > "$S/block/cow6/cowloop/rdofile_id"; echo "0:1 3 0:0" > "$S/block/cow6/cowloop/cowfile_id"
expect output-rdofile-of-active 0 "Number of blocks modified in $O: 6 ($R and $C untouched)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowmerge" -o "$O" "$R" "$C"
rm -rf "$S" "$O"
# read-only files: only read (immutable for root)
if [ "$(id -u)" = 0 ] && chattr +i "$R" "$C" 2>/dev/null; then
	expect output-immutable-sources 0 "Number of blocks modified in $O: 6 ($R and $C untouched)" \
		"$BIN/cowmerge" -o "$O" "$R" "$C"
	chattr -i "$R" "$C"
	rm -f "$O"
fi
# a block device as the rdofile (read-only): the same image
if [ "$(id -u)" = 0 ] && loop=$(losetup -r -f --show "$R" 2>/dev/null); then
	"$BIN/cowmerge" -o "$O" "$loop" "$C" >/dev/null
	inplace "$R" "$C" "$T/inplace.img"
	head -c $((units * 1024)) "$T/inplace.img" > "$T/inplace-units.img"
	result output-blockdev-rdofile cmp "$O" "$T/inplace-units.img"
	losetup -d "$loop"
	rm -f "$O" "$T/inplace-units.img"
fi
if command -v python3 >/dev/null; then
	hold "$R" w		# a tool writes the rdofile: refused
	expect output-refuses-locked-rdofile 1 "cowmerge: $(locked "rdofile $R")" \
		"$BIN/cowmerge" -o "$O" "$R" "$C"
	kill $holder; wait $holder 2>/dev/null
	hold "$C" r		# another reads the cowfile: fine
	expect output-shared-reader 0 "Number of blocks modified in $O: 6 ($R and $C untouched)" \
		"$BIN/cowmerge" -o "$O" "$R" "$C"
	kill $holder; wait $holder 2>/dev/null
	echo old > "$T/old.img"
	hold "$T/old.img" w	# -f: not a file another tool writes
	expect output-refuses-locked-output 1 "cowmerge: $(locked "output $T/old.img")" \
		"$BIN/cowmerge" -f -o "$T/old.img" "$R" "$C"
	kill $holder; wait $holder 2>/dev/null
	rm -f "$O" "$T/old.img"
fi

# ---- interrupted, killed, out of space: nothing under the name ----------
if command -v strace >/dev/null; then
	strace -qq -o /dev/null -e trace=pwrite64 -e inject=pwrite64:signal=INT:when=1 \
		"$BIN/cowmerge" -o "$O" "$R" "$C" >/dev/null 2>"$T/err"
	rc=$?
	[ $rc = 1 ] && [ "$(cat "$T/err")" = "cowmerge: output $O: interrupted: not written (rdofile $R and cowfile $C untouched)" ] &&
		[ ! -e "$O" ] && no_temp
	result output-interrupted [ $? = 0 ]
	( strace -qq -o /dev/null -e trace=pwrite64 -e inject=pwrite64:signal=KILL:when=2 \
		"$BIN/cowmerge" -o "$O" "$R" "$C" >/dev/null 2>&1; exit $? ) 2>/dev/null
	rc=$?
	[ $rc = 137 ] && [ ! -e "$O" ]
	result output-killed-nothing [ $? = 0 ]
	rm -f "$T"/.out.img.cowmerge-*
	# a crash before the rename: the data is durable before the name
	strace -f -qq -e trace=fsync,rename,renameat2,pwrite64 -o "$T/trace" \
		"$BIN/cowmerge" -o "$O" "$R" "$C" >/dev/null 2>&1
	order=$(sed -n 's/^[0-9]* *\(fsync\|renameat2\|rename\|pwrite64\).*/\1/p' "$T/trace" | uniq | tr '\n' ' ')
	result output-fsync-then-rename [ "$order" = "pwrite64 fsync renameat2 fsync " ]
	rm -f "$O" "$T/trace" "$T/err"
fi
if [ "$(id -u)" = 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=512k tmpfs "$T/small" 2>/dev/null; then
	expect output-enospc 1 "cowmerge: output $T/small/x.img: cannot write: No space left on device" \
		"$BIN/cowmerge" -o "$T/small/x.img" "$R" "$C"
	result output-enospc-nothing [ -z "$(ls -A "$T/small")" ]
	umount "$T/small"
fi
rmdir "$T/small" 2>/dev/null
rm -f "$T/inplace.img"
