# flowlens: `make run` starts the pipeline on one machine, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin
TEST_TIMEOUT ?= 40m

.PHONY: deb setup run test test-short test-frontend test-console-ui console build bench bench-e2e otelcol otelcol-generate bench-peers bench-agent-peers fuzz grafana-plugin tools-kcat tools-alertmanager tools-prometheus tools-systemd tools-zip tools-chromium tools-journal-remote clean

## setup: fetch the ClickHouse engine library and Go modules, install test peers
setup:
	@./scripts/fetch-chdb.sh >/dev/null
	@$(GO) mod download
	@$(MAKE) --no-print-directory tools-kcat tools-alertmanager tools-prometheus tools-chromium tools-systemd
	@$(MAKE) --no-print-directory tools-journal-remote

build: setup console
	$(GO) build -o $(BIN)/ ./cmd/...

## run: the whole pipeline on one machine with embedded defaults
run: build
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) ./$(BIN)/flowlens up --rules rules/examples/shop-flows.yml

## test: every test, against the real embedded engine and broker; the console's browser tests in Debian's Chromium
test: setup test-frontend test-console-ui console
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short: setup
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) $(GO) test -count=1 -short ./...

## test-frontend: the Grafana plugin's editors and bundle (vitest, jsdom)
PLUGIN_DIR := dashboards/plugin
test-frontend: $(PLUGIN_DIR)/node_modules/.package-lock.json
	cd $(PLUGIN_DIR) && npx tsc --noEmit -p . && npx vitest run

# npm ci when the lockfile changed since the last install
$(PLUGIN_DIR)/node_modules/.package-lock.json: $(PLUGIN_DIR)/package-lock.json
	cd $(PLUGIN_DIR) && npm ci --no-audit --no-fund

## console: the web console's page (TypeScript, esbuild) into console/bundle/, which go build embeds
CONSOLE_UI := console/ui
console: $(CONSOLE_UI)/node_modules/.package-lock.json
	cd $(CONSOLE_UI) && npm run build --silent

## test-console-ui: the console's own logic (tsc, vitest); its browser tests run in go test ./console/...
test-console-ui: $(CONSOLE_UI)/node_modules/.package-lock.json
	cd $(CONSOLE_UI) && npx tsc --noEmit -p . && npx vitest run

$(CONSOLE_UI)/node_modules/.package-lock.json: $(CONSOLE_UI)/package-lock.json
	cd $(CONSOLE_UI) && npm ci --no-audit --no-fund

## grafana-plugin: the installable plugin zip (plugin.json, module.js, logo, README, gpx_flowlens for linux amd64 and arm64)
PLUGIN_ID := flowlens-flowlens-datasource
PLUGIN_VERSION = $(shell node -p "require('./$(PLUGIN_DIR)/package.json').version")
grafana-plugin: $(PLUGIN_DIR)/node_modules/.package-lock.json tools-zip
	rm -rf $(PLUGIN_DIR)/dist $(BIN)/$(PLUGIN_ID)
	cd $(PLUGIN_DIR) && npm run build --silent
	for arch in amd64 arm64; do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w" \
			-o $(PLUGIN_DIR)/dist/gpx_flowlens_linux_$$arch ./$(PLUGIN_DIR)/cmd/gpx_flowlens || exit 1; \
	done
	mkdir -p $(BIN) && cp -r $(PLUGIN_DIR)/dist $(BIN)/$(PLUGIN_ID)
	cd $(BIN) && rm -f $(PLUGIN_ID)-$(PLUGIN_VERSION).zip && zip -qr $(PLUGIN_ID)-$(PLUGIN_VERSION).zip $(PLUGIN_ID)
	@echo "$(BIN)/$(PLUGIN_ID)-$(PLUGIN_VERSION).zip (unzip into Grafana's plugins folder; see dashboards/README.md)"

## bench: the component benchmarks (medians: run with -count and compare)
bench: setup
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) $(GO) test -run '^$$' -bench . -benchmem -count 3 ./...

## bench-e2e: the whole pipeline, one process per component (RATE, DURATION, RUNS: medians)
RATE ?= 4000
DURATION ?= 5m
RUNS ?= 1
bench-e2e: build
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) ./$(BIN)/flowlens bench-e2e --rate $(RATE) --duration $(DURATION) --runs $(RUNS)

## otelcol: the OpenTelemetry Collector that bench-peers runs beside flowlens (kafka receiver, batch
## processor, clickhouse exporter), built in its own module so the main module does not get its deps
OTELCOL_DIR := loadtest/peers/otelcol
otelcol:
	cd $(OTELCOL_DIR) && $(GO) build -trimpath -o $(CURDIR)/$(BIN)/otelcol-peers .

## otelcol-generate: regenerate $(OTELCOL_DIR)'s sources from its builder-config.yaml (the OTel builder)
otelcol-generate:
	cd $(OTELCOL_DIR) && $(GO) run go.opentelemetry.io/collector/cmd/builder@v0.165.0 --config builder-config.yaml --skip-compilation && gofmt -w .

## bench-peers: flowlens collector and the OTel Collector on the same spans, one after the other (SPANS, PEER_RUNS)
SPANS ?= 2000000
PEER_RUNS ?= 3
bench-peers: build otelcol
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) ./$(BIN)/flowlens bench-peers --spans $(SPANS) --runs $(PEER_RUNS) --otelcol $(BIN)/otelcol-peers

## bench-agent-peers: flowlens-agent and the OTel Collector on the same input into the embedded broker (AGENT_INPUT: files, cri, journald, syslog; LINES, PEER_RUNS)
AGENT_INPUT ?= files
LINES ?= 500000
bench-agent-peers: build otelcol tools-journal-remote
	./$(BIN)/flowlens bench-agent-peers --input $(AGENT_INPUT) --lines $(LINES) --runs $(PEER_RUNS) --otelcol $(BIN)/otelcol-peers

## fuzz: every fuzz target for FUZZTIME each, one at a time; stops at the first crash
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

## deb: the agent's Debian package, bin/flowlens-agent_VERSION_ARCH.deb (dpkg-deb; DEB_VERSION, DEB_ARCH)
DEB_VERSION ?= 0.0.0+git$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DEB_ARCH ?= $(shell $(GO) env GOARCH)
deb:
	@./packaging/deb/build.sh $(DEB_VERSION) $(DEB_ARCH) $(BIN)

## tools-kcat: Debian's kcat, an independent Kafka client for interoperability tests
tools-kcat:
	@command -v kcat >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null; }

tools-alertmanager:
	@command -v prometheus-alertmanager >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null; }

tools-prometheus:
	@command -v prometheus >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }

## tools-chromium: Debian's Chromium and its driver, for the console's browser tests (never a downloaded browser)
tools-chromium:
	@command -v chromium >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

## tools-systemd: systemd-analyze, which checks the agent's unit (verify, security)
tools-systemd:
	@command -v systemd-analyze >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null; }

## tools-journal-remote: systemd-journal-remote, which writes the real .journal files the agent's journald tests read
tools-journal-remote: tools-systemd
	@test -x /lib/systemd/systemd-journal-remote || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-journal-remote >/dev/null; }

tools-zip:
	@command -v zip >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zip >/dev/null; }

clean:
	rm -rf $(BIN) $(PLUGIN_DIR)/dist console/bundle/assets console/bundle/index.html
