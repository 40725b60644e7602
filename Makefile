# SPDX-License-Identifier: GPL-2.0
#
# cowloop: top-level build.  See README and HOWTO.install.
#
#   make                 tools, and the module when kernel headers exist
#   make tools           userland tools into build/bin/
#   make module [KERNELRELEASE=r]   build/<r>/cowloop.ko
#   make install [DESTDIR=] [PREFIX=/usr]   tools, man pages, documentation,
#                        completion, systemd/udev files (install-system),
#                        the module
#   make dkms-install    the module's source into /usr/src, built by DKMS
#                        for every kernel with headers (dkms-source: copy)
#   make deb             cowloop-dkms and cowloop-utils .debs in build/deb/
#   make check           checkpatch, host tests, then the guest suite on the
#                        kernels of tests/kernels.conf's "check" set
#   make check-kernels   the guest suite on the other kernels it names
#                        (Debian 13's 6.12, PREEMPT_RT, sid, and what the
#                        meta packages point to today)
#   make check-long      the long guest tests ("# suite: long": memory bounds
#                        over an 8 TiB device...) on make check's kernels
#   make kernels [KSET=all]   the build roots and kernels of that set
#   make lint            checkpatch --strict over the kernel sources
#   make check-debug     the guest suite on a KASAN/lockdep/kmemleak/fault-
#                        injection kernel and on PREEMPT_RT, and coccicheck
#   make demo            the product page's Example 1 in a guest
#   make vm-shell KERNELRELEASE=r   interactive guest
#   make bench           benchmark against loop, dm-snapshot, qcow2
#   make bench-tools     the offline tools on an 8 TiB sparse rdofile
#   make bench-checkpoint  cowdev -c's hold time, 10 GiB modified, xfs/ext4
#   make check-system    the .debs on Debian 12 and 13 systems booted in QEMU
#   make install-cowroot the root file system on a cowdevice at boot
#                        (cowroot(7)): initramfs-tools hook and script,
#                        shutdown program, space watcher
#   make check-cowroot   cowroot= on Debian 12 and 13 systems in QEMU
#   make check-fleet     one image served by NBD, iSCSI and NFS to three
#                        client guests, each with its own cowfile; faults
#                        (COW_FLEET_SYSTEM=d13-bpo: on Debian 13 and the
#                        newest kernel of trixie-backports)
#   make bench-fleet     server bytes and read throughput per transport

PREFIX	?= /usr
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
COMPDIR	?= $(PREFIX)/share/bash-completion/completions
DOCDIR	?= $(PREFIX)/share/doc/cowloop-utils
# systemd and udev look here on Debian 12 (not moved by PREFIX)
UNITDIR	?= /lib/systemd/system
GENDIR	?= /lib/systemd/system-generators
UDEVDIR	?= /lib/udev/rules.d
SYSCONFDIR ?= /etc
INITRAMFSDIR ?= /usr/share/initramfs-tools
LIBEXECDIR ?= /usr/lib/cowloop
DKMSDIR	?= /usr/src/cowloop-$(VERSION)
CC	?= cc
CFLAGS	?= -O2 -g
WARN	:= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -Isrc/include -Isrc/lib -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
CPPFLAGS += -DCOWLOOP_GIT='"$(shell git describe --always --dirty 2>/dev/null)"'

VERSION	:= $(shell sed -n 's/^\#define COWLOOP_VERSION[^"]*"\(.*\)"/\1/p' src/include/cowloop.h)
TOOLS	:= cowdev cowsync cowlist cowrepair cowmerge cowcreate
GENERATOR := cowtab-generator
BIN	:= build/bin
OBJ	:= build/obj
LIBSRC	:= src/common/cowfmt.c $(wildcard src/lib/*.c)
LIBOBJ	:= $(patsubst %.c,$(OBJ)/%.o,$(LIBSRC))
LIBA	:= $(OBJ)/libcow.a
HDRS	:= $(wildcard src/include/*.h src/lib/*.h)

# Kernel to build the module for: the running one when its headers are
# installed, else the newest installed headers.
running	:= $(shell uname -r)
ifeq ($(origin KERNELRELEASE),undefined)
  ifneq ($(wildcard /lib/modules/$(running)/build/Makefile),)
    KERNELRELEASE := $(running)
  else
    KERNELRELEASE := $(lastword $(sort $(notdir $(patsubst %/build/Makefile,%,\
			$(wildcard /lib/modules/*/build/Makefile)))))
  endif
