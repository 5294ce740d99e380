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

# The main job on embedded defaults (grows as the project does): generate an int8
# model from a random spnas-imagenet architecture, inspect it, run it on both
# backends, and benchmark both.
demo: build
	@mkdir -p $(DEMO_OUT)
	$(BIN) model gen --space spnas-imagenet --arch random --seed 1 -o $(DEMO_OUT)/model.tflite
	$(BIN) model inspect $(DEMO_OUT)/model.tflite | tail -n 12
	$(BIN) run --backend xnnpack --seed 7 --output $(DEMO_OUT)/out-xnnpack.bin $(DEMO_OUT)/model.tflite
	$(BIN) run --backend ref --seed 7 --output $(DEMO_OUT)/out-ref.bin $(DEMO_OUT)/model.tflite
	$(BIN) model compare $(DEMO_OUT)/model.tflite $(DEMO_OUT)/out-xnnpack.bin $(DEMO_OUT)/out-ref.bin
	$(BIN) bench --backend xnnpack --threads 1 --per-op $(DEMO_OUT)/model.tflite
	$(BIN) bench --backend ref --threads 1 --runs 5 --min-secs 0 $(DEMO_OUT)/model.tflite

clean:
	rm -rf bin $(DEMO_OUT)
