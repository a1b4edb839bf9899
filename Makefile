# salvage - one non-recursive Makefile, out-of-tree builds.
#
#   make            build everything into build/
#   make deps       install build and test dependencies (apt-get, idempotent)
#   make test       the fast tier (a few minutes): build, fixture tests,
#                   capture on two fixtures, ASan+UBSan on a subset, layers
#   make check      deps, build, every test (also under ASan+UBSan, TSan,
#                   interop, QEMU end to end), fuzz smoke; ends with the total
#                   "check: N passed, N failed, N skipped" of every script
#   make demo       deps, build, run the main job end to end
#   make fuzz-smoke run each libFuzzer harness for a bounded time
#
# Variables: BUILD (output dir), SANITIZE=address,undefined, WERROR=1 (CI sets
# it), FUZZ_SECONDS (per harness in fuzz-smoke).  Test scripts use tests/lib.sh
# (CI=true turns a skip of a promised check into a failure).

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2 -g
SANITIZE ?=
WERROR   ?= $(if $(CI),1,)

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -DSALVAGE_HAVE_LZMA -pthread -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter -fno-strict-aliasing
ifneq ($(WERROR),)
CFLAGS_BASE += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS_BASE += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS_SAN := -fsanitize=$(SANITIZE)
endif
ALL_CFLAGS = $(CFLAGS_BASE) $(OPT) $(CFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS_SAN) $(LDFLAGS)
LIBS_CODEC := -lzstd -lz -llzo2 -lsnappy

.PHONY: install uninstall deb test-service all deps check demo test test-layers test-fixtures test-san test-tsan test-interop test-interop-real test-capture test-archive test-vm test-vm-crash fuzz fuzz-smoke bench clean
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
all: $(BUILD)/salvage $(BUILD)/salvage-capture $(UNIT_BINS)

