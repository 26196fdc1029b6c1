#!/usr/bin/env bash
# Installs the npm dependencies (opossum and cockatiel are dev dependencies), builds the addon,
# runs bench/run.js, writes its section of ../BENCHMARKS.md and its figures to
# ../target/bench/node.json (for scripts/bench-summary).
# then bench/fleet.js (its fleet section: the same pair with and without a fleet breaker).
#   bindings-node/bench/run.sh [--calls N] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd .. && pwd)/target/napi}"
if ! { [ -x node_modules/.bin/napi ] && cmp -s package-lock.json node_modules/.circuit-lock; }; then
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.circuit-lock
fi
node_modules/.bin/napi build --platform --release --js binding.js --dts binding.d.ts >/dev/null 2>&1
node bench/run.js --write ../BENCHMARKS.md --json ../target/bench/node.json "$@"
node bench/fleet.js --write ../BENCHMARKS.md
