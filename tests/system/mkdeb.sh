#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make deb: cowloop-dkms and cowloop-utils built with
# "dpkg-buildpackage -us -uc -b" from a copy of the tree (the files git
# knows, committed or not) in build/deb/src/, so that nothing is written
# beside the sources; then lintian over the result.  The .debs, .changes
# and lintian.log end up in build/deb/.
set -euo pipefail
. "$(dirname "$0")/../guest/lib.sh"
top=$COW_TOP
cd "$top"
out=$top/build/deb
ver=$(sed -n 's/^#define COWLOOP_VERSION[^"]*"\(.*\)"/\1/p' src/include/cowloop.h)
src=$out/src/cowloop-$ver

cow_need_pkgs dpkg-dev debhelper fakeroot lintian

rm -rf "$out"
mkdir -p "$src"
git ls-files -z -c -o --exclude-standard | grep -zv '^build/' |
	xargs -0 cp --parents -t "$src"
echo "deb: dpkg-buildpackage -us -uc -b in build/deb/src/cowloop-$ver"
(cd "$src" && nice dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
	tail -30 "$out/build.log"
	echo "deb: dpkg-buildpackage failed: see build/deb/build.log" >&2
	exit 1
}
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
changes=$(ls "$out"/*.changes)
echo "deb: lintian $(basename "$changes")"
# Every tag lintian knows, pedantic ones included; the remaining ones are
# explained where they are overridden (debian/*.lintian-overrides).
nice lintian --info --display-info --pedantic "$changes" >"$out/lintian.log" 2>&1 || true
cat "$out/lintian.log"
ls -l "$out"/*.deb | awk '{print "deb: " $NF " (" $5 " bytes)"}'
