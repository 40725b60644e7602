# SPDX-License-Identifier: GPL-2.0
#
# make check-fleet, guest side: sourced by every command the host sends
# through fleet-agent (installed as /usr/local/lib/fleet/glib.sh).  The
# server exports /srv/images/golden.img by NBD, iSCSI or NFS; a client
# connects to it, activates /dev/cow/0 over it with its own cowfile and
# mounts it on $W.  The settings of each engine are the ones doc/fleet.md
# and HOWTO.install recommend.  Functions print what failed and return
# non-zero; the host turns that into FAIL lines.

SERVER=198.18.0.1
NET=198.18.0.0/24
IQN=iqn.2026-12.org.cowloop
TARGET=$IQN:golden
IMAGE=/srv/images/golden.img
W=/mnt/w			# the file system on /dev/cow/0
NFSMNT=/mnt/golden		# the NFS mount holding the rdofile
STATE=/var/lib/cow/fleet	# manifests and logs, on the local disk
H=$(hostname)
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# The recommended settings (doc/fleet.md): a read of a unit the cowfile
# does not hold waits this long for the server, then fails with EIO.
NBD_TIMEOUT=${NBD_TIMEOUT:-120}		# nbd-client -timeout (s)
ISCSI_REPLACEMENT=${ISCSI_REPLACEMENT:-120}	# node.session.timeo.replacement_timeout
NFS_OPTS=${NFS_OPTS:-ro,soft,timeo=150,retrans=3}
NFS_GRACE=${NFS_GRACE:-15}			# nfsd grace-time (s)

say() { printf '%s\n' "$*"; }
bad() { printf '%s: %s\n' "$H" "$*" >&2; return 1; }

# ---- server ------------------------------------------------------------

srv_stop_all() {
	systemctl disable --now nbd-server.service nfs-server.service \
		rtslib-fb-targetctl.service >/dev/null 2>&1
	exportfs -ua 2>/dev/null
	targetcli clearconfig confirm=True >/dev/null 2>&1
	rm -f /etc/rtslib-fb-target/saveconfig.json
	: > /etc/exports
	return 0
}

# srv_export nbd|iscsi|nfs: export the image read-only, persistently (the
# service comes back by itself after the server restarts, once the file
# system of the image is mounted).
srv_export() {
	local u
	srv_stop_all
	chmod 0444 "$IMAGE"
	for u in nbd-server nfs-server rtslib-fb-targetctl; do
		mkdir -p "/etc/systemd/system/$u.service.d"
		printf '[Unit]\nRequiresMountsFor=%s\n' "${IMAGE%/*}" \
			> "/etc/systemd/system/$u.service.d/image.conf"
	done
	systemctl daemon-reload
	case $1 in
	nbd)
		cat > /etc/nbd-server/config <<-EOF
		[generic]
			user = nbd
			group = nbd
		[golden]
			exportname = $IMAGE
			readonly = true
		EOF
		systemctl enable nbd-server.service 2>/dev/null &&
		systemctl restart nbd-server.service || return 1
		;;
	iscsi)
		local c t=/iscsi/$TARGET/tpg1
		modprobe target_core_mod && modprobe iscsi_target_mod || return 1
		targetcli /backstores/fileio create name=golden \
			file_or_dev="$IMAGE" write_back=false || return 1
		targetcli /iscsi create "$TARGET" || return 1
		targetcli "$t/luns" create /backstores/fileio/golden || return 1
		for c in client1 client2 client3; do
			targetcli "$t/acls" create "$IQN:$c" add_mapped_luns=false &&
			targetcli "$t/acls/$IQN:$c" create mapped_lun=0 \
				tpg_lun_or_backstore=lun0 write_protect=1 || return 1
		done
		targetcli saveconfig >/dev/null || return 1
		systemctl enable rtslib-fb-targetctl.service || return 1
		;;
	nfs)
		# Clients reclaim their opens after a restart within the
		# grace period, during which reads wait; a read-only export
		# holds no locks worth 90 s (the default) of waiting.
		sed -i -e '/^ *#* *grace-time *=/d' /etc/nfs.conf
		sed -i -e "/^\[nfsd\]/a grace-time=$NFS_GRACE" /etc/nfs.conf
		echo "/srv/images $NET(ro,no_subtree_check)" > /etc/exports
		systemctl enable nfs-server.service 2>/dev/null &&
		systemctl restart nfs-server.service || return 1
		exportfs -ra || return 1
		;;
	*) bad "unknown transport $1" ;;
	esac
}

