# SPDX-License-Identifier: GPL-2.0
# cowrepair -n -J and cowmerge -n -J: what they found and would do, in
# JSON, with their exit codes (issue 26, item 6).  Sourced by run.sh
# after files.sh (mkrdo, mkmerge, $R, $C, $units, $doff, helpers).

# jvalid name file: the file is valid UTF-8 and valid JSON
jvalid() {
	python3 -c 'import json, sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))' "$2" 2>/dev/null
	result "$1" [ $? = 0 ]
}

# ---- cowrepair -n -J: keys and fsck's exit codes -------------------------
c=$T/json.cow
# rjson state ordered needed damaged scanned used set toset toclear missing first after
rjson() {
	printf '{\n    "filename": "%s",\n    "state": "%s",\n    "ordered": %s,\n' "$c" "$1" "$2"
	printf '    "repair-needed": %s,\n    "damaged": %s,\n    "data-area-scanned": %s,\n' "$3" "$4" "$5"
	printf '    "cowblocks-in-use": %s,\n    "bits-set": %s,\n    "bits-to-set": %s,\n' "$6" "$7" "$8"
	printf '    "bits-to-clear": %s,\n    "blocks-missing": %s,\n    "first-missing-block": %s,\n' "$9" "${10}" "${11}"
	printf '    "cowblocks-after-repair": %s\n}' "${12}"
}
# 100 units, data in units 3, 7, 64, the bitmap knows unit 3 (mkrep's)
mkj() {	# mkj flags [ext-flags]
	mkcow "$c" 64 100 "$1" 1
	[ -n "${2:-}" ] && addext "$c" "$2" 102400
	setbit "$c" 3
	wunit "$c" 4096 3 65; wunit "$c" 4096 7 66; wunit "$c" 4096 64 67
}
mkj 1			# original, dirty: full scan
cs=$(sum "$c")
expect repair-json-original 4 "$(rjson dirty false true false true 1 1 2 0 0 null 3)" \
	"$BIN/cowrepair" -n -J "$c"
result repair-json-untouched [ "$cs" = "$(sum "$c")" ]
mkj 1 1			# ordered, dirty: recount only
put "$c" 48 8 0
expect repair-json-ordered 4 "$(rjson dirty true true false false 0 1 0 0 0 null 1)" \
	"$BIN/cowrepair" -n -J "$c"
expect repair-json-scan-data 4 "$(rjson dirty true true false true 0 1 2 0 0 null 3)" \
	"$BIN/cowrepair" -n -J --scan-data "$c"
"$BIN/cowrepair" -p "$c" >/dev/null
expect repair-json-consistent 0 "$(rjson clean true false false false 1 1 0 0 0 null 1)" \
	"$BIN/cowrepair" -n -J "$c"
# clean, miscounted, a bit beyond the last unit: needs -f (no stderr)
put "$c" 48 8 5; put "$c" $((1024 + 12)) 1 0x10
expect repair-json-clean-mismatch 4 "$(rjson clean true true false false 5 2 0 1 0 null 1)" \
	"$BIN/cowrepair" -n -J "$c"
# damaged: units listed beyond the end of the file (only -y drops them)
mkj 0; setbit "$c" 50; put "$c" 48 8 2; truncate -s $((4096 + 40 * 1024)) "$c"
expect repair-json-damaged 4 "$(rjson clean false true true false 2 2 0 0 1 50 1)" \
	"$BIN/cowrepair" -n -J "$c"
# operational errors: exit 8, said on stderr, nothing on stdout
put "$c" 6 2 2
out=$("$BIN/cowrepair" -n -J "$c" 2>"$T/err"); rc=$?
[ $rc = 8 ] && [ -z "$out" ] &&
	[ "$(cat "$T/err")" = "cowrepair: cowfile $c: cowfile is packed (cannot be used): not repaired" ]