# ---- libraries ------------------------------------------------------------
XNOTE_SRC := $(wildcard xen-notes/*.c)
VMCORE_SRC := $(wildcard vmcore/*.c)
CONFIG_SRC := $(wildcard config/*.c)
KMOD_SRC := $(wildcard kmod/*.c)
INITRAMFS_SRC := $(wildcard initramfs/*.c)
ARCHIVE_SRC := $(wildcard archive/*.c)
NET_SRC := $(wildcard net/*.c)
ANALYZE_SRC := $(wildcard analyze/*.c)
CAPTURE_SRC := $(wildcard capture/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

$(BUILD)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# each library is an archive of its folder's objects
$(BUILD)/libxnote.a: $(call obj,$(XNOTE_SRC))
$(BUILD)/libvmcore.a: $(call obj,$(VMCORE_SRC))
# the agent's configuration schema and parser (both programs)
$(BUILD)/libsvconfig.a: $(call obj,$(CONFIG_SRC))
# kernel module trees (both programs)
$(BUILD)/libsvkmod.a: $(call obj,$(KMOD_SRC))
# building the crash initramfs (salvage mkinitramfs)
$(BUILD)/libinitramfs.a: $(call obj,$(INITRAMFS_SRC))
$(addprefix $(BUILD)/,libxnote.a libvmcore.a libsvconfig.a libsvkmod.a libinitramfs.a):
	@rm -f $@
	ar rcs $@ $^

# the dump archive's index (salvage archive): SQLite or PostgreSQL, signatures
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
$(BUILD)/obj/archive/pg.o: ALL_CFLAGS += $(PQ_CFLAGS)
$(BUILD)/libsvarchive.a: $(call obj,$(ARCHIVE_SRC))
	@rm -f $@
	ar rcs $@ $^

# the network transport: keys, handshake, records (both programs; libsodium,
# and libcrypto for the AES-256-GCM records)
$(BUILD)/libsvnet.a: $(call obj,$(NET_SRC))
	@rm -f $@
	ar rcs $@ $^

LIBS_OURS := $(BUILD)/libvmcore.a $(BUILD)/libxnote.a

# ---- programs -------------------------------------------------------------
$(BUILD)/salvage: $(call obj,$(ANALYZE_SRC)) $(BUILD)/libinitramfs.a $(BUILD)/libsvkmod.a \
		$(BUILD)/libsvarchive.a $(BUILD)/libsvnet.a $(BUILD)/libsvconfig.a $(LIBS_OURS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CODEC) -llzma -lbpf -ldwarf -lelf -lsqlite3 -lpq -lxxhash -lsodium -lcrypto

# The capture agent runs as init in the crash kernel: static, no runtime
# library needed in the initramfs.  Sanitizer builds link it dynamically.
# Its debug information would be a fifth of the image the crash kernel
# unpacks (the reservation grows with it: README, "Arming"): the static agent
# keeps its symbol table, not its DWARF.
CAPTURE_STATIC := $(if $(SANITIZE),,-static -Wl,--strip-debug)
$(BUILD)/salvage-capture: $(call obj,$(CAPTURE_SRC)) $(BUILD)/libsvkmod.a $(BUILD)/libsvnet.a \
		$(BUILD)/libsvconfig.a $(LIBS_OURS)
	$(CC) $(ALL_LDFLAGS) $(CAPTURE_STATIC) -pthread -o $@ $^ $(LIBS_CODEC) -lxxhash -llzma -lsodium -lcrypto -lstdc++ -lm

# each tests/unit/NAME.c is one checker program
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBS_OURS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_CODEC)
# the shared size parser's checker (tests/config-test.sh)
$(BUILD)/tests/sizecheck: $(BUILD)/libsvconfig.a

# ---- tests ----------------------------------------------------------------
deps:
	@bash scripts/deps.sh

# the fast tier: fixtures, capture and the sanitizers on a representative
# subset (hostile and kdump inputs; one fixture per capture run)
FAST_CAPTURE := mdf-linux mm-l5-kaslr
test: all
	@$(MAKE) --no-print-directory test-fixtures
	@CAPTURE_FIXTURES="$(FAST_CAPTURE)" bash tests/capture-test.sh $(BUILD)
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/san SANITIZE=address,undefined all
	@FIXTURES='bad-* kdump-*' bash tests/run-fixtures.sh $(BUILD)/san
	@CAPTURE_FIXTURES=mdf-linux bash tests/capture-test.sh $(BUILD)/san
	@bash scripts/check-layers.sh $(BUILD)

# programs -> libraries -> leaves, over #include lines and link lists
test-layers:
	@bash scripts/check-layers.sh $(BUILD)

test-fixtures: all
	@bash tests/run-fixtures.sh $(BUILD)
	@bash tests/dmesg-test.sh $(BUILD)
	@bash tests/mm-test.sh $(BUILD)
	@bash tests/az-test.sh $(BUILD)
	@bash tests/az-harden-test.sh $(BUILD)
	@bash tests/triage-test.sh $(BUILD)
	@bash tests/xen-test.sh $(BUILD)
	@bash tests/p2m-test.sh $(BUILD)
	@bash tests/xen-core-test.sh $(BUILD)
	@bash tests/kmod-test.sh $(BUILD)
	@bash tests/config-test.sh $(BUILD)

test-san:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/san SANITIZE=address,undefined test-fixtures test-capture

# the threaded capture (workers, flusher) under ThreadSanitizer
test-tsan:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/tsan SANITIZE=thread all
	@TSAN_OPTIONS=halt_on_error=1 CAPTURE_FIXTURES="mdf-linux mm-l5-kaslr" \
		bash tests/capture-test.sh $(BUILD)/tsan

test-interop: all
	@bash tests/interop/makedumpfile.sh $(BUILD)
	@bash tests/interop/capture.sh $(BUILD)
	@bash tests/interop/classify.sh $(BUILD)
	@# two shards at once, one per CPU (each fixture is one Python process at a time)
	@st=0; bash tests/interop/libkdumpfile.sh --shard 1/2 $(BUILD) & p=$$!; \
	bash tests/interop/libkdumpfile.sh --shard 0/2 $(BUILD) || st=1; wait $$p || st=1; exit $$st

# the real dumps test-vm leaves in $(BUILD), read by libkdumpfile too; the
# cached real vmcore rewritten as a Xen guest core reads as the vmcore does
test-interop-real: all
	@bash tests/interop/libkdumpfile.sh --real $(BUILD)
	@bash tests/xen-core-real.sh $(BUILD)

test-capture: all
	@bash tests/capture-test.sh $(BUILD)
	@bash tests/net-test.sh $(BUILD)
	@bash tests/harden-test.sh $(BUILD)

# salvage archive on generated dumps, on SQLite and on a throw-away PostgreSQL
test-archive: all
	@bash tests/archive-test.sh $(BUILD)
	@bash tests/archive-test.sh $(BUILD) --pg

# real kernels crashed under QEMU, captured by our agent (tests/vm/README.md)
test-vm: all
	@rm -rf $(BUILD)/vm-disk
	@bash tests/vm/e2e-disk.sh --out $(BUILD)/vm-disk $(BUILD)
	@bash tests/vm/e2e-analyze.sh $(BUILD) $(BUILD)/vm-disk
	@bash tests/vm/e2e-full.sh $(BUILD)
	@bash tests/vm/e2e-xfs.sh $(BUILD)
	@bash tests/vm/e2e-net.sh $(BUILD)
	@bash tests/vm/xen-e2e.sh --out $(BUILD)/vm-xen $(BUILD)
	@bash tests/vm/xen-domu-e2e.sh --out $(BUILD)/vm-xen-domu $(BUILD)
	@bash tests/vm/e2e-modoops.sh --out $(BUILD)/vm-modoops $(BUILD)
	@bash tests/vm/e2e-archive.sh --agent-dump $(BUILD)/vm-disk/dump --modoops-dump $(BUILD)/vm-modoops/dump $(BUILD)
	@bash tests/vm/service-e2e.sh $(BUILD)

# crash(8) on salvage-capture's output (kdump and ELF) of the PV domU core
# xen-domu-e2e.sh caches (no QEMU; skips when nothing is cached): for working
# on the writers without booting; xen-domu-e2e.sh in check runs crash too
test-vm-crash: all
	@bash tests/vm/xen-domu-crash.sh $(BUILD)

# the installed service: man pages against --help, make install, hooks,
# stamps, announce (tests/service/README.md)
test-service: all
	@bash tests/service/man-test.sh $(BUILD)
	@bash tests/service/service-test.sh $(BUILD)

# compares with makedumpfile (and crash) on a real vmcore made under QEMU;
# bisects the crashkernel= reservation our agent needs
bench: deps
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 tests/bench/bench.py --build $(BUILD)
	@/usr/bin/python3 tests/bench/archive-bench.py --build $(BUILD)
	@/usr/bin/python3 tests/bench/net-bench.py --build $(BUILD)
	@/usr/bin/python3 tests/bench/xen-core-bench.py --build $(BUILD)
	@# the smallest crashkernel= that captures 1, 4 and 16 GiB guests (QEMU, ~15 min)
	@bash tests/bench/reservation-bench.sh $(BUILD)

# every part runs even when one fails; each script appends its counts to the
# tally (tests/lib.sh), summed at the end
CHECK_PARTS := all test-layers test-fixtures test-san test-tsan test-interop test-capture test-archive test-vm test-interop-real test-service fuzz-smoke
check: deps
	@mkdir -p $(BUILD)
	@tally=$(abspath $(BUILD))/check.tally; : >"$$tally"; st=0; \
	for t in $(CHECK_PARTS); do \
		SALVAGE_TEST_TALLY=$$tally SALVAGE_TEST_TIDY=1 FUZZ_SECONDS=$${FUZZ_SECONDS:-10} \
			$(MAKE) --no-print-directory $$t || { st=1; echo "check: make $$t failed"; }; \
	done; \
	awk '{ p += $$2; f += $$3; s += $$4 } END { printf "check: %d passed, %d failed, %d skipped\n", p, f, s; exit f > 0 }' "$$tally" && [ $$st = 0 ]

demo: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/demo.sh $(BUILD)

# ---- fuzzing (clang libFuzzer) ---------------------------------------------
FUZZ_TARGETS := notes vmcoreinfo kdump flat elf xcore config capture
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
FUZZ_SECONDS ?= 60

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(VMCORE_SRC) $(XNOTE_SRC) vmcore/internal.h vmcore/vmcore.h
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(VMCORE_SRC) $(XNOTE_SRC) $(LIBS_CODEC)

# the configuration parser is its own library
$(FUZZ_BUILD)/fuzz_config: tests/fuzz/fuzz_config.c $(CONFIG_SRC) config/config.h
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(CONFIG_SRC)
# the capture writer's round trip links the capture core (not main, not the agent)
CAPTURE_CORE_SRC := $(filter-out capture/main.c capture/agent%.c,$(wildcard capture/*.c))
$(FUZZ_BUILD)/fuzz_capture: tests/fuzz/fuzz_capture.c $(CAPTURE_CORE_SRC) $(VMCORE_SRC) $(XNOTE_SRC) capture/internal.h capture/capture.h vmcore/vmcore.h
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -pthread -o $@ $< $(CAPTURE_CORE_SRC) $(VMCORE_SRC) $(XNOTE_SRC) $(NET_SRC) $(CONFIG_SRC) $(LIBS_CODEC) -lxxhash -lsodium -lcrypto

fuzz: $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS))

fuzz-smoke: fuzz
	@bash tests/fuzz/smoke.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
	@bash tests/fuzz/regress.sh $(FUZZ_BUILD)

# ---- installing (README "Installing as a service") -------------------------
# FHS places under PREFIX; the configuration and kernel hooks under
# SYSCONFDIR (/etc); systemd units where systemd looks for PREFIX.  The
# service's paths are rewritten to these at install time.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
# salvage.service arms at boot; the receiver and the archive's watcher run
# once configured (/etc/salvage/receive.conf, archive.conf)
SVC_UNITS := salvage.service salvage-receive.service salvage-archive-watch.service \
	salvage-archive-watch.timer
SVC_SED = -e 's|/usr/lib/salvage|$(LIBDIR)/salvage|g' -e 's|/usr/sbin|$(SBINDIR)|g' \
	-e 's|/etc/salvage|$(SYSCONFDIR)/salvage|g'

install: $(BUILD)/salvage $(BUILD)/salvage-capture
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/salvage $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/salvage \
		$(DESTDIR)$(SYSCONFDIR)/kernel/postinst.d $(DESTDIR)$(SYSCONFDIR)/kernel/postrm.d
	install -m 0755 $(BUILD)/salvage $(BUILD)/salvage-capture $(DESTDIR)$(SBINDIR)/
	sed $(SVC_SED) systemd/salvage-service >$(DESTDIR)$(LIBDIR)/salvage/salvage-service
	chmod 0755 $(DESTDIR)$(LIBDIR)/salvage/salvage-service
	for u in $(SVC_UNITS); do \
		sed $(SVC_SED) systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	for h in postinst.d postrm.d; do \
		sed $(SVC_SED) systemd/kernel/$$h-salvage >$(DESTDIR)$(SYSCONFDIR)/kernel/$$h/salvage && \
		chmod 0755 $(DESTDIR)$(SYSCONFDIR)/kernel/$$h/salvage || exit 1; \
	done
	install -m 0644 man/salvage.8 man/salvage-capture.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/salvage.conf.5 $(DESTDIR)$(MANDIR)/man5/
	@# an administrator's configuration is never overwritten
	for c in salvage.conf receive.conf archive.conf; do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/salvage/$$c ] || \
		install -m 0644 systemd/$$c $(DESTDIR)$(SYSCONFDIR)/salvage/$$c || exit 1; \
	done

# what install wrote, except the configuration (kept, as dpkg keeps it)
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/salvage $(DESTDIR)$(SBINDIR)/salvage-capture \
		$(DESTDIR)$(LIBDIR)/salvage/salvage-service $(addprefix $(DESTDIR)$(UNITDIR)/,$(SVC_UNITS)) \
		$(DESTDIR)$(SYSCONFDIR)/kernel/postinst.d/salvage $(DESTDIR)$(SYSCONFDIR)/kernel/postrm.d/salvage \
		$(DESTDIR)$(MANDIR)/man8/salvage.8 $(DESTDIR)$(MANDIR)/man8/salvage-capture.8 \
		$(DESTDIR)$(MANDIR)/man5/salvage.conf.5
	-rmdir $(DESTDIR)$(LIBDIR)/salvage

# The Debian package, built by Debian's tools from a copy of the tracked and
# new files in $(BUILD)/deb (dpkg-buildpackage writes next to its source
# tree); the .deb and the lintian report land there.
DEB_DIR := $(BUILD)/deb
deb:
	@rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t $(DEB_DIR)/src
	@# the copy builds with its own defaults: none of this make's variables
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u SANITIZE -u OPT -u PREFIX \
		-u DESTDIR -u SYSCONFDIR -u SBINDIR -u LIBDIR -u MANDIR -u UNITDIR dpkg-buildpackage -us -uc -b
	lintian --tag-display-limit 0 --info $(DEB_DIR)/*.changes | tee $(DEB_DIR)/lintian.txt
	@! grep -q '^E:' $(DEB_DIR)/lintian.txt

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