endif
KDIR	?= /lib/modules/$(KERNELRELEASE)/build
KOUT	:= build/$(KERNELRELEASE)
KSRC	:= $(wildcard src/module/*.c src/module/*.h) src/module/Kbuild
# The kernel's own make must not see our KERNELRELEASE on its command line.
MAKEOVERRIDES := $(filter-out KERNELRELEASE=%,$(MAKEOVERRIDES))

.PHONY: all tools module install install-tools install-man install-doc install-module \
	install-completion install-system dkms-source dkms-install deb check-system \
	install-cowroot check-cowroot \
	check-fleet bench-fleet \
	check check-host check-guest check-debug check-kernels check-long kernels \
	bench-checkpoint \
	lint demo \
	vm-shell bench bench-tools fuzz deps clean

all: tools
	@if [ -n "$(KERNELRELEASE)" ] && [ -e "$(KDIR)/Makefile" ]; then \
		$(MAKE) --no-print-directory module; \
	else \
		echo "cowloop: no kernel headers found: module not built."; \
		echo "cowloop: install them with: apt-get install linux-headers-$(running)"; \
	fi

tools: $(addprefix $(BIN)/,$(TOOLS) $(GENERATOR))

$(OBJ)/src/tools/$(GENERATOR).o: CPPFLAGS += -DCOW_UNITDIR='"$(UNITDIR)"'

$(OBJ)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(LIBA): $(LIBOBJ)
	$(AR) rcs $@ $^

$(BIN)/%: $(OBJ)/src/tools/%.o $(LIBA)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

# A kernel whose headers are only in a build root (make kernels; the
# kbuild of a newer Debian's kernels needs that Debian's libc) is built
# for inside that root (tests/guest/buildroot.sh).
KROOT	:= $(if $(wildcard $(KDIR)/Makefile),,$(firstword \
	   $(wildcard build/roots/*/boot/vmlinuz-$(KERNELRELEASE))))

ifneq ($(KROOT),)
module:
	@tests/guest/buildroot.sh make $(KERNELRELEASE) --no-print-directory \
		module KERNELRELEASE=$(KERNELRELEASE) $(filter W=% C=%,$(MAKEOVERRIDES))
else
module:
	@if [ -z "$(KERNELRELEASE)" ] || [ ! -e "$(KDIR)/Makefile" ]; then \
		echo "cowloop: no headers for kernel '$(KERNELRELEASE)' in $(KDIR)"; \
		echo "cowloop: install them with: apt-get install linux-headers-$(or $(KERNELRELEASE),$(running))"; \
		echo "cowloop: or, for a kernel of tests/kernels.conf: make kernels (HOWTO.install)"; \
		exit 1; fi
	@mkdir -p $(KOUT)
	@for f in $(KSRC); do ln -sf $(CURDIR)/$$f $(KOUT)/; done
	@ln -sf $(CURDIR)/src/common/cowfmt.c $(KOUT)/cowfmt.c
	$(MAKE) -C $(KDIR) M=$(CURDIR)/$(KOUT) COWLOOP_INC=$(CURDIR)/src/include modules
endif

install: install-tools install-man install-doc install-completion install-system
	@if [ -e $(KOUT)/cowloop.ko ]; then $(MAKE) --no-print-directory install-module; \
	else echo "cowloop: module not built for $(KERNELRELEASE): not installed"; fi

install-tools: tools
	install -d $(DESTDIR)$(SBINDIR)
	install -m 0755 $(addprefix $(BIN)/,$(TOOLS)) $(DESTDIR)$(SBINDIR)