result repair-json-error-8 [ $? = 0 ]
"$BIN/cowrepair" -J "$c" >/dev/null 2>&1; result repair-json-without-n-exit-16 [ $? = 16 ]
"$BIN/cowrepair" -n -J -v "$c" >/dev/null 2>&1; result repair-json-verbose-exit-16 [ $? = 16 ]
if command -v python3 >/dev/null; then
	mkj 1
	n="$T/$(printf 'r\377\001.cow')"; cp "$c" "$n"
	"$BIN/cowrepair" -n -J "$n" > "$T/out.json"
	jvalid repair-json-utf8 "$T/out.json"
	python3 -c '
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert d["filename"].endswith("/r\ufffd\u0001.cow")
assert d["filename-escaped"].endswith("/r\\xff\\x01.cow")
assert d["repair-needed"] is True and d["bits-to-set"] == 2' "$T/out.json" 2>/dev/null
	result repair-json-utf8-values [ $? = 0 ]
	rm -f "$n" "$T/out.json"
fi
rm -f "$c" "$T/err"

# ---- cowmerge -n -J -------------------------------------------------------
# mjson action output replace blocks runs
mjson() {
	printf '{\n    "rdofile": "%s",\n    "cowfile": "%s",\n    "output": %s,\n' "$R" "$C" "$2"
	printf '    "action": "%s",\n    "replace": %s,\n    "blocks": %s,\n' "$1" "$3" "$4"
	printf '    "bytes": %s,\n    "runs": %s,\n    "image-size": %s\n}' $(($4 * 1024)) "$5" $((units * 1024 + 500))
}
units=1443; doff=$(doffset_of $units)
mkrdo; mkmerge 64
rs=$(sum "$R"); cs=$(sum "$C")
expect merge-json 0 "$(mjson merge null false 6 3)" "$BIN/cowmerge" -n -J "$R" "$C"
rm -f "$T/o.img"
expect merge-json-output 0 "$(mjson new-file "\"$T/o.img\"" false 6 3)" \
	"$BIN/cowmerge" -n -J -o "$T/o.img" "$R" "$C"
echo x > "$T/o.img"
expect merge-json-replace 0 "$(mjson new-file "\"$T/o.img\"" true 6 3)" \
	"$BIN/cowmerge" -n -J -f -o "$T/o.img" "$R" "$C"
rm -f "$T/o.img"
[ "$rs" = "$(sum "$R")" ] && [ "$cs" = "$(sum "$C")" ]
result merge-json-untouched [ $? = 0 ]
if command -v strace >/dev/null; then
	( strace -qq -o /dev/null -e trace=pwrite64 -e inject=pwrite64:signal=KILL:when=3 \
		"$BIN/cowmerge" -y "$R" "$C" >/dev/null 2>&1; exit $? ) 2>/dev/null
	expect merge-json-resume 0 "$(mjson resume null false 6 3)" "$BIN/cowmerge" -n -J "$R" "$C"
fi
"$BIN/cowmerge" -y "$R" "$C" >/dev/null 2>&1
expect merge-json-merged 0 "$(mjson none null false 0 0)" "$BIN/cowmerge" -n -J "$R" "$C"
mkmerge 64 0x12345678
out=$("$BIN/cowmerge" -n -J "$R" "$C" 2>"$T/err"); rc=$?
[ $rc = 1 ] && [ -z "$out" ] &&
	[ "$(cat "$T/err")" = "cowmerge: cowfile $C: written for a different rdofile (fingerprint mismatch; rdofile $R)" ]
result merge-json-refused [ $? = 0 ]
"$BIN/cowmerge" -J "$R" "$C" >/dev/null 2>&1; result merge-json-without-n-exit-2 [ $? = 2 ]
if command -v python3 >/dev/null; then
	mkrdo; mkmerge 64
	n="$T/$(printf 'm\377 \\.cow')"; cp "$C" "$n"
	"$BIN/cowmerge" -n -J -o "$T/$(printf 'o\300.img')" "$R" "$n" > "$T/out.json"
	jvalid merge-json-utf8 "$T/out.json"
	python3 -c '
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert d["cowfile"].endswith("/m\ufffd \\.cow")
assert d["cowfile-escaped"].endswith("/m\\xff\\x20\\x5c.cow")
assert d["output"].endswith("/o\ufffd.img") and "output-escaped" in d
assert "rdofile-escaped" not in d and d["blocks"] == 6' "$T/out.json" 2>/dev/null
	result merge-json-utf8-values [ $? = 0 ]
	rm -f "$n" "$T/out.json"
fi
rm -f "$T/err"
