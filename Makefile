# flowlens: `make run` starts the pipeline on one machine, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin
TEST_TIMEOUT ?= 40m

.PHONY: setup run test test-short build bench bench-e2e fuzz tools-kcat tools-alertmanager tools-prometheus clean

## setup: fetch the ClickHouse engine library and Go modules, install test peers
setup:
	@./scripts/fetch-chdb.sh >/dev/null
	@$(GO) mod download
	@$(MAKE) --no-print-directory tools-kcat tools-alertmanager tools-prometheus

build: setup
	$(GO) build -o $(BIN)/ ./cmd/...

## run: the whole pipeline on one machine with embedded defaults
run: build
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) ./$(BIN)/flowlens up --rules rules/examples/shop-flows.yml

## test: every test, against the real embedded engine and broker
test: setup
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short: setup
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) $(GO) test -count=1 -short ./...

## bench: the component benchmarks (medians: run with -count and compare)
bench: setup
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) $(GO) test -run '^$$' -bench . -benchmem -count 3 ./...

## bench-e2e: the whole pipeline, one process per component (RATE, DURATION, RUNS: medians)
RATE ?= 4000
DURATION ?= 5m
RUNS ?= 1
bench-e2e: build
	CHDB_LIB_PATH=$$(./scripts/fetch-chdb.sh) ./$(BIN)/flowlens bench-e2e --rate $(RATE) --duration $(DURATION) --runs $(RUNS)

## fuzz: every fuzz target for FUZZTIME each, one at a time; stops at the first crash
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

## tools-kcat: Debian's kcat, an independent Kafka client for interoperability tests
tools-kcat:
	@command -v kcat >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null; }

tools-alertmanager:
	@command -v prometheus-alertmanager >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null; }

tools-prometheus:
	@command -v prometheus >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }

clean:
	rm -rf $(BIN)
