# SPDX-License-Identifier: GPL-2.0
# The test bed's choice of kernels (tests/kernels.conf, cow_kernels and
# cow_kernels_prepare of tests/guest/kernels.sh), sourced by run.sh, on a
# crafted /boot, /lib/modules and build root: a version in KVERS picks
# the stock kernels of that version, never the debug or PREEMPT_RT kernel
# of make check-debug (make bench once benchmarked 6.12.118-cowdebug for
# "6.12"); a kernels.conf NAME picks its kernel; make check's set is the
# "check" lines; a pin the registry no longer serves is named with the
# newest kernel; a build failure names the API that broke.

K=$T/ksys
# kenv: what the functions below run with: the crafted system.
kenv() {
	COW_SYSROOT=$K/host COW_ROOTS=$K/roots COW_KCONF=$K/kernels.conf \
		bash -c '. tests/guest/lib.sh; '"$1"
}
# kernels KVERS [SET]: what cow_kernels picks
kernels() { KVERS=$1 COW_KSET=${2:-check} kenv 'cow_kernels | tr "\n" " "'; }
# mkkernel DIR RELEASE: an image and headers in DIR (/boot, /lib/modules)
mkkernel() {
	mkdir -p "$1/boot" "$1/lib/modules/$2/build"
	: >"$1/boot/vmlinuz-$2"
	: >"$1/lib/modules/$2/build/Makefile"
}
for r in 6.1.0-57-cloud-amd64 6.12.117+deb12-cloud-amd64 \
	 6.12.117+deb12-rt-amd64 6.12.118-cowdebug 6.13.2-cloud-amd64; do
	mkkernel "$K/host" "$r"
done
: >"$K/host/boot/vmlinuz-6.2.0-noheaders"
mkkernel "$K/roots/trixie" 7.3.4+deb13-cloud-amd64
mkkernel "$K/roots/trixie" 6.12.110+deb13-cloud-amd64
mkkernel "$K/roots/trixie" 7.3.4+deb13-rt-amd64
cat >"$K/kernels.conf" <<'EOF'
# crafted
d12-6.1     check    host    bookworm          linux-image-6.1.0-57-cloud-amd64
d12-6.12    check    host    bookworm          linux-image-6.12.117+deb12-cloud-amd64
bpo         check    trixie  trixie-backports  linux-image-7.3.4+deb13-cloud-amd64
d13-6.12    kernels  trixie  trixie            linux-image-cloud-amd64
bpo-rt      kernels  trixie  trixie-backports  linux-image-rt-amd64
bpo-newest  kernels  trixie  trixie-backports  linux-image-cloud-amd64
EOF
printf '%s\n' "bpo 7.3.4+deb13-cloud-amd64 trixie" \
	"d13-6.12 6.12.110+deb13-cloud-amd64 trixie" \
	"bpo-rt 7.3.4+deb13-rt-amd64 trixie" \
	"bpo-newest 7.3.4+deb13-cloud-amd64 trixie" >"$K/roots/resolved"

result kernels-default [ "$(kernels '')" = \
	"6.1.0-57-cloud-amd64 6.12.117+deb12-cloud-amd64 7.3.4+deb13-cloud-amd64 " ]
result kernels-set [ "$(kernels '' kernels)" = \
	"6.12.110+deb13-cloud-amd64 7.3.4+deb13-rt-amd64 " ]
result kernels-version [ "$(kernels 6.12)" = \
	"6.12.110+deb13-cloud-amd64 6.12.117+deb12-cloud-amd64 " ]
result kernels-version-prefix [ "$(kernels 6.1)" = "6.1.0-57-cloud-amd64 " ]
result kernels-two [ "$(kernels 6.1,7.3)" = \
	"6.1.0-57-cloud-amd64 7.3.4+deb13-cloud-amd64 " ]
result kernels-name [ "$(kernels bpo)" = "7.3.4+deb13-cloud-amd64 " ]
result kernels-name-rt [ "$(kernels bpo-rt)" = "7.3.4+deb13-rt-amd64 " ]
result kernels-part [ "$(kernels deb13)" = \
	"6.12.110+deb13-cloud-amd64 7.3.4+deb13-cloud-amd64 7.3.4+deb13-rt-amd64 " ]
result kernels-debug [ "$(kernels cowdebug)" = "6.12.118-cowdebug " ]
result kernels-rt [ "$(kernels rt-amd64)" = \
	"6.12.117+deb12-rt-amd64 7.3.4+deb13-rt-amd64 " ]
