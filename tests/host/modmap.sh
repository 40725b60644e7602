# SPDX-License-Identifier: GPL-2.0
# The modified map (COW_EXT_MODMAP, issue 25 item 4): units copied from
# the rdofile (copy-on-read, fill) are in the bitmap but not modified.
# cowlist -m maps and cowmerge writes back only modified units; a
# repair counts every unit in as modified.  Sourced by run.sh after
# tools.sh (mkrdo, mkmerge, $R, $C, $units, $doff).

# modbit file unit: set the unit's bit in the modified map
modbit() {
	local off=$((modoff + $2 / 8)) b
	b=$(get "$1" $off 1)
	put "$1" $off 1 $((b | (1 << ($2 % 8))))
}
# mkcopied: bits 0 5 6 7 8 1442 (mkmerge), of which 0 5 6 modified and
# 7 8 1442 copied; a modified bit for unit 100, not in the bitmap
mkcopied() {
	mkrdo; mkmerge 64
	addext "$C" $((0x9)) $((units * 1024 + 500))
	put "$C" 552 8 $modoff
	truncate -s $((modoff + $(mapsize_of $units))) "$C"
	for u in 0 5 6 100; do modbit "$C" $u; done
}
modoff=$(( (doff + units * 1024 + 4095) / 4096 * 4096 ))

mkcopied
expect modmap-map 0 "      0     1024
   5120     2048" "$BIN/cowlist" -m -n "$C"
"$BIN/cowlist" -v "$C" > "$T/modmap.out" 2>&1
grep -q "modified blocks: *3 (of 1024 bytes)" "$T/modmap.out" &&
	grep -q "copied blocks: *3 (from the rdofile)" "$T/modmap.out" &&
	grep -q "cowblocks in use: *6" "$T/modmap.out"
result modmap-cowlist-verbose [ $? = 0 ]
"$BIN/cowlist" -J "$C" > "$T/modmap.out" 2>&1
grep -q '"modified-blocks": 3,' "$T/modmap.out" &&
	grep -q '"copied-blocks": 3,' "$T/modmap.out"
result modmap-cowlist-json [ $? = 0 ]
expect modmap-merge-dry 0 "merge into $R: would write 3 blocks (3072 bytes, 3.0 KiB) in 2 runs from $C; nothing written (--dry-run)" \
	"$BIN/cowmerge" -n "$R" "$C"

# in place: the modified units only; the copied ones (whose bytes here
# differ from the rdofile's, to tell) are not written back
cp "$R" "$E"
for u in 0 5 6; do
	dd if="$C" of="$E" bs=1024 skip=$((doff / 1024 + u)) seek=$u count=1 \
		conv=notrunc status=none
done
expect modmap-merge 0 "Number of blocks modified in $R: 3" "$BIN/cowmerge" -y "$R" "$C"
result modmap-merge-only-modified cmp "$R" "$E"
expect modmap-merge-again 0 "cowfile $C: already merged into $R: nothing to do" \
	"$BIN/cowmerge" -y "$R" "$C"

# into a new file: every unit in, from the cowfile (a copied unit is the
# rdofile's: from where it is nearer)
mkcopied
rm -f "$T/modmap.img"
expect modmap-merge-output-dry 0 "merge of $R and $C into $T/modmap.img: would write an image of $((units * 1024 + 500)) bytes (1.4 MiB), 6 blocks (6144 bytes, 6.0 KiB) from the cowfile in 3 runs, the rest from the rdofile; nothing written (--dry-run)" \
	"$BIN/cowmerge" -n -o "$T/modmap.img" "$R" "$C"

# a crash (dirty): the repair makes every unit in modified
put "$C" 6 2 1
expect modmap-repair 1 "cowfile $C: bitmap valid up to the last flush (ordered): only cowused recounted, data area not read
number of corrections in bitmap: 0
cowfile $C: every block in the cowfile now counts as modified (the modified map is made from the bitmap)" \
	"$BIN/cowrepair" "$C"
expect modmap-map-repaired 0 "      0     1024
   5120     4096
1476608     1024" "$BIN/cowlist" -m -n "$C"

# the extension's rules: MODMAP and its offset go together, and the map
# is where the format puts it
mkcopied; put "$C" 552 8 $((modoff + 4096))
expect modmap-bad-offset 1 "cowlist: cowfile $C: corrupt header (bad cowloop extension block)" \
	"$BIN/cowlist" "$C"
mkcopied; put "$C" 552 8 0
expect modmap-no-offset 1 "cowlist: cowfile $C: corrupt header (bad cowloop extension block)" \
	"$BIN/cowlist" "$C"
mkcopied; addext "$C" 1 $((units * 1024 + 500))
expect modmap-offset-without-flag 1 "cowlist: cowfile $C: corrupt header (bad cowloop extension block)" \
	"$BIN/cowlist" "$C"
rm -f "$T/modmap.out" "$T/modmap.img"

# --scan-data, the remedy for a cowfile the original driver used: the
# modified map made from the bitmap, also when the cowfile is clean
mkcopied
"$BIN/cowrepair" --scan-data "$C" > "$T/modmap.out" 2>&1
result modmap-scan-data-exit [ $? = 1 ]
expect modmap-map-scanned 0 "      0     1024
   5120     4096
1476608     1024" "$BIN/cowlist" -m -n "$C"
rm -f "$T/modmap.out"
