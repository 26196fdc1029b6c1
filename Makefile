# circuit: one Rust engine, bindings for C, Go, Python and Node.
#
#   make test    build everything and run every suite; the last line is "N passed, N failed"
#                (one line per suite; VERBOSE=1 shows every suite's full output, logs: target/test-results)
#   make demo    build what the demo needs and run it
#   make help    list the targets

SHELL := /bin/bash
CARGO ?= cargo
export RESULTS_DIR := $(CURDIR)/target/test-results
export CARGO_TERM_COLOR := never
LOOM_ENV := RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=$(CURDIR)/target/loom LOOM_MAX_PREEMPTIONS=2

.PHONY: help demo-workers demo-fleet test test-shared node-addon test-rust-static test-rust test-loom test-c test-install test-dist-c test-dist-go test-dist-python test-dist-node dist dist-c dist-go dist-python dist-node test-go test-python test-node test-bench-guard bench-guard python-env bench-python bench-node lib header install bench demo demo-chart clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

test: ## run every suite (fmt, clippy, Rust, loom, C, install, Go, Python, Node, then the benchmark guard) and sum the results
	@rm -rf $(RESULTS_DIR) && mkdir -p $(RESULTS_DIR)
	@$(MAKE) --no-print-directory test-rust-static test-rust test-loom test-c test-install test-dist-c test-dist-go test-dist-python test-dist-node test-go test-python test-node test-shared || true
	@$(MAKE) --no-print-directory test-bench-guard || true
	@scripts/summary

