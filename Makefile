# natsd — build, run and test. Every target installs what it needs on a fresh machine.
SHELL := /bin/bash
GO ?= go
export PATH := $(CURDIR)/.tools/bin:/usr/local/go/bin:$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null | sed 's/^v//' || echo 0.0.0-dev)
LDFLAGS := -s -w -X github.com/natsd/natsd/daemon.Version=$(VERSION)

# Pinned tools. nats-server v2.15.2 is our peer and yardstick; Debian's nats-server
# (2.9.x) is the old peer; natscli v0.5.0 drives `nats bench`.
NATS_SERVER_VERSION := v2.15.2
NATSCLI_VERSION     := v0.5.0
TOOLS := $(CURDIR)/.tools/bin
NATS_SERVER_BIN := $(TOOLS)/nats-server-$(NATS_SERVER_VERSION)
NATS_CLI_BIN    := $(TOOLS)/nats-$(NATSCLI_VERSION)
DEBIAN_NATS_SERVER := /usr/sbin/nats-server

.PHONY: all build run test test-deps unit-test race lint fuzz bench clean

all: build

build: bin/natsd

bin/natsd: $(shell find . -name '*.go' -not -path './.tools/*' 2>/dev/null) go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/natsd

## run: natsd on its embedded default config (client 4222, monitoring 8222).
run: build
	./bin/natsd

## test-deps: install what the tests need, only when it is missing.
test-deps: $(NATS_SERVER_BIN) $(DEBIAN_NATS_SERVER)

$(NATS_SERVER_BIN):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/.gobin $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)
	mv $(TOOLS)/.gobin/nats-server $@

$(NATS_CLI_BIN):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/.gobin $(GO) install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION)
	mv $(TOOLS)/.gobin/nats $@

$(DEBIAN_NATS_SERVER):
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nats-server

TEST_ENV := NATS_SERVER_BIN=$(NATS_SERVER_BIN) NATS_SERVER_29_BIN=$(DEBIAN_NATS_SERVER)

## test: install test dependencies, then vet and run every test (with the race detector).
test: test-deps
	$(GO) vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 20m ./...

unit-test:
	$(GO) test -count=1 ./...

## fuzz: run each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) -parallel=1 ./confparse

clean:
	rm -rf bin dist
