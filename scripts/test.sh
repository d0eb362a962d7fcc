#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, the shared crate's wasm32 build, and every test.
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --locked -p omnireward-frontend --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate -- -D warnings
echo "== shared crate for wasm32-unknown-unknown"
cargo build --locked -p omnireward-shared --target wasm32-unknown-unknown
echo "== web app bundle"
scripts/build-web.sh
echo "== cargo test"
# The browser, default-model and llama.cpp-server tests fail, rather than skip, when Chromium,
# the bundle, the default model, llama-cpp-python or its model is missing.
export OMNIREWARD_REQUIRE_BROWSER=1 OMNIREWARD_REQUIRE_DEFAULT_MODEL=1 OMNIREWARD_REQUIRE_LLAMA_CPP=1
log=$(mktemp)
# The storage and queue tests also run against a real PostgreSQL, a throwaway server started here.
postgres_dir=$(mktemp -d)
trap 'scripts/postgres-test-server.sh stop "$postgres_dir"; rm -f "$log"' EXIT
OMNIREWARD_TEST_POSTGRES_URL=$(scripts/postgres-test-server.sh start "$postgres_dir")
export OMNIREWARD_TEST_POSTGRES_URL OMNIREWARD_REQUIRE_POSTGRES=1
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The CPU kernels' AVX2 path, on an emulated CPU without AVX-512 (the same test binaries).
scripts/check-avx2-path.sh 2>&1 | tee -a "$log"
emulated_status=${PIPESTATUS[0]}
set -e
if [ "$status" -eq 0 ]; then
    status=$emulated_status
fi
# One closing line for the whole suite (cargo prints one per test binary, the last ones being
# empty doc-test runs).
passed=$(grep -oE '^test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{sum += $4} END {print sum + 0}')
failed=$(grep -oE '^test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | awk '{sum += $6} END {print sum + 0}')
echo
echo "$passed passed, $failed failed"
exit "$status"
