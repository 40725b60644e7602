# SPDX-License-Identifier: GPL-2.0
# Host tests of the tools.  Sourced by run.sh ($T, $BIN, helpers of lib.sh).

# ---- every tool: --help, --version, usage errors ---------------------
for t in cowlist cowrepair cowmerge cowdev cowsync cowcreate; do
	expect "$t-version" 0 "$t (cowloop) 4.0" "$BIN/$t" --version
	expect "$t-V" 0 "$t (cowloop) 4.0" "$BIN/$t" -V
	h=$("$BIN/$t" --help); ok=true
	result "$t-h" [ "$h" = "$("$BIN/$t" -h)" ]
	case $t in
	cowlist) opts="-v --verbose -J --json -m --map -n --noheadings" ;;
	cowrepair) opts="-f --force -n --dry-run -J --json -p --preen -y --yes --scan-data -C --progress --no-progress -v --verbose" ;;
	cowmerge) opts="-y --yes -o --output -f --force -n --dry-run -J --json -p --progress --no-progress" ;;
	cowdev) opts="-a --activate -r --read-only -P --partscan -d --deactivate -A --activate-cowtab -D --deactivate-all -l --list -J --json -n --noheadings -O --output" ;;
	cowsync|cowcreate) opts="" ;;
	esac
	for o in $opts -h --help -V --version; do
		grep -q -- "$o" <<<"$h" || ok=false
	done
	result "$t-help" $ok
	# cowrepair's usage error is fsck's: 16
	u=2; [ $t = cowrepair ] && u=16
	"$BIN/$t" --bogus >/dev/null 2>&1; result "$t-usage-exit-$u" [ $? = $u ]
done
"$BIN/cowlist" >/dev/null 2>&1; result "cowlist-no-arg-exit-2" [ $? = 2 ]
"$BIN/cowrepair" >/dev/null 2>&1; result "cowrepair-no-arg-exit-16" [ $? = 16 ]
"$BIN/cowmerge" x >/dev/null 2>&1; result "cowmerge-one-arg-exit-2" [ $? = 2 ]
"$BIN/cowdev" >/dev/null 2>&1; result "cowdev-no-mode-exit-2" [ $? = 2 ]
"$BIN/cowdev" -a -d x >/dev/null 2>&1; result "cowdev-two-modes-exit-2" [ $? = 2 ]
"$BIN/cowdev" -d /dev/sda >/dev/null 2>&1; result "cowdev-bad-device-exit-2" [ $? = 2 ]
"$BIN/cowdev" -d 1 /dev/sda >/dev/null 2>&1; result "cowdev-bad-second-device-exit-2" [ $? = 2 ]
"$BIN/cowdev" -D 1 >/dev/null 2>&1; result "cowdev-D-args-exit-2" [ $? = 2 ]
expect cowdev-r-without-a 2 "cowdev: -r, -P, --copy-on-read, --fill and --standalone go with -a
Try 'cowdev --help' for more information." "$BIN/cowdev" -l -r
"$BIN/cowdev" -d -P 1 >/dev/null 2>&1; result "cowdev-P-without-a-exit-2" [ $? = 2 ]
expect cowdev-standalone-fill 2 "cowdev: --standalone: nothing is copied without the rdofile (not with --copy-on-read, --fill)
Try 'cowdev --help' for more information." "$BIN/cowdev" -a --standalone --fill /r /c
"$BIN/cowsync" extra >/dev/null 2>&1; result "cowsync-args-exit-2" [ $? = 2 ]

# ---- cowlist: the product page's report, both layouts ----------------
report() {	# report path state version doffset bitmapblocks used units
	printf 'Info about cowfile %s:\n' "$1"
	printf '     state cowfile:     %s\n' "$2"
	printf '    header-version:         1\n'
	printf '       data offset:%10s\n' "$3"
	printf '           mapunit:      1024\n'
	printf '     bitmap-blocks:%10s (of 1024 bytes)\n' "$4"
	printf '  cowblocks in use:%10s (of 1024 bytes)\n' "$5"
	printf '      size rdofile:%10s (of 1024 bytes)' "$6"
}
c=$T/list.cow
mkcow "$c" 64 256000 0 762; fill "$c" 256000 762
expect cowlist-page-example 0 "Info about cowfile $c:
     state cowfile:     clean
    header-version:         1
       data offset:     36864
           mapunit:      1024
     bitmap-blocks:        32 (of 1024 bytes)
  cowblocks in use:       762 (of 1024 bytes)
      size rdofile:    256000 (of 1024 bytes)" "$BIN/cowlist" "$c"
