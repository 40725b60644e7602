# SPDX-License-Identifier: GPL-2.0
# cowrepair speaks fsck (issue 23, items 15 and 16): exit 0 nothing to
# repair, 1 repaired, 4 repair left undone, 8 operational error, 16 usage
# error, 32 cancelled; -p preens (repairs what loses nothing, asks
# nothing), -y also drops what is lost, -C shows the progress.  Sourced
# by run.sh after tools.sh (mkrep writes $c; helpers of lib.sh).

c=$T/fsck.cow
orig="cowfile $c: written by the original cowloop: scanning the whole data area"
# ---- exit codes (item 15) ---------------------------------------------
mkrep 64 1		# dirty, of the original: two bits to set
expect repair-fsck-repaired-1 1 "$orig
number of corrections in bitmap: 2" "$BIN/cowrepair" "$c"
expect repair-fsck-clean-0 0 "cowfile $c is not dirty" "$BIN/cowrepair" "$c"
expect repair-fsck-force-nothing-0 0 "number of corrections in bitmap: 0" \
	"$BIN/cowrepair" -f "$c"
mkrep 64 1 1; put "$c" 48 8 0	# dirty and ordered: a recount
expect repair-fsck-ordered-1 1 "cowfile $c: bitmap valid up to the last flush (ordered): only cowused recounted, data area not read
number of corrections in bitmap: 0" "$BIN/cowrepair" "$c"
for o in -np -ny -py; do
	"$BIN/cowrepair" $o "$c" >/dev/null 2>&1
	result repair-fsck-usage$o-16 [ $? = 16 ]
done

# ---- -p preens: no question, nothing lost -----------------------------
mkrep 64 1
expect repair-preen-dirty 1 "$orig
number of corrections in bitmap: 2" "$BIN/cowrepair" -p "$c"
# clean, but its count is wrong and a bit lies beyond the last block:
# corrected by -p (without -f, only reported)
mkcow "$c" 64 100 0 3; setbit "$c" 5; setbit "$c" 101
truncate -s $((4096 + 100 * 1024)) "$c"
expect repair-preen-clean 1 "cowfile $c is not dirty
cowblocks in use: header says 3, bitmap has 1: corrected
number of corrections in bitmap: 1" "$BIN/cowrepair" -p "$c"
[ "$(get "$c" 48 8)" = 1 ] \
	&& [ "$(get "$c" 1036 1)" = 0 ] && [ "$(get "$c" 1024 1)" = 32 ]
result repair-preen-clean-fixed [ $? = 0 ]
# -p never scans the data area of a clean cowfile (that is -f)
mkrep 64 0
before=$(sum "$c")
expect repair-preen-clean-no-scan 0 "cowfile $c is not dirty" "$BIN/cowrepair" -p "$c"
result repair-preen-clean-no-scan-untouched [ "$before" = "$(sum "$c")" ]
# -C is the progress (fsck's), --progress too; -p was it before
mkrep 64 1
out=$("$BIN/cowrepair" -n -C "$c" 2>&1 >/dev/null)
result repair-progress-C [ "$(sed -E 's|, [0-9.]+ [KMGTPE]?i?B/s$|, R/s|' <<<"$out" | tail -n 1)" = \
	"cowrepair: scanning: 100/100 blocks (100%), R/s" ]
out=$("$BIN/cowrepair" -n --progress "$c" 2>&1 >/dev/null)
result repair-progress-long [ -n "$out" ]
out=$("$BIN/cowrepair" -p "$c" 2>&1 >/dev/null)
result repair-preen-no-progress [ -z "$out" ]
h=$("$BIN/cowrepair" --help)
result repair-help-fsck [ "$(head -n 1 <<<"$h")" = "Usage: cowrepair [-fnpvy] [-C] [--scan-data] cowfile" ] \
	&& grep -q -- "-p, --preen" <<<"$h" && grep -q -- "-y, --yes" <<<"$h" \
	&& grep -q -- "-C, --progress" <<<"$h"

