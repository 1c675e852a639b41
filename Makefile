# compute-ledger — `make demo` runs a lease lifecycle on a fresh local devnet; `make test` runs
# every check. Both install what they need (npm ci: Foundry, solc-js, OpenZeppelin).

SHELL := /bin/bash
BIN := $(CURDIR)/node_modules/.bin
FORGE := $(BIN)/forge
# CI (CI=true) fuzzes and runs invariants deeper; see contracts/foundry.toml.
export FOUNDRY_PROFILE ?= $(if $(CI),ci,default)

.PHONY: all demo test install contracts-test rust-test gas-snapshot fmt clean

all: test

install: node_modules/.install-stamp

node_modules/.install-stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

demo: install
	bash scripts/demo.sh

test: contracts-test rust-test

contracts-test: install
	cd contracts && $(FORGE) fmt --check
	node contracts/tools/merkle-fixture.mjs
	cd contracts && FORGE_SNAPSHOT_CHECK=true $(FORGE) test

# Runs once the Rust workspace exists.
rust-test:
	@if [ -f Cargo.toml ]; then \
		cargo fmt --all -- --check && \
		cargo clippy --workspace --all-targets -- -D warnings && \
		cargo test --workspace; \
	fi

# Re-records contracts/snapshots/*.json after an intended gas change; commit the result.
gas-snapshot: install
	cd contracts && $(FORGE) test --match-path test/Gas.t.sol

fmt: install
	cd contracts && $(FORGE) fmt

clean:
	rm -rf contracts/out contracts/cache .devnet
