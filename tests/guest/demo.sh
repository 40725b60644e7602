#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: the product page's Example 1 (a filesystem on a
# write-protected floppy made writable with a cowfile), run end to end in
# a guest, narrated: the guest console is shown as it runs.  The script
# itself is the guest test tests/guest/t/demo.sh.  KVERS= picks the
# kernel (default 6.1).
set -euo pipefail
export KVERS=${KVERS:-6.1} TESTS=demo V=1
"$(dirname "$0")/deps.sh"
exec "$(dirname "$0")/run.sh"
