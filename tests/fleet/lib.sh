# SPDX-License-Identifier: GPL-2.0
#
# Host-side helpers of make check-fleet and make bench-fleet: the images,
# the guests (one server, three clients) and their private network, the
# agent that runs commands in them.  Sourced, never run.
#
#   build/fleet/base-<system>-<hash>.img   the Debian image (mkimage.sh),
#                                  cached
#   build/fleet/golden-<v>.img     the image the server exports, cached
#   build/fleet/logs/              console logs of the last run
#   $RUN (/dev/shm/cowloop-fleet-PID, else build/fleet/run-PID)
#       root.img                   the base image + cowloop's .debs (apt,
#                                  DKMS) + the test's files, for this run
#       NAME/root.qcow2            each guest's own layer over root.img
#       NAME/data.img              its disk: /srv (server) or /var/lib/cow
#       NAME/agent.{in,out}, NAME/mon.{in,out}   FIFOs: agent and monitor
#
# The network: the server has one virtio NIC per client, bridged (br0,
# 198.18.0.1/24: the range RFC 2544 sets aside for test networks); each
# client's NIC (198.18.0.1N) is joined to its server NIC by a QEMU UDP
# socket netdev on 127.0.0.1 (connectionless: either side can be
# restarted).  Nothing else: the guests have no other network.
# The NICs run without event_idx: with it, QEMU 7.2's virtio-net can wait
# for a kick that the guest never sends once the receive ring was too
# short for a packet (fixed upstream in 2024, "virtio-net: Fix network
# stall at the host side waiting for kick"), and the link stops for good:
# most likely what stopped make bench-fleet's 1 GiB fill at 452 MiB (the
# server's socket to the client full: the client's QEMU read no more).
#
# Each QEMU takes the guest's memory plus TCG's translation cache, cut to
# 256 MiB (tb-size; QEMU 7.2's default, 1 GiB, got a client killed by
# the host's OOM killer with four guests beside other work).
# Knobs: COW_FLEET_SYSTEM (d12: Debian 12 and its 6.1 kernel, the
# default; d13-bpo: Debian 13 and trixie-backports' newest kernel),
# COW_FLEET_MEM (1G per guest), COW_FLEET_KEEP=1 keeps $RUN,
# V=1 shows the commands sent to the guests.

. "$(dirname "${BASH_SOURCE[0]}")/../guest/lib.sh"
FLEET_SRC=$COW_TOP/tests/fleet
FLEET=$COW_TOP/build/fleet
FLEET_MEM=${COW_FLEET_MEM:-1G}
FLEET_SYSTEM=${COW_FLEET_SYSTEM:-d12}
CLIENTS="client1 client2 client3"
GUESTS="server $CLIENTS"
LOGS=$FLEET/logs

fmsg() { printf '%s\n' "fleet: $*" >&2; }

# ---- results -----------------------------------------------------------
RESULTS=$LOGS/results.txt
record() { echo "$*" | tee -a "$RESULTS"; }
pass() { record "PASS $1"; }
fail() { record "FAIL $1${2:+: $2}"; }
# check NAME RC OUTPUT: PASS when RC is 0, else FAIL with the output's
# last lines indented below it.
check() {
	if [ "$2" = 0 ]; then pass "$1"; else
		fail "$1" "exit $2"
		printf '%s\n' "$3" | tail -8 | sed 's/^/    /' | tee -a "$RESULTS"
	fi
}

# ---- images ------------------------------------------------------------

# fleet_base: the cached Debian image of $FLEET_SYSTEM (its hash covers
# the package list and mkimage.sh); built with mmdebstrap when missing
# (about 4 minutes).
fleet_base() {
	local hash base
	hash=$(cat "$FLEET_SRC/packages" "$FLEET_SRC/mkimage.sh" | sha256sum | cut -c1-16)
	base=$FLEET/base-$FLEET_SYSTEM-$hash.img
	if [ ! -e "$base" ]; then
		rm -f "$FLEET"/base-"$FLEET_SYSTEM"-*.img "$FLEET"/base-????????????????.img
		fmsg "building the $FLEET_SYSTEM image (mmdebstrap): ${base#"$COW_TOP"/}"
		"$FLEET_SRC/mkimage.sh" "$base" "$FLEET_SYSTEM" > "$LOGS/mkimage.log" 2>&1 ||
			{ tail -20 "$LOGS/mkimage.log" >&2; return 1; }
	fi
	echo "$base"
}