result kernels-releases [ "$(kernels '6.12.118-cowdebug 6.12.117+deb12-rt-amd64')" = \
	"6.12.117+deb12-rt-amd64 6.12.118-cowdebug " ]
result kernels-root [ "$(kenv 'cow_kroot 7.3.4+deb13-cloud-amd64')" = "$K/roots/trixie" ] &&
	[ "$(kenv 'cow_kroot 6.1.0-57-cloud-amd64')" = "$K/host" ]
result kernels-flavour [ "$(kenv 'cow_kflavour 7.3.4+deb13-rt-amd64; cow_kflavour 6.1.0-57-cloud-amd64' | tr '\n' ' ')" = \
	"rt-amd64 cloud-amd64 " ]

# cow_kernels_prepare's decisions, with the registry and the build root
# stubbed: SERVED is what the registry still has, NEWEST what the meta
# packages point to.
prepare() {
	SERVED=$1 NEWEST=$2 kenv '
		cow_root_make() { :; }
		cow_root_update() { :; }
		cow_root_install() { mkdir -p "$COW_ROOTS/$1/boot" "$COW_ROOTS/$1/lib/modules/$2/build"
			: >"$COW_ROOTS/$1/boot/vmlinuz-$2"; : >"$COW_ROOTS/$1/lib/modules/$2/build/Makefile"; }
		cow_root_served() { case " $SERVED " in *" $2 "*) echo 1 ;; esac; }
		cow_root_meta() {
			case $2/$3 in
			linux-image-rt*) echo "${NEWEST/cloud/rt}" ;;
			*/trixie) echo 6.12.110+deb13-cloud-amd64 ;;
			*) echo "$NEWEST" ;;
			esac; }
		cow_kernels_prepare all' 2>&1
}
rm -rf "$K/roots/trixie/boot/vmlinuz-7.3.4+deb13-cloud-amd64"
out=$(prepare "" 7.4.1+deb13-cloud-amd64) || true
result kernels-pin-gone grep -q "FAIL kernel-bpo: .*kernels.conf pins linux-image-7.3.4+deb13-cloud-amd64, which trixie-backports no longer serves; its newest cloud-amd64 kernel is 7.4.1+deb13-cloud-amd64: move the pin" <<<"$out"
result kernels-moved-on grep -q "bpo-newest: Debian has moved on: trixie-backports now carries 7.4.1+deb13-cloud-amd64 (tests/kernels.conf pins 7.3.4+deb13-cloud-amd64)" <<<"$out"
result kernels-moved-on-tested [ "$(kernels '' kernels)" = \
	"6.12.110+deb13-cloud-amd64 7.4.1+deb13-cloud-amd64 7.4.1+deb13-rt-amd64 " ]
out=$(prepare "linux-image-7.3.4+deb13-cloud-amd64" 7.3.4+deb13-cloud-amd64) || true
result kernels-pin-served [ -e "$K/roots/trixie/boot/vmlinuz-7.3.4+deb13-cloud-amd64" ] &&
	! grep -q FAIL <<<"$out" && grep -q "newest kernel of trixie-backports is the pinned one" <<<"$out"

# A module that does not build names what broke.
cat >"$T/build.log" <<'EOF'
/b/dev.c:655:30: error: implicit declaration of function ‘bdev_nonrot’; did you mean ‘bdev_nowait’? [-Wimplicit-function-declaration]
/b/io.c:164:14: warning: assignment discards ‘const’ qualifier from pointer target type [-Wdiscarded-qualifiers]
/b/io.c:167:43: error: ‘struct bvec_iter’ has no member named ‘bi_bvec_done’
/b/io.c:237:30: error: implicit declaration of function ‘bio_prio’; did you mean ‘bio_trim’? [-Wimplicit-function-declaration]
/b/dev.c:655:30: error: implicit declaration of function ‘bdev_nonrot’; did you mean ‘bdev_nowait’? [-Wimplicit-function-declaration]
EOF
result kernels-api-broke [ "$(kenv "cow_api_broke $T/build.log")" = \
	"bdev_nonrot() is gone (dev.c:655); bio_prio() is gone (io.c:237); struct bvec_iter has no member bi_bvec_done (io.c:167)" ]
rm -rf "$K" "$T/build.log"
