#!/bin/sh
# Harness self-test: loop device round trip on the ext4 scratch disk with
# the real losetup, dd, cmp and md5sum.  Needs no cowloop at all.
# timeout: 120
. /cowloop/t/lib.sh

truncate -s 16M img
dev=$(losetup -f --show img)
note "attached img as $dev"
pattern pat 4096
dd if=pat of="$dev" bs=64k oflag=direct status=none
blockdev --flushbufs "$dev"
dd if="$dev" of=back bs=64k count=64 iflag=direct status=none
cmp pat back || fail "data read back from $dev differs"
losetup -d "$dev"
check_eq "image checksum" "$(md5 pat)" "$(head -c 4194304 img | md5sum | cut -d' ' -f1)"
check_eq "image size" 16777216 "$(stat -c %s img)"
note "loop round trip ok on $(findmnt -n -o FSTYPE -T .)"
