#!/usr/bin/env bash
# check-avx2-path.sh: the CPU kernels on a CPU without AVX-512, through the same test binaries.
#
# The matrix products (the `gemm` crate with its `x86-v4` feature) and the vectorised activations
# (backend/local-judge/src/models/vectorised.rs) pick AVX-512 or AVX2 code at run time. This
# machine, or CI's, may have AVX-512, so the AVX2 path would go untested. This script runs the
# local judge's kernel and parity tests under qemu's user-mode emulation of a Haswell CPU (AVX2 and
# FMA, no AVX-512): the tests check that the run time reports `avx2+fma`, that the activations match
# candle's scalar operations, and that BERT, DeBERTa-v2, ModernBERT, Qwen2, Qwen3 and Llama rewards
# match transformers' reference values. About a minute on two cores (emulation is ~20x slower).
#
# Needs qemu-user (scripts/setup.sh installs it) and x86-64; elsewhere it says so and exits 0.
#
#   scripts/check-avx2-path.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -m)" != x86_64 ]; then
    echo "check-avx2-path: not an x86-64 machine; nothing to check"
    exit 0
fi
if ! command -v qemu-x86_64 >/dev/null 2>&1; then
    echo "check-avx2-path: qemu-x86_64 is missing (Debian: apt-get install qemu-user)" >&2
    exit 1
fi
profile=()
if [ "${1:-}" = --release ]; then
    profile=(--release)
fi

# The test executables cargo builds (already built by the suite: this only asks for their paths).
executables=$(cargo test --locked "${profile[@]}" -p omnireward-local-judge --lib \
    --test parity_encoders --test parity_decoders --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*"' | cut -d'"' -f4)
executable() { grep -E "/$1-[0-9a-f]+\$" <<<"$executables" | head -n1; }
library=$(executable omnireward_local_judge)
encoders=$(executable parity_encoders)
decoders=$(executable parity_decoders)
for found in "$library" "$encoders" "$decoders"; do
    [ -x "$found" ] || { echo "check-avx2-path: a test executable was not found" >&2; exit 1; }
done

# Tests find their fixtures relative to the crate, as under cargo test.
cd backend/local-judge
# Haswell without the system features qemu's user-mode emulation does not provide (it would warn
# about each at every start); AVX2, FMA and the absence of AVX-512 are what matters here.
emulate() { qemu-x86_64 -cpu Haswell,-pcid,-x2apic,-tsc-deadline,-hle,-invpcid,-rtm "$@"; }
echo "== the AVX2 path (qemu -cpu Haswell: AVX2 and FMA, no AVX-512)"
OMNIREWARD_EXPECT_CPU_SIMD=avx2+fma emulate "$library" --test-threads 2 \
    device::tests::cpu_simd_is_the_expected_level models::vectorised models::kernels
emulate "$encoders" --test-threads 2 bert_matches_transformers \
    deberta_v2_with_shared_keys_and_buckets_matches_transformers \
    modernbert_with_cls_pooling_matches_transformers
emulate "$decoders" --test-threads 2 qwen2_matches_transformers qwen3_matches_transformers \
    llama_matches_transformers
