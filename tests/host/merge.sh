# SPDX-License-Identifier: GPL-2.0
# cowmerge: crash-safe and resumable (issue 12), refusing a truncated
# cowfile, files in use by a cowdevice and mounted block devices.
# Sourced by run.sh after tools.sh (mkrdo: a 1443-unit rdofile with
# fingerprint 0x9a302010 in $R; $C, $E, $units, $doff, helpers).

# mkbits file units step: the bit of every step-th unit, in one write
mkbits() {
	local f=$1 n=$2 step=$3 i j u b s=""
	for ((i = 0; i < (n + 7) / 8; i++)); do
		b=0
		for ((j = 0; j < 8; j++)); do
			u=$((i * 8 + j))
			((u < n && u % step == 0)) && b=$((b | 1 << j))
		done
		s+=$(printf '\\%03o' $b)
	done
	printf "$s" | dd of="$f" bs=1 seek=1024 conv=notrunc status=none
}
# A cowfile of $R with every 3rd unit modified: ~480 separate runs,
# so ~480 writes to the rdofile, each a point to be killed at.
mkmany() {
	mkcow "$C" 64 $units 0 $(((units + 2) / 3)) 0xffffffff9a302010
	addext "$C" 1 $((units * 1024 + 500))
	mkbits "$C" $units 3
	head -c $((units * 1024)) /dev/urandom |
		dd of="$C" bs=1024 seek=$((doff / 1024)) conv=notrunc status=none
}
units=1443; doff=$(doffset_of $units)
mkrdo; mkmany
cp "$R" "$T/r0"; cp "$C" "$T/c0"
cp "$R" "$E"
for ((u = 0; u < units; u += 3)); do
	dd if="$C" of="$E" bs=1024 skip=$((doff / 1024 + u)) seek=$u count=1 \
		conv=notrunc status=none
done

# ---- kill -9 at many points, then rerun: the expected image ----------
# killat syscall n: cowmerge -y $R $C gets SIGKILL at its n-th syscall
killat() {
	( strace -f -qq -o /dev/null -e trace="$1" \
		-e inject="$1:signal=KILL:when=$2" \
		"$BIN/cowmerge" -y "$R" "$C" >/dev/null 2>&1; exit $? ) 2>/dev/null
}
if command -v strace >/dev/null; then
	# one full run: how many writes and fsyncs a merge makes
	strace -f -qq -e trace=pwrite64,fsync -e signal=none -o "$T/trace" \
		"$BIN/cowmerge" -y "$R" "$C" >/dev/null 2>&1
	nw=$(grep -c '^[0-9]* *pwrite64' "$T/trace")
	nf=$(grep -c '^[0-9]* *fsync' "$T/trace")
	[ "$nw" -gt 400 ] && [ "$nf" = 3 ]
	result cowmerge-kill-calls [ $? = 0 ]
	ok=true killed=0 merging=0
	points=""
	for n in 1 2 3 4 5 $(seq 10 47 $((nw - 3))) $((nw - 2)) $((nw - 1)) $nw; do
		points+=" pwrite64:$n"
	done
	for n in 1 2 3; do points+=" fsync:$n"; done
	for p in $points; do
		cp "$T/r0" "$R"; cp "$T/c0" "$C"
		killat "${p%:*}" "${p#*:}"
		[ $? = 137 ] && killed=$((killed + 1))
		"$BIN/cowlist" "$C" 2>/dev/null | grep -q 'state cowfile: *merging' &&
			merging=$((merging + 1))
		out=$("$BIN/cowmerge" -y "$R" "$C" 2>&1); rc=$?
		if [ $rc != 0 ] || ! cmp -s "$R" "$E" ||
		   ! "$BIN/cowlist" "$C" | grep -q 'state cowfile: *merged'; then
			ok=false
			echo "  killed at $p: rerun exit $rc: $out" >&2
		fi
	done
	result cowmerge-kill-rerun-completes $ok
	# most points were mid-merge, and every one was a kill
	[ "$killed" = "$(wc -w <<<"$points")" ] \
		&& [ "$merging" -gt 10 ]
	result cowmerge-kill-points [ $? = 0 ]
	echo "  ($killed kills, $merging of them mid-merge)" >&2

	# interrupted, the cowfile says so, and nothing else may use it
	cp "$T/r0" "$R"; cp "$T/c0" "$C"
	killat pwrite64 100
	expect cowrepair-refuses-merging 8 \
		"cowrepair: cowfile $C: a merge into the rdofile is under way: run the same cowmerge command again to complete it: not repaired" \
		"$BIN/cowrepair" "$C"
	head -c $((units * 1024 + 500)) /dev/urandom > "$T/other.img"
	expect cowmerge-resume-other-rdofile 1 \
		"cowmerge: cowfile $C: a merge into another rdofile is under way (rdofile $T/other.img does not match: its blocks the cowfile does not cover differ)" \
		"$BIN/cowmerge" -y "$T/other.img" "$C"
	# recorded without the rdofile's identity: the merged fingerprint
	cp "$C" "$T/c-noid"; put "$T/c-noid" 544 8 0
	expect cowmerge-resume-other-rdofile-fingerprint 1 \
		"cowmerge: cowfile $T/c-noid: a merge into another rdofile is under way (rdofile $T/other.img does not match: fingerprint mismatch)" \
		"$BIN/cowmerge" -y "$T/other.img" "$T/c-noid"
	rm -f "$T/c-noid"
	expect cowmerge-resume 0 "cowfile $C: completing the interrupted merge into $R
