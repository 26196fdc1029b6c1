#!/usr/bin/env bash
# Builds and tests the Node binding:
#   1. installs the npm dependencies locally (npm ci, from package-lock.json; skipped when current)
#   2. builds the native addon (napi build --platform --release; CARGO_TARGET_DIR defaults to
#      ../target/napi), which regenerates the loader napi-loader.js (binding.js, hand-written,
#      wraps it) and the types binding.d.ts
#   3. checks that the generated napi-loader.js and binding.d.ts are the files that were there before
#      the build (in a fresh clone: the committed ones), so a stale committed file fails CI; the
#      build has then written the current ones, to be committed
#   3b. rebuilds the addon with the test-only exports (cargo feature test-hooks) for the tests
#   4. type-checks the declarations against a typed usage file (tsc --noEmit)
#   5. runs node --test (TAP) over __test__/
# Exits non-zero on any failure. The last two lines are "# pass N" and "# fail N", counting the
# node tests plus one for each of steps 1-4 (and a failure if fewer tests ran than expected).
set -uo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd .. && pwd)/target/napi}"
# The fewest node tests a complete run has (conformance alone is 90 vectors x 3 ways): a missing
# or skipped test file fails the suite instead of passing quietly.
MIN_TESTS=350

steps_passed=0 steps_failed=0
step() { # step <name> <command...>: runs a setup step, reported as a TAP line
    local name=$1
    shift
    if "$@"; then
        echo "ok - $name"
        steps_passed=$((steps_passed + 1))
        return 0
    fi
    echo "not ok - $name"
    steps_failed=$((steps_failed + 1))
    return 1
}

install_deps() {
    if [ -x node_modules/.bin/napi ] && [ -x node_modules/.bin/tsc ] && cmp -s package-lock.json node_modules/.circuit-lock; then
        return 0
    fi
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.circuit-lock
}

GENERATED=(napi-loader.js binding.d.ts)
before=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$log" "$before"' EXIT
for file in "${GENERATED[@]}"; do
    [ -f "$file" ] && cp "$file" "$before/"
done

build() {
    node_modules/.bin/napi build --platform --release --js napi-loader.js --dts binding.d.ts 2>&1 |
        grep -vE '^\s+(Compiling|Downloaded|Downloading|Locking|Adding|Updating) ' >&2
    return "${PIPESTATUS[0]}"
}

# The addon the tests load: the same build plus test-only exports (liveBreakers), reached through
# the .node file itself; napi-loader.js and binding.d.ts stay those of the install build above.
build_test_hooks() {
    # --dts is relative to the crate folder; the test build's types go to the ignored target/.
    node_modules/.bin/napi build --platform --release --features test-hooks --no-js --dts ../target/test-hooks.d.ts 2>&1 |
        grep -vE '^\s+(Compiling|Downloaded|Downloading|Locking|Adding|Updating) ' >&2
    return "${PIPESTATUS[0]}"
}

generated_unchanged() {
    local file stale=0
    for file in "${GENERATED[@]}"; do
        if ! cmp -s "$before/$file" "$file"; then
            echo "# $file differs from what napi build generates (commit the regenerated file):" >&2
            diff -u "$before/$file" "$file" | head -40 | sed 's/^/#   /' >&2
            stale=1
        fi
    done
    return "$stale"
}

step "npm dependencies" install_deps &&
    step "native addon built (napi build --platform --release)" build
built=$?
[ "$built" -eq 0 ] && step "napi-loader.js and binding.d.ts are what napi build generates" generated_unchanged
[ "$built" -eq 0 ] && { step "test build of the addon (feature test-hooks)" build_test_hooks || built=1; }
no_stray_files() { # in a git checkout: the builds wrote nothing that is neither tracked nor ignored
    ! git rev-parse --is-inside-work-tree >/dev/null 2>&1 || [ -z "$(git status --porcelain --untracked-files=all -- . | grep '^??')" ]
}
[ "$built" -eq 0 ] && step "the builds leave no untracked files" no_stray_files
step "index.d.ts type-checks (tsc --noEmit __test__/usage.ts)" node_modules/.bin/tsc -p __test__/tsconfig.json

if [ "$built" -eq 0 ]; then
    node --test --test-reporter=tap --test-timeout=120000 __test__/*.test.js 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
else
    status=1
fi
passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
passed=${passed:-0} failed=${failed:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "not ok - node --test exited with status $status"
    failed=1
fi
if [ $((passed + failed)) -lt "$MIN_TESTS" ]; then
    echo "not ok - only $((passed + failed)) node tests ran, expected at least $MIN_TESTS"
    failed=$((failed + 1))
fi
echo "# pass $((passed + steps_passed))"
echo "# fail $((failed + steps_failed))"
[ $((failed + steps_failed)) -eq 0 ]
