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
# what cannot be the file is not even opened (a disk, exclusively)
if command -v strace >/dev/null; then
	strace -f -qq -o "$T/trace" -e trace=open,openat "$BIN/cowrepair" /dev/null >/dev/null 2>&1
	! grep -q '"/dev/null"' "$T/trace"
	result notreg-not-opened [ $? = 0 ]
	rm -f "$T/trace"
fi
rm -f "$F" "$T/sock" "$T/fifotab" "$T/new.cow"; rm -rf "$S"

# ---- an active cowdevice's files, known by device and inode (item 12) --
# The driver shows rdofile_id and cowfile_id ("MAJ:MIN INO MAJ:MIN", st_dev
# st_ino st_rdev): a file renamed since its activation is still its file,
# and another file now at its old path is not.
mkrdo; mkmerge 64
fid() { stat -c '%Hd:%Ld %i %Hr:%Lr' "$1"; }
S=$T/sys-id; rm -rf "$S"; mkdir -p "$S/block/cow5/cowloop"
echo "$T/old-name.img" > "$S/block/cow5/cowloop/rdofile"
echo "$T/old-name.cow" > "$S/block/cow5/cowloop/cowfile"
fid "$R" > "$S/block/cow5/cowloop/rdofile_id"
fid "$C" > "$S/block/cow5/cowloop/cowfile_id"
inuse() { echo "$1: in use by /dev/cow/5 (as its $2): deactivate it first (cowdev -d /dev/cow/5)"; }
expect inuse-id-cowfile 8 "cowrepair: $(inuse "cowfile $C" cowfile)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowrepair" -n "$C"
cp "$C" "$T/old-name.cow"	# another file at the path the driver shows
expect inuse-id-rdofile 1 "cowmerge: $(inuse "rdofile $R" rdofile)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowmerge" -y "$R" "$T/old-name.cow"
expect inuse-id-not-the-path 0 "cowfile $T/old-name.cow is not dirty
cowfile $T/old-name.cow: consistent, no repair needed" \
	env COWLOOP_SYSFS="$S" "$BIN/cowrepair" -n "$T/old-name.cow"
if [ "$(id -u)" = 0 ] && loop=$(losetup -f --show "$R" 2>/dev/null); then
	# a block device: any node of it (st_rdev), not only the one activated
	mknod "$T/loopnode" b $(stat -c '%t %T' "$loop" | while read a b; do echo $((16#$a)) $((16#$b)); done)
	fid "$loop" > "$S/block/cow5/cowloop/rdofile_id"
	expect inuse-id-blockdev-other-node 1 "cowmerge: $(inuse "rdofile $T/loopnode" rdofile)" \
		env COWLOOP_SYSFS="$S" "$BIN/cowmerge" -n "$T/loopnode" "$T/old-name.cow"
	rm -f "$T/loopnode"; losetup -d "$loop"
fi
rm -rf "$S" "$T/old-name.cow"

# ---- cowloop tools lock the files they use, as qemu-img (item 12) ------
# OFD locks: exclusive for a tool that writes, shared for one that reads.
# lockwait file: until a process holds an OFD lock on it (5 s at most)
lockwait() {
	local id i
	id=$(printf '%02x:%02x:%s' $(stat -c '%Hd %Ld %i' "$1"))
	for ((i = 0; i < 50; i++)); do
		grep -q "OFDLCK .* $id " /proc/locks && return 0
		sleep 0.1
	done
	return 1
}
locked() { echo "$1: in use by another cowloop tool (locked)"; }
if command -v strace >/dev/null; then
	# A repair that read the header before a merge must not write it back
	# over MERGED: the merge is refused while the repair runs.
	mkrdo; mkmerge 64; addext "$C" 1 $((units * 1024 + 500))
	wunit "$C" "$doff" 100 7	# data without its bit: --scan-data adds it
	rs=$(sum "$R")
	# cowrepair waits 3 s as it opens sysfs, once it holds its lock
	mkdir -p "$T/sysdelay/block"
	COWLOOP_SYSFS="$T/sysdelay" strace -f -qq -o /dev/null -P "$T/sysdelay/block" \
		-e trace=openat -e inject=openat:delay_enter=3000000 \
		"$BIN/cowrepair" --scan-data "$C" >/dev/null 2>&1 &
	pid=$!
	lockwait "$C"
	expect lock-merge-during-repair 1 "cowmerge: $(locked "cowfile $C")" \
		"$BIN/cowmerge" -y "$R" "$C"
	wait $pid
	[ "$rs" = "$(sum "$R")" ] \
		&& "$BIN/cowlist" "$C" | grep -q "state cowfile: *clean"
	result lock-merge-during-repair-untouched [ $? = 0 ]
fi
if command -v python3 >/dev/null; then
	# hold file r|w: hold an OFD lock on file (read or write) until killed
	hold() {
		python3 -c '
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR if sys.argv[2] == "w" else os.O_RDONLY)
fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x",
	fcntl.F_WRLCK if sys.argv[2] == "w" else fcntl.F_RDLCK, 0, 0, 0, 0))
time.sleep(60)' "$@" &
		holder=$!
		lockwait "$1"
	}
	mkrdo; mkmerge 64; rs=$(sum "$R")
	hold "$C" r		# a reader: other readers go on, writers wait
	expect lock-shared-reader 0 "cowfile $C is not dirty
