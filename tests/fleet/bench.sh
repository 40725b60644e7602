#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-fleet: the figures of doc/fleet.md, on the guests of make
# check-fleet (lib.sh), the server exporting a 1 GiB image of random data
# (cached: build/fleet/random-1024M.img; random, so that no transport
# can skip holes or compress).  Per transport (NBD, iSCSI, NFS):
#
#   - the three clients read the same working set (the first
#     COW_FLEET_WS MiB of /dev/cow/0, 128 by default, O_DIRECT) at once,
#     each over a fresh cowfile, twice, their page caches dropped before
#     each pass: the bytes the server sent (the tx_bytes of its NICs,
#     headers included) divided by N x the working set, per pass; without
#     copy-on-read, then with it (cowdev -a --copy-on-read; before the
#     second pass, the copies of the first are waited for);
#   - one client reading the working set alone, over the transport and
#     over a copy of the image on its own virtio disk (same guest, same
#     cowdevice), COW_FLEET_ROUNDS rounds (3) interleaved, its page cache
#     dropped before each: MB/s, medians;
#   - the time a client takes to fill the 1 GiB image (cowdev -a --fill,
#     the device otherwise idle, the page cache dropped first) over each
#     transport;
#   - the readahead of the rdofile's device or file system, which
#     copy-on-read's buffered reads (and every read over NFS) go through.
#
# Results: build/fleet/logs/bench.txt; the total time on the last line.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
set +e
TRANSPORTS=${TRANSPORTS:-nbd iscsi nfs}
WS=${COW_FLEET_WS:-128}
ROUNDS=${COW_FLEET_ROUNDS:-3}
cd "$COW_TOP" || exit 1
cow_need_pkgs mmdebstrap qemu-system-x86 qemu-utils e2fsprogs
[ "$(id -u)" = 0 ] || die "mmdebstrap, chroot and loop mounts need root"

start=$(date +%s)
mkdir -p "$LOGS"
RESULTS=$LOGS/bench-results.txt
: > "$RESULTS"
OUT=$LOGS/bench.txt
: > "$OUT"
say() { echo "$*" | tee -a "$OUT"; }

RUN=/dev/shm/cowloop-fleet-bench-$$
[ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt $((14 * 1024 * 1024)) ] ||
	RUN=$FLEET/run-bench-$$
mkdir -p "$RUN"
cleanup() {
	local g
	for g in $GUESTS; do fleet_kill "$g"; done
	[ -n "${COW_FLEET_KEEP:-}" ] || rm -rf "$RUN"
}
trap cleanup EXIT

make --no-print-directory deb > "$LOGS/deb.log" 2>&1 || die "make deb failed: build/fleet/logs/deb.log"
base=$(fleet_base) || die "no base image: build/fleet/logs/mkimage.log"
golden=$(fleet_random 1024) || die "no image"
fleet_root "$base" || die "the .debs did not install: build/fleet/logs/apt-debs.log"
FLEET_LOCAL_COPY=1 fleet_disks "$golden" >/dev/null || die "disks"
for g in $GUESTS; do fleet_boot "$g"; done
for g in $GUESTS; do fleet_ready "$g" 900 || die "$g did not boot"; done

# run NAME SCRIPT: on one guest; its output, or a failure that stops all
run() {
	local out
	out=$(g_run "$1" 3600 "$2") || die "$1: $2: $out"
	echo "$out"
}
# on_clients SCRIPT: on the three at once; their outputs, one line each
on_clients() {
	local g
	local -A ids
	for g in $CLIENTS; do ids[$g]=$(g_send "$g" "$1"); done
	for g in $CLIENTS; do
		g_wait "$g" "${ids[$g]}" 3600 | tail -1 || die "$g: $1"
	done
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
mbs() { awk -v m="$WS" -v s="$1" 'BEGIN {printf "%.1f", m * 1.048576 / s}'; }

say "bench-fleet: $(date -u +%F), 3 clients, working set $WS MiB, $ROUNDS rounds, kernel $FLEET_KVER, TCG, one vCPU per guest"
N=3
drop='sync; echo 3 > /proc/sys/vm/drop_caches'
for T in $TRANSPORTS; do
	run server "srv_export $T" >/dev/null
	on_clients "cl_connect $T" >/dev/null
	rdo=$(run client1 "rdo_of $T")
	say "$T: readahead of the rdofile's device or file system: $(run client1 "rdo_readahead $rdo") KiB"
	for mode in plain copy-on-read; do
		opt=
		[ "$mode" = copy-on-read ] && opt=--copy-on-read
		on_clients "bench_up $rdo /var/lib/cow/bench.cow $opt" >/dev/null
		for pass in 1 2; do
			if [ "$mode" = copy-on-read ] && [ $pass = 2 ]; then
				say "$T copy-on-read: copied before pass 2: $(on_clients "copied_wait $((WS * 1024)) 600" | paste -sd' ') units"
			fi
			on_clients "$drop" >/dev/null
			tx0=$(run server tx_bytes)
			secs=$(on_clients "bench_read $WS" | sort -n | tail -1)
			tx1=$(run server tx_bytes)
			ratio=$(awk -v b=$((tx1 - tx0)) -v n=$N -v w="$WS" 'BEGIN {printf "%.3f", b / (n * w * 1048576)}')
			say "$T $mode pass $pass: server sent $(( (tx1 - tx0) / 1048576 )) MiB for $N x $WS MiB: ratio $ratio (slowest client $secs s)"
		done
		on_clients "bench_down /var/lib/cow/bench.cow" >/dev/null
	done

	# one client alone: over the transport against its local copy, the
	# page cache dropped before each read (over NFS, cowloop reads the
	# image through it, and it outlives the deactivation)
	local_s=() net_s=()
	for r in $(seq "$ROUNDS"); do
		run client1 "bench_up /var/lib/cow/golden.img /var/lib/cow/b-local.cow" >/dev/null
		local_s+=("$(run client1 "$drop; bench_read $WS")")
		run client1 "bench_down /var/lib/cow/b-local.cow" >/dev/null
		run client1 "bench_up $rdo /var/lib/cow/b-net.cow" >/dev/null
		net_s+=("$(run client1 "$drop; bench_read $WS")")
		run client1 "bench_down /var/lib/cow/b-net.cow" >/dev/null
	done
	ls_=$(printf '%s\n' "${local_s[@]}" | median)
	ns_=$(printf '%s\n' "${net_s[@]}" | median)
	say "$T one client: $(mbs "$ns_") MB/s over $T, $(mbs "$ls_") MB/s from the local copy (medians of $ROUNDS: ${net_s[*]} s against ${local_s[*]} s): $(awk -v a="$ls_" -v b="$ns_" 'BEGIN {printf "%.2f", a / b}') of local"

	run client1 "$drop" >/dev/null
	run client1 "bench_up $rdo /var/lib/cow/b-fill.cow --fill" >/dev/null
	tx0=$(run server tx_bytes)
	fs=$(run client1 fill_wait)
	tx1=$(run server tx_bytes)
	say "$T fill: a client filled the 1 GiB image in $fs s ($(awk -v s="$fs" 'BEGIN {printf "%.1f", 1073.741824 / s}') MB/s; the server sent $(( (tx1 - tx0) / 1048576 )) MiB)"
	run client1 "bench_down /var/lib/cow/b-fill.cow" >/dev/null
	on_clients "cl_disconnect $T" >/dev/null
done
say "bench-fleet: $(( $(date +%s) - start )) s in all"
