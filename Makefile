# SPDX-License-Identifier: GPL-2.0
#
# cowloop: top-level build.  See README and HOWTO.install.
#
#   make                 tools, and the module when kernel headers exist
#   make tools           userland tools into build/bin/
#   make module [KERNELRELEASE=r]   build/<r>/cowloop.ko
#   make install [DESTDIR=] [PREFIX=/usr]
#   make check           host tests, then the guest suite on both kernels
#   make check-debug     the guest suite on a KASAN/lockdep/kmemleak/fault-
#                        injection kernel and on PREEMPT_RT, and coccicheck
#   make demo            the product page's Example 1 in a guest
#   make vm-shell KERNELRELEASE=r   interactive guest
#   make bench           benchmark against loop, dm-snapshot, qcow2
#   make bench-tools     the offline tools on an 8 TiB sparse rdofile

PREFIX	?= /usr
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
COMPDIR	?= $(PREFIX)/share/bash-completion/completions
CC	?= cc
CFLAGS	?= -O2 -g
WARN	:= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -Isrc/include -Isrc/lib -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
CPPFLAGS += -DCOWLOOP_GIT='"$(shell git describe --always --dirty 2>/dev/null)"'

TOOLS	:= cowdev cowsync cowlist cowrepair cowmerge
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

.PHONY: all tools module install install-tools install-man install-module \
	install-completion \
	check check-host check-guest check-debug demo vm-shell bench bench-tools fuzz \
	deps clean

all: tools
	@if [ -n "$(KERNELRELEASE)" ] && [ -e "$(KDIR)/Makefile" ]; then \
		$(MAKE) --no-print-directory module; \
	else \
		echo "cowloop: no kernel headers found: module not built."; \
		echo "cowloop: install them with: apt-get install linux-headers-$(running)"; \
	fi

tools: $(addprefix $(BIN)/,$(TOOLS))

$(OBJ)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(LIBA): $(LIBOBJ)
	$(AR) rcs $@ $^

$(BIN)/%: $(OBJ)/src/tools/%.o $(LIBA)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

module:
	@if [ -z "$(KERNELRELEASE)" ] || [ ! -e "$(KDIR)/Makefile" ]; then \
		echo "cowloop: no headers for kernel '$(KERNELRELEASE)' in $(KDIR)"; \
		echo "cowloop: install them with: apt-get install linux-headers-$(or $(KERNELRELEASE),$(running))"; \
		exit 1; fi
	@mkdir -p $(KOUT)
	@for f in $(KSRC); do ln -sf $(CURDIR)/$$f $(KOUT)/; done
	@ln -sf $(CURDIR)/src/common/cowfmt.c $(KOUT)/cowfmt.c
	$(MAKE) -C $(KDIR) M=$(CURDIR)/$(KOUT) COWLOOP_INC=$(CURDIR)/src/include modules

install: install-tools install-man install-completion
	@if [ -e $(KOUT)/cowloop.ko ]; then $(MAKE) --no-print-directory install-module; \
	else echo "cowloop: module not built for $(KERNELRELEASE): not installed"; fi

install-tools: tools
	install -d $(DESTDIR)$(SBINDIR)
	install -m 0755 $(addprefix $(BIN)/,$(TOOLS)) $(DESTDIR)$(SBINDIR)

install-man:
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man4
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/*.4 $(DESTDIR)$(MANDIR)/man4

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

# Installs what the tests need (packages, kernels, headers), then runs all.
check:
	@tests/check.sh

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

fuzz:
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build