# fleet_golden MiB: the image the server exports, cached: an ext4 file
# system with seed/ (big01.. of 1 MiB and small/ files of random data)
# and seed.sha256, the rest of it free.
fleet_golden() {
	local mib=$1 out=$FLEET/golden-v1-$1M.img d i
	if [ ! -e "$out" ]; then
		d=$FLEET/golden.d
		rm -rf "$d"
		mkdir -p "$d/seed/small"
		for i in $(seq -w 1 48); do head -c 1M /dev/urandom > "$d/seed/big$i"; done
		for i in $(seq 1 200); do head -c $((i * 97 % 8000 + 1)) /dev/urandom > "$d/seed/small/s$i"; done
		(cd "$d" && find seed -type f | sort | xargs sha256sum > seed.sha256)
		# (mke2fs says "Creating regular file" on stdout, even with -q)
		mkfs.ext4 -q -F -L golden -d "$d" "$out.tmp" "${mib}M" >&2 || return 1
		rm -rf "$d"
		mv "$out.tmp" "$out"
	fi
	echo "$out"
}

# fleet_random MiB: an image of random data, cached (make bench-fleet:
# nothing in it a transport could skip as a hole or compress).
fleet_random() {
	local out=$FLEET/random-$1M.img
	if [ ! -e "$out" ]; then
		head -c "$(( $1 * 1048576 ))" /dev/urandom > "$out.tmp" || return 1
		mv "$out.tmp" "$out"
	fi
	echo "$out"
}