cowfile $C: consistent, no repair needed" "$BIN/cowrepair" -n "$C"
	expect lock-shared-writer 8 "cowrepair: $(locked "cowfile $C")" "$BIN/cowrepair" -f "$C"
	expect lock-shared-merge 1 "cowmerge: $(locked "cowfile $C")" "$BIN/cowmerge" -y "$R" "$C"
	kill $holder; wait $holder 2>/dev/null
	hold "$C" w		# a writer: nobody else
	expect lock-excl-reader 8 "cowrepair: $(locked "cowfile $C")" "$BIN/cowrepair" -n "$C"
	expect lock-excl-cowdev-a 1 "cowdev: $(locked "cowfile $C")" "$BIN/cowdev" -a "$R" "$C"
	# cowlist still shows the header (a merge's state), its bitmap unchecked
	out=$("$BIN/cowlist" "$C" 2>"$T/err"); rc=$?
	[ $rc = 0 ] && grep -q "state cowfile: *clean" <<<"$out" &&
		[ "$(cat "$T/err")" = "cowlist: $(locked "cowfile $C"): bitmap not checked" ]
	result lock-excl-cowlist [ $? = 0 ]
	rm -f "$T/err"
	kill $holder; wait $holder 2>/dev/null
	hold "$R" r		# the rdofile too
	expect lock-rdofile-merge 1 "cowmerge: $(locked "rdofile $R")" "$BIN/cowmerge" -y "$R" "$C"
	kill $holder; wait $holder 2>/dev/null
	result lock-untouched [ "$(sum "$R")" = "$rs" ]
fi

# ---- cowmerge: a file a loop device uses; -n refuses what the merge
# refuses (item 11) ----------------------------------------------------
mkrdo; mkmerge 64; rs=$(sum "$R")
# same name args...: cowmerge -n fails as cowmerge -y then does, and
# neither changes the rdofile
same() {
	local n=$1 y ny; shift
	ny=$("$BIN/cowmerge" -n "$@" 2>&1); rn=$?
	y=$("$BIN/cowmerge" -y "$@" 2>&1); ry=$?
	if [ $ry = 1 ] && [ $rn = 1 ] && [ "$y" = "$ny" ] && [ -n "$y" ] &&
	   [ "$rs" = "$(sum "$R")" ]; then
		pass "$n"
	else
		fail "$n"
		printf '  -y: exit %s: %s\n  -n: exit %s: %s\n' "$ry" "$y" "$rn" "$ny" >&2
	fi
}
# a loop device over the image, known by its backing file's path (here
# a loop device sysfs shows that does not exist, so only by its path)
S=$T/sys-loop; rm -rf "$S"; mkdir -p "$S/block/loop77/loop"
echo "$R" > "$S/block/loop77/loop/backing_file"
COWLOOP_SYSFS=$S same merge-n-loop-backing-path "$R" "$C"
expect merge-loop-backing-path 1 "cowmerge: rdofile $R: in use by /dev/loop77 (as its backing file): detach it first (losetup -d /dev/loop77)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowmerge" -y "$R" "$C"
# a cowdevice over that loop device: its cowfile is said first (what
# tests/guest/t/tool-merge-reset.sh expects of cowmerge image cowfile)
mkdir -p "$S/block/cow0/cowloop"
echo /dev/loop77 > "$S/block/cow0/cowloop/rdofile"
echo "$C" > "$S/block/cow0/cowloop/cowfile"
expect merge-loop-active-cowfile-first 1 "cowmerge: cowfile $C: in use by /dev/cow/0 (as its cowfile): deactivate it first (cowdev -d /dev/cow/0)" \
	env COWLOOP_SYSFS="$S" "$BIN/cowmerge" -y "$R" "$C"
rm -rf "$S"
if [ "$(id -u)" = 0 ] && loop=$(losetup -f --show "$R" 2>/dev/null); then
	# a real one, whose backing file was renamed since: by device and inode
	mv "$R" "$T/renamed.img"
	expect merge-loop-backing-renamed 1 "cowmerge: rdofile $T/renamed.img: in use by $loop (as its backing file): detach it first (losetup -d $loop)" \
		"$BIN/cowmerge" -y "$T/renamed.img" "$C"
	mv "$T/renamed.img" "$R"
	same merge-n-loop-backing "$R" "$C"
	losetup -d "$loop"
fi
if [ "$(id -u)" = 0 ] && roloop=$(losetup -r -f --show "$R" 2>/dev/null); then
	# the rdofile not writable: a read-only device
	same merge-n-rdofile-readonly "$roloop" "$C"
	losetup -d "$roloop"
fi
# the cowfile not writable (immutable for root, read-only for others)
if [ "$(id -u)" = 0 ] && chattr +i "$C" 2>/dev/null; then
	same merge-n-cowfile-readonly "$R" "$C"
	chattr -i "$C"
elif [ "$(id -u)" != 0 ]; then
	chmod 0444 "$C"
	same merge-n-cowfile-readonly "$R" "$C"
	chmod 0644 "$C"
fi
if command -v python3 >/dev/null; then
	hold "$R" r		# another tool reads the rdofile
	same merge-n-rdofile-locked "$R" "$C"
	kill $holder; wait $holder 2>/dev/null
fi
# a mounted block device: O_EXCL refuses it, with -n too
if [ "$(id -u)" = 0 ] && command -v mkfs.ext2 >/dev/null &&
   loopdev=$(losetup -f --show "$R" 2>/dev/null); then
	mkdir -p "$T/mnt"
	if mkfs.ext2 -q -F "$loopdev" >/dev/null 2>&1 &&
	   mount -o ro "$loopdev" "$T/mnt" 2>/dev/null; then
		rs=$(sum "$R")
		same merge-n-mounted "$loopdev" "$C"
		umount "$T/mnt"
	fi
	losetup -d "$loopdev"
fi
