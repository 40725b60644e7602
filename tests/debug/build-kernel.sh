#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-kernel.sh [debug|kcsan]: a kernel of "make check-debug" (see
# tests/guest/README).  Builds Debian's linux-source-6.12 with
# x86_64_defconfig + kvm_guest.config + tests/debug/base.config + the
# variant's tests/debug/VARIANT.config (debug: KASAN, lockdep...; kcsan:
# KCSAN), once per configuration: the build lives in build/debug/<hash of
# the inputs>/ and is reused while the two fragments and the source
# package are unchanged.  Installs the result as an ordinary kernel
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
hash=$( { cat "${cfgs[@]}"
	  dpkg-query -W -f='${Version}' linux-source-6.12; } | sha256sum | cut -c1-16)
base=$top/build/debug
out=$base/$hash
src=$base/src-$(dpkg-query -W -f='${Version}' linux-source-6.12)

if [ ! -e "$out/release" ]; then
	start=$SECONDS
	if [ ! -d "$src" ]; then
		msg "unpacking $tarball"
		mkdir -p "$src.tmp"
		tar -C "$src.tmp" --strip-components=1 -xf "$tarball"
		mv "$src.tmp" "$src"
	fi
	# An interrupted build resumes: the configuration is made once.
	if [ -e "$out/configured" ]; then
		msg "resuming the build in $out"
	else
		rm -rf "$out"
		mkdir -p "$out"
		msg "configuring in $out"
		make -s -C "$src" O="$out" x86_64_defconfig >&2
		"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
			"$src/kernel/configs/kvm_guest.config" "${cfgs[@]}" >&2
		make -s -C "$src" O="$out" olddefconfig >&2
		# Every option asked for must have survived olddefconfig.
		bad=0
		while IFS= read -r line; do
			case $line in
			CONFIG_*=n)	# off, or not even offered
				grep -q "^${line%=n}=" "$out/.config" || continue
				msg "still on: $line"; bad=1; continue ;;
			CONFIG_*) ;;
			*) continue ;;
			esac
			grep -qxF "$line" "$out/.config" || { msg "not set: $line"; bad=1; }
		done < <(cat "${cfgs[@]}")
		[ $bad = 0 ] || { msg "configuration incomplete"; exit 1; }
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