srv_checksum() { sha256sum < "$IMAGE" | cut -c1-64; }

# ---- client: the transport ---------------------------------------------

rdo_of() {
	case $1 in
	nbd) echo /dev/nbd0 ;;
	iscsi) echo "/dev/disk/by-path/ip-$SERVER:3260-iscsi-$TARGET-lun-0" ;;
	nfs) echo "$NFSMNT/golden.img" ;;
	esac
}

wait_for() {	# seconds command...: until the command succeeds
	local n=$1 i
	shift
	for i in $(seq $((n * 5))); do
		"$@" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
nbd_up() { [ "$(blockdev --getsize64 /dev/nbd0 2>/dev/null || echo 0)" -gt 0 ]; }

# retry SECONDS command...: until it succeeds (a server just booted may
# not serve yet: "Connection refused"), its last output shown.
retry() {
	local n=$1 t0 out
	shift
	t0=$(date +%s)
	until out=$("$@" 2>&1); do
		[ $(( $(date +%s) - t0 )) -lt "$n" ] || { say "$out"; return 1; }
		sleep 3
	done
	[ -z "$out" ] || say "$out"
}
cl_connect() {
	local rdo
	rdo=$(rdo_of "$1")
	case $1 in
	nbd)
		modprobe nbd || return 1
		retry 180 nbd-client -N golden "$SERVER" /dev/nbd0 -timeout "$NBD_TIMEOUT" ||
			return 1
		wait_for 30 nbd_up || bad "/dev/nbd0 has no size after nbd-client"
		;;
	iscsi)
		# Every client needs its own initiator name: the image the
		# clients share was installed once.
		echo "InitiatorName=$IQN:$H" > /etc/iscsi/initiatorname.iscsi
		sed -i -e "s/^node.session.timeo.replacement_timeout *=.*/node.session.timeo.replacement_timeout = $ISCSI_REPLACEMENT/" \
			/etc/iscsi/iscsid.conf
		systemctl restart iscsid.service || return 1
		retry 180 iscsiadm -m discovery -t sendtargets -p "$SERVER" >/dev/null || return 1
		iscsiadm -m node -T "$TARGET" -p "$SERVER" --login >/dev/null || return 1
		udevadm settle
		wait_for 30 test -b "$rdo" || bad "no iSCSI disk $rdo after login"
		;;
	nfs)
		mkdir -p "$NFSMNT"
		retry 180 mount -t nfs -o "$NFS_OPTS" "$SERVER:/srv/images" "$NFSMNT" || return 1
		;;
	esac
	test -r "$rdo" || bad "rdofile $rdo missing after connecting by $1"
}

cl_disconnect() {
	case $1 in
	nbd) nbd-client -d /dev/nbd0 >/dev/null ;;
	iscsi) iscsiadm -m node -T "$TARGET" -p "$SERVER" --logout >/dev/null &&
		iscsiadm -m node -T "$TARGET" -p "$SERVER" -o delete ;;
	nfs) umount "$NFSMNT" || umount -f "$NFSMNT" ;;
	esac
}

# ---- client: the cowdevice ---------------------------------------------

# cow_up transport cowfile: /dev/cow/0 over the transport's rdofile,
# checked with e2fsck -fn, mounted on $W.
cow_up() {
	local dev
	modprobe cowloop || return 1
	dev=$(cowdev -a "$(rdo_of "$1")" "$2" 0) || return 1
	[ "$dev" = /dev/cow/0 ] || bad "cowdev -a printed '$dev'"
	udevadm settle
	e2fsck -fn /dev/cow/0 >/tmp/e2fsck.log 2>&1 ||
		{ cat /tmp/e2fsck.log; bad "e2fsck -fn /dev/cow/0 found errors"; return 1; }
	mkdir -p "$W"
	mount /dev/cow/0 "$W"
}