# fleet_root BASE: $RUN/root.img, the base image with cowloop's .debs
# installed by apt in a chroot (DKMS builds the module there for the
# image's kernel, at the host's speed rather than under TCG in each
# guest) and this test bed's files; then its kernel and initrd.
fleet_root() {
	local base=$1 mnt=$RUN/mnt rc=0
	cp --sparse=always "$base" "$RUN/root.img"
	mkdir -p "$mnt"
	mount -o loop "$RUN/root.img" "$mnt" || return 1
	mkdir -p "$mnt/tmp/debs"
	cp "$COW_TOP"/build/deb/cowloop-dkms_*.deb \
		"$COW_TOP"/build/deb/cowloop-utils_*_amd64.deb "$mnt/tmp/debs/"
	mount --bind /proc "$mnt/proc" && mount --bind /dev "$mnt/dev" &&
	mount --bind /sys "$mnt/sys" && mount --bind /dev/pts "$mnt/dev/pts" || rc=1
	if [ $rc = 0 ]; then
		(cd "$mnt" && chroot . env DEBIAN_FRONTEND=noninteractive \
			nice apt-get install -y --no-install-recommends \
			$(cd "$mnt" && ls tmp/debs/*.deb | sed "s,^,/,")) > "$LOGS/apt-debs.log" 2>&1 || rc=1
		chroot "$mnt" dkms status >> "$LOGS/apt-debs.log" 2>&1
	fi
	umount "$mnt/sys" "$mnt/dev/pts" "$mnt/dev" "$mnt/proc" 2>/dev/null
	rm -rf "$mnt/tmp/debs"
	if [ $rc = 0 ]; then
		fleet_files "$mnt"
		ls "$mnt"/lib/modules/*/updates/dkms/cowloop.ko* >/dev/null 2>&1 || rc=2
		cp "$(ls "$mnt"/boot/vmlinuz-* | sort -V | tail -1)" "$RUN/vmlinuz"
		cp "$(ls "$mnt"/boot/initrd.img-* | sort -V | tail -1)" "$RUN/initrd"
		FLEET_KVER=$(basename "$(ls "$mnt"/boot/vmlinuz-* | sort -V | tail -1)")
		FLEET_KVER=${FLEET_KVER#vmlinuz-}
	fi
	umount "$mnt"
	return $rc
}

# The test bed's own files in the image: the agent, the guest library,
# the network (systemd-networkd, by MAC address), the data disks' mounts.
fleet_files() {
	local m=$1 i
	install -m 0755 "$FLEET_SRC/fleet-agent" "$m/usr/local/sbin/fleet-agent"
	install -m 0644 "$FLEET_SRC/fleet-agent.service" "$m/etc/systemd/system/"
	ln -sf /etc/systemd/system/fleet-agent.service \
		"$m/etc/systemd/system/multi-user.target.wants/fleet-agent.service"
	install -d "$m/usr/local/lib/fleet"
	install -m 0644 "$FLEET_SRC/glib.sh" "$m/usr/local/lib/fleet/glib.sh"
	local n=$m/etc/systemd/network
	install -d "$n"
	printf '[Match]\nHost=server\n[NetDev]\nName=br0\nKind=bridge\n' > "$n/10-br0.netdev"
	printf '[Match]\nMACAddress=%s\n[Network]\nBridge=br0\nIgnoreCarrierLoss=yes\n' \
		"52:54:00:c0:00:01 52:54:00:c0:00:02 52:54:00:c0:00:03" > "$n/11-ports.network"
	printf '[Match]\nName=br0\n[Network]\nAddress=198.18.0.1/24\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\nIgnoreCarrierLoss=yes\n' \
		> "$n/12-br0.network"
	for i in 1 2 3; do
		printf '[Match]\nMACAddress=52:54:00:c0:01:0%s\n[Network]\nAddress=198.18.0.1%s/24\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\nIgnoreCarrierLoss=yes\n' \
			"$i" "$i" > "$n/20-client$i.network"
	done
	cat >> "$m/etc/fstab" <<-EOF
	LABEL=fleetsrv /srv ext4 nofail,x-systemd.device-timeout=180s 0 0
	LABEL=fleetcow /var/lib/cow ext4 nofail,x-systemd.device-timeout=180s 0 0
	EOF
	install -d "$m/srv" "$m/var/lib/cow"
	printf '198.18.0.1 server\n198.18.0.11 client1\n198.18.0.12 client2\n198.18.0.13 client3\n' \
		>> "$m/etc/hosts"
}

# fleet_disks: the server's disk (/srv/images/golden.img) and each
# client's (/var/lib/cow, with a copy of the image for make bench-fleet
# when FLEET_LOCAL_COPY=1).
fleet_disks() {
	local golden=$1 g d
	d=$RUN/srvdata.d
	mkdir -p "$d/images"
	cp --sparse=always "$golden" "$d/images/golden.img"
	mkdir -p "$RUN/server"
	mke2fs -q -t ext4 -L fleetsrv -d "$d" "$RUN/server/data.img" 3G >/dev/null || return 1
	rm -rf "$d"
	for g in $CLIENTS; do
		mkdir -p "$RUN/$g"
		d=$RUN/$g.d
		mkdir -p "$d/fleet"
		[ "${FLEET_LOCAL_COPY:-0}" = 1 ] && cp --sparse=always "$golden" "$d/golden.img"
		mke2fs -q -t ext4 -L fleetcow -d "$d" "$RUN/$g/data.img" 4G >/dev/null || return 1
		rm -rf "$d"
	done
}

# ---- guests ------------------------------------------------------------

# UDP ports of client i's link: the server's end, the client's end; the
# run's first port is kept in $RUN/port0 for the guests booted later.
port0() {
	[ -s "$RUN/port0" ] ||
		echo "${COW_FLEET_PORT:-$((20000 + ($$ % 4000) * 8))}" > "$RUN/port0"
	cat "$RUN/port0"
}
port_srv() { echo $(( $(port0) + 2 * $1 )); }
port_cl() { echo $(( $(port0) + 2 * $1 + 1 )); }

fleet_net_args() {
	local g=$1 i
	case $g in
	server)
		for i in 1 2 3; do
			printf '%s\n' -netdev "socket,id=n$i,udp=127.0.0.1:$(port_cl $i),localaddr=127.0.0.1:$(port_srv $i)" \
				-device "virtio-net-pci,netdev=n$i,mac=52:54:00:c0:00:0$i,event_idx=off"
		done ;;
	client*)
		i=${g#client}
		printf '%s\n' -netdev "socket,id=n0,udp=127.0.0.1:$(port_srv "$i"),localaddr=127.0.0.1:$(port_cl "$i")" \
			-device "virtio-net-pci,netdev=n0,mac=52:54:00:c0:01:0$i,event_idx=off" ;;
	esac
}

# fleet_boot NAME: start the guest's QEMU (its layer is created on its
# first boot), its console in logs/NAME-bootN.log.  Does not wait.
fleet_boot() {
	local g=$1 d=$RUN/$1 n f net=()
	mkdir -p "$d"
	[ -e "$d/root.qcow2" ] ||
		qemu-img create -q -f qcow2 -F raw -b "$RUN/root.img" "$d/root.qcow2"
	for f in agent mon; do
		[ -p "$d/$f.in" ] || mkfifo "$d/$f.in" "$d/$f.out"
	done
	# the readers of this boot: they end with QEMU (end of file)
	for f in $(cat "$d/readers" 2>/dev/null); do
		while kill -0 "$f" 2>/dev/null; do sleep 0.2; done
	done
	setsid cat "$d/agent.out" >> "$d/agent.log" &
	f=$!
	setsid cat "$d/mon.out" >> "$d/mon.log" &
	echo "$f $!" > "$d/readers"
	n=$(( $(cat "$d/boots" 2>/dev/null || echo 0) + 1 ))
	echo $n > "$d/boots"
	touch "$d/agent.log"
	stat -c %s "$d/agent.log" > "$d/mark"
	mapfile -t net < <(fleet_net_args "$g")
	# niceness 5 at least (not 5 more than a run already niced)
	nice -n $(( $(nice) < 5 ? 5 - $(nice) : 0 )) qemu-system-x86_64 -nodefaults -display none -no-reboot \
		-accel tcg,tb-size=256 -cpu max -smp 1 -m "$FLEET_MEM" \
		-kernel "$RUN/vmlinuz" -initrd "$RUN/initrd" \
		-append "root=/dev/vda rw console=ttyS0 loglevel=5 panic=-1 systemd.hostname=$g systemd.show_status=0" \
		-serial "file:$LOGS/$g-boot$n.log" \
		-drive "file=$d/root.qcow2,if=virtio,format=qcow2,cache=unsafe" \
		-drive "$(cow_drive "$d/data.img")" \
		-device virtio-serial-pci \
		-chardev "pipe,id=agent,path=$d/agent" \
		-device virtserialport,chardev=agent,name=org.cowloop.fleet \
		-chardev "pipe,id=mon,path=$d/mon" -mon chardev=mon,mode=readline \
		"${net[@]}" > "$d/qemu.log" 2>&1 &
	echo $! > "$d/pid"
}

fleet_pid() { cat "$RUN/$1/pid" 2>/dev/null; }
fleet_alive() { local p; p=$(fleet_pid "$1") && kill -0 "$p" 2>/dev/null; }

# fleet_ready NAME SECONDS: wait for the agent's @@READY of the current
# boot (after the mark fleet_boot left in the agent's log).
fleet_ready() {
	local g=$1 d=$RUN/$1 i
	for i in $(seq "$2"); do
		tail -c +$(( $(cat "$d/mark") + 1 )) "$d/agent.log" | grep -q '^@@READY' && return 0
		fleet_alive "$g" || { fmsg "$g: QEMU exited: $(tail -3 "$d/qemu.log")"; return 1; }
		sleep 1
	done
	return 1
}

# fleet_mon NAME COMMAND: a command to the guest's QEMU monitor.
fleet_mon() { printf '%s\n' "$2" > "$RUN/$1/mon.in"; }

# fleet_kill NAME: power cut (QEMU killed).
fleet_kill() {
	local p
	p=$(fleet_pid "$1") || return 0
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	rm -f "$RUN/$1/pid"
}

# fleet_wait_exit NAME SECONDS: wait for the guest's QEMU to end by
# itself (poweroff); 0 when it did in time.
fleet_wait_exit() {
	local i
	for i in $(seq "$2"); do
		fleet_alive "$1" || return 0
		sleep 1
	done
	return 1
}

# ---- kernel complaints --------------------------------------------------
# The guest suite's list (tests/guest/init: BADLOG), applied to every
# console of the run by fleet_klog.  While the server is away (a fault,
# between fleet_away NAME start and end), a task of NAME may wait past
# the hung task detector's 120 s for the transport's timeout (doc/fleet.md:
# up to 6 minutes over NFS): the detector's reports ("blocked for more
# than", "Call Trace:") are expected in that stretch of NAME's console,
# and nowhere else; any other complaint fails anywhere.
FLEET_BADLOG=$(sed -n "s/^BADLOG='\(.*\)'\$/\1/p" "$COW_TOP/tests/guest/init")
FLEET_AWAY_OK='blocked for more than|Call Trace:'

# fleet_away NAME start|end: the stretch of NAME's current console.
fleet_away() {
	local f from
	if [ "$2" = start ]; then
		f=$LOGS/$1-boot$(cat "$RUN/$1/boots").log
		echo "$f $(stat -c %s "$f" 2>/dev/null || echo 0)" > "$RUN/$1/away"
	elif read -r f from < "$RUN/$1/away" 2>/dev/null; then
		echo "$f $from $(stat -c %s "$f")" >> "$RUN/away"
		rm -f "$RUN/$1/away"
	fi
}

# fleet_klog_file CONSOLE: its complaints, but those expected (above).
fleet_klog_file() {
	LC_ALL=C awk -v f="$1" -v bad="$FLEET_BADLOG" -v ok="$FLEET_AWAY_OK" '
		FILENAME != f { if ($1 == f) { lo[++n] = $2; hi[n] = $3 }; next }
		{ at = off; off += length($0) + 1 }
		$0 ~ bad {
			if ($0 ~ ok)
				for (i = 1; i <= n; i++)
					if (at >= lo[i] && at < hi[i]) next
			print FILENAME ": " $0
		}' "$RUN/away" "$1"
}

# fleet_klog: one check per guest, over all of its consoles.
fleet_klog() {
	local g out
	touch "$RUN/away"
	for g in $GUESTS; do
		out=$(for f in "$LOGS/$g"-boot*.log; do fleet_klog_file "$f"; done)
		if [ -z "$out" ]; then pass "kernel-log ($g)"; else
			fail "kernel-log ($g)" "$(printf '%s\n' "$out" | wc -l) complaint(s)"
			printf '%s\n' "$out" | sed "s,^$LOGS/,," | head -8 | sed 's/^/    /' |
				tee -a "$RESULTS"
		fi
	done
}

FLEET_SEQ=0
# g_send NAME SCRIPT: send a command (glib.sh sourced first); prints its id.
g_send() {
	local id
	FLEET_SEQ=$((FLEET_SEQ + 1))
	id=$BASHPID.$FLEET_SEQ.$RANDOM
	[ -n "${V:-}" ] && fmsg "$1 <- $2"
	# a FIFO without its reader (QEMU gone) would block the open
	fleet_alive "$1" &&
	printf '%s %s\n' "$id" "$(printf '. /usr/local/lib/fleet/glib.sh\n%s\n' "$2" | base64 -w0)" |
		timeout 10 dd of="$RUN/$1/agent.in" status=none
	echo "$id"
}
# g_wait NAME ID SECONDS: print the command's output, return its status
# (124 when it did not end in time, 125 when the guest is gone).
g_wait() {
	local g=$1 id=$2 log=$RUN/$1/agent.log i
	for i in $(seq $(( $3 * 2 ))); do
		if grep -q "^@@END $id " "$log"; then
			awk -v id="$id" '$1 == "@@OUT" && $2 == id {on = 1; next}
				$1 == "@@END" && $2 == id {exit}
				on {print}' "$log"
			return "$(sed -n "s/^@@END $id \([0-9]*\)$/\1/p" "$log" | tail -1)"
		fi
		fleet_alive "$g" || { echo "$g: the guest is gone"; return 125; }
		sleep 0.5
	done
	echo "$g: no answer within $3 s"
	return 124
}
# g_run NAME SECONDS SCRIPT: run and wait.
g_run() {
	local id
	id=$(g_send "$1" "$3")
	g_wait "$1" "$id" "$2"
}

# each NAMES SECONDS TEST SCRIPT: run SCRIPT on every guest of NAMES at
# once (it sees $G, the guest's name).  Each "@STEP NAME STATUS" line of
# its output is a PASS/FAIL line "TEST/NAME (guest)"; a script without
# steps is one line "TEST (guest)", and one that failed outside its
# steps (or did not end) adds a FAIL line "TEST (guest)".  Every output
# is kept in logs/steps.log.  Returns 1 if anything failed.
each() {
	local names=$1 secs=$2 name=$3 script=$4 g r rc=0 out st
	local -A ids
	for g in $names; do ids[$g]=$(g_send "$g" "G=$g; $script"); done
	for g in $names; do
		out=$(g_wait "$g" "${ids[$g]}" "$secs")
		r=$?
		printf '== %s (%s): exit %s\n%s\n' "$name" "$g" "$r" "$out" >> "$LOGS/steps.log"
		st=$(printf '%s\n' "$out" | sed -n 's/^@STEP \([^ ]*\) \([0-9]*\)$/\1 \2/p')
		if [ -z "$st" ]; then
			check "$name ($g)" $r "$out"
		else
			while read -r s sr; do
				check "$name/$s ($g)" "$sr" "$(printf '%s\n' "$out" | sed -n "/^@STEP $s /q;p" | grep -v '^@STEP')"
				[ "$sr" = 0 ] || rc=1
			done <<< "$st"
			if [ $r != 0 ] && ! printf '%s\n' "$st" | grep -qv ' 0$'; then
				check "$name ($g)" $r "$out"
			fi
		fi
		[ $r = 0 ] || rc=1
		printf '%s\n' "$out" | grep -E '^(events|read of|[0-9]+ acknowledged|[0-9]{10} )' |
			sed "s/^/    $g: /" >> "$LOGS/events.log"
	done
	return $rc
}
