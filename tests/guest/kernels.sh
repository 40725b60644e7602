# SPDX-License-Identifier: GPL-2.0
#
# Which kernels the test bed boots, and where they come from: sourced by
# lib.sh, never run.  tests/kernels.conf names them; those of this
# Debian 12 machine ("host") are installed by deps.sh, the others live in
# build roots (tests/guest/roots.conf) made here with mmdebstrap:
#
#   build/roots/NAME/            a Debian system (chroot) with the kbuild,
#                                the headers and the images of its kernels
#   build/roots/NAME/.cowroot    the roots.conf line it was made from
#   build/roots/resolved         "NAME RELEASE" of every kernels.conf line
#                                cow_kernels_prepare could install
#
# A module for a kernel of a build root is built inside it (cow_root_run:
# chroot, with this tree bind-mounted at its own path), and the guest
# boots that root's /boot/vmlinuz and modules.

COW_KCONF=${COW_KCONF:-$COW_TOP/tests/kernels.conf}
COW_ROOTS=${COW_ROOTS:-$COW_TOP/build/roots}
COW_ROOTS_CONF=${COW_ROOTS_CONF:-$COW_GUEST_SRC/roots.conf}
COW_MIRROR=${COW_MIRROR:-http://deb.debian.org}

# cow_kconf [SET]: the kernels.conf lines "NAME SET ROOT SUITE PACKAGE"
# of SET: check (make check), or all (make check-kernels).
cow_kconf() {
	awk -v want="${1:-all}" '/^[ \t]*(#|$)/ { next }
		NF == 5 && (want == "all" || $2 == want)' "$COW_KCONF"
}

# cow_kline NAME: the kernels.conf line of NAME.
cow_kline() { cow_kconf all | awk -v n="$1" '$1 == n'; }

# cow_kflavour RELEASE: "cloud-amd64" of 7.3.4+deb13-cloud-amd64 or of
# 6.1.0-57-cloud-amd64.
cow_kflavour() { sed -E 's/^[0-9.]+(\+deb[0-9]+|-[0-9]+)-//' <<<"$1"; }

# cow_kroot RELEASE: the build root whose /boot has RELEASE, "" for this
# machine's (or a crafted COW_SYSROOT's).
cow_kroot() {
	local d
	[ -e "${COW_SYSROOT:-}/boot/vmlinuz-$1" ] && return 0
	for d in "$COW_ROOTS"/*/; do
		[ -e "$d/boot/vmlinuz-$1" ] && { echo "${d%/}"; return 0; }
	done
	echo "${COW_SYSROOT:-}"
}

# cow_kfile RELEASE PATH: PATH (/boot/..., /lib/modules/...) of RELEASE's
# system.
cow_kfile() { echo "$(cow_kroot "$1")$2"; }

# cow_kheaders ROOT RELEASE: are RELEASE's image and headers in ROOT?
# (The build link is absolute: it is followed inside ROOT.)
cow_kheaders() {
	local b link
	[ -e "$1/boot/vmlinuz-$2" ] || return 1
	b=$1/lib/modules/$2/build
	[ -e "$b/Makefile" ] && return 0
	link=$(readlink "$b" 2>/dev/null) || return 1
	[ -e "$1$link/Makefile" ]
}

# cow_kresolved NAME: the release a kernels.conf line stands for here:
# for a host line, the kernel its package is or depends on; for a build
# root's, what cow_kernels_prepare installed for it.
cow_kresolved() {
	local line root pkg
	line=$(cow_kline "$1")
	read -r _ _ root _ pkg <<<"$line"
	if [ "$root" = host ]; then
		case $pkg in
		linux-image-[0-9]*.[0-9]*.[0-9]*) echo "${pkg#linux-image-}" ;;
		*) dpkg-query -W -f='${Depends}' "$pkg" 2>/dev/null |
			tr ',' '\n' | sed -n -E 's/^ *linux-image-([0-9][^ ]*).*/\1/p' |
			head -n 1 ;;
		esac
	else
		awk -v n="$1" '$1 == n { print $2 }' "$COW_ROOTS/resolved" 2>/dev/null
	fi
}

# cow_kset_releases SET: the releases of SET's lines that are installed,
# each once, in kernels.conf order.  Those of set "kernels" leave out the
# kernels of set "check" (bpo-newest while it is the pinned bpo).
cow_kset_releases() {
	local name root r
	declare -A seen=()
	if [ "$1" = kernels ]; then
		for r in $(cow_kset_releases check); do seen[$r]=1; done
	fi
	while read -r name _ root _ _; do
		r=$(cow_kresolved "$name")
		[ -n "$r" ] && [ -z "${seen[$r]:-}" ] || continue
		seen[$r]=1
		if [ "$root" = host ]; then
			cow_kheaders "${COW_SYSROOT:-}" "$r" || continue
		else
			cow_kheaders "$COW_ROOTS/$root" "$r" || continue
		fi
		echo "$r"
	done < <(cow_kconf "$1")
}

# ---- build roots ----------------------------------------------------------

# cow_root_line NAME: its roots.conf line.
cow_root_line() {
	awk -v n="$1" '!/^[ \t]*#/ && $1 == n' "$COW_ROOTS_CONF"
}

# cow_root_run NAME CMD...: run CMD inside build root NAME as root, with
# this tree at its own path and /proc mounted (objtool needs it), in a
# mount namespace of its own: nothing stays mounted afterwards.
cow_root_run() {
	local dir=$COW_ROOTS/$1
	shift
	mkdir -p "$dir$COW_TOP"
	unshare -m --propagation private sh -c '
		mount --bind "$1" "$2$1" && mount -t proc proc "$2/proc" &&
		shift 2 && exec chroot "$0" env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' \
		"$dir" "$COW_TOP" "$dir" "$@"
}

# cow_root_apt NAME ARGS...: apt-get in build root NAME.
cow_root_apt() {
	local n=$1
	shift
	cow_root_run "$n" apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 \
		-q "$@"
}

# cow_root_make NAME: build root NAME, made again when its roots.conf line
# changed.  Needs root and mmdebstrap (deps.sh).
cow_root_make() {
	local n=$1 line dir=$COW_ROOTS/$1 s suites pkgs release sources=()
	line=$(cow_root_line "$n")
	[ -n "$line" ] || { msg "no build root '$n' in $COW_ROOTS_CONF"; return 1; }
	[ "$(cat "$dir/.cowroot" 2>/dev/null)" = "$line" ] && return 0
	[ "$(id -u)" = 0 ] || { msg "build root $n: run as root (mmdebstrap, chroot)"; return 1; }
	suites=${line#"$n"}
	pkgs=${suites#*:}
	suites=${suites%%:*}
	release=$(awk '{ print $1 }' <<<"$suites")
	for s in $suites; do
		case $s in
		*-security) sources+=("deb $COW_MIRROR/debian-security $s main") ;;
		*) sources+=("deb $COW_MIRROR/debian $s main") ;;
		esac
	done
	msg "making the build root $n (mmdebstrap $release): build/roots/$n"
	rm -rf "$dir"
	mkdir -p "$COW_ROOTS"
	# The registry serves snapshots: their Release files may have expired.
	mmdebstrap --quiet --variant=apt --mode=root \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--include="$(tr -s ' ' '\n' <<<"$pkgs" | grep -v -e @ -e '^$' | paste -sd,)" \
		"$release" "$dir" "${sources[@]}" >&2 || return 1
	cow_root_local "$n" $pkgs || return 1
	echo "$line" >"$dir/.cowroot"
	sed -i "/^[^ ]* [^ ]* $n\$/d" "$COW_ROOTS/resolved" 2>/dev/null || true
}

# cow_root_local NAME PKG...: for each PKG@SUITE, the binaries (/usr/bin)
# of SUITE's PKG into /usr/local/bin of build root NAME.  SUITE joins its
# sources, pinned so that nothing is ever installed from it.
cow_root_local() {
	local n=$1 p suite dir=$COW_ROOTS/$1 tmp=$COW_ROOTS/$1/tmp/cowlocal
	shift
	for p in "$@"; do
		case $p in *@*) ;; *) continue ;; esac
		suite=${p#*@}
		echo "deb $COW_MIRROR/debian $suite main" \
			>"$dir/etc/apt/sources.list.d/cowloop-$suite.list"
		printf 'Package: *\nPin: release n=%s\nPin-Priority: -1\n' "$suite" \
			>"$dir/etc/apt/preferences.d/cowloop-$suite"
		cow_root_apt "$n" update >&2 || return 1
		rm -rf "$tmp"
		mkdir -p "$tmp/x"
		chmod 755 "$tmp"
		cow_root_run "$n" sh -c 'cd /tmp/cowlocal && apt-get -q -o APT::Sandbox::User=root download "$1"' \
			sh "${p%@*}/$suite" >&2 || return 1
		dpkg-deb -x "$tmp"/*.deb "$tmp/x" || return 1
		cp -a "$tmp/x/usr/bin/." "$dir/usr/local/bin/"
		rm -rf "$tmp"
	done
}

# cow_root_update NAME: fresh package lists in build root NAME, once a run.
cow_root_update() {
	local stamp=$COW_ROOTS/$1/.cowroot-updated
	[ -n "${COW_ROOT_UPDATED[$1]:-}" ] && return 0
	cow_root_apt "$1" update >&2 || return 1
	COW_ROOT_UPDATED[$1]=1
	touch "$stamp"
}
declare -gA COW_ROOT_UPDATED=()

# cow_root_served NAME PKG [SUITE]: the version of PKG the registry serves
# (from SUITE), "" when it does not.
cow_root_served() {
	cow_root_run "$1" apt-cache show "$2${3:+/$3}" 2>/dev/null |
		sed -n 's/^Version: //p' | head -n 1
}

# cow_root_meta NAME PKG SUITE: the release meta package PKG points to in
# SUITE.
cow_root_meta() {
	cow_root_run "$1" apt-cache show "$2/$3" 2>/dev/null |
		sed -n 's/^Depends: //p' | head -n 1 | tr ',' '\n' |
		sed -n -E 's/^ *linux-image-([0-9][^ ]*).*/\1/p' | head -n 1
}