# cow_down cowfile: unmount, deactivate, and the cowfile must be clean
# with nothing to repair.
cow_down() {
	umount "$W" || return 1
	cowdev -d 0 || return 1
	cowrepair -n "$1" || bad "cowrepair -n $1 exited with $?"
}

# ---- workloads ---------------------------------------------------------

verify_seed() {	# the image's own files, read through the cowdevice
	(cd "$W" && sha256sum -c --quiet seed.sha256) ||
		bad "the image's files read wrong through /dev/cow/0"
}

# wl_fio MiB: random 4 KiB direct writes with a checksum in every block,
# read back and checked by fio (the same seed later gives --verify_only).
fio_args() {
	echo --name="fleet-$H" --filename="$W/$H/fio.dat" --size="${1}M" \
		--bs=4k --rw=randwrite --ioengine=psync --direct=1 \
		--verify=crc32c --verify_fatal=1 --randseed=4242 --end_fsync=1
}
wl_fio() {
	mkdir -p "$W/$H"
	# shellcheck disable=SC2046
	fio $(fio_args "$1") --do_verify=1 > "$STATE/fio.log" 2>&1 ||
		{ tail -20 "$STATE/fio.log"; bad "fio with verify failed"; }
}
wl_fio_verify() {
	# shellcheck disable=SC2046
	fio $(fio_args "$1") --verify_only > "$STATE/fio-verify.log" 2>&1 ||
		{ tail -20 "$STATE/fio-verify.log"; bad "fio --verify_only failed"; }
}

# wl_fs: a file-system workload beside fio: copy the image's files (read
# from the server), create, rename and delete small files, sync; the
# manifest of what this client wrote goes to the local disk.
wl_fs() {
	local d=$W/$H/fs i
	mkdir -p "$d/small" || return 1
	cp -a "$W/seed" "$d/copy" || bad "copying the image's files failed" || return 1
	for i in $(seq 1 300); do
		head -c $(( (i % 13 + 1) * 1000 )) /dev/urandom > "$d/small/f$i" || return 1
	done
	for i in $(seq 1 3 300); do mv "$d/small/f$i" "$d/small/r$i" || return 1; done
	for i in $(seq 2 5 300); do rm -f "$d/small/f$i"; done
	mkdir -p "$d/tree/a/b/c" && cp "$d/small/r1" "$d/tree/a/b/c/" || return 1
	sync
	(cd "$W" && find "$H/fs" -type f -print0 | sort -z | xargs -0 sha256sum) \
		> "$STATE/manifest" || return 1
}
verify_own() {
	(cd "$W" && sha256sum -c --quiet "$STATE/manifest") ||
		bad "files this client wrote read wrong"
}

# round transport cowfile fio-MiB: the whole correctness round of one
# client: activate, check the image, write (fio + file system at once),
# deactivate, reactivate, check everything again, deactivate.
round() {
	local t=$1 cow=$2 mib=$3 rc=0 p
	mkdir -p "$STATE"
	rm -f "$cow"
	cow_up "$t" "$cow" || return 1
	verify_seed || rc=1
	wl_fio "$mib" & p=$!
	wl_fs || rc=1
	wait $p || rc=1
	verify_own || rc=1
	cow_down "$cow" || return 1
	say "$(cowlist "$cow" | sed -n 's/^ *cowblocks in use: *//p' | awk '{print $1}') units in the cowfile"
	cow_up "$t" "$cow" || return 1
	verify_seed || rc=1
	verify_own || rc=1
	wl_fio_verify "$mib" || rc=1
	cow_down "$cow" || return 1
	return $rc
}

# ---- faults: a loop writing and reading while the server misbehaves ----