Number of blocks modified in $R: $(((units + 2) / 3))" "$BIN/cowmerge" -y "$R" "$C"
	result cowmerge-resume-image cmp -s "$R" "$E"
fi

# ---- an interrupted or failed merge says how to complete it (issue 23,
# item 20)
if command -v strace >/dev/null; then
	again="run the same command again to complete it"
	cp "$T/r0" "$R"; cp "$T/c0" "$C"
	strace -qq -o /dev/null -e trace=pwrite64 -e inject=pwrite64:signal=INT:when=60 \
		"$BIN/cowmerge" -y "$R" "$C" >/dev/null 2>"$T/err"
	rc=$?
	[ $rc = 1 ] && [ "$(cat "$T/err")" = "cowmerge: cowfile $C: merge into $R interrupted: $again" ] &&
		"$BIN/cowlist" "$C" | grep -q "state cowfile: *merging"
	result msg-merge-interrupted [ $? = 0 ]
	strace -qq -o /dev/null -e trace=pwrite64 -e inject=pwrite64:error=EIO:when=60 \
		"$BIN/cowmerge" -y "$R" "$C" >/dev/null 2>"$T/err"
	rc=$?
	[ $rc = 1 ] && [ "$(cat "$T/err")" = "cowmerge: rdofile $R: cannot write: Input/output error
cowmerge: cowfile $C: merge into $R not completed: $again" ]
	result msg-merge-failed [ $? = 0 ]
	expect msg-merging-refused 8 "cowrepair: cowfile $C: a merge into the rdofile is under way: run the same cowmerge command again to complete it: not repaired" \
		"$BIN/cowrepair" "$C"
	"$BIN/cowmerge" -y "$R" "$C" >/dev/null 2>&1
	result msg-merge-then-completes cmp -s "$R" "$E"
	rm -f "$T/err"
fi

# ---- an interrupted merge resumes only into its own rdofile (issue 23,
# item 10).  The cowfile covers the rdofile's first units, so the merged
# fingerprint comes from the cowfile alone and any rdofile of that size
# had it; the rdofile is known by the units the merge leaves alone.
if command -v strace >/dev/null; then
	mkrdo; cp "$R" "$T/r1"
	mkcow "$C" 64 $units 0 20 0xffffffff9a302010
	mkbits "$C" 20 1
	head -c $((20 * 1024)) /dev/urandom |
		dd of="$C" bs=1024 seek=$((doff / 1024)) conv=notrunc status=none
	cp "$R" "$T/e1"
	dd if="$C" of="$T/e1" bs=1024 skip=$((doff / 1024)) count=20 conv=notrunc status=none
	head -c $((units * 1024 + 500)) /dev/urandom > "$T/other.img"
	os=$(sum "$T/other.img")
	killat pwrite64 2	# the header says MERGING, nothing merged yet
	cp "$C" "$T/c-merging"
	expect cowmerge-resume-same-size-other 1 \
		"cowmerge: cowfile $C: a merge into another rdofile is under way (rdofile $T/other.img does not match: its blocks the cowfile does not cover differ)" \
		"$BIN/cowmerge" -y "$T/other.img" "$C"
	expect cowmerge-resume-same-size-other-n 1 \
		"cowmerge: cowfile $C: a merge into another rdofile is under way (rdofile $T/other.img does not match: its blocks the cowfile does not cover differ)" \
		"$BIN/cowmerge" -n "$T/other.img" "$C"
	result cowmerge-resume-same-size-other-untouched [ "$os" = "$(sum "$T/other.img")" ]
	expect cowmerge-resume-same-size 0 "cowfile $C: completing the interrupted merge into $R
Number of blocks modified in $R: 20" "$BIN/cowmerge" -y "$R" "$C"
	result cowmerge-resume-same-size-image cmp -s "$R" "$T/e1"
	expect cowmerge-merged-same-size-other 1 \
		"cowmerge: cowfile $C: already merged into another rdofile (rdofile $T/other.img does not match: its blocks the cowfile does not cover differ)" \
		"$BIN/cowmerge" -y "$T/other.img" "$C"
	# a merge recorded without that identity (rdoid 0: before it existed)
	# resumes on the merged fingerprint alone
	cp "$T/r1" "$R"; cp "$T/c-merging" "$C"; put "$C" 544 8 0
	expect cowmerge-resume-no-rdoid 0 "cowfile $C: completing the interrupted merge into $R
Number of blocks modified in $R: 20" "$BIN/cowmerge" -y "$R" "$C"
	result cowmerge-resume-no-rdoid-image cmp -s "$R" "$T/e1"
	rm -f "$T/c-merging" "$T/r1" "$T/e1"
fi

# ---- merged: a rerun has nothing to do; others refuse -----------------
cp "$T/r0" "$R"; cp "$T/c0" "$C"
"$BIN/cowmerge" -y "$R" "$C" >/dev/null 2>&1
rs=$(sum "$R")
expect cowmerge-already-merged 0 "cowfile $C: already merged into $R: nothing to do" \
	"$BIN/cowmerge" -y "$R" "$C"
result cowmerge-already-merged-untouched [ "$rs" = "$(sum "$R")" ]
expect cowmerge-merged-other-rdofile 1 \
	"cowmerge: cowfile $C: already merged into another rdofile (rdofile $T/other.img does not match: its blocks the cowfile does not cover differ)" \
	"$BIN/cowmerge" -y "$T/other.img" "$C"
expect cowrepair-refuses-merged 8 \
	"cowrepair: cowfile $C: already merged into its rdofile (no longer usable): not repaired" \
	"$BIN/cowrepair" -n "$C"

# ---- truncated cowfile: damage, never merged as zeroes ---------------
cp "$T/r0" "$R"; cp "$T/c0" "$C"
truncate -s $((doff + 999 * 1024 + 100)) "$C"	# units 999.. lost
expect cowrepair-truncated 4 "cowrepair: cowfile $C: cowfile truncated: it ends before blocks its bitmap lists (148 blocks missing from block 999 on; the file is $((doff + 999 * 1024 + 100)) bytes, needs $((doff + 1000 * 1024)))
cowfile $C: damaged: 148 blocks the bitmap lists are missing; not modified (-n)" \
	"$BIN/cowrepair" -n "$C"
put "$C" 6 2 1
cs=$(sum "$C")
expect cowrepair-truncated-dirty 4 "cowrepair: cowfile $C: cowfile truncated: it ends before blocks its bitmap lists (148 blocks missing from block 999 on; the file is $((doff + 999 * 1024 + 100)) bytes, needs $((doff + 1000 * 1024)))
cowfile $C: damaged: 148 blocks the bitmap lists are missing; not repaired (cowrepair -y drops them)" \
	"$BIN/cowrepair" "$C"
result cowrepair-truncated-untouched [ "$cs" = "$(sum "$C")" ]
put "$C" 6 2 0
refuse truncated "cowmerge: cowfile $C: cowfile truncated: it ends before blocks its bitmap lists (148 blocks missing from block 999 on; the file is $((doff + 999 * 1024 + 100)) bytes, needs $((doff + 1000 * 1024)))" \
	-y "$R" "$C"

# ---- files of an active cowdevice (sysfs as the driver shows it) ------
cp "$T/r0" "$R"; cp "$T/c0" "$C"
S=$T/sys-inuse
mkdir -p "$S/block/cow3/cowloop" "$S/block/sda"
echo "$R" > "$S/block/cow3/cowloop/rdofile"
echo "$C" > "$S/block/cow3/cowloop/cowfile"
ln -sf "$C" "$T/alias.cow"	# another name of the same file
rs=$(sum "$R"); cs=$(sum "$C")
expect cowmerge-refuses-active-cowfile 1 \
	"cowmerge: cowfile $T/alias.cow: in use by /dev/cow/3 (as its cowfile): deactivate it first (cowdev -d /dev/cow/3)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowmerge" -y "$T/other.img" "$T/alias.cow"
expect cowmerge-refuses-active-rdofile 1 \
	"cowmerge: rdofile $R: in use by /dev/cow/3 (as its rdofile): deactivate it first (cowdev -d /dev/cow/3)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowmerge" -y "$R" "$T/c0"
expect cowrepair-refuses-active 8 \
	"cowrepair: cowfile $C: in use by /dev/cow/3 (as its cowfile): deactivate it first (cowdev -d /dev/cow/3)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowrepair" -f "$C"
[ "$rs" = "$(sum "$R")" ] && [ "$cs" = "$(sum "$C")" ]
result cowmerge-active-untouched [ $? = 0 ]
rm -f "$T/alias.cow"

# ---- a mounted block device: O_EXCL refuses it ------------------------
if [ "$(id -u)" = 0 ] && command -v mkfs.ext2 >/dev/null &&
   loopdev=$(losetup -f --show "$R" 2>/dev/null); then
	mkdir -p "$T/mnt"
	if mkfs.ext2 -q -F "$loopdev" >/dev/null 2>&1 &&
	   before=$(md5sum < "$loopdev") &&
	   mount -o ro "$loopdev" "$T/mnt" 2>/dev/null; then
		expect cowmerge-refuses-mounted 1 \
			"cowmerge: rdofile $loopdev: block device in use (mounted, or held open by another program): not opened for writing" \
			"$BIN/cowmerge" -y "$loopdev" "$T/c0"
		umount "$T/mnt"
		result cowmerge-mounted-untouched [ "$before" = "$(md5sum < "$loopdev")" ]
	fi
	losetup -d "$loopdev"
fi
rm -f "$T/r0" "$T/c0" "$T/other.img" "$T/trace"