# The manual pages name the documentation where install-doc puts it.
install-man:
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man4
	for f in man/*.[458]; do \
		d=$(DESTDIR)$(MANDIR)/man$${f##*.}/$${f#man/}; \
		sed 's|/usr/share/doc/cowloop\\-utils|$(subst -,\\-,$(DOCDIR))|g' \
			$$f > $$d && chmod 0644 $$d || exit 1; \
	done

# README, HOWTO.install and doc/*.md, which the manual pages point to.
install-doc:
	install -d $(DESTDIR)$(DOCDIR)
	install -m 0644 README HOWTO.install doc/*.md $(DESTDIR)$(DOCDIR)

# udev rule, systemd units and generator (boot-time activation of
# /etc/cowtab); an existing /etc/cowtab is kept.
install-system: tools
	install -d $(DESTDIR)$(UDEVDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(GENDIR) \
		$(DESTDIR)$(SYSCONFDIR)
	install -m 0644 system/60-cowloop.rules $(DESTDIR)$(UDEVDIR)
	sed 's|/usr/sbin/|$(SBINDIR)/|' system/cowdev@.service > $(DESTDIR)$(UNITDIR)/cowdev@.service
	install -m 0644 system/cowdev.target $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BIN)/$(GENERATOR) $(DESTDIR)$(GENDIR)
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/cowtab ]; then \
		echo "cowloop: $(DESTDIR)$(SYSCONFDIR)/cowtab exists: kept"; \
	else install -m 0644 system/cowtab $(DESTDIR)$(SYSCONFDIR)/cowtab; fi

# cowroot (cowroot(7)): the root file system on a cowdevice at boot.  The
# initramfs-tools hook and local-top script (run by update-initramfs),
# the shutdown program the script leaves in /run/initramfs, the space
# watch with its unit, and the manual page.
install-cowroot:
	install -d $(DESTDIR)$(INITRAMFSDIR)/hooks \
		$(DESTDIR)$(INITRAMFSDIR)/scripts/local-top \
		$(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man7
	sed -e 's|^SBIN=/usr/sbin$$|SBIN=$(SBINDIR)|' \
		-e 's|^LIBEXEC=/usr/lib/cowloop$$|LIBEXEC=$(LIBEXECDIR)|' \
		system/cowroot/hook > $(DESTDIR)$(INITRAMFSDIR)/hooks/cowroot
	chmod 0755 $(DESTDIR)$(INITRAMFSDIR)/hooks/cowroot
	install -m 0755 system/cowroot/local-top \
		$(DESTDIR)$(INITRAMFSDIR)/scripts/local-top/cowroot
	install -m 0755 system/cowroot/shutdown $(DESTDIR)$(LIBEXECDIR)/cowroot-shutdown
	install -m 0755 system/cowroot/space $(DESTDIR)$(LIBEXECDIR)/cowroot-space
	sed 's|/usr/lib/cowloop/|$(LIBEXECDIR)/|' system/cowroot/cowroot-space.service \
		> $(DESTDIR)$(UNITDIR)/cowroot-space.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/cowroot-space.service
	install -m 0644 man/cowroot.7 $(DESTDIR)$(MANDIR)/man7

# bash-completion loads completions/<command>: one copy per tool
install-completion:
	install -d $(DESTDIR)$(COMPDIR)
	for t in $(TOOLS); do \
		install -m 0644 completion/cowloop.bash $(DESTDIR)$(COMPDIR)/$$t; \
	done

install-module:
	install -d $(DESTDIR)/lib/modules/$(KERNELRELEASE)/updates
	install -m 0644 $(KOUT)/cowloop.ko $(DESTDIR)/lib/modules/$(KERNELRELEASE)/updates
	@if [ -z "$(DESTDIR)" ]; then depmod -a $(KERNELRELEASE); \
	else depmod -a -b $(DESTDIR) $(KERNELRELEASE) 2>/dev/null || true; fi

# The DKMS source tree: what src/module/Kbuild needs, and dkms.conf.
dkms-source:
	install -d $(DESTDIR)$(DKMSDIR)/include
	install -m 0644 dkms.conf $(KSRC) src/common/cowfmt.c $(DESTDIR)$(DKMSDIR)
	install -m 0644 src/include/*.h $(DESTDIR)$(DKMSDIR)/include

# Registered with DKMS, then built and installed for every kernel whose
# headers are installed; DKMS rebuilds it for kernels installed later.
dkms-install: dkms-source
	@if [ -n "$(DESTDIR)" ]; then echo "cowloop: DESTDIR set: source copied, dkms not run"; exit 0; fi; \
	dkms status -m cowloop -v $(VERSION) | grep -q . || dkms add -m cowloop -v $(VERSION); \
	n=0; for k in $$(ls /lib/modules); do \
		[ -e /lib/modules/$$k/build/Makefile ] || continue; \
		dkms install -m cowloop -v $(VERSION) -k $$k || exit 1; n=$$((n + 1)); \
	done; [ $$n -gt 0 ] || echo "cowloop: no kernel headers installed: dkms builds the module once they are"

# Debian packages, built from a copy of the tree in build/deb/.
deb:
	@tests/system/mkdeb.sh

check-system:
	@tests/system/run.sh

check-cowroot:
	@tests/system/cowroot.sh
check-fleet:
	@tests/fleet/run.sh

bench-fleet:
	@tests/fleet/bench.sh

# Installs what the tests need (packages, kernels, headers), then runs all.
check:
	@tests/check.sh

check-kernels:
	@COW_KSET=kernels tests/check.sh

check-long:
	@COW_SUITE=long tests/check.sh

kernels:
	@tests/guest/buildroot.sh prepare $(or $(KSET),all)

lint:
	@tests/lint.sh

check-host: tools
	@tests/host/run.sh

check-guest:
	@tests/guest/run.sh

check-debug:
	@tests/debug/run.sh

deps:
	@tests/guest/deps.sh

demo:
	@tests/guest/demo.sh

vm-shell:
	@tests/guest/vm-shell.sh $(KERNELRELEASE)

bench:
	@tests/guest/bench.sh

bench-tools: tools
	@tests/host/bench-tools.sh

bench-checkpoint:
	@COW_SUITE=bench COW_DISK_SIZE=24G COW_MEM=2G KVERS=$(or $(KVERS),d12-6.12) \
		tests/guest/run.sh

fuzz:
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build
