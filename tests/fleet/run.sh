#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-fleet: one golden image on a server, three clients each with
# its own cowfile over it, by NBD, iSCSI and NFS in turn (doc/fleet.md).
#
#   - make deb; the cached Debian 12 image (mkimage.sh) with the .debs
#     installed by apt in a chroot (DKMS builds the module); the cached
#     golden image (ext4, 512 MiB: seed/ files and their checksums);
#   - four guests under QEMU (TCG, one vCPU each): the server and
#     client1..3, on a private network of UDP links over 127.0.0.1;
#   - per transport: the server exports the image read-only; every client
#     connects, then at the same time: activates /dev/cow/0 over it with a
#     cowfile on its local disk, checks the image's files, writes (fio with
#     verify, and a file-system workload), deactivates, reactivates,
#     checks all again; the same with the cowfile on tmpfs;
#   - faults, with the clients writing (fsync'd files: "acknowledged")
#     and reading the image: the server powered off and restarted; the
#     server's links cut for 30 s; the server gone for good (reads fail
#     with EIO in bounded time, deactivation works, and client3 shuts
#     down with everything still up, its cowfile repairable by a recount);
#   - copy-on-read and fill (cowdev --copy-on-read --fill): client1 fills
#     its cowfile, the server goes for good, client1 reads, writes,
#     deactivates and reactivates standalone; client2 is reset in the
#     middle of a fill, its cowfile repaired, the fill completed;
#   - the image's checksum on the server unchanged after every transport,
#     and on the host at the end;
#   - no kernel complaint on any guest's console (make check's list),
#     but hung task reports while the server is away (fleet_klog).
#
# One "PASS name" / "FAIL name" line per check, then "N passed, N failed".
# TRANSPORTS="nbd iscsi nfs" (default) narrows it down; V=1 shows the
# commands; COW_FLEET_KEEP=1 keeps the run's disks.  Logs: build/fleet/logs/.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
set +e
TRANSPORTS=${TRANSPORTS:-nbd iscsi nfs}
FIO_MIB=${COW_FLEET_FIO_MIB:-32}
cd "$COW_TOP" || exit 1

cow_need_pkgs mmdebstrap qemu-system-x86 qemu-utils e2fsprogs
[ "$(id -u)" = 0 ] || die "mmdebstrap, chroot and loop mounts need root"

start=$(date +%s)
rm -rf "$LOGS"
mkdir -p "$LOGS"
: > "$RESULTS"
info() { echo "  $*" | tee -a "$RESULTS"; }

RUN=/dev/shm/cowloop-fleet-$$
[ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt $((12 * 1024 * 1024)) ] ||
	RUN=$FLEET/run-$$
mkdir -p "$RUN"
cleanup() {
	local g
	for g in $GUESTS; do fleet_kill "$g"; done
	if [ -n "${COW_FLEET_KEEP:-}" ]; then fmsg "disks kept in $RUN"
	else rm -rf "$RUN"; fi
}
trap cleanup EXIT

# ---- the images ---------------------------------------------------------
t0=$(date +%s)
if ! make --no-print-directory deb > "$LOGS/deb.log" 2>&1; then
	fail make-deb "see build/fleet/logs/deb.log"
	exit 1
fi
pass make-deb
make -s tools >/dev/null
base=$(fleet_base) || { fail base-image "see build/fleet/logs/mkimage.log"; exit 1; }
golden=$(fleet_golden 512) || { fail golden-image; exit 1; }
sum0=$(sha256sum < "$golden" | cut -c1-64)
fleet_root "$base"
case $? in
0) pass "install-debs-dkms ($FLEET_KVER)" ;;
*) fail install-debs-dkms "see build/fleet/logs/apt-debs.log"; exit 1 ;;
esac
fleet_disks "$golden" || { fail disks; exit 1; }
fmsg "images ready in $(( $(date +%s) - t0 )) s"

# ---- boot ---------------------------------------------------------------
boot_all() {	# names: boot, wait for their agents
	local g t0 ok=0
	t0=$(date +%s)
	for g in "$@"; do
		fleet_boot "$g"
		[ "$g" = server ] && sleep 2
	done
	for g in "$@"; do
		if fleet_ready "$g" 600; then :; else
			fail "boot ($g)" "no agent after 600 s; see build/fleet/logs/$g-boot*.log"
			ok=1
		fi
	done
	fmsg "booted $* in $(( $(date +%s) - t0 )) s"
	return $ok
}
boot_all $GUESTS || exit 1
each "$GUESTS" 120 module 'modprobe cowloop && test -c /dev/cow/ctl &&
	dkms status -m cowloop | grep -q installed'
each "$CLIENTS" 60 network 'ping -c 2 -W 5 server >/dev/null'

srv_sum() {	# the image on the server is the golden image
	local out
	out=$(g_run server 300 'srv_checksum')
	if [ "$out" = "$sum0" ]; then pass "$1 (server)"; else
		fail "$1 (server)" "sha256 $out, want $sum0"; fi
}
srv_sum image-checksum-before

# ---- per transport ------------------------------------------------------
away() {	# away start|end: the server is away (fleet_away, lib.sh)
	local g
	for g in $CLIENTS; do fleet_away "$g" "$1"; done
}

resume_of() {	# does I/O resume by itself after the server restarts?
	case $1 in nbd) echo no ;; *) echo yes ;; esac
}

