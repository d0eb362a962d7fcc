#!/usr/bin/env bash
# gpu-check.sh: prepares the GPU check of local checkpoints. Runs HERE (no GPU needed).
#
# Builds `reward-bench`, `generation-bench` and `vl-reward-bench` in release with `--features cuda` (CUDA 13.0 from
# ../shared/scripts/cuda-toolchain.sh, ~12 minutes the first time; compute capability
# $CUDA_COMPUTE_CAP, default 90 = H100/H200) into its own target folder (target/cuda, so the CPU
# release build stays cached), strips it, compresses it with xz into .gpu/ (ignored through
# .git/info/exclude) and copies there what the GPU machine needs besides the tracked scripts: the
# bert-base-uncased tokenizer files (from .cache/models/all-MiniLM-L6-v2, which is ignored).
#
# Then, on the GPU machine (device tool, carry [".gpu"]), from the repository root:
#   bash scripts/gpu-run.sh
# which writes its results under $OUT (see that script).
#
# Settings: CUDA_TOOLCHAIN_SCRIPT (default ../shared/scripts/cuda-toolchain.sh), CUDA_COMPUTE_CAP,
# GPU_TARGET_DIR (default target/cuda).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
toolchain=${CUDA_TOOLCHAIN_SCRIPT:-$root/../shared/scripts/cuda-toolchain.sh}
[ -f "$toolchain" ] || { echo "gpu-check: $toolchain not found (set CUDA_TOOLCHAIN_SCRIPT)" >&2; exit 1; }
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
# shellcheck source=/dev/null
source "$toolchain"

target_dir=${GPU_TARGET_DIR:-$root/target/cuda}
echo "gpu-check: building reward-bench, generation-bench and vl-reward-bench with CUDA (sm_$CUDA_COMPUTE_CAP) into $target_dir" >&2
CARGO_TARGET_DIR=$target_dir cargo build --release -p omnireward-local-judge \
    --features cuda --bin reward-bench --bin generation-bench --bin vl-reward-bench

bundle=$root/.gpu
grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
mkdir -p "$bundle/bert-tokenizer"
for binary in reward-bench generation-bench vl-reward-bench; do
    strip -o "$bundle/$binary" "$target_dir/release/$binary"
    rm -f "$bundle/$binary.xz"
    xz -T2 -6 "$bundle/$binary"
done
tokenizer=$root/.cache/models/all-MiniLM-L6-v2
for file in tokenizer.json tokenizer_config.json vocab.txt special_tokens_map.json; do
    cp "$tokenizer/$file" "$bundle/bert-tokenizer/$file"
done
{
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- backend || echo ' (backend has uncommitted changes)')"
    echo "compute_cap: $CUDA_COMPUTE_CAP"
    echo "rustc: $(rustc --version)"
    echo "nvcc: $(nvcc --version | tail -n 1)"
    echo "sha256(reward-bench.xz): $(sha256sum "$bundle/reward-bench.xz" | cut -d' ' -f1)"
    echo "sha256(generation-bench.xz): $(sha256sum "$bundle/generation-bench.xz" | cut -d' ' -f1)"
    echo "sha256(vl-reward-bench.xz): $(sha256sum "$bundle/vl-reward-bench.xz" | cut -d' ' -f1)"
} > "$bundle/BUILD"
cat "$bundle/BUILD" >&2
size=$(du -sm "$bundle" | cut -f1)
echo "gpu-check: $bundle is ${size} MiB (the device call carries at most 64 MiB in all)" >&2
[ "$size" -lt 60 ] || { echo "gpu-check: $bundle is too large to carry" >&2; exit 1; }
echo "gpu-check: ready. On the GPU machine (carry .gpu): bash scripts/gpu-run.sh" >&2
