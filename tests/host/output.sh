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
	for t in cowlist cowrepair cowmerge cowdev cowsync cowcreate cowtab-generator; do
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

# ---- messages (item 20) -------------------------------------------------
c=$T/msg.cow
mkcow "$c" 64 1440; put "$c" 4 2 0
expect msg-version-0 1 "cowlist: cowfile $c: unsupported header version 0 (only version 1 is known)" \
	"$BIN/cowlist" "$c"
put "$c" 4 2 2
expect msg-version-2 1 "cowlist: cowfile $c: unsupported header version 2 (newer than this cowloop, which knows version 1)" \
	"$BIN/cowlist" "$c"
# one block, one run: no "1 blocks"
mkrdo; mkcow "$C" 64 $units 0 1 0xffffffff9a302010; setbit "$C" 7; wunit "$C" "$doff" 7 5
expect msg-plural-dry-run 0 "merge into $R: would write 1 block (1024 bytes, 1.0 KiB) in 1 run from $C; nothing written (--dry-run)" \
	"$BIN/cowmerge" -n "$R" "$C"
mkcow "$c" 64 100 0 2; setbit "$c" 3; setbit "$c" 50; wunit "$c" 4096 3 1
expect msg-plural-missing 4 "cowrepair: cowfile $c: cowfile truncated: it ends before blocks its bitmap lists (1 block missing from block 50 on; the file is 8192 bytes, needs 56320)
cowfile $c: damaged: 1 block the bitmap lists is missing; not modified (-n)" \
	"$BIN/cowrepair" -n "$c"
mkcow "$C" 64 1443 0 0 0x12345678
expect msg-parentheses 1 "cowmerge: cowfile $C: written for a different rdofile (fingerprint mismatch; rdofile $R)" \
	"$BIN/cowmerge" -y "$R" "$C"
mkcow "$C" 64 1444 0 0 0xffffffff9a302010
expect msg-plural-size 1 "cowmerge: cowfile $C: written for an rdofile of another size (cowfile: 1444 blocks, rdofile $R: 1443 blocks)" \
	"$BIN/cowmerge" -y "$R" "$C"
# a cowdevice number beyond the limit says the limit
expect msg-devno-limit 2 "cowdev: invalid cowdevice '5000': beyond /dev/cow/1023, the largest there can be (maxcows is 16 by default, at most 1024)
Try 'cowdev --help' for more information." env COWLOOP_SYSFS="$T/none" "$BIN/cowdev" -a "$R" "$C" 5000
S=$T/sys-max; mkdir -p "$S/module/cowloop/parameters"; echo 16 > "$S/module/cowloop/parameters/maxcows"
expect msg-devno-maxcows 2 "cowdev: invalid cowdevice '/dev/cow/1024': beyond /dev/cow/1023, the largest there can be (maxcows is 16: /dev/cow/0 to /dev/cow/15)
Try 'cowdev --help' for more information." env COWLOOP_SYSFS="$S" "$BIN/cowdev" -d /dev/cow/1024
rm -rf "$S"
# every option in the -h synopsis
for t in cowmerge cowrepair cowlist cowdev cowcreate; do
	syn=$("$BIN/$t" --help | sed -n '/^Usage:/,/^[^ U]/p')
	ok=true
	for o in $("$BIN/$t" --help | sed -n 's/^  \(-[a-zA-Z]\), .*/\1/p'); do
		case $o in -h|-V) continue ;; esac
		grep -q -- "${o#-}" <<<"$(grep -o -- '\[-[^]]*\]\|-[a-zA-Z]' <<<"$syn")" || { ok=false; echo "  $t: $o not in: $syn" >&2; }
	done
	result msg-synopsis-$t $ok
done
rm -f "$c"
