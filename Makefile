# natsd — build, run and test. Every target installs what it needs on a fresh machine.
SHELL := /bin/bash
GO ?= go
export PATH := $(CURDIR)/.tools/bin:/usr/local/go/bin:$(PATH)

# natsd's version, from git describe, computed once (the := below) and used for
# the binary (natsd --version prints "natsd: v$(VERSION)") and the .deb/.rpm:
# 0.1.0~git<N>.<sha> before the first tag, X.Y.Z on tag vX.Y.Z,
# X.Y.Z+git<N>.<sha> after it, +dirty with uncommitted changes — valid and
# ordered for dpkg and rpm. See packaging/version.sh and docs/packaging.md.
VERSION ?= $(shell packaging/version.sh)
VERSION := $(VERSION)
LDFLAGS := -s -w -X github.com/natsd/natsd/daemon.Version=$(VERSION)

# Pinned tools. nats-server v2.15.2 is our peer and yardstick; Debian's nats-server
# (2.9.x) is the old peer; natscli v0.5.0 is the `nats` CLI the tests drive
# (cmd/natsd/natscli_test.go) and drives `nats bench`; nsc v2.11.0 makes the
# operator, accounts and users of docs/accounts.md (cmd/natsd/nsc_test.go).
NATS_SERVER_VERSION := v2.15.2
NATSCLI_VERSION     := v0.5.0
NSC_VERSION         := v2.11.0
TOOLS := $(CURDIR)/.tools/bin
NATS_SERVER_BIN := $(TOOLS)/nats-server-$(NATS_SERVER_VERSION)
NATS_CLI_BIN    := $(TOOLS)/nats-$(NATSCLI_VERSION)
NSC_BIN         := $(TOOLS)/nsc-$(NSC_VERSION)
DEBIAN_NATS_SERVER := /usr/sbin/nats-server
# Debian's systemd package: systemd-socket-activate and systemd-analyze.
SOCKET_ACTIVATE    := /usr/bin/systemd-socket-activate
# Debian's Prometheus server and promtool: cmd/natsd's TestPrometheusScrapesCluster
# scrapes a natsd cluster with it; promtool check metrics lints /metrics.
# (Defined up here: a prerequisite list is expanded where it is read, so a
# variable defined below test-deps was empty there and nothing installed it.)
PROMETHEUS         := /usr/bin/prometheus

.PHONY: all build run test test-deps unit-test race lint fuzz bench clean cluster cross-build

all: build

build: bin/natsd

# Always handed to go build (its cache makes that quick when nothing
# changed), so that a new commit — a new VERSION — is never missed.
.PHONY: bin/natsd
bin/natsd:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/natsd

## run: natsd on its built-in default config (daemon/default.conf: clients on 0.0.0.0:4222).
run: build
	./bin/natsd

## test-deps: install what the tests need, only when it is missing.
test-deps: $(NATS_SERVER_BIN) $(NATS_CLI_BIN) $(NSC_BIN) $(DEBIAN_NATS_SERVER) $(SOCKET_ACTIVATE) $(PROMETHEUS)

$(NATS_SERVER_BIN):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/.gobin $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)
	mv $(TOOLS)/.gobin/nats-server $@

$(NATS_CLI_BIN):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/.gobin $(GO) install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION)
	mv $(TOOLS)/.gobin/nats $@