# uncache: before a read of the image that must reach the server.  A read
# with O_DIRECT of /dev/cow/0 is one of the rdofile, where a unit is not
# in the cowfile; over NBD and iSCSI cowloop reads that block device
# direct, but an rdofile on NFS is read through the NFS client's page
# cache, which keeps what an earlier read fetched.  Dropping the page
# cache sends no request to the server (a cut link cannot stall it).
uncache() {
	mountpoint -q "$NFSMNT" && echo 1 > /proc/sys/vm/drop_caches
	return 0
}

# loop_start: two loops in the background until /run/fleet-stop exists.
# The writer writes 64 KiB files with fsync, each logged in $STATE/acked
# once fsync returned (acknowledged); the reader reads the image's files
# with O_DIRECT, uncached (units not in the cowfile: from the server).
# Errors, and writes or reads slower than 5 s, go to $STATE/events with
# the time.
loop_write() {
	local i=0 t0 t1
	mkdir -p "$W/$H/loop"
	while [ ! -e /run/fleet-stop ]; do
		i=$((i + 1))
		head -c 65536 /dev/urandom > /run/fleet-buf
		t0=$(date +%s)
		if dd if=/run/fleet-buf of="$W/$H/loop/f$i" bs=64k conv=fsync status=none 2>/dev/null; then
			echo "$(sha256sum < /run/fleet-buf | cut -c1-64)  $H/loop/f$i" >> "$STATE/acked"
			# the list too survives a crash (a power cut of the guest)
			sync "$STATE/acked"
			t1=$(date +%s)
			[ $((t1 - t0)) -lt 5 ] || echo "$t1 slow-write f$i $((t1 - t0)) s" >> "$STATE/events"
		else
			echo "$(date +%s) write-error f$i after $(( $(date +%s) - t0 )) s" >> "$STATE/events"
		fi
		sleep 0.5
	done
}
loop_read() {
	local i=0 s n t0 t1 seeds
	seeds=$(cd "$W/seed" && ls | grep '^big')
	n=$(echo "$seeds" | wc -l)
	while [ ! -e /run/fleet-stop ]; do
		i=$((i + 1))
		s=$(echo "$seeds" | sed -n "$(( i % n + 1 ))p")
		uncache
		t0=$(date +%s)
		if dd if="$W/seed/$s" of=/dev/null bs=64k iflag=direct status=none 2>/dev/null; then
			t1=$(date +%s)
			[ $((t1 - t0)) -lt 5 ] || echo "$t1 slow-read $s $((t1 - t0)) s" >> "$STATE/events"
		else
			t1=$(date +%s)
			echo "$t1 read-error $s after $((t1 - t0)) s" >> "$STATE/events"
		fi
		sleep 0.5
	done
}
loop_start() {
	local f
	rm -f /run/fleet-stop "$STATE/acked" "$STATE/events"
	touch "$STATE/acked" "$STATE/events"
	: > /run/fleet-loop.pid
	for f in loop_write loop_read; do
		setsid bash -c ". /usr/local/lib/fleet/glib.sh; $f" \
			</dev/null >>"$STATE/loop.log" 2>&1 &
		echo $! >> /run/fleet-loop.pid
	done
}
# loop_stop seconds: stop the loops, waiting at most that long for them.
loop_stop() {
	local pid
	touch /run/fleet-stop
	for pid in $(cat /run/fleet-loop.pid); do
		wait_for "$1" sh -c "! kill -0 $pid" ||
			bad "an I/O loop did not stop within $1 s (blocked: $(ps -o stat=,wchan= -p "$pid"))" ||
			return 1
	done
}
# verify_acked: every acknowledged write reads back (from the cowfile).
verify_acked() {
	local n
	n=$(wc -l < "$STATE/acked")
	[ "$n" -gt 0 ] || bad "no write was acknowledged" || return 1
	(cd "$W" && sha256sum -c --quiet "$STATE/acked") ||
		bad "acknowledged writes read back wrong" || return 1
	say "$n acknowledged writes read back"
}
events() { say "events: $(wc -l < "$STATE/events")"; cat "$STATE/events"; }

# Tasks in D state (uninterruptible) other than kernel threads.
dstate() { ps -eo stat=,pid=,comm=,wchan= | awk '$1 ~ /^D/'; }

