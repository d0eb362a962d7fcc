#!/usr/bin/env bash
# Builds the web app's browser bundle into target/web/pkg: the frontend crate for wasm32 with the
# `hydrate` feature (profile `wasm-release`: size-optimised), then wasm-bindgen's loader. Installs
# the pinned wasm-bindgen CLI when missing (it must match the wasm-bindgen crate exactly).
# No cargo-leptos: the server serves the bundle itself (`serve --web-bundle`).
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.2.130
out=target/web/pkg
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
    echo "build-web: installing wasm-bindgen-cli $version (about 5 minutes, once)" >&2
    cargo install --quiet wasm-bindgen-cli --version "$version"
fi
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown >/dev/null

cargo build --locked -p omnireward-frontend --lib --target wasm32-unknown-unknown \
    --no-default-features --features hydrate --profile wasm-release
rm -rf "$out"
# Without the name and producers sections: they are two thirds of the module and no browser needs them.
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
    --out-dir "$out" \
    target/wasm32-unknown-unknown/wasm-release/omnireward_frontend.wasm
for file in omnireward_frontend_bg.wasm omnireward_frontend.js; do
    echo "build-web: $out/$file: $(wc -c < "$out/$file") bytes, $(gzip -9 -c "$out/$file" | wc -c) gzipped" >&2
done
