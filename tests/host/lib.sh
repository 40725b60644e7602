# SPDX-License-Identifier: GPL-2.0
# Helpers for the host tool tests: crafting cowfiles from the spec.

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
# result name cond...: PASS when the command succeeds
result() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }

# put file offset nbytes value: little-endian store
put() {
	local f=$1 off=$2 n=$3 v=$4 i s=""
	for ((i = 0; i < n; i++)); do
		s+=$(printf '\\%03o' $(((v >> (8 * i)) & 255)))
	done
	printf "$s" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# get file offset nbytes: little-endian load, printed in decimal
get() {
	local v=0 b i=0
	for b in $(od -An -tu1 -v -j "$2" -N "$3" "$1"); do
		v=$((v | (b << (8 * i)))); i=$((i + 1))
	done
	echo "$v"
}

# Geometry from the spec's formulas (independent of the code under test).
mapsize_of() { echo $(( ((($1 + 7) / 8 + 1023) / 1024) * 1024 )); }
doffset_of() { echo $(( ((1024 + $(mapsize_of "$1") + 4095) / 4096) * 4096 )); }

# mkcow file layout(64|32) rdoblocks [flags cowused fingerprint]
# Header at the spec's offsets, file 1024 + mapsize bytes, sparse.
mkcow() {
	local f=$1 lay=$2 units=$3 flags=${4:-0} used=${5:-0} fp=${6:-0} w
	local ms; ms=$(mapsize_of "$units")
	rm -f "$f"; truncate -s $((1024 + ms)) "$f"
	w=$((lay == 64 ? 8 : 4))
	put "$f" 0 4 0x574f437f
	put "$f" 4 2 1
	put "$f" 6 2 "$flags"
	put "$f" 8 $w 1024
	put "$f" $((8 + w)) $w "$ms"
	put "$f" $((8 + 2 * w)) $w "$(doffset_of "$units")"
	put "$f" $((8 + 3 * w)) $w "$units"
	put "$f" $((8 + 4 * w)) $w "$fp"
	put "$f" $((8 + 5 * w)) $w "$used"
}

# fill file units used: the bits of units 0..used-1 set and the file
# long enough to hold them (a consistent cowfile, as mkcow's header says)
fill() {
	local f=$1 units=$2 n=$3
	head -c $((n / 8)) /dev/zero | tr '\0' '\377' |
		dd of="$f" bs=1 seek=1024 conv=notrunc status=none
	((n % 8)) && put "$f" $((1024 + n / 8)) 1 $(((1 << (n % 8)) - 1))
	truncate -s $(($(doffset_of "$units") + n * 1024)) "$f"
}

# addext file flags rdosize: the cowloop extension block at offset 512
addext() {
	put "$1" 512 4 0x3158434c
	put "$1" 516 4 128
	put "$1" 520 8 "$2"
	put "$1" 528 8 "$3"
}

# setbit file unit: set the unit's bit in the bitmap
setbit() {
	local off=$((1024 + $2 / 8)) b
	b=$(get "$1" $off 1)
	put "$1" $off 1 $((b | (1 << ($2 % 8))))
}

# wunit file doffset unit byte: fill a data unit with one byte value
wunit() {
	head -c 1024 /dev/zero | tr '\0' "\\$(printf '%03o' "$4")" |
		dd of="$1" bs=1024 seek=$((($2 / 1024) + $3)) conv=notrunc status=none
}

sum() { md5sum < "$1" | cut -d' ' -f1; }

# expect name expected-exit expected-output cmd...: stdout+stderr compared
expect() {
	local n=$1 rc=$2 out=$3 got r; shift 3
	got=$("$@" 2>&1); r=$?
	if [ "$r" = "$rc" ] && [ "$got" = "$out" ]; then
		pass "$n"
	else
		fail "$n"
		printf '  exit %s (want %s)\n  got:  %s\n  want: %s\n' \
			"$r" "$rc" "$got" "$out" >&2
	fi
}
