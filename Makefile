# edgenas: the two commands a new machine needs are `make demo` and `make test`.
# Every target installs the Debian packages it needs first (`make deps`).

GO       ?= go
BIN      := bin/edgenas
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
DEB_PKGS := libxnnpack-dev libpthreadpool-dev libopenblas-dev mosquitto dataset-fashion-mnist
FUZZTIME ?= 20s
DEMO_OUT ?= demo-out

.PHONY: all deps build test fuzz bench demo clean

all: build

# Installs only what is missing; apt-get update runs once, and only when something is.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || exit 1; \
	else echo "deps: all Debian packages present"; fi

build: deps
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/edgenas

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./tflite/

fuzz: deps
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime 10m ./tflite/

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
