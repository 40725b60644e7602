#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make lint: the kernel sources under checkpatch.pl --strict (from
# Debian's linux-source-6.12, unpacked once into build/checkpatch/), as
# maintainers check them.  W=1 and sparse run with every module build of
# the test bed (build-module-clean, tests/guest/lib.sh), on every kernel.
# Prints "PASS checkpatch" or "FAIL checkpatch: ..." with the report.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tar=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n 1)
[ -n "$tar" ] || { echo "FAIL checkpatch: no /usr/src/linux-source-6.12.tar.* (make deps)"; exit 1; }
cp=build/checkpatch/scripts/checkpatch.pl
if [ ! -e "$cp" ] || [ "$tar" -nt "$cp" ]; then
	rm -rf build/checkpatch
	mkdir -p build/checkpatch
	tar -xf "$tar" -C build/checkpatch --strip-components=1 --wildcards \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
fi
files=(src/module/*.[ch] src/module/Kbuild src/common/cowfmt.c src/include/*.h)
out=$(perl "$cp" --no-tree --strict --quiet --show-types -f "${files[@]}" 2>&1) || true
if [ -z "$out" ]; then
	echo "PASS checkpatch (${#files[@]} files)"
else
	printf '%s\n' "$out"
	echo "FAIL checkpatch: $(grep -c -E '^(ERROR|WARNING|CHECK)' <<<"$out") reports"
	exit 1
fi