# reset: take down whatever a failed step left (mounts, cowdevice,
# transports), so that the next step starts clean.
reset() {
	touch /run/fleet-stop
	umount "$W" 2>/dev/null || umount -l "$W" 2>/dev/null
	cowdev -D >/dev/null 2>&1
	nbd-client -d /dev/nbd0 >/dev/null 2>&1
	iscsiadm -m node --logoutall=all >/dev/null 2>&1
	iscsiadm -m node -o delete >/dev/null 2>&1
	umount -f "$NFSMNT" 2>/dev/null || umount -l "$NFSMNT" 2>/dev/null
	return 0
}

# step NAME command...: run it; "@STEP NAME <status>" for the host, which
# makes a PASS/FAIL line of it.
step() {
	local n=$1 rc
	shift
	"$@"
	rc=$?
	echo "@STEP $n $rc"
	return $rc
}

# seed_read SECONDS: read one file of the image (O_DIRECT, uncached, so
# from the rdofile) within that time; prints how long it took and how it
# ended.
seed_read() {
	local t0 rc
	uncache
	t0=$(date +%s)
	timeout -s KILL "$1" dd if="$W/seed/big01" of=/dev/null bs=64k iflag=direct status=none
	rc=$?
	say "read of seed/big01: exit $rc after $(( $(date +%s) - t0 )) s"
	return $rc
}
# seed_read_fails SECONDS: the read must fail (EIO), not hang, within it.
seed_read_fails() {
	local out
	out=$(seed_read "$1" 2>&1)
	say "$out"
	case $out in
	*"exit 0 "*) bad "the read succeeded with the server gone" ;;
	*"exit 137 "*) bad "the read still hung after $1 s (killed)" ;;
	*) return 0 ;;
	esac
}
no_dstate() {
	local d rpc mgr
	sleep 2
	d=$(dstate)
	# After umount -f, the NFS client's state manager thread for the
	# server that is gone ("<address>-manager", in rpc_wait_bit_killable)
	# keeps waiting for it: the NFS client's own, no task of the user's
	# or cowloop's (doc/fleet.md).  It is said, not counted.  Its name
	# as ps shows it is cut to 15 characters: "198.18.0.1-mana".
	mgr=$(printf '%.15s' "$SERVER-manager")
	rpc=$(printf '%s\n' "$d" | awk -v m="$mgr" '$3 == m')
	d=$(printf '%s\n' "$d" | awk -v m="$mgr" 'NF && $3 != m')
	[ -z "$rpc" ] || say "left to the NFS client: $rpc"
	[ -z "$d" ] || { say "$d"; bad "tasks in D state"; }
}

# after_fault transport cowfile resume: the end of a fault with the server
# back: the loop stopped, every acknowledged write there, reads of the
# image working again (resume=yes: by themselves; no: the transport is
# connected again first), the cowfile clean after deactivation, and the
# file system on top checked and mounted again with everything in it.
after_fault() {
	local t=$1 cow=$2 resume=$3
	step was-up mountpoint -q "$W" || return 1
	step loop-stopped loop_stop 600
	events
	step acked-writes-kept verify_acked
	if [ "$resume" = yes ]; then
		step reads-resume seed_read 300
		step cowfile-clean cow_down "$cow" || return 1
	else
		step reads-fail-until-reconnected seed_read_fails 300
		step cowfile-clean cow_down "$cow" || return 1
		step reconnect sh -c ". /usr/local/lib/fleet/glib.sh; cl_disconnect $t; cl_connect $t" || return 1
	fi
	step fs-recovers cow_up "$t" "$cow" || return 1
	step image-reads-after verify_seed
	step acked-writes-after verify_acked
	step deactivate cow_down "$cow"
}

