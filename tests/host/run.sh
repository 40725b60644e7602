#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host tests: the format library (unit.c) and the tools on cowfiles
# crafted byte by byte from the offsets of the format spec.  Prints one
# "PASS name" or "FAIL name" line per test, exits non-zero on failure.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
make -s tools >/dev/null || { echo "FAIL build-tools"; exit 1; }
BIN=$top/build/bin
mkdir -p build/tests
${CC:-cc} -Isrc/include -Isrc/lib -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
	-O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-o build/tests/unit tests/host/unit.c build/obj/libcow.a ||
	{ echo "FAIL build-unit"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/cowhost.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0

build/tests/unit "$T" || fails=$((fails + 1))

. tests/host/lib.sh
. tests/host/tools.sh
. tests/host/repair-ordered.sh
. tests/host/merge.sh
. tests/host/files.sh
. tests/host/map.sh
. tests/host/merge-output.sh
. tests/host/modmap.sh
. tests/host/create.sh
. tests/host/json.sh
. tests/host/output.sh
. tests/host/repair.sh
. tests/host/completion.sh
. tests/host/cowtab.sh
. tests/host/kernels.sh

# libFuzzer over the header/bitmap validation (tests/fuzz/): a short run.
tests/fuzz/run.sh "${FUZZ_CHECK_SECONDS:-20}" || fails=$((fails + 1))
exit $((fails > 0))
