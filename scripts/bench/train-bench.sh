#!/usr/bin/env bash
# Training throughput on the CPU, ours and PyTorch's in one run on the same token ids:
# Bradley-Terry steps with the default backbone (all-MiniLM-L6-v2), head only or every weight.
#
#   scripts/bench/train-bench.sh [PYTHON] [THREADS] [PAIRS] [head|all]
#
# PYTHON must have torch and transformers (e.g. a venv with torch 2.9.1 and transformers 4.57.3);
# the bench is not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:-python3}
threads=${2:-2}
pairs=${3:-256}
train=${4:-head}
model=.cache/models/all-MiniLM-L6-v2
batches=$(mktemp --suffix=.json)
trap 'rm -f "$batches"' EXIT
cargo build --release -p omnireward-training --bin train-bench >&2
for round in 1 2; do
    RAYON_NUM_THREADS=$threads target/release/train-bench --model "$model" --pairs "$pairs" \
        --train "$train" --batches "$batches"
    OMP_NUM_THREADS=$threads "$python" scripts/bench/torch_train_reference.py "$model" "$batches" --threads "$threads"
done