for lay in 64 32; do
	mkcow "$c" $lay 1440 1 5
	expect cowlist-1440-$lay 0 "$(report "$c" dirty 4096 1 5 1440)" \
		"$BIN/cowlist" "$c"
	mkcow "$c" $lay 102400 0 0
	expect cowlist-102400-$lay 0 "$(report "$c" clean 16384 13 0 102400)" \
		"$BIN/cowlist" "$c"
	mkcow "$c" $lay 256000 0 762; fill "$c" 256000 762
	expect cowlist-256000-$lay 0 "$(report "$c" clean 36864 32 762 256000)" \
		"$BIN/cowlist" "$c"
done
# -v: one column for every value, as wide as the widest needs (here the
# fingerprint), sizes also human-readable, the file's size and disk usage
mkcow "$c" 32 1440 0 0 $((0x9a302010))
expect cowlist-verbose-i386 0 "Info about cowfile $c:
     state cowfile:      clean
    header-version:          1
       data offset:       4096
           mapunit:       1024
     bitmap-blocks:          1 (of 1024 bytes)
  cowblocks in use:          0 (of 1024 bytes)
      size rdofile:       1440 (of 1024 bytes)
            layout:       i386
           ordered:         no
exact size rdofile:    unknown
    rdofingerprint: 0x9a302010
       data in use:          0 bytes (0 B)
      size cowfile:       2048 bytes (2.0 KiB)
        disk usage:       $(( $(stat -c %b "$c") * 512 )) bytes ($(( $(stat -c %b "$c") / 2 )).0 KiB)" "$BIN/cowlist" -v "$c"
mkcow "$c" 64 1440 0 0 0xffffffff9a302010; addext "$c" 1 $((1440 * 1024 + 7))
out=$("$BIN/cowlist" -v "$c")
result cowlist-verbose-ext [ "$(sed -n 9,12p <<<"$out")" = "            layout:             x86_64
           ordered:                yes
exact size rdofile:            1474567 bytes (1.4 MiB)
    rdofingerprint: 0xffffffff9a302010" ]
# 8 TiB: columns stay aligned (every value ends in the same column)
mkcow "$c" 64 $((1 << 33)) 0 0; addext "$c" 1 $(((1 << 43) + 5))
out=$("$BIN/cowlist" -v "$c")
result cowlist-aligned-8tib [ "$(sed 1d <<<"$out" | sed 's/ (of.*//; s/ bytes (.*//' |
	awk '{ print length($0) }' | sort -u)" = 33 ] \
	&& grep -q "exact size rdofile:      8796093022213 bytes (8.0 TiB)" <<<"$out"
out=$("$BIN/cowlist" "$c")
result cowlist-aligned-8tib-plain [ "$(sed 1d <<<"$out" | sed 's/ (of.*//' |
	awk '{ print length($0) }' | sort -u)" = 30 ]
: > "$c"
expect cowlist-empty 0 "Info about cowfile $c: empty (a new cowfile: cowdev -a writes its header)" \
	"$BIN/cowlist" "$c"
expect cowlist-empty-json 0 "{
    \"filename\": \"$c\",
    \"format\": \"cowfile\",
    \"state\": \"empty\"
}" "$BIN/cowlist" --json "$c"
mkcow "$c" 32 1440 1 5 $((0x9a302010))
expect cowlist-json 0 "{
    \"filename\": \"$c\",
    \"format\": \"cowfile\",
    \"state\": \"dirty\",
    \"header-version\": 1,
    \"data-offset\": 4096,
    \"mapunit\": 1024,
    \"bitmap-blocks\": 1,
    \"cowblocks-in-use\": 5,
    \"modified-blocks\": 5,
    \"copied-blocks\": 0,
    \"rdofile-blocks\": 1440,
    \"virtual-size\": 1474560,
    \"layout\": \"i386\",
    \"ordered\": false,
    \"rdofile-size\": null,
    \"rdofingerprint\": \"0x9a302010\",
    \"cowfile-size\": 2048,
    \"actual-size\": $(( $(stat -c %b "$c") * 512 ))
}" "$BIN/cowlist" -J "$c"