# gone transport cowfile keep: the server is gone for good: reads of
# units not in the cowfile fail with EIO within the transport's timeout,
# the acknowledged writes read back, and (keep=no) the file system, the
# cowdevice and the transport come down in bounded time, leaving a clean
# cowfile and no task in D state.  keep=yes leaves all up for a shutdown.
gone() {
	local t=$1 cow=$2 keep=$3 limit
	case $t in
	nbd) limit=$((NBD_TIMEOUT + 120)) ;;
	iscsi) limit=$((ISCSI_REPLACEMENT + 120)) ;;
	nfs) limit=400 ;;
	esac
	step was-up mountpoint -q "$W" || return 1
	step read-fails-with-eio seed_read_fails "$limit"
	step loop-stopped loop_stop "$limit"
	events
	step acked-writes-kept verify_acked
	[ "$keep" = yes ] && return 0
	step umount timeout -s KILL 120 umount "$W"
	step deactivate timeout -s KILL 120 cowdev -d 0
	step cowfile-clean cowrepair -n "$cow"
	step transport-down timeout -s KILL 300 sh -c ". /usr/local/lib/fleet/glib.sh; cl_disconnect $t"
	step no-task-in-d-state no_dstate
}

# ---- make bench-fleet ----------------------------------------------------

# bench_up rdofile cowfile [cowdev options]: a fresh cowfile, /dev/cow/0.
bench_up() {
	local rdo=$1 cow=$2
	shift 2
	modprobe cowloop || return 1
	rm -f "$cow"
	cowdev -a "$@" "$rdo" "$cow" 0 >/dev/null || return 1
	udevadm settle
}
bench_down() { cowdev -d 0 && rm -f "$1"; }
# bench_read MiB: read the first MiB of /dev/cow/0 (O_DIRECT); prints the
# seconds it took.
bench_read() {
	local t0 t1
	t0=$(date +%s.%N)
	dd if=/dev/cow/0 of=/dev/null bs=1M count="$1" iflag=direct status=none || return 1
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}
# rdo_readahead RDOFILE: the readahead (KiB) of what it is read through,
# its block device or its file system (NFS): it applies to copy-on-read's
# buffered reads, and to every read of an rdofile on NFS.
rdo_readahead() {
	local dev
	if [ -b "$1" ]; then
		dev=$(basename "$(readlink -f "$1")")
		cat "/sys/block/$dev/queue/read_ahead_kb"
	else
		cat "/sys/class/bdi/$(mountpoint -d "$(stat -c %m "$1")")/read_ahead_kb"
	fi
}
# copied_wait UNITS SECONDS: until copy-on-read has copied that many
# units (the third field of cowloop/fill) or the time is up; prints it.
copied_wait() {
	local p t c s i
	for i in $(seq "$2"); do
		read -r p t c s < /sys/block/cow0/cowloop/fill
		[ "$c" -lt "$1" ] || break
		sleep 1
	done
	echo "$c"
}
# tx_bytes: what the server sent on its links to the clients.
tx_bytes() {
	local f n=0
	for f in /sys/class/net/*/statistics/tx_bytes; do
		case $f in */lo/*|*/br0/*) continue ;; esac
		n=$((n + $(cat "$f")))
	done
	echo "$n"
}
# fill_wait: seconds until /sys/block/cow0/cowloop/fill says every unit
# was copied (copy-on-read's --fill).
fill_wait() {
	local t0
	t0=$(date +%s)
	until fill_done; do
		fill_failed && { bad "the fill failed: $(fill_state)"; return 1; }
		sleep 1
	done
	echo $(( $(date +%s) - t0 ))
}

# after_shutdown transport cowfile: client3 was shut down with the server
# gone and its cowdevice up; now the server is back: the cowfile (left
# dirty, as after a crash) is repaired by a recount, activated again,
# and every write acknowledged before the shutdown is there.
cow_state() { cowlist "$1" | sed -n 's/^ *state cowfile: *//p'; }
repair_recount() {
	local rc
	say "cowfile $1: $(cow_state "$1") after the shutdown"
	cowrepair -p "$1"
	rc=$?
	[ $rc -le 1 ] || bad "cowrepair $1 exited with $rc" || return 1
	cowrepair -n "$1" >/dev/null || bad "cowrepair -n $1 after the repair exited with $?"
}
after_shutdown() {
	local t=$1 cow=$2
	step cowfile-repaired repair_recount "$cow" || return 1
	step reconnect cl_connect "$t" || return 1
	step fs-recovers cow_up "$t" "$cow" || return 1
	step image-reads-after verify_seed
	step acked-writes-after-shutdown verify_acked
	step deactivate cow_down "$cow"
}

# ---- copy-on-read (issue 25, item 4): run only when the driver has it ---

# /sys/block/cow0/cowloop/fill: PRESENT TOTAL COPIED STATE (cowloop(4));
# STATE done: every unit is in the cowfile, the rdofile is not read.
fill_state() { cat /sys/block/cow0/cowloop/fill; }
fill_is() { local p t c s; read -r p t c s < /sys/block/cow0/cowloop/fill && [ "$s" = "$1" ]; }
fill_done() { fill_is done; }
fill_failed() { fill_is failed; }
# cor_up transport cowfile [options]: /dev/cow/0 with copy-on-read and a
# background fill, mounted on $W.
cor_up() {
	local t=$1 cow=$2 dev
	shift 2
	modprobe cowloop || return 1
	dev=$(cowdev -a --copy-on-read --fill "$@" "$(rdo_of "$t")" "$cow" 0) || return 1
	[ "$dev" = /dev/cow/0 ] || bad "cowdev -a printed '$dev'"
	udevadm settle
	mkdir -p "$W"
	mount /dev/cow/0 "$W"
}
# cor_filled transport cowfile: fill the whole image, then the host stops
# the server for good.
cor_filled() {
	rm -f "$2"
	step cor-activate cor_up "$1" "$2" || return 1
	step cor-fill-completes fill_wait || return 1
	say "fill: $(fill_state); cowdev -l: $(cowdev -l -n -O NAME,FILL)"
}
# cor_standalone transport cowfile: the filled cowfile activated without
# its rdofile (cowdev --standalone: not opened, not looked up), mounted.
cor_standalone() {
	local dev
	dev=$(cowdev -a --standalone "$(rdo_of "$1")" "$2" 0) || return 1
	[ "$dev" = /dev/cow/0 ] || bad "cowdev -a printed '$dev'"
	udevadm settle
	e2fsck -fn /dev/cow/0 >/tmp/e2fsck.log 2>&1 ||
		{ cat /tmp/e2fsck.log; bad "e2fsck -fn /dev/cow/0 found errors"; return 1; }
	mount /dev/cow/0 "$W"
}
# cor_alone transport cowfile: with the server gone, everything works
# from the cowfile: the image's files (O_DIRECT too), new writes,
# deactivation, reactivation without the rdofile, all of it again.
cor_alone() {
	local t=$1 cow=$2
	step image-reads-from-cowfile verify_seed
	step image-reads-direct seed_read 60
	step writes wl_fs
	step deactivate timeout -s KILL 120 sh -c ". /usr/local/lib/fleet/glib.sh; cow_down $cow" || return 1
	step reactivate-standalone cor_standalone "$t" "$cow" || return 1
	step image-reads-after verify_seed
	step own-data-after verify_own
	step writes-after sh -c "head -c 1M /dev/urandom > $W/$H/after && sync"
	step deactivate-again cow_down "$cow"
}
# cor_crash_start transport cowfile: a slow fill (fill_rate) with writes
# acknowledged meanwhile; the host resets the guest in the middle.
cor_crash_start() {
	rm -f "$2"
	step cor-activate cor_up "$1" "$2" || return 1
	echo 4096 > /sys/block/cow0/cowloop/fill_rate
	loop_start
	sleep 20
	say "fill at the crash: $(fill_state)"
}
# cor_crash_after transport cowfile: after the reset: repaired by a
# recount, activated again, the fill completes, nothing acknowledged lost.
cor_crash_after() {
	local t=$1 cow=$2
	step cowfile-repaired repair_recount "$cow" || return 1
	step reconnect cl_connect "$t" || return 1
	step cor-reactivate cor_up "$t" "$cow" || return 1
	step cor-fill-completes fill_wait
	step image-reads-after verify_seed
	step acked-writes-after-crash verify_acked
	step deactivate cow_down "$cow"
}
