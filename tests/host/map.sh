# SPDX-License-Identifier: GPL-2.0
# cowlist --map: the modified extents of a cowfile (issue 26, item 2).
# Sourced by run.sh after files.sh (mkrdo, mkmerge, hold, lockwait, $R,
# $C, $units, $doff and the helpers of lib.sh).

# 1443 units, bits 0 5 6 7 8 1442 (mkmerge): three runs
mkrdo; mkmerge 64
expect map-plain 0 "Modified extents of cowfile $C:
 offset   length
      0     1024
   5120     4096
1476608     1024
3 extents, 6144 bytes (6.0 KiB) modified" "$BIN/cowlist" --map "$C"
expect map-noheadings 0 "      0     1024
   5120     4096
1476608     1024" "$BIN/cowlist" -m -n "$C"
expect map-json 0 '[
    {"offset": 0, "length": 1024},
    {"offset": 5120, "length": 4096},
    {"offset": 1476608, "length": 1024}
]' "$BIN/cowlist" -m -J "$C"
if command -v python3 >/dev/null; then
	"$BIN/cowlist" -m -J "$C" > "$T/map.json"
	python3 -c '
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert d == [{"offset": 0, "length": 1024}, {"offset": 5120, "length": 4096},
	     {"offset": 1476608, "length": 1024}]' "$T/map.json" 2>/dev/null
	result map-json-valid [ $? = 0 ]
	rm -f "$T/map.json"
fi
# the extents are where the merged image differs from the rdofile
cp "$R" "$T/map-merged.img"; cp "$C" "$T/map-merging.cow"
"$BIN/cowmerge" -y "$T/map-merged.img" "$T/map-merging.cow" >/dev/null 2>&1
ok=true n=0
while read -r off len; do
	n=$((n + 1))
	cmp -s <(tail -c +$((off + 1)) "$R" | head -c "$len") \
		<(tail -c +$((off + 1)) "$T/map-merged.img" | head -c "$len") && ok=false
	[ "$off" -gt 0 ] && { cmp -s <(head -c "$off" "$R" | tail -c 1024) \
		<(head -c "$off" "$T/map-merged.img" | tail -c 1024) || ok=false; }
done < <("$BIN/cowlist" -m -n "$C")
[ $ok = true ] && [ $n = 3 ]
result map-matches-merge [ $? = 0 ]
# a merged cowfile keeps its bitmap: its map is the same
expect map-of-merged 0 "      0     1024
   5120     4096
1476608     1024" "$BIN/cowlist" -m -n "$T/map-merging.cow"
rm -f "$T/map-merged.img" "$T/map-merging.cow"
# nothing modified; an empty cowfile (cowdev -a before the driver wrote it)
mkcow "$C" 64 $units 0 0 0xffffffff9a302010
expect map-none 0 "Modified extents of cowfile $C:
 offset   length
0 extents, 0 bytes (0 B) modified" "$BIN/cowlist" -m "$C"
expect map-none-json 0 "[]" "$BIN/cowlist" -m -J "$C"
: > "$T/empty.cow"
expect map-empty-file-json 0 "[]" "$BIN/cowlist" -m -J "$T/empty.cow"
rm -f "$T/empty.cow"
# a run over a whole bitmap byte and beyond; an 8 TiB device: wide columns
c=$T/map.cow
mkcow "$c" 64 $((1 << 33)) 0 12; addext "$c" 1 $((1 << 43))
put "$c" 1025 2 0x07ff; put "$c" $((1024 + (1 << 30) - 1)) 1 0x80
truncate -s $(($(doffset_of $((1 << 33))) + (1 << 43))) "$c"
expect map-8tib 0 "Modified extents of cowfile $c:
       offset         length
         8192          11264
