#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# coccicheck.sh: the kernel's coccinelle semantic patches
# (scripts/coccinelle of linux-source-6.12, as "make coccicheck
# MODE=report" runs them) over src/module.  Prints "PASS coccicheck" when
# no script reports anything except what doc/design.md answers
# (tests/debug/cocci-answered: one "file:line: text" pattern a line),
# else the reports and "FAIL coccicheck".
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
if ! command -v spatch >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q \
		install -y --no-install-recommends coccinelle >&2 || {
		echo "FAIL coccicheck (coccinelle not installable)"; exit 1; }
fi
src=$(ls -d build/debug/src-* 2>/dev/null | tail -n 1)
if [ -z "$src" ]; then
	src=build/debug/cocci-src
	if [ ! -d "$src/scripts/coccinelle" ]; then
		mkdir -p "$src"
		tar -C "$src" --strip-components=1 -xf /usr/src/linux-source-6.12*.tar.xz \
			--wildcards '*/scripts/coccinelle/*'
	fi
fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT
n=0
for cocci in $(find "$src/scripts/coccinelle" -name '*.cocci' | sort); do
	opts=$(sed -n 's|^// *Options: *||p' "$cocci")
	# shellcheck disable=SC2086
	spatch -D report --very-quiet --no-show-diff --no-includes \
		--include-headers -I src/include -I src/module $opts \
		--cocci-file "$cocci" --dir src/module 2>/dev/null |
		grep -E '^[^ ]*src/module/' >>"$report" || true
	n=$((n + 1))
done
answered=tests/debug/cocci-answered
if [ -s "$answered" ]; then
	grep -v -E -f <(grep -v '^#' "$answered") "$report" >"$report.new" || true
	mv "$report.new" "$report"
fi
echo "coccicheck: $n semantic patches over src/module"
if [ -s "$report" ]; then
	cat "$report"
	echo "FAIL coccicheck"
	exit 1
fi
echo "PASS coccicheck"
