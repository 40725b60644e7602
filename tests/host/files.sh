# SPDX-License-Identifier: GPL-2.0
# The files a tool is given (issue 23): a FIFO or socket is refused at
# once, never waited on.  Sourced by run.sh after tools.sh (mkrdo,
# mkmerge, $R, $C, $units, $doff and the helpers of lib.sh).

# ---- not a regular file (nor a block device): refused, no hang -------
mkrdo; mkmerge 64
F=$T/fifo; rm -f "$F"; mkfifo "$F"
to() { timeout 10 "$@"; }	# a hang is a failure (exit 124), not a stuck run
notreg="cowfile $F: cowfile is not a regular file"
notrdo="rdofile $F: rdofile is neither a regular file nor a block device"
expect fifo-cowlist 1 "cowlist: $notreg" to "$BIN/cowlist" "$F"
expect fifo-cowlist-json 1 "cowlist: $notreg" to "$BIN/cowlist" -J "$F"
expect fifo-cowrepair 8 "cowrepair: $notreg" to "$BIN/cowrepair" "$F"
expect fifo-cowrepair-n 8 "cowrepair: $notreg" to "$BIN/cowrepair" -n "$F"
expect fifo-cowmerge-cowfile 1 "cowmerge: $notreg" to "$BIN/cowmerge" -y "$R" "$F"
expect fifo-cowmerge-rdofile 1 "cowmerge: $notrdo" to "$BIN/cowmerge" -y "$F" "$C"
expect fifo-cowmerge-n-rdofile 1 "cowmerge: $notrdo" to "$BIN/cowmerge" -n "$F" "$C"
expect fifo-cowdev-a-rdofile 1 "cowdev: $notrdo" to "$BIN/cowdev" -a "$F" "$T/new.cow"
expect fifo-cowdev-a-cowfile 1 "cowdev: $notreg" to "$BIN/cowdev" -a "$R" "$F"
expect fifo-cowdev-a-r-cowfile 1 "cowdev: $notreg" to "$BIN/cowdev" -a -r "$R" "$F"
# cowdev -A reads a cowfile's header (is it dirty?) before activating it
S=$T/fifosys; rm -rf "$S"; mkdir -p "$S/module/cowloop" "$S/block"
echo "$R $F 6" > "$T/fifotab"
expect fifo-cowdev-A 1 "cowdev: $T/fifotab:1: $notreg: /dev/cow/6 not activated" \
	env COWLOOP_SYSFS="$S" COWLOOP_COWTAB="$T/fifotab" timeout 10 "$BIN/cowdev" -A
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/sock" 2>/dev/null &&
	expect socket-cowlist 1 "cowlist: cowfile $T/sock: cowfile is not a regular file" \
		to "$BIN/cowlist" "$T/sock"
rm -f "$F" "$T/sock" "$T/fifotab" "$T/new.cow"; rm -rf "$S"
