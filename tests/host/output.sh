# SPDX-License-Identifier: GPL-2.0
# What the tools print (issue 23): output errors, escaping of file names.
# Sourced by run.sh after tools.sh (mkrdo, mkmerge, $R, $C, helpers).

# ---- a write error on standard output fails the tool (item 14) --------
# full name status cmd...: cmd with standard output on /dev/full
full() {
	local n=$1 rc=$2; shift 2
	expect "$n" "$rc" "${1##*/}: write error on standard output: No space left on device" \
		bash -c '"$@" >/dev/full' - "$@"
}
if [ -w /dev/full ]; then
	mkrdo; mkmerge 64
	S=$T/fullsys; rm -rf "$S"; mkdir -p "$S/module/cowloop" "$S/block/cow1/cowloop"
	echo "$R" > "$S/block/cow1/cowloop/rdofile"
	echo "$C" > "$S/block/cow1/cowloop/cowfile"
	full stdout-full-cowlist 1 "$BIN/cowlist" "$C"
	full stdout-full-cowlist-json 1 "$BIN/cowlist" -J "$C"
	full stdout-full-cowrepair 8 "$BIN/cowrepair" -n "$C"
	full stdout-full-cowmerge-n 1 "$BIN/cowmerge" -n "$R" "$C"
	COWLOOP_SYSFS="$S" full stdout-full-cowdev-l 1 "$BIN/cowdev" -l
	COWLOOP_SYSFS="$S" full stdout-full-cowdev-l-json 1 "$BIN/cowdev" -l -J
	for t in cowlist cowrepair cowmerge cowdev cowsync cowtab-generator; do
		rc=1; [ $t = cowrepair ] && rc=8
		full stdout-full-$t-version $rc "$BIN/$t" --version
		full stdout-full-$t-help $rc "$BIN/$t" --help
	done
	rm -rf "$S"
fi
