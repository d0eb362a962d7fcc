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
echo "== shared crate for wasm32-unknown-unknown"
cargo build --locked -p omnireward-shared --target wasm32-unknown-unknown
echo "== cargo test"
cargo test --workspace --locked
