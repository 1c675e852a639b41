# compute-ledger — `make demo` runs a lease lifecycle on a fresh local devnet; `make test` runs
# every check. Both install what they need (npm ci: Foundry, solc-js, OpenZeppelin).

SHELL := /bin/bash
BIN := $(CURDIR)/node_modules/.bin
FORGE := $(BIN)/forge
# CI (CI=true) fuzzes and runs invariants deeper; see contracts/foundry.toml.
export FOUNDRY_PROFILE ?= $(if $(CI),ci,default)
# A CI build is built once: incremental caches would only take disk (about 3 GiB).
ifdef CI
export CARGO_INCREMENTAL := 0
endif

.PHONY: all demo test install market-build morpho-build contracts-build contracts-test rust-test telemetry-tools vtn postgres bench gas-snapshot fmt clean

all: test

install: node_modules/.install-stamp

node_modules/.install-stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# A live local market: devnet, two simulated clusters with oracles, leases, investors, keeper,
# incidents, a board per epoch and the wallet JSON-RPC (see README). Ctrl-C stops it.
demo: install contracts-build vtn
	cargo run --quiet -p compute-ledger-node --bin compute-ledger -- demo $(DEMO_ARGS)

test: contracts-test rust-test

contracts-test: install market-build morpho-build
	cd contracts && $(FORGE) fmt --check
	node contracts/tools/merkle-fixture.mjs
	cd contracts && FORGE_SNAPSHOT_CHECK=true $(FORGE) test

contracts-build: install market-build morpho-build
	cd contracts && $(FORGE) build

# LeaseMarket as deployed (via-IR, under the code-size limit), into contracts/out-market.
market-build: install
	cd contracts && FOUNDRY_PROFILE=market $(FORGE) build src/LeaseMarket.sol

# Morpho Blue from npm, with its own compiler (solc 0.8.19) and settings, into contracts/out-morpho.
morpho-build: install
	cd contracts && FOUNDRY_PROFILE=morpho $(FORGE) build

# Rust tests read the Foundry artifacts (contract bindings) and start anvil from node_modules.
rust-test: contracts-build telemetry-tools vtn
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
	@log=$$(mktemp); set -o pipefail; \
	cargo test --workspace 2>&1 | tee "$$log"; status=$$?; \
	awk '/^test result:/ { p += $$4; f += $$6 } END { printf "cargo: %d passed, %d failed\n", p, f }' "$$log"; \
	rm -f "$$log"; exit $$status
	@for example in owner_onboard tenant_lease investor_yield; do \
		echo "--- example $$example"; \
		cargo run --quiet -p compute-ledger-sdk --example $$example || exit 1; \
	done

# The oracle's Prometheus-server test runs a real Prometheus (Debian package `prometheus`):
# installed here when running as root with apt; otherwise that one test says it was skipped.
telemetry-tools:
	@if ! command -v prometheus >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Prometheus (Debian package) for the oracle's integration test"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
		else \
			echo "note: prometheus is not installed; its test will be skipped (sudo apt-get install prometheus)"; \
		fi; \
	fi

# The grid's OpenADR 3.1 VTN for demand response (OpenLEADR's `openleadr-vtn`, wrapped in
# tools/openadr-vtn: 127.0.0.1 only, PostgreSQL 15 migrations, users from a file). Its own
# lockfile and target directory keep its dependencies out of the node's build (about 2 minutes).
vtn: postgres
	cargo build --locked --quiet --manifest-path tools/openadr-vtn/Cargo.toml --target-dir target/openadr-vtn

# The VTN stores its programs and events in PostgreSQL (Debian package `postgresql`), installed
# here when running as root with apt.
postgres:
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing PostgreSQL (Debian package) for the OpenADR VTN"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
		else \
			echo "PostgreSQL is missing: sudo apt-get install postgresql" >&2; exit 1; \
		fi; \
	fi

# Benchmarks (not part of `make test`): criterion, the node's load and market-scale runs, and the
# sampler CPU-overhead run. `make bench SCALE_LEASES=100000` sizes the market-scale history
# (default 20,000 leases; see docs/benchmarks.md for how long each size takes to build).
bench: install contracts-build
	cargo bench -p compute-ledger-oracle --bench finalize
	cargo bench -p compute-ledger-oracle --bench sample_store
	cargo bench -p compute-ledger-node --bench node_load
	cargo bench -p compute-ledger-node --bench catch_up
	SCALE_LEASES=$(SCALE_LEASES) cargo bench -p compute-ledger-node --bench scale
	bash scripts/sampler-overhead.sh

# Re-records contracts/snapshots/*.json after an intended gas change; commit the result.
gas-snapshot: install market-build morpho-build
	cd contracts && $(FORGE) test --match-path test/Gas.t.sol

fmt: install
	cd contracts && $(FORGE) fmt

clean:
	rm -rf contracts/out contracts/cache .devnet
