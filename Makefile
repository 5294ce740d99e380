# edgenas: the two commands a new machine needs are `make demo` and `make test`.
# Every target installs the Debian packages it needs first (`make deps`).

GO       ?= go
BIN      := bin/edgenas
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
DEB_PKGS := libxnnpack-dev libpthreadpool-dev libopenblas-dev mosquitto dataset-fashion-mnist chromium
FUZZTIME ?= 20s
# Go minimizes every input that finds new coverage, by default for up to 60 s,
# one byte range at a time: with the seeds' 10-300 KB models and transcripts
# a 20 s run spent all of its time minimizing (22-73 executions in all).
# 1 s keeps the run fuzzing (about 120,000 executions of FuzzParse in 15 s).
FUZZFLAGS ?= -fuzzminimizetime 1s
DEMO_OUT ?= demo-out

# arm64 cross builds (`edgenas firmware build --target linux/arm64`) and the
# qemu-user test of the arm64 agent. Debian's libxnnpack/libpthreadpool are not
# Multi-Arch: same (their arm64 packages would replace the amd64 ones), so they
# are unpacked with dpkg-deb into ARM64_SYSROOT instead of installed.
ARM64_SYSROOT ?= $(HOME)/.cache/edgenas/arm64-sysroot
ARM64_PKGS    := gcc-aarch64-linux-gnu qemu-user-static libc6:arm64 libcpuinfo0:arm64 libopenblas-dev:arm64
ARM64_DEBS    := libxnnpack0:arm64 libxnnpack-dev:arm64 libpthreadpool0:arm64 libpthreadpool-dev:arm64

.PHONY: all deps deps-arm64 litert build test fuzz bench demo clean

all: build

# Installs only what is missing; apt-get update runs once, and only when something is.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q " ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || exit 1; \
	else echo "deps: all Debian packages present"; fi

deps-arm64:
	@if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then \
	  echo "deps-arm64: adding the arm64 architecture"; \
	  $$SUDO dpkg --add-architecture arm64 && $$SUDO apt-get update -qq || exit 1; \
	fi; \
	missing=""; for p in $(ARM64_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q " ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps-arm64: installing$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi; \
	if [ ! -f "$(ARM64_SYSROOT)/packages.txt" ]; then \
	  echo "deps-arm64: unpacking $(ARM64_DEBS) into $(ARM64_SYSROOT)"; \
	  rm -rf "$(ARM64_SYSROOT)" && mkdir -p "$(ARM64_SYSROOT)/debs" && cd "$(ARM64_SYSROOT)/debs" && \
	  apt-get download -qq $(ARM64_DEBS) 2>/dev/null && \
	  for d in *.deb; do dpkg-deb -x $$d .. && echo "$$(dpkg-deb -f $$d Package):$$(dpkg-deb -f $$d Architecture) $$(dpkg-deb -f $$d Version)"; done > ../packages.txt.tmp && \
	  mv ../packages.txt.tmp ../packages.txt || exit 1; \
	else echo "deps-arm64: cross toolchain, qemu and arm64 sysroot present"; fi

# LiteRT for the conformance test of runtime/litert: npm's @litertjs/core
# (Google's TFLite runtime compiled to WebAssembly), pinned by
# runtime/litert/package-lock.json, run by node. Installs node and npm with apt
# when they are missing; where that is impossible the test skips and says why.
LITERT_DIR := runtime/litert
litert:
	@missing=""; command -v node >/dev/null 2>&1 || missing="nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "litert: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; } || \
	    echo "litert: could not install$$missing; the LiteRT conformance test will skip"; \
	fi; \
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
	  if [ "$(LITERT_DIR)/node_modules/@litertjs/core/package.json" -nt "$(LITERT_DIR)/package-lock.json" ]; then \
	    echo "litert: @litertjs/core present"; \
	  else \
	    echo "litert: npm ci in $(LITERT_DIR)"; \
	    (cd $(LITERT_DIR) && npm ci --no-audit --no-fund --loglevel=error) && \
	    touch "$(LITERT_DIR)/node_modules/@litertjs/core/package.json" || exit 1; \
	  fi; \
	fi

build: deps
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/edgenas

# The arm64 cross deps are optional: without them the qemu test skips and says why.
test: deps litert
	@$(MAKE) --no-print-directory deps-arm64 ARM64_SYSROOT="$(ARM64_SYSROOT)" || echo "test: arm64 cross deps not installable here; the qemu arm64 agent test will skip"
	$(GO) vet ./...
	EDGENAS_ARM64_SYSROOT="$(ARM64_SYSROOT)" $(GO) test -count=1 -timeout 20m ./...
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./tflite/
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./firmware/bundle/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./profiler/benchmodel/

fuzz: deps
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime 10m $(FUZZFLAGS) ./tflite/

bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 2s ./runtime/... ./profiler/...

# The main job on embedded defaults: a broker and an agent as separate processes
# on loopback, the spnas-fmnist latency table measured through the fleet,
# Single-Path NAS, training, int8 quantization, a signed rollout to the agent,
# and $(DEMO_OUT)/report.md. About 6 minutes on a 2-core machine; DEMO_FLAGS
# scales it up (see `bin/edgenas demo --help`).
DEMO_FLAGS ?=
demo: build
	$(BIN) demo --out $(DEMO_OUT) $(DEMO_FLAGS)

clean:
	rm -rf bin $(DEMO_OUT)