restart_server() {	# power cut of the server, then boot it again
	local t0
	t0=$(date +%s)
	fleet_kill server
	fleet_boot server
	if fleet_ready server 600; then
		info "$1: server powered off and back (agent up) after $(( $(date +%s) - t0 )) s"
	else
		fail "$1/server-back" "no agent after 600 s"
	fi
}

for T in $TRANSPORTS; do
	fmsg "---- $T ----"
	tt=$(date +%s)
	each server 300 "$T/export" "srv_export $T" || continue
	each "$CLIENTS" 300 "$T/connect" "cl_connect $T" || continue

	# item 2: correctness, cowfile on the local disk, then on tmpfs
	each "$CLIENTS" 1800 "$T/rw-local-disk" "round $T /var/lib/cow/$T-local.cow $FIO_MIB"
	each "$CLIENTS" 1800 "$T/rw-tmpfs" "mkdir -p /run/cowtmp &&
		{ mountpoint -q /run/cowtmp || mount -t tmpfs -o size=600m tmpfs /run/cowtmp; } &&
		round $T /run/cowtmp/$T.cow $FIO_MIB; rc=\$?; rm -f /run/cowtmp/$T.cow; exit \$rc"

	# item 3: faults
	cow=/var/lib/cow/$T-fault.cow
	up="rm -f $cow; cow_up $T $cow && loop_start"

	# the server restarted in the middle of the clients' I/O
	each "$CLIENTS" 300 "$T/restart/start" "$up"
	sleep 20
	away start
	restart_server "$T/restart"
	sleep 30
	each "$CLIENTS" 1800 "$T/restart" "after_fault $T $cow $(resume_of "$T")"
	away end

	# the network cut for 30 s
	each "$CLIENTS" 300 "$T/cut30/start" "$up"
	sleep 15
	away start
	for i in 1 2 3; do fleet_mon server "set_link n$i off"; done
	info "$T/cut30: the server's links down for 30 s"
	sleep 30
	for i in 1 2 3; do fleet_mon server "set_link n$i on"; done
	sleep 30
	each "$CLIENTS" 1800 "$T/cut30" "after_fault $T $cow yes"
	away end
	srv_sum "$T/image-unchanged"

	# copy-on-read and fill (issue 25, item 4): client1 fills its
	# cowfile, then the server goes for good and client1 goes on alone;
	# at the same time client2 is reset in the middle of a slow fill
	corf=/var/lib/cow/$T-cor.cow
	each client1 3600 "$T/cor-fill-then-gone" "cor_filled $T $corf" &
	p=$!
	each client2 300 "$T/cor-crash" "cor_crash_start $T $corf"
	fleet_kill client2
	info "$T/cor-crash: client2 reset in the middle of its fill"
	boot_all client2
	each client2 3600 "$T/cor-crash" "cor_crash_after $T $corf"
	wait $p
	fleet_kill server
	info "$T/cor-fill-then-gone: server powered off for good"
	each client1 1800 "$T/cor-fill-then-gone" "cor_alone $T $corf"
	boot_all server
	# a new connection for every client (NBD's does not come back)
	each "$CLIENTS" 600 "$T/reconnect" "reset; cl_connect $T"

	# the server gone for good: client3 keeps everything up and shuts down
	each "$CLIENTS" 300 "$T/gone/start" "$up"
	sleep 15
	away start
	fleet_kill server
	info "$T/gone: server powered off for good"
	each "client1 client2" 1800 "$T/gone" "gone $T $cow no" &
	p=$!
	each client3 1800 "$T/gone" "gone $T $cow yes"
	t0=$(date +%s)
	g_send client3 'sync; systemctl poweroff --no-block' >/dev/null
	if fleet_wait_exit client3 600; then
		pass "$T/gone/shutdown-completes (client3)"
		info "$T/gone: client3 powered off in $(( $(date +%s) - t0 )) s with its cowdevice up"
	else
		fail "$T/gone/shutdown-completes (client3)" "still running after 600 s; see build/fleet/logs/client3-boot*.log"
		fleet_kill client3
	fi
	wait $p
	away end

	# back for the next transport; client3's cowfile, left active at the
	# shutdown, repaired by a recount, with every acknowledged write
	boot_all server client3
	srv_sum "$T/image-unchanged-after-faults"
	each client3 1200 "$T/gone" "after_shutdown $T $cow"
	each "$CLIENTS" 300 "$T/cleanup" "reset"
	info "$T: $(( $(date +%s) - tt )) s"
done
# ---- the end: the image on the server's disk, seen from the host --------
g_send server 'systemctl poweroff --no-block' >/dev/null
fleet_wait_exit server 300 || fleet_kill server
rm -f "$RUN/golden.img"
debugfs -R "dump /images/golden.img $RUN/golden.img" "$RUN/server/data.img" 2>/dev/null
sum=$(sha256sum < "$RUN/golden.img" | cut -c1-64)
if [ "$sum" = "$sum0" ]; then pass "image-unchanged-at-the-end (host)"; else
	fail "image-unchanged-at-the-end (host)" "sha256 $sum, want $sum0"; fi

fleet_klog

npass=$(grep -c '^PASS ' "$RESULTS")
nfail=$(grep -c '^FAIL ' "$RESULTS")
fmsg "check-fleet: $(( $(date +%s) - start )) s; logs in build/fleet/logs/ (results.txt, steps.log, events.log, consoles)"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
