#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-tools: the offline tools' cost on an 8 TiB sparse rdofile with
# 1000 units modified (issue 12, item 6; issue 26: the map, cowmerge -o,
# cowcreate).
# Prints elapsed seconds and peak resident memory per command; the
# target is under 0.5 s and 64 MiB each, whatever the rdofile's size:
# the bitmap (1 GiB here, mostly holes) and the data area are read
# extent by extent, never whole.
#   BENCH_DIR=dir (default: $TMPDIR or /tmp; needs sparse files of 8 TiB)
#   BENCH_UNITS=n (default 1000)   BENCH_TIB=n (default 8)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
make -s tools >/dev/null || exit 1
BIN=$top/build/bin
T=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/cowbench.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
. tests/host/lib.sh

n=${BENCH_UNITS:-1000}
units=$(( ${BENCH_TIB:-8} << 30 ))		# 1 KiB units
doff=$(doffset_of $units)
R=$T/rdo.img C=$T/bench.cow
truncate -s $((units * 1024)) "$R" || exit 1	# all holes: fingerprint 0

# mkbench ext-flags|none: DIRTY cowfile, n units spread over the device,
# each with its data and (for all but every 10th) its bit
mkbench() {
	local i u
	mkcow "$C" 64 $units 1 0 0
	[ "$1" != none ] && addext "$C" "$1" $((units * 1024))
	truncate -s $((doff + units * 1024)) "$C"
	for ((i = 0; i < n; i++)); do
		u=$(( (i * 8589933 + 12345) % units ))
		wunit "$C" "$doff" $u $((1 + i % 250))
		((i % 10)) && setbit "$C" $u
	done
}
# run label cmd...: time and peak memory
run() {
	local label=$1 out; shift
	/usr/bin/time -o "$T/time" -f '%e %M' "$@" >/dev/null 2>"$T/err"
	out=$(tail -n 1 "$T/time")
	printf '%-36s %6s s %7s MiB\n' "$label" "${out% *}" \
		"$(( ${out#* } / 1024 ))"
	[ -s "$T/err" ] && sed 's/^/    /' "$T/err"
}

echo "cowloop tools on a ${BENCH_TIB:-8} TiB sparse rdofile, $n units modified" \
	"(bitmap $(( $(mapsize_of $units) >> 20 )) MiB, mostly holes):"
mkbench none
run "cowrepair -n (original, full scan)" "$BIN/cowrepair" -n "$C"
run "cowrepair -f -n (original)" "$BIN/cowrepair" -f -n "$C"
run "cowrepair (original, full scan)" "$BIN/cowrepair" "$C"
# repaired: clean, every one of the n units modified
run "cowlist --map" "$BIN/cowlist" --map "$C"
run "cowlist --map -J" "$BIN/cowlist" --map -J "$C"
maplast=$("$BIN/cowlist" --map "$C" | tail -n 1)
run "cowmerge -o (8 TiB sparse image)" "$BIN/cowmerge" -o "$T/merged.img" "$R" "$C"
outsize="$(du -k "$T/merged.img" | cut -f1) KiB allocated of $(stat -c %s "$T/merged.img") bytes"
rm -f "$T/merged.img"
run "cowmerge -y" "$BIN/cowmerge" -y "$R" "$C"
mkbench 1
run "cowrepair -n (ordered, recount)" "$BIN/cowrepair" -n "$C"
run "cowrepair --scan-data -n (ordered)" "$BIN/cowrepair" --scan-data -n "$C"
run "cowlist" "$BIN/cowlist" "$C"
run "cowcreate" "$BIN/cowcreate" "$R" "$T/created.cow"
rm -f "$T/created.cow"
# what the scans found (a check of the figures above)
"$BIN/cowrepair" -n "$C" | tail -n 1
mkbench none; "$BIN/cowrepair" -n "$C" | tail -n 1
echo "cowlist --map: $maplast"
echo "cowmerge -o: $outsize"
