#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-kernel.sh [debug|kcsan]: a kernel of "make check-debug" (see
# tests/guest/README).  Builds Debian's linux-source-6.12 with
# x86_64_defconfig + kvm_guest.config + tests/debug/base.config + the
# variant's tests/debug/VARIANT.config (debug: KASAN, lockdep...; kcsan:
# KCSAN), once per configuration: the build lives in build/debug/<hash of
# the resulting .config and the source version>/ and is reused while
# they are unchanged (a comment or a reordering in a fragment does not
# rebuild; a configuration is made in seconds, a build takes an hour on
# 2 cores).  Installs the result as an ordinary kernel
# (/boot/vmlinuz-R, /lib/modules/R with its build link), so that the
# guest test bed finds it by KVERS=cowdebug (cowkcsan); "make check"
# leaves it out.  Prints the release.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
msg() { printf 'debug-kernel: %s\n' "$*" >&2; }
variant=${1:-debug}
cfgs=("$top/tests/debug/base.config" "$top/tests/debug/$variant.config")
[ -e "${cfgs[1]}" ] || { msg "no ${cfgs[1]}"; exit 1; }

PKGS=(linux-source-6.12 build-essential bc bison flex libelf-dev libssl-dev
      kmod cpio xz-utils)
missing=()
for p in "${PKGS[@]}"; do
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	msg "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 -q update >&2
	apt-get -o DPkg::Lock::Timeout=600 -q install -y --no-install-recommends \
		"${missing[@]}" >&2
fi

tarball=$(ls /usr/src/linux-source-6.12*.tar.xz | head -n 1)
version=$(dpkg-query -W -f='${Version}' linux-source-6.12)
base=$top/build/debug
src=$base/src-$version
if [ ! -d "$src" ]; then
	msg "unpacking $tarball"
	rm -rf "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" --strip-components=1 -xf "$tarball"
	mv "$src.tmp" "$src"
fi

# The configuration first, in a scratch directory: it names the build.
cfg=$base/config-$variant
rm -rf "$cfg"
mkdir -p "$cfg"
make -s -C "$src" O="$cfg" x86_64_defconfig >&2
"$src/scripts/kconfig/merge_config.sh" -m -O "$cfg" "$cfg/.config" \
	"$src/kernel/configs/kvm_guest.config" "${cfgs[@]}" >/dev/null
make -s -C "$src" O="$cfg" olddefconfig >&2
# Every option asked for must have survived olddefconfig.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=n)	# off, or not even offered
		grep -q "^${line%=n}=" "$cfg/.config" || continue
		msg "still on: $line"; bad=1; continue ;;
	CONFIG_*) ;;
	*) continue ;;
	esac
	grep -qxF "$line" "$cfg/.config" || { msg "not set: $line"; bad=1; }
done < <(cat "${cfgs[@]}")
[ $bad = 0 ] || { msg "configuration incomplete"; exit 1; }

out=$base/$( { cat "$cfg/.config"; echo "$version"; } | sha256sum | cut -c1-16)
# A build of the same configuration under another name (an older cache
# key) serves as well.
if [ ! -e "$out/release" ]; then
	for d in "$base"/*/; do
		d=${d%/}
		[ -e "$d/release" ] && cmp -s "$d/.config" "$cfg/.config" ||
			continue
		msg "reusing the build of the same configuration in $d"
		out=$d
		break
	done
fi

if [ ! -e "$out/release" ]; then
	start=$SECONDS
	# An interrupted build resumes: the configuration is made once.
	if [ -e "$out/configured" ]; then
		msg "resuming the build in $out"
	else
		rm -rf "$out"
		mkdir -p "$out"
		msg "configuring in $out"
		cp "$cfg/.config" "$out/.config"
		make -s -C "$src" O="$out" olddefconfig >&2
		touch "$out/configured"
	fi
	# one job more than cores: a job waiting for the disk leaves no core idle
	jobs=${COW_BUILD_JOBS:-$(($(nproc) + 1))}
	msg "building with $jobs jobs (2 cores: tens of minutes)"
	make -s -C "$src" O="$out" -j"$jobs" bzImage modules >&2
	make -s -C "$src" O="$out" kernelrelease >"$out/release.tmp"
	mv "$out/release.tmp" "$out/release"
	echo $((SECONDS - start)) >"$out/build-seconds"
	msg "built $(cat "$out/release") in $(( (SECONDS - start) / 60 )) min"
fi

rm -rf "$cfg"
r=$(cat "$out/release")
if [ ! -e "/boot/vmlinuz-$r" ] || ! cmp -s "$out/arch/x86/boot/bzImage" "/boot/vmlinuz-$r" ||
   [ "$(readlink "/lib/modules/$r/build")" != "$out" ]; then
	msg "installing $r"
	rm -rf "/lib/modules/$r"
	make -s -C "$src" O="$out" INSTALL_MOD_STRIP=1 modules_install >&2
	ln -sfn "$out" "/lib/modules/$r/build"
	cp "$out/arch/x86/boot/bzImage" "/boot/vmlinuz-$r"
	cp "$out/.config" "/boot/config-$r"
fi
echo "$r"
