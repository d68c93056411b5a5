# libshm - shared memory for C, Python and Go processes.
# `make help` lists the targets.

GO      ?= go
CC      ?= cc
PYTHON  ?= python3
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
PCDIR   ?= $(LIBDIR)/pkgconfig

SONAME  := libshm.so.0
VERSION := $(shell sed -n 's/^\#define SHMLIB_VERSION_STRING "\(.*\)"/\1/p' include/shmlib.h)

BUILD   := build
LIB     := $(BUILD)/libshm.so
PYLIB   := bindings/python/shmlib/libshm.so

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude
LDLIBS_SHM := -L$(BUILD) -lshm -Wl,-rpath,'$$ORIGIN/..' -Wl,-rpath,$(abspath $(BUILD))

GO_SRC  := go.mod $(shell find capi internal -name '*.go' -o -name '*.c' -o -name '*.h' -o -name '*.map') include/shmlib.h

C_TESTS    := $(patsubst bindings/c/tests/%.c,$(BUILD)/c/%,$(wildcard bindings/c/tests/test_*.c))
C_EXAMPLES := $(patsubst bindings/c/examples/%.c,$(BUILD)/c/%,$(wildcard bindings/c/examples/*.c))
C_BENCH    := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
STRESS     := $(patsubst bindings/c/stress/%.c,$(BUILD)/stress/%,$(wildcard bindings/c/stress/*.c))

.PHONY: all lib generate test-generate demo demo-broadcast demo-bridge bridge-bin test-bridge test test-go test-c test-python test-cross test-abi test-stress test-install test-package stress bench fuzz install uninstall clean help

all: lib

help:
	@echo "make            build $(LIB) (same as make lib)"
	@echo "make demo       the main job: a C -> Python/numpy -> C pipeline over channels, against pipes"
	@echo "make demo-broadcast  one C producer, a C checksummer and a numpy subscriber on one broadcast channel"
	@echo "make demo-bridge the same frames C -> NATS -> Python, through two shmlib-bridges (bridge/)"
	@echo "make test       every suite (generated files current, Go core and binding -race, ABI, C, Python, cross-language,"
	@echo "                stress, install, bridge)"
	@echo "                in a private /dev/shm; fails on leaked segments; ends with 'N passed, M failed'"
	@echo "make generate   rewrite every file generated from include/shmlib.h (after changing it)"
	@echo "make bench      benchmarks against raw syscalls and the Python stdlib -> $(BUILD)/bench.json"
	@echo "make stress     fork/thread storms, kill -9, 1M adversarial calls (make test runs the quick ones)"
	@echo "make fuzz       each Go fuzz target for FUZZTIME (default 60s); make test runs their seed corpora"
	@echo "make install    PREFIX=$(PREFIX): library, header and shmlib.pc (pkg-config); ldconfig where it helps"
	@echo "make clean      remove $(BUILD)/"

lib: $(LIB) $(PYLIB)

# -trimpath -s -w: about a third smaller. The version script exports only the
# shmlib_* symbols of include/shmlib.h, hiding Go's own and the internal
# shmlib_go_* entry points that the C guards in capi/ forward to.
$(LIB): $(GO_SRC)
	@mkdir -p $(BUILD)
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -trimpath \
		-ldflags="-s -w -extldflags '-Wl,-soname,$(SONAME) -Wl,--version-script=$(abspath capi/exports.map)'" \
		-o $@ ./capi
	@rm -f $(BUILD)/libshm.h
	ln -sf libshm.so $(BUILD)/$(SONAME)

# A new file, not the old one rewritten: a Python process that has the
# bundled copy loaded would crash if its pages changed under it.
$(PYLIB): $(LIB)
	cp $(LIB) $@.tmp && mv -f $@.tmp $@

$(BUILD)/c/%: bindings/c/tests/%.c $(wildcard bindings/c/tests/*.h) $(LIB) include/shmlib.h
	@mkdir -p $(BUILD)/c
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS_SHM) -lpthread

# test_loading dlopen()s libshm itself (after tls_filler.so's copies), so
# it is not linked with it.
$(BUILD)/c/test_loading: bindings/c/tests/test_loading.c bindings/c/tests/sigwait.h bindings/c/tests/harness.h $(BUILD)/c/tls_filler.so $(LIB) include/shmlib.h
	@mkdir -p $(BUILD)/c
	$(CC) $(CFLAGS) -o $@ $< -ldl -lpthread

$(BUILD)/c/tls_filler.so: bindings/c/tests/tls_filler.c
	@mkdir -p $(BUILD)/c
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $<

$(BUILD)/c/%: bindings/c/examples/%.c $(wildcard bindings/c/examples/*.h) $(LIB) include/shmlib.h
	@mkdir -p $(BUILD)/c
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS_SHM)

$(BUILD)/stress/%: bindings/c/stress/%.c bindings/c/stress/stress.h $(wildcard bindings/c/stress/adversarial/*.h) $(wildcard bindings/c/tests/*.h) $(LIB) include/shmlib.h
	@mkdir -p $(BUILD)/stress
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS_SHM) -lpthread

$(BUILD)/bench/%: bench/%.c $(LIB) include/shmlib.h
	@mkdir -p $(BUILD)/bench
	$(CC) $(CFLAGS) -O2 -o $@ $< $(LDLIBS_SHM) -ldl -lrt

demo: lib $(C_EXAMPLES)
	@scripts/demo.sh

demo-broadcast: lib $(C_EXAMPLES)
	@scripts/demo_broadcast.sh

# bridge/ is a Go module of its own (NATS stays out of libshm.so and the
# core); go fetches its modules from the proxy on first use.
BRIDGE_BIN := $(BUILD)/bridge
bridge-bin:
	@mkdir -p $(BRIDGE_BIN)
	cd bridge && CGO_ENABLED=0 $(GO) build -trimpath -o $(abspath $(BRIDGE_BIN))/ ./cmd/...

demo-bridge: lib $(C_EXAMPLES) bridge-bin
	@scripts/demo-bridge.sh

# The suites make test runs, in order; each is a rule test-NAME below.
# EXTRA_SUITES adds more: CI adds "package" (.ci/run).
TEST_SUITES := generate go abi c python cross stress install bridge
EXTRA_SUITES ?=

# Every suite runs, in a /dev/shm and System V table of its own when the
# machine allows (scripts/isolate.sh), between two snapshots of the
# segments: one that appeared and stayed is a leak. A failing suite does not
# stop the others; the last line sums them all up, "N passed, M failed".
test: lib $(C_TESTS) $(C_EXAMPLES) $(STRESS)
	@MAKE='$(MAKE)' BUILD='$(BUILD)' scripts/isolate.sh $(PYTHON) scripts/suites.py $(TEST_SUITES) $(EXTRA_SUITES)

# -p 1: each package's TestMain fails it on segments that appeared during
# its run, so packages must not run side by side. make test adds
# GOTESTFLAGS=-json to count the tests.
test-go:
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test $(GOTESTFLAGS) -race -count=1 -p 1 ./internal/... ./capi ./tools/... ./bindings/go/...
	CGO_ENABLED=0 $(GO) test $(GOTESTFLAGS) -count=1 -p 1 ./bindings/go/...

# In-process NATS servers on 127.0.0.1; about 10 s.
test-bridge:
	cd bridge && $(GO) vet ./...
	cd bridge && CGO_ENABLED=0 $(GO) test $(GOTESTFLAGS) -count=1 ./...

# Every mirror of include/shmlib.h is generated (go generate ./capi, by
# tools/abigen): regenerating must change nothing.
generate:
	$(GO) generate ./capi

test-generate:
	$(GO) run ./tools/abigen -check

test-abi: lib
	scripts/abicheck.sh $(LIB) capi/exports.map

test-c: $(C_TESTS)
	@rc=0; for t in $(C_TESTS); do echo "== $$t"; $$t || rc=1; done; exit $$rc

test-python: lib
	cd bindings/python && $(PYTHON) -m pytest -q tests

test-cross: lib $(C_EXAMPLES)
	@if [ -d tests ] && ls tests/*_test.go >/dev/null 2>&1; then \
		CGO_ENABLED=0 $(GO) test $(GOTESTFLAGS) -count=1 ./tests/...; \
	else echo "test-cross: no tests/ yet"; fi

# Fork and thread storms, kill -9 at random moments, a million hostile calls
# (bindings/c/stress/); about 45 s. SEED=N replays killer and adversarial.
stress: lib $(STRESS)
	scripts/stress.sh $(if $(SEED),--seed $(SEED))

test-stress: lib $(STRESS)
	scripts/stress.sh --quick

# The README's C and Go quick starts, built and run as a new user would:
# installed into a temporary prefix, from a directory outside the tree.
test-install: lib
	scripts/check-install.sh

# The Python package as pip and python -m build make it (sdist with the Go
# sources, platform wheel), tested installed, in new virtual environments,
# out of the tree; the README's Python quick start as written. About 40 s,
# and pip fetches setuptools: CI runs it, make test only if asked
# (EXTRA_SUITES=package).
test-package:
	PYTHON=$(PYTHON) scripts/check-python-package.sh

bench: lib $(C_BENCH) bridge-bin
	$(PYTHON) bench/run.py $(BUILD)

# Key strings, channel and broadcast records are what other processes
# hand us; fuzz them. New findings land in each package's testdata/fuzz, which make test
# then replays.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run=XXX -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./internal/keys
	$(GO) test -run=XXX -fuzz=FuzzConsumer -fuzztime=$(FUZZTIME) ./internal/channel
	$(GO) test -run=XXX -fuzz=FuzzSubscriber -fuzztime=$(FUZZTIME) ./internal/broadcast
	$(GO) test -run=XXX -fuzz=FuzzProducer -fuzztime=$(FUZZTIME) ./internal/broadcast

install: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PCDIR)
	install -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/libshm.so.$(VERSION)
	ln -sf libshm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libshm.so
	install -m 0644 include/shmlib.h $(DESTDIR)$(INCDIR)/shmlib.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' bindings/c/shmlib.pc.in > $(DESTDIR)$(PCDIR)/shmlib.pc
	@if [ -z "$(DESTDIR)" ]; then scripts/ldconfig.sh $(LIBDIR); fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libshm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libshm.so $(DESTDIR)$(INCDIR)/shmlib.h $(DESTDIR)$(PCDIR)/shmlib.pc

clean:
	rm -rf $(BUILD) $(PYLIB)
