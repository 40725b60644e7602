# SPDX-License-Identifier: GPL-2.0
# The test bed's choice of kernels (cow_kernels of tests/guest/lib.sh),
# sourced by run.sh: a version in KVERS picks the stock kernel of that
# version, never the debug or PREEMPT_RT kernel of make check-debug
# (make bench once benchmarked 6.12.118-cowdebug for "6.12").

# kernels KVERS: what cow_kernels picks from a crafted /boot and /lib/modules
kernels() {
	COW_SYSROOT=$T/sysroot KVERS=$1 bash -c \
		'. tests/guest/lib.sh; cow_kernels | tr "\n" " "'
}
for r in 6.1.0-57-cloud-amd64 6.12.117+deb12-cloud-amd64 \
	 6.12.117+deb12-rt-amd64 6.12.118-cowdebug 6.13.2-cloud-amd64; do
	mkdir -p "$T/sysroot/boot" "$T/sysroot/lib/modules/$r/build"
	: > "$T/sysroot/boot/vmlinuz-$r"
	: > "$T/sysroot/lib/modules/$r/build/Makefile"
done
: > "$T/sysroot/boot/vmlinuz-6.2.0-noheaders"
result kernels-default [ "$(kernels '')" = \
	"6.1.0-57-cloud-amd64 6.12.117+deb12-cloud-amd64 6.13.2-cloud-amd64 " ]
result kernels-version [ "$(kernels 6.12)" = "6.12.117+deb12-cloud-amd64 " ]
result kernels-version-prefix [ "$(kernels 6.1)" = "6.1.0-57-cloud-amd64 " ]
result kernels-two [ "$(kernels 6.1,6.12)" = \
	"6.1.0-57-cloud-amd64 6.12.117+deb12-cloud-amd64 " ]
result kernels-debug [ "$(kernels cowdebug)" = "6.12.118-cowdebug " ]
result kernels-rt [ "$(kernels rt-amd64)" = "6.12.117+deb12-rt-amd64 " ]
result kernels-releases [ "$(kernels '6.12.118-cowdebug 6.12.117+deb12-rt-amd64')" = \
	"6.12.117+deb12-rt-amd64 6.12.118-cowdebug " ]
rm -rf "$T/sysroot"
