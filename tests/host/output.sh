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

# ---- file names that are not valid UTF-8, or not printable (item 18) ---
# JSON is always valid UTF-8: a byte that is not is U+FFFD in the value,
# and KEY-escaped carries the name as the table shows it; the table
# writes such bytes, blanks, controls and backslashes as \xNN.
S=$T/sys-utf8; rm -rf "$S"; mkdir -p "$S/module/cowloop" "$S/block/cow2/cowloop"
printf '/srv/a\377b.img\n' > "$S/block/cow2/cowloop/rdofile"
printf '/srv/\303\251t\303\251\001 \\.cow\n' > "$S/block/cow2/cowloop/cowfile"
printf '/srv/ok-\342\202\254.img\n' > "$S/block/cow2/cowloop/rdofile"
mkdir -p "$S/block/cow3/cowloop"
printf '/srv/\300\257x\355\240\200y\302\205z.img\n' > "$S/block/cow3/cowloop/rdofile"
printf '/srv/b\377.cow\n' > "$S/block/cow3/cowloop/cowfile"
# json-ok name file: the file is valid UTF-8 and valid JSON
json_ok() {
	python3 -c 'import json, sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))' "$2" 2>/dev/null
	result "$1" [ $? = 0 ]
}
if command -v python3 >/dev/null; then
	env COWLOOP_SYSFS="$S" "$BIN/cowdev" -l -J > "$T/out.json"
	json_ok utf8-cowdev-json "$T/out.json"
	python3 - "$T/out.json" <<'PY' >/dev/null 2>&1
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))["cowdevices"]
assert d[0]["rdofile"] == "/srv/ok-\u20ac.img" and "rdofile-escaped" not in d[0]
assert d[0]["cowfile"] == "/srv/\u00e9t\u00e9\u0001 \\.cow" and "cowfile-escaped" not in d[0]
assert d[1]["rdofile"] == "/srv/\ufffd\ufffdx\ufffd\ufffd\ufffdy\u0085z.img"
assert d[1]["rdofile-escaped"] == "/srv/\\xc0\\xafx\\xed\\xa0\\x80y\\xc2\\x85z.img"
assert d[1]["cowfile"] == "/srv/b\ufffd.cow"
assert d[1]["cowfile-escaped"] == "/srv/b\\xff.cow"
PY
	result utf8-cowdev-json-values [ $? = 0 ]
	cp "$C" "$T/$(printf 'n\377\001.cow')"
	"$BIN/cowlist" -J "$T/$(printf 'n\377\001.cow')" > "$T/out.json"
	json_ok utf8-cowlist-json "$T/out.json"
	python3 -c '
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert d["filename"].endswith("/n\ufffd\u0001.cow")
assert d["filename-escaped"].endswith("/n\\xff\\x01.cow")' "$T/out.json" 2>/dev/null
	result utf8-cowlist-json-values [ $? = 0 ]
	rm -f "$T/out.json" "$T/$(printf 'n\377\001.cow')"
fi
expect utf8-cowdev-table 0 "/dev/cow/2   /srv/ok-€.img                            /srv/été\x01\x20\x5c.cow        
/dev/cow/3   /srv/\xc0\xafx\xed\xa0\x80y\xc2\x85z.img /srv/b\xff.cow                  " \
	env COWLOOP_SYSFS="$S" "$BIN/cowdev" -l -n
rm -rf "$S"