# nsc is built from its module, not with go install: go install looks up
# the module's deprecation in its version list, which the module proxy
# here does not serve for nsc (the version itself it does). The version is
# stamped without the v, as nsc's releases do.
$(NSC_BIN):
	mkdir -p $(TOOLS)
	dir=$$($(GO) mod download -json github.com/nats-io/nsc/v2@$(NSC_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$dir" && cd "$$dir" && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-X main.version=$(NSC_VERSION:v%=%)' -o $@ .

$(DEBIAN_NATS_SERVER):
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nats-server

$(SOCKET_ACTIVATE):
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd

$(PROMETHEUS):
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus

TEST_ENV := NATS_SERVER_BIN=$(NATS_SERVER_BIN) NATS_SERVER_29_BIN=$(DEBIAN_NATS_SERVER) NATS_CLI_BIN=$(NATS_CLI_BIN) NSC_BIN=$(NSC_BIN)

## test: install test dependencies, then vet and run every test: the Go tests
## (with the race detector) and natsd under a real systemd (systemd-test).
test: test-deps
	$(GO) vet ./...
	$(MAKE) --no-print-directory cross-build
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(TEST_ENV) $(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) systemd-test package-test VERSION='$(VERSION)'

## cross-build: natsd builds, and go vet passes, on macOS and Windows too, so
## that a developer there can work on it: systemd/ is a no-op off Linux,
## SIGUSR1/SIGUSR2 exist only on Unix, the config watcher needs inotify.
## Part of make test.
CROSS_GOOS := darwin windows
cross-build:
	@for os in $(CROSS_GOOS); do \
		echo "GOOS=$$os go build ./... && go vet ./..."; \
		GOOS=$$os $(GO) build ./... && GOOS=$$os $(GO) vet ./... || exit 1; \
	done

unit-test:
	$(GO) test -count=1 ./...

## fuzz: run each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
FUZZ_TARGETS := confparse:FuzzParse confparse:FuzzLex server/wire:FuzzParser server/wire:FuzzRouteParser server/subject:FuzzSubject server/monitor:FuzzQuery server:FuzzRedactConnect server:FuzzTraceHeaders server/jwtauth:FuzzAuthenticate server/authcallout:FuzzDecodeResponse jetstream:FuzzArchive server/websocket:FuzzDecoder server/websocket:FuzzRoundTrip jetstream:FuzzAckTokens jetstream/store:FuzzDecodeRecord jetstream/store:FuzzOpen jetstream/journal:FuzzJournalRecord jetstream/journal:FuzzWitnessSlot jetstream:FuzzReplicatedEntry jscluster/raftdriver:FuzzDecodeBatch tlsconf:FuzzParseDN sysacct:FuzzFilter
fuzz:
	@for t in $(FUZZ_TARGETS); do 		pkg=$${t%%:*}; fn=$${t##*:}; 		echo "== $$fn ($$pkg) for $(FUZZTIME)"; 		$(GO) test -run '^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) -parallel=1 ./$$pkg || exit 1; 	done

## bench: natsd against nats-server v2.15.2, back to back and alternating, with
## natscli v0.5.0's `nats bench` and 10,000 idle clients, then the JetStream rows
## (nats-server with sync_interval: always and with its default, ~2½ min); prints
## markdown tables and rewrites their blocks in docs/performance.md. Not part of
## `make test`. BENCH_ARGS passes flags to bench/runner, e.g.
## BENCH_ARGS='-rounds 3 -only pub16,rss', or BENCH_ARGS='-only js' for the JetStream rows.
BENCH_ARGS ?=
bench: build $(NATS_SERVER_BIN) $(NATS_CLI_BIN)
	$(GO) run ./bench/runner -natsd bin/natsd -nats-server $(NATS_SERVER_BIN) -nats $(NATS_CLI_BIN) -doc docs/performance.md $(BENCH_ARGS)

clean:
	rm -rf bin dist

## cluster: the seed walkthrough on this machine — A is the seed, B and C
## route to A only; the three form a full mesh. Ctrl-C stops all three.
cluster: build
	@mkdir -p /tmp/natsd-cluster; \
	trap 'kill $$A $$B $$C 2>/dev/null; wait' INT TERM EXIT; \
	./bin/natsd -n A -p 4222 -m 8222 -cluster nats://localhost:4248 --cluster_name seed -l /tmp/natsd-cluster/A.log & A=$$!; \
	sleep 0.3; \
	./bin/natsd -n B -p 5222 -m 8223 -cluster nats://localhost:5248 --cluster_name seed -routes nats://localhost:4248 -l /tmp/natsd-cluster/B.log & B=$$!; \
	./bin/natsd -n C -p 6222 -m 8224 -cluster nats://localhost:6248 --cluster_name seed -routes nats://localhost:4248 -l /tmp/natsd-cluster/C.log & C=$$!; \
	sleep 1; \
	echo; \
	echo "natsd cluster 'seed' is up: A nats://localhost:4222 (seed), B :5222, C :6222"; \
	echo "  routes:     curl -s localhost:8222/routez | grep num_routes   # 2 on each"; \
	echo "  subscribe:  nats -s nats://localhost:4222 sub 'hello.>'"; \
	echo "  publish:    nats -s nats://localhost:6222 pub hello.world hi"; \
	echo "  fail over:  nats -s nats://localhost:4222,nats://localhost:5222,nats://localhost:6222 sub 'hello.>'"; \
	echo "  logs:       /tmp/natsd-cluster/{A,B,C}.log     (Ctrl-C stops the cluster)"; \
	wait

## systemd-test: natsd under a real systemd 252: a debootstrapped Debian bookworm
## (cached in .tools/nspawn) booted with systemd-nspawn; needs root, installs
## debootstrap and systemd-container if missing. Installs bin/natsd, the units of
## packaging/systemd and a nats user, then starts, reloads, stops, socket-activates.
## SD_INTEGRATION=0 only reports the steps that need natsd's sd_notify and
## activated sockets (for older natsd); STEPS='start stop' runs a subset.
.PHONY: systemd-test
SD_INTEGRATION ?= 1
systemd-test: build bin/natsd-testhooks
	SD_INTEGRATION=$(SD_INTEGRATION) NATSD_TESTHOOKS_BIN=$(CURDIR)/bin/natsd-testhooks packaging/test/systemd-test.sh

## bin/natsd-testhooks: natsd with its test hooks compiled in (-tags
## natsd_testhooks: the wedge the watchdog step uses). Never packaged: the
## production build above has no hooks (TestProductionBinaryHasNoTestHooks).
.PHONY: bin/natsd-testhooks
bin/natsd-testhooks:
	CGO_ENABLED=0 $(GO) build -trimpath -tags natsd_testhooks -ldflags '$(LDFLAGS)' -o $@ ./cmd/natsd

## ---- packages: .deb and .rpm built with nfpm (go tool nfpm), into dist/ ----
## See docs/packaging.md. deb/rpm: one package each, from bin/natsd (rebuilt
## when it is not $(VERSION)). packages: both, then packaging/test/check-packages.sh
## (seed.conf passes natsd -t, lintian, rpm -qp file and script checks; installs
## lintian and rpm when missing). package-test: the packages and a newer build
## of them installed, upgraded, removed and purged under systemd in Debian
## bookworm and trixie containers (packaging/test/package-test.sh; root).
.PHONY: deb rpm packages package-test
DIST ?= dist
# The second, newer build package-test upgrades to: same code, higher version,
# a changed seed.conf (so that dpkg and rpm must keep the edited one).
PKG_UPGRADE_VERSION := $(VERSION)+upgrade
# The Debian releases package-test installs on: 12 (systemd 252) and 13
# (systemd 257, Type=notify-reload). Each root is debootstrapped once into
# .tools/nspawn/<suite>.
PKG_TEST_SUITES ?= bookworm trixie
PKG_UPGRADE_DIST    := $(DIST)/upgrade
define pkg-check-bin
	@[ "$$(bin/natsd --version 2>/dev/null)" = "natsd: v$(VERSION)" ] || { \
		echo "bin/natsd is $$(bin/natsd --version 2>/dev/null), not v$(VERSION): rebuilding"; \
		rm -f bin/natsd; $(MAKE) --no-print-directory build VERSION='$(VERSION)'; }
endef

deb: build
	$(pkg-check-bin)
	VERSION='$(VERSION)' DIST=$(DIST) GO=$(GO) packaging/build-package.sh deb

rpm: build
	$(pkg-check-bin)
	VERSION='$(VERSION)' DIST=$(DIST) GO=$(GO) packaging/build-package.sh rpm

packages: deb rpm
	VERSION='$(VERSION)' DIST=$(DIST) packaging/test/check-packages.sh

package-test: packages
	@mkdir -p $(PKG_UPGRADE_DIST)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(patsubst github.com/natsd/natsd/daemon.Version=%,github.com/natsd/natsd/daemon.Version=$(PKG_UPGRADE_VERSION),$(LDFLAGS))' -o $(PKG_UPGRADE_DIST)/natsd ./cmd/natsd
	{ cat packaging/seed.conf; echo; echo '# (package-test: the seed.conf of a newer package)'; } >$(PKG_UPGRADE_DIST)/seed.conf
	for p in deb rpm; do VERSION='$(PKG_UPGRADE_VERSION)' NATSD_BIN=$(PKG_UPGRADE_DIST)/natsd \
		SEED_CONF=$(PKG_UPGRADE_DIST)/seed.conf DIST=$(PKG_UPGRADE_DIST) GO=$(GO) packaging/build-package.sh $$p || exit 1; done
	for suite in $(PKG_TEST_SUITES); do \
		NSPAWN_SUITE=$$suite VERSION='$(VERSION)' UPGRADE_VERSION='$(PKG_UPGRADE_VERSION)' DIST=$(DIST) UPGRADE_DIST=$(PKG_UPGRADE_DIST) \
			packaging/test/package-test.sh || exit 1; done