8796093021184           1024
2 extents, 12288 bytes (12 KiB) modified" "$BIN/cowlist" -m "$c"
# memory follows what changed: its 1 GiB bitmap is never held whole
expect map-8tib-64mib 0 '[
    {"offset": 8192, "length": 11264},
    {"offset": 8796093021184, "length": 1024}
]' bash -c 'ulimit -v 65536 && exec "$@"' - "$BIN/cowlist" -m -J "$c"
rm -f "$c"

# ---- refused: a map that may not be the cowdevice's ---------------------
mkmerge 64; put "$C" 6 2 1
expect map-refuses-dirty 1 "cowlist: cowfile $C: cowfile is dirty (not closed properly): run cowrepair first" \
	"$BIN/cowlist" -m "$C"
put "$C" 6 2 2
expect map-refuses-packed 1 "cowlist: cowfile $C: cowfile is packed (cannot be used)" \
	"$BIN/cowlist" -m -J "$C"
put "$C" 6 2 0; put "$C" 48 8 5
expect map-refuses-miscount 1 "cowlist: cowfile $C: cowblocks in use does not match the bitmap: run cowrepair -f (header says 5, bitmap has 6)" \
	"$BIN/cowlist" -m "$C"
put "$C" 48 8 6; truncate -s $((doff + 1000 * 1024)) "$C"
expect map-refuses-truncated 1 "cowlist: cowfile $C: cowfile truncated: it ends before blocks its bitmap lists (1 block missing from block 1442 on; the file is $((doff + 1000 * 1024)) bytes, needs $((doff + 1443 * 1024)))" \
	"$BIN/cowlist" -m -J "$C"
expect map-refuses-directory 1 "cowlist: cowfile $T: cowfile is not a regular file" \
	"$BIN/cowlist" -m "$T"
"$BIN/cowlist" -n "$C" >/dev/null 2>&1; result map-n-without-m-exit-2 [ $? = 2 ]
"$BIN/cowlist" -m -v "$C" >/dev/null 2>&1; result map-v-exit-2 [ $? = 2 ]

# ---- an active cowdevice's cowfile: read, as of its last sync -----------
mkmerge 64; put "$C" 6 2 1; put "$C" 48 8 0	# dirty, count stale: in use
S=$T/sys-map; rm -rf "$S"; mkdir -p "$S/block/cow4/cowloop"
echo /elsewhere.img > "$S/block/cow4/cowloop/rdofile"
echo /elsewhere.cow > "$S/block/cow4/cowloop/cowfile"
stat -c '%Hd:%Ld %i %Hr:%Lr' "$C" > "$S/block/cow4/cowloop/cowfile_id"
echo "0:1 2 0:0" > "$S/block/cow4/cowloop/rdofile_id"
cs=$(sum "$C")
expect map-active 0 "cowlist: cowfile $C: in use by /dev/cow/4: the map is as of its last sync (cowsync writes the current one)
      0     1024
   5120     4096
1476608     1024" env COWLOOP_SYSFS="$S" "$BIN/cowlist" -m -n "$C"
expect map-active-json 0 '[
    {"offset": 0, "length": 1024},
    {"offset": 5120, "length": 4096},
    {"offset": 1476608, "length": 1024}
]' bash -c 'COWLOOP_SYSFS="$1" "$2" -m -J "$3" 2>/dev/null' - "$S" "$BIN/cowlist" "$C"
result map-active-untouched [ "$cs" = "$(sum "$C")" ]
rm -rf "$S"
# locked by a tool that writes it (cowrepair, cowmerge): refused
if command -v python3 >/dev/null; then
	mkmerge 64
	hold "$C" w
	expect map-refuses-locked 1 "cowlist: $(locked "cowfile $C")" "$BIN/cowlist" -m "$C"
	kill $holder; wait $holder 2>/dev/null
	hold "$C" r		# a reader: fine
	expect map-shared-reader 0 "      0     1024
   5120     4096
1476608     1024" "$BIN/cowlist" -m -n "$C"
	kill $holder; wait $holder 2>/dev/null
fi
