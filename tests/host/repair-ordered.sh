# SPDX-License-Identifier: GPL-2.0
# cowrepair after a crash (issue 5), sourced by run.sh after tools.sh.
# A DIRTY cowfile with the ORDERED extension flag has a bitmap that is
# trustworthy up to the last flush: cowrepair must only recount cowused,
# never read the data area (data there without a bit was written after
# the last flush and must stay invisible), and say so.  A DIRTY cowfile of
# the original driver needs the full scan, and cowrepair says that too.

c=$T/ordered.cow
# 20000 units; units 0..2047 hold non-zero data, only units 5 and 1999
# have their bit (written and flushed); the rest was written after the
# last flush.  Header cowused is stale (0).
units=20000; doff=$(doffset_of $units)
mkord() {	# mkord ext-flags
	mkcow "$c" 64 $units 1 0
	[ "$1" != none ] && addext "$c" "$1" $((units * 1024))
	head -c $((2048 * 1024)) /dev/zero | tr '\0' '\252' |
		dd of="$c" bs=1024 seek=$((doff / 1024)) conv=notrunc status=none
	setbit "$c" 5; setbit "$c" 1999
}
mkord 1
before=$(sum "$c")
expect repair-ordered-dry-run 4 "cowfile $c: bitmap valid up to the last flush (ordered): only cowused recounted, data area not read
number of corrections in bitmap: 0
cowfile $c: repair needed: dirty state would be cleared; cowblocks in use would be corrected from 0 to 2; not modified (-n)" "$BIN/cowrepair" -n "$c"
result repair-ordered-dry-run-unchanged [ "$before" = "$(sum "$c")" ]
if command -v strace >/dev/null; then
	# Every read cowrepair makes stays below the data area.
	strace -f -qq -e trace=openat,pread64,read -e signal=none \
		-o "$T/trace" "$BIN/cowrepair" "$c" >"$T/out" 2>&1
	rc=$?
	# the end of the furthest read on the cowfile's descriptor
	maxoff=$(awk -v path="\"$c\"" '
		$2 ~ /^openat\(/ && index($0, path) { split($0, a, "= "); fd = a[2] + 0; next }
		fd != "" && $2 ~ "^(pread64|read)\\(" fd "," {
			split($0, a, "= "); n = a[2] + 0; o = $0
			if ($2 ~ /^pread64/) { sub(/.*, /, "", o); sub(/\).*/, "", o) } else o = 0
			if (o + n > m) m = o + n }
		END { print m + 0 }' "$T/trace")
	[ "$rc" = 1 ] && [ "$maxoff" -gt 0 ] \
		&& [ "$maxoff" -le "$doff" ]
	result repair-ordered-reads-no-data [ $? = 0 ]
	[ "$maxoff" -le "$doff" ] ||
		echo "  cowrepair read up to byte $maxoff, data area at $doff" >&2
else
	"$BIN/cowrepair" "$c" >"$T/out" 2>&1
fi
[ "$(get "$c" 48 8)" = 2 ] \
	&& [ "$(get "$c" 6 2)" = 0 ] && [ "$(get "$c" 1024 1)" = 32 ] \
	&& [ "$(get "$c" 1025 8)" = 0 ] && [ "$(get "$c" $((1024 + 1999 / 8)) 1)" = 128 ]
result repair-ordered-only-recount [ $? = 0 ]
expect repair-ordered-then-clean 0 "cowfile $c is not dirty" "$BIN/cowrepair" "$c"

# The same file from the original driver (no extension): full scan.
mkord none
expect repair-original-says-full 1 "cowfile $c: written by the original cowloop: scanning the whole data area
number of corrections in bitmap: 2046" "$BIN/cowrepair" "$c"
[ "$(get "$c" 48 8)" = 2048 ] \
	&& [ "$(get "$c" 6 2)" = 0 ]
result repair-original-sets-bits [ $? = 0 ]

# ORDERED but not dirty (cleanly closed), cowused wrong: refused, -f scans.
mkord 1; put "$c" 6 2 0; put "$c" 48 8 2
expect repair-ordered-clean 0 "cowfile $c is not dirty" "$BIN/cowrepair" "$c"
rm -f "$c" "$T/trace" "$T/out"