# cow_root_install NAME RELEASE: RELEASE's headers (installed by apt, with
# the kbuild and compiler they need) and its image: the linux-image
# package and its own parts (linux-binary-, -modules-, -base-RELEASE),
# unpacked, not installed, so that no initramfs tool runs.
cow_root_install() {
	local n=$1 r=$2 dir=$COW_ROOTS/$1 tmp p pkgs
	cow_kheaders "$dir" "$r" && return 0
	msg "build root $n: installing kernel $r (headers and image)"
	cow_root_apt "$n" install -y --no-install-recommends \
		"linux-headers-$r" >&2 || return 1
	pkgs=$(cow_root_run "$n" apt-cache depends --recurse --no-recommends \
		--no-suggests --no-conflicts --no-breaks --no-replaces \
		--no-enhances "linux-image-$r" |
		grep -E "^(linux-[a-z]+-$(sed 's/[.+]/\\&/g' <<<"$r"))\$" | sort -u)
	tmp=$dir/tmp/cowkernel
	rm -rf "$tmp"
	mkdir -p "$tmp/x"
	chmod 755 "$tmp"	# apt's download runs as _apt
	# shellcheck disable=SC2086 # one word per package
	cow_root_run "$n" sh -c 'cd /tmp/cowkernel && apt-get -q -o APT::Sandbox::User=root download "$@"' \
		sh $pkgs >&2 || return 1
	for p in "$tmp"/*.deb; do
		dpkg-deb -x "$p" "$tmp/x" || return 1
	done
	# Into the merged /usr of the root: lib/ of the packages is usr/lib/.
	[ -d "$tmp/x/lib" ] && { mkdir -p "$tmp/x/usr/lib"; cp -a "$tmp/x/lib/." "$tmp/x/usr/lib/"; rm -rf "$tmp/x/lib"; }
	[ -d "$tmp/x/boot" ] && cp -a "$tmp/x/boot/." "$dir/boot/"
	cp -a "$tmp/x/usr/." "$dir/usr/"
	rm -rf "$tmp"
	# 7.x packages keep the image and its config in /usr/lib/modules/R/,
	# and their postinst puts them in /boot (kernel-install): do the same.
	for p in vmlinuz config System.map; do
		[ -e "$dir/boot/$p-$r" ] || [ ! -e "$dir/usr/lib/modules/$r/$p" ] ||
			cp "$dir/usr/lib/modules/$r/$p" "$dir/boot/$p-$r"
	done
	cow_root_run "$n" depmod "$r" || return 1
	cow_root_checker "$n" "$r"
	cow_kheaders "$dir" "$r"
}

# cow_root_checker NAME RELEASE: Debian's headers of 7.x lack
# scripts/checker-valid.sh, by which kbuild decides whether sparse can
# parse the kernel (its __typeof_unqual__): without it, "make C=2" turns
# sparse off.  Give RELEASE's headers in build root NAME one of ours.
cow_root_checker() {
	local src f
	src=$(cow_root_run "$1" sh -c "cd /lib/modules/$2/build && readlink -f scripts/..") || return 0
	f=$COW_ROOTS/$1$src/scripts/checker-valid.sh
	[ -e "$f" ] && return 0
	cat >"$f" <<'EOF'
#!/bin/sh
# Added by cowloop's tests/guest/kernels.sh: Debian's headers package
# lacks this script.  Prints 1 when the checker "$@" parses
# __typeof_unqual__ without an error (sparse exits 0 after errors too).
command -v "$1" >/dev/null || exit 1
t=$(mktemp --suffix=.c) || exit 1
trap 'rm -f "$t"' EXIT
printf 'int f(const int *p) { __typeof_unqual__(*p) x = *p; return x; }\n' >"$t"
"$@" "$t" 2>&1 | grep -q error || echo 1
EOF
	chmod 755 "$f"
}

# cow_kernels_prepare SET: make the build roots SET needs and install its
# kernels; write build/roots/resolved.  Prints a "FAIL kernel-NAME"
# line for a kernel that cannot be had, and says when Debian has moved
# past a pinned kernel.  Returns non-zero when something failed.
cow_kernels_prepare() {
	local set=$1 name root suite pkg r newest rc=0 fl
	local -A made=() pinned=()
	mkdir -p "$COW_ROOTS"
	exec 9>"$COW_ROOTS/.lock"
	flock 9
	touch "$COW_ROOTS/resolved"
	while read -r name _ root suite pkg; do
		[ "$root" = host ] && continue
		if [ -z "${made[$root]:-}" ]; then
			cow_root_make "$root" || { echo "FAIL kernel-$name: build root $root could not be made"; rc=1; continue; }
			made[$root]=1
		fi
		case $pkg in
		linux-image-[0-9]*.[0-9]*.[0-9]*)
			r=${pkg#linux-image-}
			pinned["$root $suite $(cow_kflavour "$r")"]=$r
			if ! cow_kheaders "$COW_ROOTS/$root" "$r"; then
				cow_root_update "$root" || { rc=1; continue; }
				if [ -z "$(cow_root_served "$root" "$pkg")" ]; then
					fl=$(cow_kflavour "$r")
					newest=$(cow_root_meta "$root" "linux-image-$fl" "$suite")
					echo "FAIL kernel-$name: ${COW_KCONF#"$COW_TOP"/} pins $pkg, which $suite no longer serves; its newest $fl kernel is ${newest:-unknown}: move the pin"
					rc=1
					continue
				fi
			elif [ "$set" = all ]; then
				# say so when the pin is gone, even with a cached copy
				cow_root_update "$root" &&
				[ -z "$(cow_root_served "$root" "$pkg")" ] &&
				msg "note: $suite no longer serves the pinned $pkg (kept in build/roots/$root)"
			fi
			;;
		*)
			cow_root_update "$root" || { rc=1; continue; }
			r=$(cow_root_meta "$root" "$pkg" "$suite")
			if [ -z "$r" ]; then
				echo "FAIL kernel-$name: $pkg in $suite points to no kernel"
				rc=1
				continue
			fi
			fl=$(cow_kflavour "$r")
			if [ -n "${pinned["$root $suite $fl"]:-}" ]; then
				if [ "${pinned["$root $suite $fl"]}" = "$r" ]; then
					msg "$name: the newest kernel of $suite is the pinned one, $r"
				else
					msg "$name: Debian has moved on: $suite now carries $r (tests/kernels.conf pins ${pinned["$root $suite $fl"]}); testing it too"
				fi
			else
				msg "$name: $pkg in $suite is $r"
			fi
			;;
		esac
		if ! cow_root_install "$root" "$r"; then
			echo "FAIL kernel-$name: kernel $r could not be installed in build root $root"
			rc=1
			continue
		fi
		sed -i "/^$name /d" "$COW_ROOTS/resolved"
		echo "$name $r $root" >>"$COW_ROOTS/resolved"
	done < <(cow_kconf "$set")
	exec 9>&-
	return $rc
}
