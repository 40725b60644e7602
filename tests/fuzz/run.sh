#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh [SECONDS]: libFuzzer over the cowfile header and bitmap
# validation (tests/fuzz/fuzz_header.c over src/common/cowfmt.c and
# src/lib/cowfile.c), with ASan and UBSan, for SECONDS (default 60).
#   make fuzz [FUZZ_SECONDS=600]     long run
#   make check                       20 s, from tests/host/run.sh
# Starts from the seed corpus tests/fuzz/corpus/ (read only) plus what
# earlier runs found (build/fuzz/corpus/).  Installs clang-14 and
# libclang-rt-14-dev when missing (as root).  Prints "PASS fuzz-header" or
# "FAIL fuzz-header"; a crashing input is kept in build/fuzz/artifacts/
# and can be replayed with:  build/fuzz/fuzz-header ARTIFACT
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
secs=${1:-60}
[ -n "$secs" ] || secs=60
out=build/fuzz
name=fuzz-header

fail() {
	echo "FAIL $name${1:+: $1}"
	exit 1
}

# --- toolchain: Debian's clang-14 with its libFuzzer runtime ---------------
pkgs="clang-14 libclang-rt-14-dev"
missing=""
for p in $pkgs; do
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		fail "missing packages:$missing (run as root to install them)"
	fi
	echo "fuzz: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 -q update >&2 &&
	apt-get -o DPkg::Lock::Timeout=600 -q install -y --no-install-recommends \
		$missing >&2 || fail "cannot install$missing"
fi
CLANG=$(command -v clang-14 || command -v clang) || fail "no clang"

# --- build --------------------------------------------------------------
mkdir -p "$out/corpus" "$out/artifacts"
srcs="tests/fuzz/fuzz_header.c src/common/cowfmt.c src/lib/cowfile.c src/lib/io.c"
bin=$out/fuzz-header
if [ ! -x "$bin" ] || [ -n "$(find $srcs src/include src/lib/cowlib.h \
		tests/fuzz/run.sh -newer "$bin" 2>/dev/null | head -1)" ]; then
	# shellcheck disable=SC2086
	"$CLANG" -g -O1 -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all \
		-Isrc/include -Isrc/lib -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
		-Wall -Wextra -Werror=implicit-function-declaration \
		-o "$bin.tmp" $srcs >"$out/build.log" 2>&1 ||
		{ cat "$out/build.log" >&2; fail "build (see $out/build.log)"; }
	mv "$bin.tmp" "$bin"
fi

# --- run ------------------------------------------------------------------
log=$out/fuzz.log
before=$(ls "$out/artifacts" | wc -l)
echo "fuzz: $name for $secs s (log: $log)" >&2
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
"$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 \
	-rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 \
	-artifact_prefix="$out/artifacts/" \
	"$out/corpus" tests/fuzz/corpus >"$log" 2>&1
rc=$?
after=$(ls "$out/artifacts" | wc -l)
stats=$(grep -aE '^stat::number_of_executed_units' "$log" | awk '{print $2}')
if [ $rc -ne 0 ] || [ "$after" -ne "$before" ]; then
	grep -aE 'ERROR|property violated|runtime error|SUMMARY|Test unit written' "$log" | head -20 >&2
	fail "exit $rc (see $log; replay: $bin $out/artifacts/<file>)"
fi
echo "fuzz: ${stats:-?} inputs, corpus $(ls "$out/corpus" | wc -l) + $(ls tests/fuzz/corpus | wc -l) seeds" >&2
echo "PASS $name"