# ---- cancelled (SIGINT during the scan): nothing written, 32 ----------
if command -v strace >/dev/null; then
	mkrep 64 1
	before=$(sum "$c")
	strace -qq -o /dev/null -e trace=lseek -e inject=lseek:signal=INT:when=3 \
		"$BIN/cowrepair" "$c" >"$T/out" 2>&1
	[ $? = 32 ] && [ "$(tail -n 1 "$T/out")" = \
		"cowrepair: cowfile $c: interrupted: not modified" ]
	result repair-cancel-32 [ $? = 0 ]
	result repair-cancel-untouched [ "$before" = "$(sum "$c")" ]
	rm -f "$T/out"
fi

# ---- lost blocks: a crashed cowfile of the original whose bitmap lists
# blocks beyond the file's end (item 16) --------------------------------
mklost() {	# dirty, original: bits 3 7 40..45 60; the file ends in unit 20
	mkcow "$c" 64 100 1 8
	for u in 3 7 40 41 42 43 44 45 60; do setbit "$c" $u; done
	wunit "$c" 4096 3 65; wunit "$c" 4096 7 66; wunit "$c" 4096 12 67
	truncate -s $((4096 + 20 * 1024 + 100)) "$c"
}
lost="cowrepair: cowfile $c: cowfile truncated: it ends before blocks its bitmap lists (7 blocks missing from block 40 on; the file is $((4096 + 20 * 1024 + 100)) bytes, needs $((4096 + 41 * 1024)))"
mklost; before=$(sum "$c")
expect repair-lost-refused 4 "$lost
cowfile $c: damaged: 7 blocks the bitmap lists are missing; not repaired (cowrepair -y drops them)" \
	"$BIN/cowrepair" "$c"
expect repair-lost-preen-refused 4 "$lost
cowfile $c: damaged: 7 blocks the bitmap lists are missing; not repaired (cowrepair -y drops them)" \
	"$BIN/cowrepair" -p "$c"
expect repair-lost-dry-run 4 "$lost
cowfile $c: damaged: 7 blocks the bitmap lists are missing; not modified (-n)" \
	"$BIN/cowrepair" -n "$c"
result repair-lost-untouched [ "$before" = "$(sum "$c")" ]
expect repair-lost-yes 1 "$orig
cowfile $c: dropped 7 blocks beyond the end of the file (their data is lost): 40-45, 60
number of corrections in bitmap: 8" "$BIN/cowrepair" -y "$c"
[ "$(get "$c" 1024 1)" = $((0x88)) ] \
	&& [ "$(get "$c" 1025 1)" = 16 ] && [ "$(get "$c" 1029 1)" = 0 ] \
	&& [ "$(get "$c" 1031 1)" = 0 ] && [ "$(get "$c" 48 8)" = 3 ] \
	&& [ "$(get "$c" 6 2)" = 0 ]
result repair-lost-yes-bitmap [ $? = 0 ]
expect repair-lost-then-clean 0 "cowfile $c is not dirty
cowfile $c: consistent, no repair needed" "$BIN/cowrepair" -n "$c"
# a clean one (a copy that ran out of space): -y drops, nothing else
mkcow "$c" 64 100 0 3; setbit "$c" 2; setbit "$c" 50; setbit "$c" 99
wunit "$c" 4096 2 9; truncate -s $((4096 + 3 * 1024)) "$c"
expect repair-lost-clean-yes 1 "cowfile $c is not dirty
cowfile $c: dropped 2 blocks beyond the end of the file (their data is lost): 50, 99
number of corrections in bitmap: 2" "$BIN/cowrepair" -y "$c"
[ "$(get "$c" 48 8)" = 1 ] && [ "$(get "$c" 6 2)" = 0 ]
result repair-lost-clean-yes-header [ $? = 0 ]
rm -f "$c"