test-rust-static: ## cargo fmt --check and clippy -D warnings
	@scripts/suite check rust-fmt $(CARGO) fmt --all --check
	@scripts/suite check rust-clippy $(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust: ## Rust unit tests, doctests, conformance vectors, proptest model, stress, C ABI fuzz and header check, fleet tests against redis-server
	@mkdir -p target && scripts/need-redis
	@scripts/suite cargo rust $(CARGO) test

lib: ## build libcircuit.so/.a (release) and stage them with the header under target/dist
	@$(CARGO) build -q --release -p circuit-ffi
	@scripts/stage-lib >/dev/null

header: ## regenerate include/circuit.h with the pinned cbindgen
	@$(CARGO) build -q -p circuit-ffi
	@cp "$$(ls -t target/debug/build/circuit-ffi-*/out/circuit.h | head -1)" include/circuit.h
	@echo "include/circuit.h regenerated"

test-c: lib ## C and C++ tests: ASan+UBSan, valgrind, threads, conformance through the C ABI
	@scripts/suite tap c tests/c/run

test-install: lib ## install into a temporary prefix; build with pkg-config and with CMake find_package
	@scripts/suite tap install tests/install/run

dist: dist-c dist-go dist-python dist-node ## every release artefact under dist/ (the C archive, the Go module tree, the Python wheel and sdist, the npm tarballs)

dist-c: lib ## the C release archive dist/circuit-VERSION-ARCH-linux-gnu.tar.gz (stripped lib, header, .pc, CMake package)
	@scripts/dist-c

test-dist-c: dist-c ## only the C release archive, without cargo on PATH: pkg-config (rpath, --static) and CMake builds
	@scripts/suite tap dist-c tests/dist/run-c

dist-go: lib ## the Go module tree dist/go/ (header and stripped linux/amd64 libcircuit.a inside): builds with go build alone, survives go mod vendor
	@scripts/dist-go

test-dist-go: dist-go ## only dist/go, copied to a temp folder without cargo on PATH: quick start via replace, go mod vendor, CGO_ENABLED=0 and GOOS=darwin errors
	@scripts/suite tap dist-go tests/dist/run-go

dist-python: ## the Python wheel (abi3, manylinux2014 via zig, stripped) and sdist under dist/; the sdist is checked to build with pip
	@scripts/dist-python

test-dist-python: dist-python ## only the wheel, without cargo on PATH: tags, stripped .so, pip install --no-index in a new venv, the README quick start
	@scripts/suite tap dist-python tests/dist/run-python

dist-node: ## the npm tarballs under dist/: circuit-core and circuit-core-linux-x64-gnu (the stripped addon, an optional dependency)
	@scripts/dist-node

test-dist-node: dist-node ## only the tarballs, without cargo on PATH: npm install --offline in a new project, CJS, ESM, tsc, the README quick start, the missing-binary error
	@scripts/suite tap dist-node tests/dist/run-node

GO_ENV := GOTOOLCHAIN=local GOFLAGS=-mod=mod
test-go: lib ## Go package and its integrations (circuithttp, Do; the circuitgrpc, circuitprom and circuitotel modules): go vet, go test -race, against libcircuit.a
	@cd bindings-go && $(GO_ENV) ../scripts/suite check go-vet go vet ./...
	@cd bindings-go && $(GO_ENV) ../scripts/suite go go go test -race -count=1 -v ./...
	@cd bindings-go/circuitgrpc && $(GO_ENV) ../../scripts/suite check go-grpc-vet go vet ./...
	@cd bindings-go/circuitgrpc && $(GO_ENV) ../../scripts/suite go go-grpc go test -race -count=1 -v ./...
	@cd bindings-go/circuitprom && $(GO_ENV) ../../scripts/suite check go-prom-vet go vet ./...
	@cd bindings-go/circuitprom && $(GO_ENV) ../../scripts/suite go go-prom go test -race -count=1 -v ./...
	@scripts/need-redis
	@cd bindings-go/circuitredis && $(GO_ENV) ../../scripts/suite check go-redis-vet go vet ./...
	@cd bindings-go/circuitredis && $(GO_ENV) ../../scripts/suite go go-redis go test -race -count=1 -v ./...
	@cd bindings-go/circuitotel && $(GO_ENV) ../../scripts/suite check go-otel-vet go vet ./...
	@cd bindings-go/circuitotel && $(GO_ENV) ../../scripts/suite go go-otel go test -race -count=1 -v ./...

PYTHON ?= python3
VENV := $(CURDIR)/target/pyenv
PY := $(VENV)/bin/python
python-env: ## a project-local venv (target/pyenv) with the package installed from ./bindings-python
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check "maturin>=1.16,<2" "pytest>=8" "mypy>=1.10" "typing_extensions>=4.12" \
		"httpx>=0.27" "requests>=2.31" "types-requests>=2.31" "aiohttp>=3.12" \
		"prometheus_client>=0.20" "opentelemetry-api>=1.25" "opentelemetry-sdk>=1.25" "redis>=5"
	@$(PY) -m pip uninstall -q -y circuit 2>/dev/null || true # the distribution's name before circuit-core
	@$(PY) -m pip install -q --disable-pip-version-check ./bindings-python

test-python: ## Python: pytest (conformance, threads, asyncio, options, docs), mypy --strict, stubtest
	@$(MAKE) --no-print-directory python-env || { echo "!!! python: could not build the venv"; echo "0 1" > $(RESULTS_DIR)/python.result; exit 0; }
	@mkdir -p target && scripts/need-redis
	@cd bindings-python && ../scripts/suite pytest python $(PY) -m pytest -p no:cacheprovider -v tests
	@cd bindings-python && ../scripts/suite check python-mypy $(PY) -m mypy --strict tests python/circuit ../docs/examples/python
	@cd bindings-python && ../scripts/suite check python-stubtest $(PY) -m mypy.stubtest circuit._circuit

bench-python: python-env ## Python benchmarks against pybreaker, circuitbreaker, aiobreaker, purgatory -> BENCHMARKS.md
	@$(PY) -m pip install -q --disable-pip-version-check pybreaker circuitbreaker aiobreaker purgatory
	@cd bindings-python && $(PY) bench/run.py --write ../BENCHMARKS.md
	@cd bindings-python && $(PY) bench/fleet.py --write ../BENCHMARKS.md

node-addon: ## build the Node addon in place (bindings-node/*.node), as bindings-node/test.sh's install build
	@cd bindings-node && { [ -x node_modules/.bin/napi ] || npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; } && \
		CARGO_TARGET_DIR=$(CURDIR)/target/napi node_modules/.bin/napi build --platform --release --no-js --dts ../target/node-addon.d.ts \
		> $(CURDIR)/target/node-addon.log 2>&1 || { cat $(CURDIR)/target/node-addon.log; exit 1; }

test-shared: lib python-env node-addon ## host-shared breakers: C, Go, Python and Node processes share one breaker in one region and agree
	@scripts/suite tap shared tests/shared/run

test-node: ## Node binding: npm ci, napi build --release, tsc --noEmit, node --test (TAP)
	@mkdir -p target && scripts/need-redis
	@scripts/suite node node bindings-node/test.sh

bench-node: ## Node benchmarks against opossum and cockatiel -> BENCHMARKS.md
	@bindings-node/bench/run.sh

# Last in `make test`: the quick benchmarks reuse what the suites above built.
test-bench-guard: ## quick benchmark ratios of every suite (scripts/bench-quick-*) against their safe bounds, one test per ratio
	@scripts/suite tap bench-guard scripts/bench-guard

bench-guard: ## the same guard alone, for one suite or all (SUITES="rust go"); writes target/bench/quick-*.json
	@scripts/bench-guard $(SUITES)

PREFIX ?= /usr/local
install: lib ## install the C library, header, pkg-config and CMake files (PREFIX=/usr/local, DESTDIR honoured)
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install

test-loom: ## loom model checks of the engine's concurrency (LOOM_MAX_PREEMPTIONS=2)
	@scripts/suite cargo rust-loom env $(LOOM_ENV) $(CARGO) test -p circuit-core --release --test loom

bench: lib ## every benchmark, peers side by side (core, C ABI, Go, Python, Node) -> BENCHMARKS.md, target/bench/summary.json
	@mkdir -p target/bench/parts
	$(CARGO) bench -p circuit-core --bench closed_path
	$(CARGO) bench -q -p circuit-core --bench memory -- $(CURDIR)/target/bench/parts/rust-memory.json
	scripts/bench-report
	$(CARGO) bench -q -p circuit-shm --bench shared -- full $(CURDIR)/BENCHMARKS.md
	@mkdir -p target && scripts/need-redis
	$(CARGO) bench -q -p circuit-redis --bench fleet -- full $(CURDIR)/BENCHMARKS.md
	scripts/bench-abi
	@$(MAKE) --no-print-directory bench-python bench-node
	scripts/bench-summary

ARGS ?=
demo: ## the outage demo: a real dependency failing, with and without circuit (ARGS="--seed 7 --duration 30")
	@echo "building the Python package into target/pyenv (first run: about a minute; later runs: a few seconds)"
	@$(MAKE) --no-print-directory python-env
	@$(PY) demo/outage.py $(ARGS)

demo-chart: ## rerun the full demo and regenerate the README's chart, docs/demo/outage.svg
	@echo "building the Python package into target/pyenv (first run: about a minute; later runs: a few seconds)"
	@$(MAKE) --no-print-directory python-env
	@$(PY) demo/outage.py --no-live --chart docs/demo/outage.svg

demo-workers: ## pre-fork workers and a dead dependency: a breaker per process vs one HostRegion breaker (about 70 s; ARGS="--workers 1,4,8 --outage 10")
	@$(MAKE) --no-print-directory python-env
	@$(PY) demo/workers.py $(ARGS)

demo-fleet: ## six "hosts" share fleet breakers through one redis-server the demo starts: a breaker per host vs local + fleet breakers (about 25 s; ARGS="--workers 6 --outage 8")
	@$(MAKE) --no-print-directory python-env
	@mkdir -p target && scripts/need-redis
	@$(PY) demo/workers.py --workers 6 --modes independent,fleet $(ARGS)

clean: ## remove build outputs
	$(CARGO) clean
