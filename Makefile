# circuit: one Rust engine, bindings for C, Go, Python and Node.
#
#   make test    build everything and run every suite; the last line is "N passed, N failed"
#   make demo    build what the demo needs and run it
#   make help    list the targets

SHELL := /bin/bash
CARGO ?= cargo
export RESULTS_DIR := $(CURDIR)/target/test-results
export CARGO_TERM_COLOR := never
LOOM_ENV := RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=$(CURDIR)/target/loom LOOM_MAX_PREEMPTIONS=2

.PHONY: help test test-rust-static test-rust test-loom bench demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

test: ## run every suite (fmt, clippy, Rust unit/conformance/proptest/stress, loom) and sum the results
	@rm -rf $(RESULTS_DIR) && mkdir -p $(RESULTS_DIR)
	@$(MAKE) --no-print-directory test-rust-static test-rust test-loom || true
	@scripts/summary

test-rust-static: ## cargo fmt --check and clippy -D warnings
	@scripts/suite check rust-fmt $(CARGO) fmt --all --check
	@scripts/suite check rust-clippy $(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust: ## Rust unit tests, doctests, conformance vectors, proptest model, stress test
	@scripts/suite cargo rust-core $(CARGO) test -p circuit-core

test-loom: ## loom model checks of the engine's concurrency (LOOM_MAX_PREEMPTIONS=2)
	@scripts/suite cargo rust-loom env $(LOOM_ENV) $(CARGO) test -p circuit-core --release --test loom

bench: ## run the Rust benchmarks against failsafe and recloser (writes target/criterion)
	$(CARGO) bench -p circuit-core --bench closed_path
	scripts/bench-report

demo: ## run the demo
	$(CARGO) run -q -p circuit-core --example timeline

clean: ## remove build outputs
	$(CARGO) clean