# ---- validation rules, each on its own, with the tool's message --------
bad() {	# bad name message-reason put-args... (applied to a valid cowfile)
	local n=$1 msg=$2; shift 2
	mkcow "$c" 64 1440
	while [ $# -ge 3 ]; do put "$c" "$1" "$2" "$3"; shift 3; done
	expect "cowlist-refuses-$n" 1 "cowlist: cowfile $c: $msg" \
		"$BIN/cowlist" "$c"
}
bad magic "not a cowfile (bad magic number)" 0 4 0x12345678
bad endian "cowfile written on a big-endian machine (not supported)" \
	0 4 0x7f434f57
bad version "unsupported header version 2 (newer than this cowloop, which knows version 1)" 4 2 2
bad version0 "unsupported header version 0 (only version 1 is known)" 4 2 0
bad mapunit "corrupt header (mapunit is not 1024)" 8 8 4096
bad mapsize "corrupt header (mapsize or data offset do not match the size)" \
	16 8 2048
bad doffset "corrupt header (mapsize or data offset do not match the size)" \
	24 8 8192
bad toobig "corrupt header (rdofile size beyond 16 PiB)" 32 8 $(((1 << 44) + 1))
bad cowused "corrupt header (more cowblocks in use than the rdofile has)" \
	48 8 1441
bad flags "corrupt header (unknown flags)" 6 2 4
bad ext "corrupt header (bad cowloop extension block)" 512 4 0x11223344
bad ext-size "corrupt header (bad cowloop extension block)" \
	512 4 0x3158434c 516 4 64
# a header that decodes is not enough: the bitmap must agree with it and
# with the file's size, as every other tool checks (issue 23, item 17)
mkcow "$c" 64 100 0 2; setbit "$c" 5; truncate -s $((4096 + 100 * 1024)) "$c"
expect cowlist-refuses-miscount 1 "$(report "$c" clean 4096 1 2 100)
cowlist: cowfile $c: cowblocks in use does not match the bitmap: run cowrepair -f (header says 2, bitmap has 1)" \
	"$BIN/cowlist" "$c"
mkcow "$c" 64 100 0 3; setbit "$c" 5; setbit "$c" 50; setbit "$c" 51
truncate -s $((4096 + 40 * 1024)) "$c"
expect cowlist-refuses-truncated 1 "$(report "$c" clean 4096 1 3 100)
cowlist: cowfile $c: cowfile truncated: it ends before blocks its bitmap lists (2 blocks missing from block 50 on; the file is $((4096 + 40 * 1024)) bytes, needs $((4096 + 51 * 1024)))" \
	"$BIN/cowlist" "$c"
out=$("$BIN/cowlist" -J "$c" 2>"$T/err"); rc=$?
[ $rc = 1 ] && python3 -c 'import json, sys; json.loads(sys.argv[1])' "$out" 2>/dev/null &&
	grep -q "cowfile truncated" "$T/err"
result cowlist-json-refuses-truncated [ $? = 0 ]
mkcow "$c" 64 100 0 1; setbit "$c" 5; setbit "$c" 100; truncate -s $((4096 + 100 * 1024)) "$c"
expect cowlist-refuses-tail 1 "$(report "$c" clean 4096 1 1 100)
cowlist: cowfile $c: bitmap has bits set beyond the last block: run cowrepair -f" \
	"$BIN/cowlist" "$c"
# dirty: its count is stale until cowrepair recounts, as the state says
put "$c" 6 2 1
expect cowlist-dirty-not-checked 0 "$(report "$c" dirty 4096 1 1 100)" "$BIN/cowlist" "$c"
# in use by a cowdevice (sysfs ids): the driver changes it meanwhile
put "$c" 6 2 0; put "$c" 1036 1 0; put "$c" 48 8 2
S=$T/sys-list; rm -rf "$S"; mkdir -p "$S/block/cow1/cowloop"
echo /x.img > "$S/block/cow1/cowloop/rdofile"; echo /x.cow > "$S/block/cow1/cowloop/cowfile"
stat -c '%Hd:%Ld %i %Hr:%Lr' "$c" > "$S/block/cow1/cowloop/cowfile_id"
echo "0:1 2 0:0" > "$S/block/cow1/cowloop/rdofile_id"
expect cowlist-active-not-checked 0 "$(report "$c" clean 4096 1 2 100)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowlist" "$c"
rm -rf "$S" "$T/err"
mkcow "$c" 64 1440; truncate -s 100 "$c"
expect cowlist-refuses-truncated-header 1 \
	"cowlist: cowfile $c: file too short for its header and bitmap" \
	"$BIN/cowlist" "$c"
mkcow "$c" 64 102400; truncate -s 5000 "$c"
expect cowlist-refuses-truncated-bitmap 1 \
	"cowlist: cowfile $c: file too short for its header and bitmap" \
	"$BIN/cowlist" "$c"
: > "$c"
expect cowrepair-refuses-empty 8 "cowrepair: cowfile $c: not a cowfile (bad magic number)" \
	"$BIN/cowrepair" "$c"
head -c 4096 /dev/urandom > "$c"; put "$c" 0 4 0
expect cowlist-refuses-garbage 1 "cowlist: cowfile $c: not a cowfile (bad magic number)" \
	"$BIN/cowlist" "$c"
expect cowlist-refuses-directory 1 "cowlist: cowfile $T: cowfile is not a regular file" \
	"$BIN/cowlist" "$T"
expect cowrepair-refuses-directory 8 "cowrepair: cowfile $T: cowfile is not a regular file" \
	"$BIN/cowrepair" "$T"
expect cowrepair-n-refuses-directory 8 "cowrepair: cowfile $T: cowfile is not a regular file" \
	"$BIN/cowrepair" -n "$T"
expect cowlist-missing-file 1 "cowlist: cowfile $T/nope: No such file or directory" \
	"$BIN/cowlist" "$T/nope"

# ---- cowrepair -------------------------------------------------------
# 100 units, doffset 4096; data in units 3, 7 and 64; unit 10 allocated
# but all zeroes; the bitmap knows unit 3 only.
mkrep() {	# mkrep layout flags [ext-flags]
	mkcow "$c" "$1" 100 "$2" 1
	[ -n "${3:-}" ] && addext "$c" "$3" 102400
	setbit "$c" 3
	wunit "$c" 4096 3 65; wunit "$c" 4096 7 66; wunit "$c" 4096 64 67
	wunit "$c" 4096 10 0
}
mkrep 64 1
before=$(sum "$c")
dry="cowfile $c: written by the original cowloop: scanning the whole data area
number of corrections in bitmap: 2
cowfile $c: repair needed: dirty state would be cleared; 2 bits would be set; cowblocks in use would be corrected from 1 to 3; not modified (-n)"
expect cowrepair-dry-run 4 "$dry" "$BIN/cowrepair" -n "$c"
result cowrepair-dry-run-unchanged [ "$before" = "$(sum "$c")" ]
chmod 0400 "$c"
expect cowrepair-dry-run-readonly-file 4 "$dry" "$BIN/cowrepair" -n "$c"
expect cowrepair-dry-run-verbose 4 "cowfile $c: written by the original cowloop: scanning the whole data area
block 7: modified data not in bitmap: bit would be set
block 64: modified data not in bitmap: bit would be set
cowblocks in use: header says 1, bitmap has 3: would be corrected
number of corrections in bitmap: 2
cowfile $c: repair needed: dirty state would be cleared; 2 bits would be set; cowblocks in use would be corrected from 1 to 3; not modified (-n)" \
	"$BIN/cowrepair" -n -v "$c"
chmod 0600 "$c"
expect cowrepair-original-dirty 1 "cowfile $c: written by the original cowloop: scanning the whole data area
number of corrections in bitmap: 2" "$BIN/cowrepair" "$c"
[ "$(get "$c" 1024 1)" = $((0x88)) ] \
	&& [ "$(get "$c" 1032 1)" = 1 ] && [ "$(get "$c" 1025 7)" = 0 ]
result cowrepair-original-bitmap [ $? = 0 ]
[ "$(get "$c" 48 8)" = 3 ] \
	&& [ "$(get "$c" 6 2)" = 0 ]
result cowrepair-original-header [ $? = 0 ]
expect cowrepair-not-dirty 0 "cowfile $c is not dirty" "$BIN/cowrepair" "$c"
expect cowrepair-check-clean 0 "cowfile $c is not dirty
cowfile $c: consistent, no repair needed" "$BIN/cowrepair" -n "$c"
expect cowrepair-force-clean 0 "number of corrections in bitmap: 0" \
	"$BIN/cowrepair" -f "$c"
expect cowlist-after-repair 0 "$(report "$c" clean 4096 1 3 100)" \
	"$BIN/cowlist" "$c"

mkrep 64 1
expect cowrepair-verbose 1 "cowfile $c: written by the original cowloop: scanning the whole data area
block 7: modified data not in bitmap: bit set
block 64: modified data not in bitmap: bit set
cowblocks in use: header says 1, bitmap has 3: corrected
number of corrections in bitmap: 2" "$BIN/cowrepair" -v "$c"

mkrep 32 1
"$BIN/cowrepair" "$c" >/dev/null
[ "$(get "$c" 8 4)" = 1024 ] \
	&& [ "$(get "$c" 12 4)" = 1024 ] && [ "$(get "$c" 28 4)" = 3 ] \
	&& [ "$(get "$c" 6 2)" = 0 ] && [ "$(get "$c" 1024 1)" = $((0x88)) ]
result cowrepair-i386-keeps-layout [ $? = 0 ]

# ORDERED dirty: consistent up to the last flush, only cowused recounted
mkrep 64 1 1; put "$c" 48 8 0
expect cowrepair-ordered-dirty 1 "cowfile $c: bitmap valid up to the last flush (ordered): only cowused recounted, data area not read
cowblocks in use: header says 0, bitmap has 1: corrected
number of corrections in bitmap: 0" "$BIN/cowrepair" -v "$c"
[ "$(get "$c" 1024 1)" = 8 ] \
	&& [ "$(get "$c" 48 8)" = 1 ] && [ "$(get "$c" 6 2)" = 0 ] \
	&& [ "$(get "$c" 520 8)" = 1 ] && [ "$(get "$c" 528 8)" = 102400 ]
result cowrepair-ordered-no-scan [ $? = 0 ]
# -f does not scan an ORDERED cowfile: data without a bit was written
# after the last flush and stays out; --scan-data asks for it explicitly
before=$(sum "$c")
expect cowrepair-ordered-force-no-scan 0 "cowfile $c: ordered: data area not read (data there without a bit was written after the last flush; --scan-data adds it)
number of corrections in bitmap: 0" "$BIN/cowrepair" -f "$c"
result cowrepair-ordered-force-unchanged [ "$before" = "$(sum "$c")" ]
expect cowrepair-ordered-scan-data 1 "cowfile $c: ordered, but scanning the whole data area (--scan-data): data written after the last flush becomes part of the cowdevice
number of corrections in bitmap: 2" "$BIN/cowrepair" --scan-data "$c"
[ "$(get "$c" 1024 1)" = $((0x88)) ] \
	&& [ "$(get "$c" 48 8)" = 3 ]
result cowrepair-ordered-scan-data-bitmap [ $? = 0 ]

# clean, but cowused wrong / bits beyond the last unit: -f repairs
# (the file holds the data area, so that no bit is beyond its end)
mkcow "$c" 64 100 0 2; setbit "$c" 5; truncate -s $((4096 + 100 * 1024)) "$c"
expect cowrepair-clean-mismatch 4 "cowfile $c is not dirty
cowrepair: cowfile $c: cowblocks in use does not match the bitmap: run cowrepair -f (header says 2, bitmap has 1)" \
	"$BIN/cowrepair" "$c"
expect cowrepair-force-cowused 1 "cowblocks in use: header says 2, bitmap has 1: corrected
number of corrections in bitmap: 0" \
	"$BIN/cowrepair" -f "$c"
result cowrepair-force-cowused-fixed [ "$(get "$c" 48 8)" = 1 ]
mkcow "$c" 64 100 0 13; setbit "$c" 5; put "$c" $((1024 + 12)) 1 0xf0
truncate -s $((4096 + 100 * 1024)) "$c"
put "$c" $((1024 + 13)) 1 0xff
expect cowrepair-force-tail 1 "number of corrections in bitmap: 12" \
	"$BIN/cowrepair" -f "$c"
[ "$(get "$c" 1036 2)" = 0 ] \
	&& [ "$(get "$c" 1024 1)" = 32 ] && [ "$(get "$c" 48 8)" = 1 ]
result cowrepair-force-tail-cleared [ $? = 0 ]
mkcow "$c" 64 100 2
expect cowrepair-refuses-packed 8 "cowrepair: cowfile $c: cowfile is packed (cannot be used): not repaired" \
	"$BIN/cowrepair" "$c"

# a 1 TiB rdofile, a few written units: the scan follows the extents
units=$((1 << 30)); doff=$(doffset_of $units)
mkcow "$c" 64 $units 1 0
truncate -s $((doff + units * 1024)) "$c"
wunit "$c" "$doff" 0 1; wunit "$c" "$doff" 123456789 2
wunit "$c" "$doff" $((units - 1)) 3
start=$(date +%s)
out=$(timeout 120 "$BIN/cowrepair" "$c" 2>&1)
[ "${out##*$'\n'}" = "number of corrections in bitmap: 3" ] \
	&& [ "$(get "$c" 48 8)" = 3 ]
result cowrepair-huge-sparse [ $? = 0 ]
echo "  (1 TiB sparse cowrepair: $(($(date +%s) - start)) s)" >&2
# memory follows what changed: its 128 MiB bitmap is never held whole
# (64 MiB of address space is enough for the check, the scan and a merge)
expect cowrepair-huge-sparse-64mib 0 "number of corrections in bitmap: 0
cowfile $c: consistent, no repair needed" \
	bash -c 'ulimit -v 65536 && exec "$@"' - "$BIN/cowrepair" -f -n "$c"
truncate -s $((units * 1024)) "$T/huge.img"
expect cowmerge-huge-sparse-64mib 0 "Number of blocks modified in $T/huge.img: 3" \
	bash -c 'ulimit -v 65536 && exec "$@"' - "$BIN/cowmerge" -y "$T/huge.img" "$c"
result cowmerge-huge-sparse-data [ "$(get "$T/huge.img" $((123456789 * 1024)) 1)" = 2 ]
rm -f "$c" "$T/huge.img"

# ---- cowmerge --------------------------------------------------------
# rdofile: 1443 units (last bitmap byte partial) + 500 bytes (a partial
# unit that must stay untouched).  Units 0, 2, 3, 4 have byte sums 0x10,
# 0x20, 0x30, 0x9a (unit 1 sums to zero): fingerprint 0x9a302010, stored
# sign-extended in the x86_64 layout.
R=$T/rdo.img; C=$T/m.cow; E=$T/expect.img
units=1443; doff=$(doffset_of $units)
mkrdo() {
	head -c $((units * 1024 + 500)) /dev/urandom > "$R"
	dd if=/dev/zero of="$R" bs=1024 count=5 conv=notrunc status=none
	put "$R" 0 1 0x10; put "$R" 1024 2 0x8080; put "$R" 2048 1 0x20
	put "$R" 3072 1 0x30; put "$R" 4096 1 0x9a
}
mkmerge() {	# mkmerge layout [fingerprint]: bits 0 5 6 7 8 1442
	local u n=0
	mkcow "$C" "$1" $units 0 6 "${2:-0xffffffff9a302010}"
	for u in 0 5 6 7 8 1442; do
		setbit "$C" $u
		head -c 1024 /dev/urandom |
			dd of="$C" bs=1024 seek=$((doff / 1024 + u)) conv=notrunc status=none
	done
}
expected() {	# the image the cowdevice showed, built with dd
	local u
	cp "$R" "$E"
	for u in 0 5 6 7 8 1442; do
		dd if="$C" of="$E" bs=1024 skip=$((doff / 1024 + u)) seek=$u count=1 \
			conv=notrunc status=none
	done
}
body() { tail -c +1025 "$1" | md5sum; }	# all but the header block
for lay in 64 32; do
	mkrdo; mkmerge $lay $([ $lay = 32 ] && echo $((0x9a302010))); expected
	csum=$(body "$C")
	expect cowmerge-$lay 0 "Number of blocks modified in $R: 6" \
		"$BIN/cowmerge" -y "$R" "$C"
	result cowmerge-$lay-image cmp -s "$R" "$E"
	# bitmap and data unchanged; the header says MERGED (+ DIRTY)
	[ "$csum" = "$(body "$C")" ] \
		&& [ "$(get "$C" 6 2)" = 1 ] && [ "$(get "$C" 520 8)" = 4 ] \
		&& [ "$(get "$C" 8 $((lay / 8)))" = 1024 ]
	result cowmerge-$lay-cowfile-merged [ $? = 0 ]
done
# -p: progress on stderr even when not a terminal (none by default there)
mkrdo; mkmerge 64
out=$("$BIN/cowmerge" -y -p "$R" "$C" 2>&1 >/dev/null)
result cowmerge-progress [ "$(sed -E 's|, [0-9.]+ [KMGTPE]?i?B/s$|, R/s|' <<<"$out" | tail -n 1)" = \
	"cowmerge: merging: 6/6 blocks (100%), R/s" ]
mkrep 64 1
out=$("$BIN/cowrepair" -n -C "$c" 2>&1 >/dev/null)
result cowrepair-progress [ "$(sed -E 's|, [0-9.]+ [KMGTPE]?i?B/s$|, R/s|' <<<"$out" | tail -n 1)" = \
	"cowrepair: scanning: 100/100 blocks (100%), R/s" ]
# a fingerprint stored without the quirk still matches (low 32 bits)
mkrdo; mkmerge 64 $((0x9a302010)); expected
"$BIN/cowmerge" -y "$R" "$C" >/dev/null 2>&1
result cowmerge-fingerprint-low32 cmp -s "$R" "$E"
# exact size recorded in the extension
mkrdo; mkmerge 64; addext "$C" 1 $((units * 1024 + 500)); expected
"$BIN/cowmerge" -y "$R" "$C" >/dev/null 2>&1
result cowmerge-with-extension cmp -s "$R" "$E"

# refusals: the rdofile must stay untouched
refuse() {	# refuse name message [cowmerge args]
	local n=$1 msg=$2 rs; shift 2
	rs=$(sum "$R")
	expect cowmerge-refuses-$n 1 "$msg" "$BIN/cowmerge" "$@"
	result cowmerge-refuses-$n-untouched [ "$rs" = "$(sum "$R")" ]
}
mkrdo; mkmerge 64
# --dry-run: everything checked, what would be written said, nothing written
cs=$(sum "$C"); rs=$(sum "$R")
expect cowmerge-dry-run 0 "merge into $R: would write 6 blocks (6144 bytes, 6.0 KiB) in 3 runs from $C; nothing written (--dry-run)" \
	"$BIN/cowmerge" --dry-run "$R" "$C" </dev/null
[ "$cs" = "$(sum "$C")" ] && [ "$rs" = "$(sum "$R")" ]
result cowmerge-dry-run-untouched [ $? = 0 ]
refuse no-tty "cowmerge: rdofile $R: not merged: standard input is not a terminal to confirm (use -y)" \
	"$R" "$C" </dev/null
put "$C" 6 2 1
refuse dirty "cowmerge: cowfile $C: cowfile is dirty (not closed properly): run cowrepair first" \
	-y "$R" "$C"
put "$C" 6 2 2
refuse packed "cowmerge: cowfile $C: cowfile is packed (cannot be used)" -y "$R" "$C"
put "$C" 6 2 0; put "$C" 48 8 5
refuse bitmap "cowmerge: cowfile $C: cowblocks in use does not match the bitmap: run cowrepair -f (header says 5, bitmap has 6)" \
	-y "$R" "$C"
put "$C" 48 8 6; put "$C" $((1024 + 1443 / 8)) 1 0xff
refuse bitmap-tail "cowmerge: cowfile $C: bitmap has bits set beyond the last block: run cowrepair -f" \
	-y "$R" "$C"
mkmerge 64 0x12345678
refuse fingerprint "cowmerge: cowfile $C: written for a different rdofile (fingerprint mismatch; rdofile $R)" \
	-y "$R" "$C"
mkmerge 64; addext "$C" 1 $((units * 1024 + 501))
refuse rdosize "cowmerge: cowfile $C: written for an rdofile of another exact size (cowfile: $((units * 1024 + 501)) bytes, rdofile $R: $((units * 1024 + 500)) bytes)" \
	-y "$R" "$C"
mkmerge 64; truncate -s $((units * 1024 + 1024)) "$R"
refuse rdoblocks "cowmerge: cowfile $C: written for an rdofile of another size (cowfile: 1443 blocks, rdofile $R: 1444 blocks)" \
	-y "$R" "$C"
head -c 1000 /dev/urandom > "$R"
refuse rdosmall "cowmerge: rdofile $R: rdofile is smaller than one 1 KiB block" -y "$R" "$C"
mkrdo
refuse cowtype "cowmerge: cowfile $T: cowfile is not a regular file" -y "$R" "$T"
refuse samefile "cowmerge: rdofile $R: cowfile and rdofile are the same file" -y "$R" "$R"
refuse not-a-cowfile "cowmerge: cowfile $R: not a cowfile (bad magic number)" -y "$T/expect.img" "$R"
if [ -w /dev/null ]; then
	expect cowmerge-refuses-rdotype 1 \
		"cowmerge: rdofile /dev/null: rdofile is neither a regular file nor a block device" \
		"$BIN/cowmerge" -y /dev/null "$C"
fi
mkcow "$C" 64 $units 0 0 0xffffffff9a302010
expect cowmerge-nothing 0 "Number of blocks modified in $R: 0" "$BIN/cowmerge" "$R" "$C" </dev/null

# ---- cowdev / cowsync without the driver -----------------------------
if [ ! -e /dev/cow/ctl ]; then
	msg="/dev/cow/ctl: No such file or directory (is the cowloop module loaded? try: modprobe cowloop)"
	expect cowsync-no-ctl 1 "cowsync: $msg" "$BIN/cowsync"
	expect cowdev-deactivate-no-ctl 1 "cowdev: $msg" "$BIN/cowdev" -d /dev/cow/0
	expect cowdev-deactivate-several-no-ctl 1 "cowdev: $msg
cowdev: $msg" "$BIN/cowdev" -d /dev/cow/0 3
	mkrdo
	expect cowdev-activate-no-ctl 1 "cowdev: $msg" "$BIN/cowdev" -a "$R" "$T/new.cow" 3
	(cd "$T" && expect cowdev-activate-relative-no-ctl 1 "cowdev: $msg" \
		"$BIN/cowdev" -a rdo.img ./new.cow /dev/cow/3)
fi
expect cowdev-missing-rdofile 1 "cowdev: rdofile $T/nope: No such file or directory" \
	"$BIN/cowdev" -a "$T/nope" "$C"
mkrdo
# read-only: the cowfile must exist (it is never created), said before
# asking the driver
expect cowdev-readonly-missing-cowfile 1 "cowdev: cowfile $T/none.cow: No such file or directory" \
	"$BIN/cowdev" -a -r "$R" "$T/none.cow"
result cowdev-readonly-created-nothing [ ! -e "$T/none.cow" ]
S=$T/sys
mkdir -p "$S/block/sda"
expect cowdev-list-no-module 1 "cowdev: the cowloop module is not loaded (no $S/module/cowloop): no cowdevices (try: modprobe cowloop)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowdev" -l
expect cowdev-deactivate-all-no-module 1 "cowdev: the cowloop module is not loaded (no $S/module/cowloop): no cowdevices (try: modprobe cowloop)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowdev" -D
mkdir -p "$S/module/cowloop" "$S/block/cow10/cowloop" "$S/block/cow2/cowloop"
echo /dev/sda2 > "$S/block/cow2/cowloop/rdofile"
echo /tmp/myfs1.cow > "$S/block/cow2/cowloop/cowfile"
echo /srv/images/a-rather-long-name.img > "$S/block/cow10/cowloop/rdofile"
echo /fsdir/inst10.cow > "$S/block/cow10/cowloop/cowfile"
# columns as wide as their widest cell: nothing breaks on a long path;
# blanks in a path are \x20 in the table, plain in JSON
expect cowdev-list 0 "cowdevice    read-only file                     copy-on-write file              
/dev/cow/2   /dev/sda2                          /tmp/myfs1.cow                  
/dev/cow/10  /srv/images/a-rather-long-name.img /fsdir/inst10.cow               " \
	env COWLOOP_SYSFS="$S" "$BIN/cowdev" -l
echo "/srv/my images/x.img" > "$S/block/cow10/cowloop/rdofile"
echo clean > "$S/block/cow2/cowloop/state"
echo 2048 > "$S/block/cow2/size"
echo "256 1024 200 filling" > "$S/block/cow2/cowloop/fill"
expect cowdev-list-noheadings-blanks 0 "/dev/cow/2   /dev/sda2               /tmp/myfs1.cow                  
/dev/cow/10  /srv/my\x20images/x.img /fsdir/inst10.cow               " \
	env COWLOOP_SYSFS="$S" "$BIN/cowdev" -l -n
expect cowdev-list-columns 0 "cowdevice    state size   
/dev/cow/2   clean 1048576
/dev/cow/10  -     0      " env COWLOOP_SYSFS="$S" "$BIN/cowdev" -l -O NAME,state,SIZE
expect cowdev-list-fill 0 "cowdevice    fill         
/dev/cow/2   25.0% filling
/dev/cow/10  -            " env COWLOOP_SYSFS="$S" "$BIN/cowdev" -l -O NAME,FILL
expect cowdev-list-json 0 '{
   "cowdevices": [
      {"name": "/dev/cow/2", "rdofile": "/dev/sda2", "cowfile": "/tmp/myfs1.cow", "state": "clean", "size": 1048576, "fill": "25.0% filling"},
      {"name": "/dev/cow/10", "rdofile": "/srv/my images/x.img", "cowfile": "/fsdir/inst10.cow", "state": null, "size": null, "fill": null}
   ]
}' env COWLOOP_SYSFS="$S" "$BIN/cowdev" -l -J
rm -rf "$S/block/cow2" "$S/block/cow10"
expect cowdev-list-json-none 0 '{
   "cowdevices": []
}' env COWLOOP_SYSFS="$S" "$BIN/cowdev" --list --json
"$BIN/cowdev" -l -O bogus >/dev/null 2>&1; result cowdev-list-bad-column-exit-2 [ $? = 2 ]
"$BIN/cowdev" -d 1 -J >/dev/null 2>&1; result cowdev-json-without-l-exit-2 [ $? = 2 ]
